"""Owners of software bits: the one interface that KVM, Linux mm and Xen present.

Hardware leaves bits to software; an *owner* is whoever keeps something in them.  The
allocator proves new tags against any owner, and ``decode``, ``layout``, the log reader and
the walker show an entry through one.  An owner says, per entry state (:data:`STATES`):

* ``fields(state)``: its named bits (the owner's own names, e.g. ``SPTE_MMU_PRESENT_MASK``
  or ``_PAGE_SPECIAL``), which renderers show instead of the hardware's ignored bits;
* ``owned_bits(state)``: every bit a new tag must avoid -- its fields, its rules (a value
  that must never appear, a pattern that must stay unmatched) and the bits its own
  transitions write (e.g. KVM's access tracking saves R/X into 54/56 of a present SPTE);
* ``read(value, level)``: what the owner makes of one value (:class:`Reading`).

>>> f = SoftwareField("gen", 0b1011 << 3, ("fault",), "split over bits 3-4 and 6")
>>> f.get(0b1011 << 3), f.bits_text
(7, '6,4:3')
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar, runtime_checkable

from spte.bits import Runs, bit_list, format_ranges, gather, value_runs
from spte.platform import Platform


@dataclass(frozen=True)
class SoftwareField:
    """Bits an owner names in entries of some states; value bit ``i`` is the ``i``-th set bit."""

    name: str
    mask: int
    states: tuple[str, ...]
    meaning: str = ""
    # (entry_lo, width, value_shift) per contiguous run of the mask: computed once.
    runs: Runs = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "runs", value_runs(bit_list(self.mask)))

    @property
    def bits(self) -> tuple[int, ...]:
        return tuple(bit_list(self.mask))

    @property
    def bits_text(self) -> str:
        return format_ranges(self.mask)

    def get(self, value: int) -> int:
        return gather(value, self.runs)


@dataclass(frozen=True)
class Reading:
    """What an owner makes of one value at one level."""

    owner: str
    kind: str  # the owner's word: a state name, or e.g. "mmio", "frozen", "swap", "prot_none"
    state: str  # the entry state whose fields apply (one of STATES)
    summary: str
    software: dict[str, int] = field(default_factory=dict)  # field name -> value, non-zero ones
    notes: tuple[str, ...] = ()
    # Could the owner have built this value?  None: not judged; False: ``reasons`` say why not.
    plausible: bool | None = None
    reasons: tuple[str, ...] = ()


@runtime_checkable
class Owner(Protocol):
    """The interface every owner of software bits implements (see the module docstring)."""

    name: str
    format: str
    platform: Platform

    def fields(self, state: str) -> tuple[SoftwareField, ...]: ...

    def owned_bits(self, state: str) -> int: ...

    def owner_of(self, bit: int, state: str) -> str | None: ...

    def read(self, value: int, level: int) -> Reading: ...


def names_by_bit(owner: Owner, state: str) -> dict[int, str]:
    """Entry bit -> the owner's field name, for one state (first field wins)."""
    out: dict[int, str] = {}
    for f in owner.fields(state):
        for b in f.bits:
            out.setdefault(b, f.name)
    return out


# -- readings as a function of bounded pieces of the value (the fast paths of decode and the log reader) --
Brief = tuple[str, tuple[str, ...], bool | None]  # (kind, names of the non-zero fields, plausible)
# A whole reading in parts (:func:`parts_reader`): kind, the summary as ``template % args``, the
# pfn shift (not None: the args are ``spte_to_pfn(v) << shift``), a key of the fields and notes,
# the non-zero fields, notes, plausible, a key of the reasons, the reasons, more reasons after
# them.  Values with equal (non-None) keys have equal fields and notes, or equal first reasons.
Parts = tuple[str, str, tuple[int, ...], "int | None", "int | None", dict[str, int], tuple[str, ...],
              "bool | None", "int | None", tuple[str, ...], tuple[str, ...]]
T = TypeVar("T")
MISSING: Any = object()  # not in a memo whose entries may be None
PATTERN_CAP = 1 << 14  # a memo of patterns stops growing here (never cleared, so input cannot thrash it)


@dataclass(frozen=True)
class KindPattern:
    """What an owner reads in every (non-exact) value with the same key (see :class:`Patterns`):
    the kind, the verdict, and which bits hold the fields that kind shows.  A value ``v`` with
    that key reads as plausible iff ``plausible and not v & clear``; its fields are
    :meth:`Patterns.software` of ``(kind, v & fields)``."""

    kind: str
    plausible: bool | None
    clear: int  # bits the value must keep clear to be plausible (checked per value: e.g. address bits)
    fields: int  # the bits of the fields shown for this kind


class Patterns(Protocol):
    """An owner's reading at one level, from bounded pieces of the value.

    ``exact`` values are read on their own.  Every other value ``v`` has a key, ``v & key_mask``
    plus bit 64 set when ``v & match[0] == match[1]`` (a pattern such as KVM's MMIO test that
    spans too many bits to key on); :meth:`kind` of the key is its :class:`KindPattern`, or
    None when the reading depends on more of the value (KVM: an MMIO SPTE's gfn), and then
    :meth:`value` reads it.  Every key space is bounded: ``2 ** (popcount(key_mask) + 1)`` kinds,
    ``2 ** popcount(fields)`` fields per kind, so memos of them are never thrashed; nothing that
    depends on other bits (an MMIO SPTE's gfn) is keyed.
    """

    @property
    def exact(self) -> Mapping[int, Reading]: ...

    @property
    def key_mask(self) -> int: ...

    @property
    def match(self) -> tuple[int, int] | None: ...

    @property
    def field_mask(self) -> int: ...  # every bit a KindPattern's fields may hold

    @property
    def base_mask(self) -> int: ...  # the address bits of a summary's pfn

    def kind(self, key: int) -> KindPattern | None: ...

    def software(self, kind: str, fields: int) -> dict[str, int]: ...

    def value(self, v: int) -> tuple[str, dict[str, int], bool | None]: ...

    @property
    def value_kind(self) -> str: ...  # the kind of every value :meth:`value` reads (KVM: "mmio")

    def reading_parts(self) -> Callable[[int], Parts]: ...

    def summary_reader(self) -> Callable[[int], str]: ...

    def pfn_only(self, key: int) -> int: ...  # bits only the summary's pfn reads in values of key


PatternsOf = Callable[[Any, int], Patterns]
_PATTERNS_OF: dict[type, PatternsOf] = {}


def register_patterns(cls: type, make: PatternsOf) -> None:
    """Owners of class ``cls`` (and its subclasses) have :class:`Patterns`: ``make(owner, level)``."""
    _PATTERNS_OF[cls] = make


def patterns_of(owner: Owner, level: int) -> Patterns | None:
    """The owner's :class:`Patterns` at ``level`` if its class registered them (KVM profiles), else None."""
    for cls in type(owner).__mro__:
        make = _PATTERNS_OF.get(cls)
        if make is not None:
            return make(owner, level)
    return None


def pattern_reader(patterns: Patterns, piece: Callable[[str, dict[str, int], bool | None], T],
                   value_piece: Callable[[int], T] | None = None) -> Callable[[int], T]:
    """A function of a value giving ``piece(kind, non-zero software fields, plausible)`` of its
    reading, from ``patterns``: composed once per pattern key and field bits (a bounded memo,
    never cleared), the verdict's must-be-clear bits tested per value; exact values and values
    whose reading depends on more bits (KVM's MMIO SPTEs: the gfn) are read on their own (by
    ``value_piece(v)`` if given: a caller that needs less of them than ``piece`` of the reading)."""
    return _pattern_memo(patterns, piece, value_piece)[2]


# What a loop needs to look a value's piece up without a call (:func:`pattern_lookup`): the memo's
# key bits, its lookup, and the reader for everything the lookup does not answer.
PatternLookup = tuple[int, Callable[[int], "tuple[int, T, T] | None"], Callable[[int], T]]


def pattern_lookup(patterns: Patterns, piece: Callable[[str, dict[str, int], bool | None], T],
                   value_piece: Callable[[int], T] | None = None) -> PatternLookup[T] | None:
    """:func:`pattern_reader`'s memo, for loops over many values that inline the lookup:
    ``(mask, get, read)``.  A value ``v`` whose ``e = get(v & mask)`` is not None reads as
    ``e[2] if v & e[0] else e[1]`` (and as that for every value with the same ``v & mask`` and
    ``v & e[0]``); any other value reads as ``read(v)``, which also fills the memo.  None when
    the key needs a match bit (``patterns.match``): then use :func:`pattern_reader`."""
    if patterns.match is not None:
        return None
    return _pattern_memo(patterns, piece, value_piece)


def _pattern_memo(patterns: Patterns, piece: Callable[[str, dict[str, int], bool | None], T],
                  value_piece: Callable[[int], T] | None) -> PatternLookup[T]:
    """The reader behind :func:`pattern_reader` and :func:`pattern_lookup`, with its memo."""
    exact = {v: piece(r.kind, r.software, r.plausible) for v, r in patterns.exact.items()}
    key_mask, match = patterns.key_mask, patterns.match
    kind_of, software, value = patterns.kind, patterns.software, patterns.value
    mask = key_mask | patterns.field_mask  # the memo's key: the pattern key and every kind's field bits
    mm, mv = match or (0, 1)  # v & 0 == 1 never holds: no match bit
    # Memo entries: (bits the value must keep clear, the piece if they are, the piece if not), or
    # None for keys of exact values and MMIO keys: those values are read below.
    exact_keys = {e & mask | (e & mm == mv) << 64 for e in exact}
    kinds: dict[int, KindPattern | None] = {}
    others: dict[int, tuple[int, T, T] | None] = {}  # a None key -> its non-exact values' pieces (None: read each)
    memo: dict[int, tuple[int, T, T] | None] = {}
    get = memo.get

    def compose(v: int) -> tuple[int, T, T] | None:
        key = v & key_mask | (v & mm == mv) << 64
        p = kinds[key] if key in kinds else kinds.setdefault(key, kind_of(key))
        if p is None:
            return None
        fields = software(p.kind, v & p.fields)
        return p.clear, piece(p.kind, fields, p.plausible), piece(
            p.kind, fields, False if p.plausible is not None else None)

    def fill(v: int, key: int) -> tuple[int, T, T] | None:
        known = compose(v)
        if known is None or key in exact_keys:
            others[key] = known  # bounded: keys of the memo's kind
            known = None
        if len(memo) < PATTERN_CAP:  # bounded anyway: 2 ** (popcount(mask) + 1) keys
            memo[key] = known
        return known

    def read(v: int) -> T:
        key = v & mask | (v & mm == mv) << 64
        known: tuple[int, T, T] | None = get(key, MISSING)
        if known is MISSING:
            known = fill(v, key)
        if known is not None:
            return known[2] if v & known[0] else known[1]
        if v in exact:
            return exact[v]
        known = others[key] if key in others else compose(v)
        if known is None:  # e.g. an MMIO SPTE: read on its own
            if value_piece is not None:
                return value_piece(v)
            kind, fields, plausible = value(v)
            return piece(kind, fields, plausible)
        return known[2] if v & known[0] else known[1]

    return mask, get, read


def brief_reader(owner: Owner, level: int) -> Callable[[int], Brief]:
    """``(kind, names of the non-zero software fields, plausible)`` of a value at ``level``,
    exactly as ``owner.read(value, level)`` gives them; from the owner's :class:`Patterns`
    when it has them (:func:`patterns_of`: KVM profiles), else from ``read``."""
    patterns = patterns_of(owner, level)
    if patterns is None:
        def slow(v: int) -> Brief:
            r = owner.read(v, level)
            return r.kind, tuple(k for k, x in r.software.items() if x), r.plausible

        return slow
    return pattern_reader(patterns, lambda kind, fields, plausible: (kind, tuple(fields), plausible))


def parts_reader(owner: Owner, level: int) -> Callable[[int], Parts]:
    """``owner.read(v, level)`` as :data:`Parts`: from the owner's :class:`Patterns` when it has
    them (KVM profiles: composed from bounded tables and the value's address bits), else from
    ``read``.  ``template % args`` is the summary."""
    patterns = patterns_of(owner, level)
    if patterns is not None:
        return patterns.reading_parts()

    def slow(v: int) -> Parts:
        r = owner.read(v, level)
        return (r.kind, r.summary.replace("%", "%%"), (), None, None, dict(r.software), tuple(r.notes), r.plausible,
                None, tuple(r.reasons), ())

    return slow


def summary_reader(owner: Owner, level: int) -> Callable[[int], str]:
    """``owner.read(v, level).summary`` as a function of ``v`` (from :class:`Patterns` when the
    owner has them: a template per pattern, the address-like numbers per value)."""
    patterns = patterns_of(owner, level)
    if patterns is not None:
        return patterns.summary_reader()
    return lambda v: owner.read(v, level).summary


PfnSlots = tuple[int, "tuple[int, int] | None", Callable[[int], int], int, frozenset[int]]


def pfn_slots(owner: Owner, level: int) -> PfnSlots | None:
    """Where a reading's numbers come from, for memoising whole texts by the other bits:
    ``(key_mask, match, pfn_only, address mask, exact values)``.  Every non-exact value ``v``
    whose key (:class:`Patterns`) is ``k`` and whose :data:`Parts` have a pfn shift and a key
    reads the same but for the summary's pfn, ``(v & address mask) >> 12 << shift``, whatever
    its bits ``pfn_only(k)``.  None for owners without :class:`Patterns`."""
    patterns = patterns_of(owner, level)
    if patterns is None:
        return None
    return patterns.key_mask, patterns.match, patterns.pfn_only, patterns.base_mask, frozenset(patterns.exact)
