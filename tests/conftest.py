"""Shared test setup: the hypothesis CI profile and paths to the shared references."""

from __future__ import annotations

import gzip
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, settings

# CI never fails on timing: no deadline, derandomized, a bounded number of examples.
settings.register_profile(
    "ci", deadline=None, derandomize=True, max_examples=200,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile("dev", deadline=None, max_examples=100)
settings.load_profile("ci" if os.environ.get("CI") else os.environ.get("HYPOTHESIS_PROFILE", "dev"))

ROOT = Path(__file__).resolve().parent.parent
REFERENCE = ROOT.parent / "shared" / "reference"
DATA = Path(__file__).resolve().parent / "data"


def reference(path: str) -> Path:
    """A file under ../shared/reference, or a skip if this checkout has none."""
    p = REFERENCE / path
    if not p.exists():
        pytest.skip(f"reference file {p} is not available")
    return p


def vectors(name: str) -> Iterator[dict[str, Any]]:
    """Golden vectors computed by the kernel's own SPTE code (kvm-vectors/README.md)."""
    with gzip.open(reference(f"kvm-vectors/{name}"), "rt") as fh:
        for line in fh:
            yield json.loads(line)
