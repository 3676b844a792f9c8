"""The three input shapes every benchmark measures (issue 14 point 6).

- ``random``: uniformly random 64-bit words: no flag pattern repeats, the worst case.
- ``kvm-shaped``: SPTEs as a 6.19 EPT host writes them (kvm-spte-bits.md section 1c):
  writable, read-only and access-tracked leaves with random pfns, non-leaf entries, the
  empty SHADOW_NONPRESENT_VALUE and zero, MMIO SPTEs with random gfns.
- ``real-trace``: the SPTE values of the project's real kvmmmu trace
  (tests/data/traces/long4k.trace.gz, see tests/data/README.md), in trace order, repeated.
"""

from __future__ import annotations

import gzip
import random
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TRACE = ROOT / "tests/data/traces/long4k.trace.gz"
KINDS = (0x8600000000000B77, 0x8000000000000B75, 0x8750000000000A70, 0x8000000000000907,
         0x8000000000000000, 0x0000000000000000)
MMIO = 0x12300000FEB0022E  # 6.19 EPT MMIO SPTE (gen 0x123, access RW) with gfn 0


def random_words(n: int, seed: int = 1) -> list[int]:
    rng = random.Random(seed)
    return [rng.getrandbits(64) for _ in range(n)]


def kvm_shaped(n: int, seed: int = 2) -> list[int]:
    rng = random.Random(seed)
    out = []
    for i in range(n):
        if i % 50 == 1:
            out.append(MMIO | rng.getrandbits(22) << 12)
        else:
            base = KINDS[i % len(KINDS)]
            out.append(base | rng.getrandbits(34) << 12 if base >> 8 & 0xFF else base)
    return out


def trace_lines() -> list[bytes]:
    return gzip.decompress(TRACE.read_bytes()).splitlines(keepends=True)


def real_trace(n: int) -> list[int]:
    found = [int(m, 16) for m in re.findall(rb"spte ([0-9a-f]+)", b"".join(trace_lines()))]
    assert found, f"no SPTE values in {TRACE}"
    return [found[i % len(found)] for i in range(n)]


def shapes(n: int) -> dict[str, list[int]]:
    return {"random": random_words(n), "kvm-shaped": kvm_shaped(n), "real-trace": real_trace(n)}
