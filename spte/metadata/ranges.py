"""``format_ranges(v & mask)`` for a fixed mask, from tables of the mask's pieces.

A reason such as ``bits 62:59,8 set: this kernel never sets them`` names the bits of the value
under a mask; values that never repeat must not each pay for :func:`spte.bits.format_ranges`
(a loop over the value's runs).  A run of set bits never crosses a bit outside the mask, so the
mask splits at its gaps into contiguous *segments* whose texts join with commas, highest first.
A segment of at most :data:`CHUNK` bits is one table of texts (2**bits slots, filled on first
use); a longer one is cut into chunks whose runs are merged where a run crosses a cut.

>>> from spte.bits import format_ranges
>>> text = ranges_text(0xFFF0_0000_0000_0FFF)
>>> text(0x8600000000000B77), format_ranges(0x8600000000000B77 & 0xFFF0_0000_0000_0FFF)
('63,58:57,11,9:8,6:4,2:0', '63,58:57,11,9:8,6:4,2:0')
>>> ranges_text(0xFFFFF000)(0x00FFF000), ranges_text(0xF0)(0)
('23:12', '-')
"""

from __future__ import annotations

from collections.abc import Callable

from spte.bits import bit_ranges, format_ranges

CHUNK = 12  # bits per table: 4096 slots at most
Runs = tuple[tuple[int, int], ...]  # (hi, lo) of each run, highest first


def _segments(mask: int) -> list[tuple[int, int]]:
    """The contiguous runs of ``mask`` as (lo, width), highest first."""
    return [(lo, hi - lo + 1) for hi, lo in reversed(bit_ranges(mask))]


class _Segment:
    """One contiguous run of the mask: the text of the value's bits in it."""

    def __init__(self, lo: int, width: int) -> None:
        self.lo, self.width = lo, width
        self.mask = ((1 << width) - 1) << lo
        self.small = width <= CHUNK
        self.texts: list[str | None] = [None] * (1 << width) if self.small else []
        # A long segment: chunks of CHUNK bits, lowest first, each a table of its runs.
        self.chunks = [(c, min(CHUNK, lo + width - c)) for c in range(lo, lo + width, CHUNK)]
        self.runs: list[list[Runs | None]] = [[None] * (1 << w) for _, w in self.chunks] if not self.small else []

    def text(self, v: int) -> str:
        """The runs of ``v``'s bits in this segment (``v`` non-zero there)."""
        if self.small:
            x = (v & self.mask) >> self.lo
            t = self.texts[x]
            if t is None:
                t = self.texts[x] = format_ranges(x << self.lo)
            return t
        runs: list[tuple[int, int]] = []
        for i in range(len(self.chunks) - 1, -1, -1):  # highest chunk first
            c, w = self.chunks[i]
            x = v >> c & ((1 << w) - 1)
            if not x:
                continue
            table = self.runs[i]
            own = table[x]
            if own is None:
                own = table[x] = tuple(reversed(bit_ranges(x << c)))
            if runs and runs[-1][1] == own[0][0] + 1:  # a run crosses the cut: one run
                runs[-1] = (runs[-1][0], own[0][1])
                runs += own[1:]
            else:
                runs += own
        return ",".join(str(hi) if hi == lo else f"{hi}:{lo}" for hi, lo in runs)


def ranges_text(mask: int) -> Callable[[int], str]:
    """A function of ``v`` equal to ``format_ranges(v & mask)`` (``"-"`` when nothing is set)."""
    segments = [_Segment(lo, width) for lo, width in _segments(mask)]
    if len(segments) == 1:
        (one,) = segments
        seg_mask, seg_text = one.mask, one.text
        return lambda v: seg_text(v) if v & seg_mask else "-"

    def text(v: int) -> str:
        if not v & mask:
            return "-"
        return ",".join([s.text(v) for s in segments if v & s.mask])

    return text
