"""Library benchmark (issue 14 point 4): entry accessors, ``spte.decode`` and a 20-tag
``TagLayout.decode`` against hand-written mask-and-shift code, in one run.

Every row runs the same loop over the same values twice, ours and hand-written, interleaved
``--repeat`` times; the best of each is kept.  Three input shapes: random 64-bit words,
KVM-shaped SPTEs (as bench/cli.py writes them), and the SPTE values of the project's real
kvmmmu trace (tests/data/traces/long4k.trace.gz).  Prints ratios, worst first.
Run: ``python bench/library.py``.
"""

from __future__ import annotations

import argparse
import gc
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from inputs import shapes

import spte
from spte import EptPte, Platform, TagSpec, allocate

ADDR = 0xFFFFFFFFFF000  # EPT PTE address bits 51:12 (MAXPHYADDR 52)


class HandEptPte:
    """What one would write by hand for the same facts: one slot, constant masks."""

    __slots__ = ("value",)

    def __init__(self, value: int) -> None:
        self.value = value

    @property
    def pfn(self) -> int:
        return (self.value & ADDR) >> 12

    @property
    def present(self) -> bool:
        return bool(self.value & 7)

    def problems(self) -> list[tuple[str, int]]:
        """EPT misconfigurations of a present 4 KiB leaf (M=52: no reserved PA bits; execute-only supported)."""
        v = self.value
        if not v & 7:
            return []
        out = []
        if v & 2 and not v & 1:
            out.append(("write_without_read", v & 3))
        if (v >> 3) & 7 in (2, 3, 7):
            out.append(("reserved_memory_type", v & 0x38))
        return out


def twenty_tags() -> tuple[object, list[tuple[str, int, int]]]:
    """A 20-tag layout in not-present EPT entries, and the hand-written (name, shift, mask) rows."""
    specs = [TagSpec(f"t{i}", 1 + i % 3, states=("not_present",)) for i in range(20)]
    layout = allocate("ept", specs, platform=Platform(maxphyaddr=46))
    rows = []
    for t in layout.tags:
        assert len(t.runs) == 1, "the hand-written side assumes contiguous tags"
        rows.append((t.name, t.bits[0], (1 << len(t.bits)) - 1))
    return layout, rows


def best_pair(ours: Callable[[], object], hand: Callable[[], object], repeat: int) -> float:
    a = b = float("inf")
    gc.disable()
    try:
        for _ in range(repeat):
            t0 = time.perf_counter()
            ours()
            t1 = time.perf_counter()
            hand()
            t2 = time.perf_counter()
            a, b = min(a, t1 - t0), min(b, t2 - t1)
    finally:
        gc.enable()
    return a / b


def rows_for(values: list[int], repeat: int) -> list[tuple[str, float, float]]:
    entries = [EptPte(v) for v in values]
    hands = [HandEptPte(v) for v in values]
    layout, tag_rows = twenty_tags()
    decode = spte.decode
    assert all(e.pfn == h.pfn and e.present == h.present for e, h in zip(entries, hands, strict=True))
    assert all([p.kind for p in e.problems()] == [k for k, _ in h.problems()]
               for e, h in zip(entries, hands, strict=True))
    tag_decode = layout.decode  # type: ignore[attr-defined]
    assert all(tag_decode(v) == {n: (v >> s) & m for n, s, m in tag_rows} for v in values[:200])

    def hand_tags() -> None:
        for v in values:
            {n: (v >> s) & m for n, s, m in tag_rows}

    out = [
        ("entry.pfn", best_pair(lambda: [e.pfn for e in entries], lambda: [h.pfn for h in hands], repeat), 2.5),
        ("entry.present", best_pair(lambda: [e.present for e in entries], lambda: [h.present for h in hands],
                                    repeat), 2.5),
        ("entry.problems()", best_pair(lambda: [e.problems() for e in entries],
                                       lambda: [h.problems() for h in hands], repeat), 2.5),
        ("spte.decode(v, 'ept', 1) vs EptPte(v)", best_pair(lambda: [decode(v, "ept", 1) for v in values],
                                                            lambda: [EptPte(v) for v in values], repeat), 1.5),
        ("20-tag TagLayout.decode", best_pair(lambda: [tag_decode(v) for v in values], hand_tags, repeat), 3.0),
    ]
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--values", type=int, default=20_000)
    ap.add_argument("--repeat", type=int, default=7)
    args = ap.parse_args()
    table = []
    for shape, values in shapes(args.values).items():
        for name, ratio, target in rows_for(values, args.repeat):
            table.append((ratio / target, name, shape, ratio, target))
    table.sort(reverse=True)
    print(f"spte library benchmark ({args.values:,} values per shape, best of {args.repeat}; "
          f"Python {sys.version.split()[0]}); worst first")
    print(f"{'row':42} {'input':13} {'ratio':>7} {'target':>7}")
    for _, name, shape, ratio, target in table:
        flag = "" if ratio <= target else "  MISSED"
        print(f"{name:42} {shape:13} {ratio:6.2f}x {target:6.1f}x{flag}")


if __name__ == "__main__":
    main()
