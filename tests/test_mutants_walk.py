"""The walk/roots command line on the real-image fixture (tests/data/real-image/README.md):
JSON output stays machine-readable (no summary on stderr), and roots takes the paging depths
x86 has for a root (4- and 5-level, SDM Vol. 3A §4.5)."""

from __future__ import annotations

import subprocess
import sys

from tests.conftest import golden
from tests.test_walk import NPT_ROOT, REAL


def spte(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "spte", *args], capture_output=True, text=True, timeout=300)


def test_walk_summary_only_for_people():
    image = str(golden(f"{REAL}/l1-tables.elf.xz"))
    base = ["walk", image, "--root", hex(NPT_ROOT), "--kvm", "6.1:npt", "-M", "40"]
    as_json = spte(*base, "--json")
    assert as_json.returncode == 0 and " tables, " not in as_json.stderr  # the notice about xz may stay
    text = spte(*base)
    assert text.returncode == 0 and " tables, " in text.stderr


def test_roots_levels():
    image = str(golden(f"{REAL}/l1-tables.elf.xz"))
    assert spte("roots", image, "--levels", "3", "-M", "40").returncode == 2
    assert spte("roots", image, "--levels", "4", "-M", "40", "--json").returncode == 0


def test_root_addresses_take_all_64_bits():
    image = str(golden(f"{REAL}/l1-tables.elf.xz"))
    high = spte("walk", image, "--root", "0x8000000000000000", "-M", "40")
    assert high.returncode == 1 and "not in the image" in high.stderr  # a valid address, outside the image
    assert spte("walk", image, "--root", "0x10000000000000000", "-M", "40").returncode == 2
