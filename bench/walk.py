"""Walk benchmark: spte's walker vs. a plain struct-based walker written here, in one run.

The image is synthetic (built below): an x86-64 tree of 4 KiB leaves, every table full.
Prints entries per second and the ratios (plain / ours); absolute numbers on a shared
machine mean little.  Run: ``python bench/walk.py [TABLES]``.
"""

from __future__ import annotations

import struct
import sys
import tempfile
import time
from collections.abc import Callable

import spte.images
import spte.kvm
from spte.entry import entry_class
from spte.platform import Platform
from spte.walker import walk

PLAT = Platform(maxphyaddr=46)
ADDR = 0x000FFFFFFFFFF000


def build(pts: int) -> tuple[bytes, int]:
    """Root, one PDPT, PDs as needed, ``pts`` full page tables; returns (raw image from 0, root)."""
    pds = (pts + 511) // 512
    root, pdpt, first_pd = 0x1000, 0x2000, 0x3000
    first_pt = first_pd + pds * 0x1000
    size = first_pt + pts * 0x1000
    img = bytearray(size)
    nonleaf = [entry_class("x86-64", lv)(0, PLAT, present=1, writable=1, user=1).value for lv in (4, 3, 2)]
    leaf = entry_class("x86-64", 1)(0, PLAT, present=1, writable=1, accessed=1, dirty=1).value
    struct.pack_into("<Q", img, root, nonleaf[0] | pdpt)
    for i in range(pds):
        struct.pack_into("<Q", img, pdpt + 8 * i, nonleaf[1] | (first_pd + i * 0x1000))
    for i in range(pts):
        struct.pack_into("<Q", img, first_pd + 8 * i, nonleaf[2] | (first_pt + i * 0x1000))
        struct.pack_into("<512Q", img, first_pt + i * 0x1000,
                         *(leaf | (0x100000000 + (i * 512 + j) * 0x1000) for j in range(512)))
    return bytes(img), root


def plain_walk(buf: bytes, root: int) -> int:
    """What one writes by hand: unpack 512 entries, follow P=1 non-leaves, count entries."""
    count = 0

    def table(addr: int, level: int) -> None:
        nonlocal count
        for v in struct.unpack_from("<512Q", buf, addr):
            if not v:
                continue
            count += 1
            if v & 1 and level > 1 and not (level in (2, 3) and v & 0x80):
                table(v & ADDR, level - 1)

    table(root, 4)
    return count


def rate(fn: Callable[[], int], repeat: int = 3) -> tuple[float, int]:
    best, n = float("inf"), 0
    for _ in range(repeat):
        t = time.perf_counter()
        n = fn()
        best = min(best, time.perf_counter() - t)
    return n / best, n


def main() -> None:
    pts = int(sys.argv[1]) if len(sys.argv) > 1 else 200
    raw, root = build(pts)
    with tempfile.NamedTemporaryFile(suffix=".raw") as fh:
        fh.write(raw)
        fh.flush()
        with spte.images.open(fh.name) as mem:
            prof = spte.kvm.profile("6.1", "shadow", maxphyaddr=46)
            plain, n0 = rate(lambda: plain_walk(raw, root))
            ours, n1 = rate(lambda: sum(1 for _ in walk(mem, root, "x86-64", platform=PLAT)))
            owned, n2 = rate(lambda: sum(1 for _ in walk(mem, root, "x86-64", owner=prof)), repeat=1)
    assert n0 == n1 == n2, (n0, n1, n2)
    print(f"{n0} entries in {pts} page tables")
    print(f"plain struct walker      {plain:12,.0f} entries/s")
    print(f"spte walk                {ours:12,.0f} entries/s   plain/ours {plain / ours:5.1f}x")
    print(f"spte walk --kvm (owner)  {owned:12,.0f} entries/s   plain/ours {plain / owned:5.1f}x")


if __name__ == "__main__":
    main()
