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

from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

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
