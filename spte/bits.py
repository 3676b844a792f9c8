"""Field tables: the one declaration every mask, check and rendering derives from.

A :class:`Field` is one row of an SDM figure: a name, its bits, its role and one line
of meaning.  Some bits change role with a control (EPT A/D with EPTP[6], XD with
EFER.NXE, ...): such a field names the :class:`~spte.platform.Platform` switch and the
role it has when the switch is off.  Bounds may depend on MAXPHYADDR (``M``).

:func:`resolve` turns a table into a :class:`Layout` for one platform: concrete
positions, roles and masks, checked to cover every bit exactly once.

>>> from spte.platform import Platform
>>> table = (Field("present", 0, Role.FLAG, "P"), Field("rest", (31, 1), Role.IGNORED, "x"))
>>> layout = resolve(table, Platform(), width=32)
>>> hex(layout.role_mask(Role.IGNORED))
'0xfffffffe'
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from enum import StrEnum
from functools import cache
from typing import Any

from spte.platform import Platform


class Role(StrEnum):
    """What a bit is to hardware (or to software)."""

    PERMISSION = "permission"
    FLAG = "flag"
    MEMORY_TYPE = "memory-type"
    ADDRESS = "address"
    PROTECTION_KEY = "protection-key"
    IGNORED = "ignored"  # the CPU never reads it: free for software
    RESERVED = "reserved"  # must be 0 in a present entry, else #PF/#GP/misconfig
    SOFTWARE = "software"  # owned by a software layout (KVM, a tag)

    @property
    def is_hardware(self) -> bool:
        return self not in (Role.IGNORED, Role.RESERVED, Role.SOFTWARE)


def genmask(hi: int, lo: int) -> int:
    """Bits ``hi..lo`` inclusive, like the kernel's GENMASK_ULL.

    >>> hex(genmask(51, 12))
    '0xffffffffff000'
    """
    if hi < lo:
        return 0
    return ((1 << (hi - lo + 1)) - 1) << lo


def union(masks: Iterable[int]) -> int:
    """The OR of ``masks``.

    >>> hex(union([0x1, 0x800, 0x1]))
    '0x801'
    """
    out = 0
    for m in masks:
        out |= m
    return out


def bit_list(mask: int) -> list[int]:
    """Positions of the set bits of ``mask``, lowest first."""
    out = []
    while mask:
        low = mask & -mask
        out.append(low.bit_length() - 1)
        mask ^= low
    return out


def bit_ranges(mask: int) -> list[tuple[int, int]]:
    """Runs of set bits as ``(hi, lo)`` pairs, lowest run first.

    >>> bit_ranges(0x8000000000000b77)
    [(2, 0), (6, 4), (9, 8), (11, 11), (63, 63)]
    """
    runs: list[tuple[int, int]] = []
    for b in bit_list(mask):
        if runs and runs[-1][0] == b - 1:
            runs[-1] = (b, runs[-1][1])
        else:
            runs.append((b, b))
    return runs


def format_ranges(mask: int) -> str:
    """``'63,11,9:8'`` style text for a mask, highest bits first."""
    if not mask:
        return "-"
    return ",".join(str(hi) if hi == lo else f"{hi}:{lo}" for hi, lo in reversed(bit_ranges(mask)))


@dataclass(frozen=True)
class PhysBound:
    """A bit number relative to MAXPHYADDR: ``min(M, cap) + offset``."""

    offset: int = 0
    cap: int | None = None

    def __add__(self, n: int) -> PhysBound:
        return PhysBound(self.offset + n, self.cap)

    def __sub__(self, n: int) -> PhysBound:
        return PhysBound(self.offset - n, self.cap)

    def resolve(self, platform: Platform) -> int:
        m = platform.maxphyaddr if self.cap is None else min(platform.maxphyaddr, self.cap)
        return m + self.offset

    def __str__(self) -> str:
        base = "M" if self.cap is None else f"min(M,{self.cap})"
        return base if not self.offset else f"{base}{self.offset:+d}"


M = PhysBound()  # MAXPHYADDR
Bound = int | PhysBound


def _resolve_bound(b: Bound, platform: Platform) -> int:
    return b if isinstance(b, int) else b.resolve(platform)


@dataclass(frozen=True)
class Field:
    """One row of a field table.

    ``bits`` is a bit number or an inclusive ``(hi, lo)`` pair; either end may be
    relative to MAXPHYADDR.  When ``control`` names a platform switch that is off,
    the field has role ``otherwise`` instead of ``role``.
    """

    name: str
    bits: Bound | tuple[Bound, Bound]
    role: Role
    meaning: str
    control: str | None = None
    otherwise: Role = Role.IGNORED
    short: str = ""  # label for one-line output (R, W, X, PS, XD, ...)

    @property
    def hi_lo(self) -> tuple[Bound, Bound]:
        return self.bits if isinstance(self.bits, tuple) else (self.bits, self.bits)

    def bits_text(self) -> str:
        hi, lo = self.hi_lo
        return str(hi) if hi == lo else f"{hi}:{lo}"


@dataclass(frozen=True)
class FieldInfo:
    """A field resolved for one platform: exports offset, width and mask."""

    name: str
    lo: int
    width: int
    role: Role
    meaning: str
    control: str | None
    short: str = ""

    @property
    def label(self) -> str:
        return self.short or self.name

    @property
    def hi(self) -> int:
        return self.lo + self.width - 1

    @property
    def mask(self) -> int:
        return genmask(self.hi, self.lo)

    @property
    def max(self) -> int:
        return (1 << self.width) - 1

    def bits_text(self) -> str:
        return str(self.lo) if self.width == 1 else f"{self.hi}:{self.lo}"

    def get(self, value: int) -> int:
        return (value >> self.lo) & self.max

    def put(self, value: int, field_value: int) -> int:
        """``value`` with this field set; refuses values that do not fit."""
        if not 0 <= field_value <= self.max:
            raise ValueError(
                f"{self.name}={field_value:#x} does not fit in {self.width} bit"
                f"{'s' if self.width > 1 else ''} ({self.bits_text()})"
            )
        return (value & ~self.mask) | (field_value << self.lo)


class LayoutError(AssertionError):
    """A field table breaks an invariant (raised at import or resolve time)."""


@dataclass(frozen=True)
class Layout:
    """A table resolved for one platform; all masks are derived here."""

    fields: tuple[FieldInfo, ...]
    width: int
    platform: Platform
    by_name: dict[str, FieldInfo] = field(init=False, repr=False, compare=False, hash=False)
    # value -> {name: field value}, compiled from the table (the fields() hot path).
    extract: Callable[[int], dict[str, int]] = field(init=False, repr=False, compare=False, hash=False)

    def __post_init__(self) -> None:
        # Like spte.h's static_asserts: every bit is described exactly once.
        seen = 0
        for f in self.fields:
            if f.width <= 0 or f.lo < 0 or f.hi >= self.width:
                raise LayoutError(f"field {f.name} bits {f.bits_text()} outside 0..{self.width - 1}")
            if seen & f.mask:
                raise LayoutError(f"field {f.name} overlaps bits {format_ranges(seen & f.mask)}")
            seen |= f.mask
        if seen != genmask(self.width - 1, 0):
            raise LayoutError(f"bits {format_ranges(genmask(self.width - 1, 0) & ~seen)} not described")
        object.__setattr__(self, "by_name", {f.name: f for f in self.fields})
        items = ", ".join(f"{f.name!r}: (v >> {f.lo}) & {f.max:#x}" for f in self.fields)
        namespace: dict[str, Any] = {}
        exec(f"def extract(v):\n    return {{{items}}}\n", namespace)  # generated from the table itself
        object.__setattr__(self, "extract", namespace["extract"])


    def role_mask(self, *roles: Role) -> int:
        m = 0
        for f in self.fields:
            if f.role in roles:
                m |= f.mask
        return m

    @property
    def reserved_mask(self) -> int:
        return self.role_mask(Role.RESERVED)

    @property
    def ignored_mask(self) -> int:
        return self.role_mask(Role.IGNORED)

    @property
    def address_mask(self) -> int:
        return self.role_mask(Role.ADDRESS)

    @property
    def hardware_mask(self) -> int:
        return self.role_mask(*(r for r in Role if r.is_hardware))

    def field_at(self, bit: int) -> FieldInfo:
        for f in self.fields:
            if f.lo <= bit <= f.hi:
                return f
        raise KeyError(bit)


def _split_at_c_bit(f: Field, lo: int, hi: int, c_bit: int) -> list[FieldInfo]:
    """An address field loses the SME/SEV C-bit: address below, C-bit, address above."""
    out = []
    if c_bit > lo:
        out.append(FieldInfo(f.name, lo, c_bit - lo, Role.ADDRESS, f.meaning, None))
    out.append(FieldInfo("c_bit", c_bit, 1, Role.FLAG, "SME/SEV C-bit: the page is encrypted", None, "C"))
    if hi > c_bit:
        out.append(FieldInfo(f"{f.name}_high", c_bit + 1, hi - c_bit, Role.ADDRESS,
                             "address bits above the C-bit", None))
    return out


def resolve(table: tuple[Field, ...], platform: Platform, width: int = 64) -> Layout:
    """Resolve a table for ``platform``; fields that end up empty are dropped."""
    return _resolve(table, platform, width)


@cache
def _resolve(table: tuple[Field, ...], platform: Platform, width: int) -> Layout:
    out: list[FieldInfo] = []
    for f in table:
        hi_b, lo_b = f.hi_lo
        hi, lo = _resolve_bound(hi_b, platform), _resolve_bound(lo_b, platform)
        if hi < lo:
            continue  # e.g. the reserved PA range when MAXPHYADDR = 52
        on = f.control is None or bool(getattr(platform, f.control))
        role = f.role if on else f.otherwise
        # Only MAXPHYADDR-bounded (long-mode style) address fields can hold the C-bit.
        if (role is Role.ADDRESS and platform.c_bit is not None and lo <= platform.c_bit <= hi
                and isinstance(hi_b, PhysBound) and hi_b.cap is None):
            out.extend(_split_at_c_bit(f, lo, hi, platform.c_bit))
            continue
        out.append(FieldInfo(f.name, lo, hi - lo + 1, role, f.meaning, f.control, f.short))
    out.sort(key=lambda fi: fi.lo)
    return Layout(tuple(out), width, platform)
