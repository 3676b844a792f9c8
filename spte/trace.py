"""kvmmmu tracepoint lines: recognise the SPTE-carrying events and pull out their values.

Works on raw tracefs ``trace`` text and on ``trace-cmd report`` output: both print
``<event>: <TP_printk text>``.  The formats are those of ``arch/x86/kvm/mmu/mmutrace.h``
(6.19; ``kvm_mmu_set_spte`` and ``check_mmio_spte`` are unchanged since 5.8).

>>> ev = parse_line("  qemu-1 [001] .... 1.0: kvm_mmu_set_spte: gfn 20 spte 14fab8a25 (r-xu) level 1 at 15e8b4100")
>>> ev.event, hex(ev.spte), ev.level, ev.args["flags"]
('kvm_mmu_set_spte', '0x14fab8a25', 1, 'r-xu')
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import NamedTuple

HEX = r"(?:0x)?[0-9a-fA-F]+"
FORMATS = {
    "kvm_mmu_set_spte": rf"gfn (?P<gfn>{HEX}) spte (?P<spte>{HEX}) \((?P<flags>[rwxu-]{{4}})\) "
                        rf"level (?P<level>\d+) at (?P<sptep>{HEX})",
    "kvm_tdp_mmu_spte_changed": rf"as id (?P<as_id>\d+) gfn (?P<gfn>{HEX}) level (?P<level>\d+) "
                                rf"old_spte (?P<old>{HEX}) new_spte (?P<new>{HEX})",
    "fast_page_fault": rf"vcpu (?P<vcpu>\d+) gva (?P<gva>{HEX}) error_code (?P<error_code>\S*) "
                       rf"sptep (?P<sptep>\S+) old (?P<old>{HEX}) new (?P<new>{HEX}) "
                       rf"spurious (?P<spurious>\d+) fixed (?P<fixed>\d+)",
    "mark_mmio_spte": rf"sptep:(?P<sptep>\S+) gfn (?P<gfn>{HEX}) access (?P<access>{HEX}) gen (?P<gen>{HEX})",
    "check_mmio_spte": rf"spte (?P<spte>{HEX}) kvm_gen (?P<kvm_gen>{HEX}) spte-gen (?P<spte_gen>{HEX}) "
                       rf"valid (?P<valid>\d+)",
    "kvm_mmu_split_huge_page": rf"gfn (?P<gfn>{HEX}) spte (?P<spte>{HEX}) level (?P<level>\d+) "
                               rf"errno (?P<errno>-?\d+)",
    "kvm_mmu_spte_requested": rf"gfn (?P<gfn>{HEX}) pfn (?P<pfn>{HEX}) level (?P<level>\d+)",
}
EVENTS = tuple(FORMATS)
_EVENT = re.compile(r"\b(" + "|".join(EVENTS) + r"):\s+")
_ARGS = {name: re.compile(fmt) for name, fmt in FORMATS.items()}
# The same grammar over bytes, for scanning whole chunks of a trace file at once: each
# event name is found with bytes.find (C speed), and only its line is parsed.
_NEEDLES = tuple((name, name.encode() + b":") for name in EVENTS)
ARGS_BYTES = {name: re.compile(rb"[ \t]*" + fmt.encode() + rb"[ \t]*") for name, fmt in FORMATS.items()}
_WORD = frozenset(b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_")


def scan(blob: bytes) -> list[tuple[int, int, str, int]]:
    """Every SPTE event in ``blob`` as (start, end of its line, event, start of arguments)."""
    hits = []
    find = blob.find
    for name, needle in _NEEDLES:
        i = find(needle)
        while i != -1:
            end = find(b"\n", i)
            if end == -1:
                end = len(blob)
            if i == 0 or blob[i - 1] not in _WORD:
                line_end = end - 1 if end > i and blob[end - 1] == 13 else end  # drop a CR
                hits.append((i, line_end, name, i + len(needle)))
            i = find(needle, end)
    hits.sort()
    return hits


def match_args(name: str, blob: bytes, pos: int, endpos: int) -> re.Match[bytes] | None:
    """The arguments of event ``name`` at ``blob[pos:endpos]`` (leading blanks allowed)."""
    return ARGS_BYTES[name].fullmatch(blob, pos, endpos)


class _RawArgs(Mapping[str, str]):
    """Event arguments decoded only when someone asks (the hot path needs just the ints)."""

    __slots__ = ("_m",)

    def __init__(self, m: re.Match[bytes]) -> None:
        self._m = m

    def __contains__(self, key: object) -> bool:
        return key in self._m.re.groupindex

    def __getitem__(self, key: str) -> str:
        value = self._m.group(key)
        if value is None:
            raise KeyError(key)
        return str(value.decode())

    def __iter__(self) -> Iterator[str]:
        return iter(self._m.re.groupindex)

    def __len__(self) -> int:
        return len(self._m.re.groupindex)


class TraceEvent(NamedTuple):
    event: str
    args: Mapping[str, str]
    spte: int | None = None  # the SPTE the event carries (new SPTE for transitions)
    old: int | None = None  # previous SPTE, for events that carry both
    level: int | None = None  # None: the event does not say

    def int_arg(self, name: str) -> int:
        return int(self.args[name], 16)


def parse_line(line: str) -> TraceEvent | None:
    """The SPTE event on ``line``, or None if the line is anything else."""
    m = _EVENT.search(line)
    if m is None:
        return None
    name = m.group(1)
    a = _ARGS[name].match(line, m.end())
    return None if a is None else _event(name, a.groupdict())


def parse_event(name: str, blob: bytes, pos: int = 0, endpos: int | None = None) -> TraceEvent | None:
    """An event found by :func:`scan`; None if its arguments do not parse."""
    a = match_args(name, blob, pos, len(blob) if endpos is None else endpos)
    return None if a is None else _event(name, _RawArgs(a))


def _event(name: str, args: Mapping[str, str]) -> TraceEvent:
    level = int(args["level"]) if "level" in args else None
    spte = old = None
    if "spte" in args:
        spte = int(args["spte"], 16)
    if "new" in args:
        spte, old = int(args["new"], 16), int(args["old"], 16)
    return TraceEvent(name, args, spte, old, level)
