"""Shared test setup: the hypothesis CI profile and the project's golden data (tests/data)."""

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
DATA = Path(__file__).resolve().parent / "data"


def golden(path: str) -> Path:
    """A golden file under tests/data (sources in tests/data/README.md); missing is a failure."""
    p = DATA / path
    if not p.exists():
        pytest.fail(f"golden file tests/data/{path} is missing (see tests/data/README.md)")
    return p


def golden_text(path: str) -> str:
    """The text of a golden file, gunzipped if its name ends in .gz."""
    p = golden(path)
    if p.suffix == ".gz":
        with gzip.open(p, "rt") as fh:
            return fh.read()
    return p.read_text()


def vectors(name: str) -> Iterator[dict[str, Any]]:
    """Golden vectors computed by the kernel's own SPTE code (kvm-vectors/README.md)."""
    with gzip.open(golden(f"kvm-vectors/{name}"), "rt") as fh:
        for line in fh:
            yield json.loads(line)
