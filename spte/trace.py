"""Compatibility: the kvmmmu grammar moved to :mod:`spte.logs` (every KVM, Linux and Xen printout).

>>> ev = parse_line("  qemu-1 [001] .... 1.0: kvm_mmu_set_spte: gfn 20 spte 14fab8a25 (r-xu) level 1 at 15e8b4100")
>>> ev.event, hex(ev.spte), ev.level, ev.args["gfn"]
('kvm_mmu_set_spte', '0x14fab8a25', 1, '20')
"""

from __future__ import annotations

from typing import NamedTuple

from spte.logs import EVENTS, Context, LogReader

__all__ = ["EVENTS", "TraceEvent", "parse_line"]


class TraceEvent(NamedTuple):
    event: str
    args: dict[str, str]
    spte: int | None = None  # the value the line carries (the new one of a transition)
    old: int | None = None
    level: int | None = None  # None: the line does not say


def parse_line(line: str) -> TraceEvent | None:
    """The first value-carrying printout on ``line``, or None."""
    for result in LogReader(Context()).scan(line.encode("utf-8", "surrogateescape")):
        if result.records:
            recs = result.records
            old = recs[0].value if recs[0].role == "old" else None
            return TraceEvent(result.event, recs[-1].args, recs[-1].value, old, recs[-1].level)
    return None
