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

from collections.abc import Iterable, Mapping
from enum import StrEnum
from functools import cache
from typing import Any, NamedTuple

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


Runs = tuple[tuple[int, int, int], ...]


def value_runs(bits: Iterable[int]) -> Runs:
    """``(entry_lo, width, value_shift)`` per contiguous run, when value bit ``i`` lives in
    entry bit ``bits[i]`` (a field split over several places, like KVM's MMIO generation).

    >>> value_runs([3, 4, 6])
    ((3, 2, 0), (6, 1, 2))
    """
    runs: list[tuple[int, int, int]] = []
    for i, b in enumerate(bits):
        if runs and runs[-1][0] + runs[-1][1] == b:
            lo, w, vs = runs[-1]
            runs[-1] = (lo, w + 1, vs)
        else:
            runs.append((b, 1, i))
    return tuple(runs)


def gather(value: int, runs: Runs) -> int:
    """The field value the runs of ``value`` hold."""
    out = 0
    for lo, w, vs in runs:
        out |= ((value >> lo) & ((1 << w) - 1)) << vs
    return out


def format_ranges(mask: int) -> str:
    """``'63,11,9:8'`` style text for a mask, highest bits first."""
    if not mask:
        return "-"
    return ",".join(str(hi) if hi == lo else f"{hi}:{lo}" for hi, lo in reversed(bit_ranges(mask)))


def size_text(n: int) -> str:
    """A size in the largest binary unit that divides it evenly enough to read.

    >>> size_text(4096), size_text(1 << 30), size_text(3 << 20), size_text(100)
    ('4 KiB', '1 GiB', '3 MiB', '100 B')
    """
    for unit, shift in (("TiB", 40), ("GiB", 30), ("MiB", 20), ("KiB", 10)):
        if n >= 1 << shift:
            return f"{n >> shift} {unit}"
    return f"{n} B"


class PhysBound:
    """A bit number relative to MAXPHYADDR: ``min(M, cap) + offset``.

    (The records of this module are plain classes and named tuples, not dataclasses: importing
    ``dataclasses`` pulls in ``inspect``, a third of a single ``spte decode``'s start-up.)"""

    __slots__ = ("offset", "cap")
    offset: int
    cap: int | None

    def __init__(self, offset: int = 0, cap: int | None = None) -> None:
        object.__setattr__(self, "offset", offset)
        object.__setattr__(self, "cap", cap)

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"PhysBound is immutable: cannot set {name}")

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, PhysBound):
            return NotImplemented
        return (self.offset, self.cap) == (other.offset, other.cap)

    def __hash__(self) -> int:
        return hash((PhysBound, self.offset, self.cap))

    def __repr__(self) -> str:
        return f"PhysBound(offset={self.offset!r}, cap={self.cap!r})"

    def __reduce__(self) -> tuple[type[PhysBound], tuple[int, int | None]]:
        return PhysBound, (self.offset, self.cap)

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


class Field(NamedTuple):
    """One row of a field table.

    ``bits`` is a bit number or an inclusive ``(hi, lo)`` pair; either end may be
    relative to MAXPHYADDR.  When ``control`` names a platform switch that is off,
    the field has role ``otherwise`` instead of ``role``; an optional field that is off
    and ignored is shown as the ignored bits it then is.  Ignored and reserved ranges
    have no name of their own: :func:`ignored` and :func:`reserved` make rows whose name
    derives from their bits (``ignored_52_56``).

    What a field *does* is an attribute, so checks derive from the table:
    ``presence`` (a set bit makes the entry present), ``read_not_present`` (hardware reads
    it even in a not-present entry: EPT SUPPRESS_VE), ``page_size`` (PS: selects the
    large-page form at this level) and, for address fields, ``pa_lo``: the physical-address
    bit that the field's lowest bit holds (PSE-36 puts PA 39:32 in bits 20:13).
    """

    name: str
    bits: Bound | tuple[Bound, Bound]
    role: Role
    meaning: str
    control: str | None = None
    otherwise: Role = Role.IGNORED
    short: str = ""  # label for one-line output (R, W, X, PS, XD, ...)
    presence: bool = False
    read_not_present: bool = False
    page_size: bool = False
    pa_lo: int | None = None

    @property
    def hi_lo(self) -> tuple[Bound, Bound]:
        return self.bits if isinstance(self.bits, tuple) else (self.bits, self.bits)

    def bits_text(self) -> str:
        hi, lo = self.hi_lo
        return str(hi) if hi == lo else f"{hi}:{lo}"


def ignored(bits: Bound | tuple[Bound, Bound], meaning: str = "ignored", **kw: Any) -> Field:
    """An ignored range; its name derives from its bits when resolved."""
    return Field("", bits, Role.IGNORED, meaning, **kw)


def reserved(bits: Bound | tuple[Bound, Bound], meaning: str, **kw: Any) -> Field:
    """A reserved range; its name derives from its bits when resolved."""
    return Field("", bits, Role.RESERVED, meaning, **kw)


def range_name(role: Role, lo: int, hi: int) -> str:
    """``ignored_52_56`` / ``reserved_7``: the name of an anonymous range.

    >>> range_name(Role.IGNORED, 52, 56), range_name(Role.RESERVED, 7, 7)
    ('ignored_52_56', 'reserved_7')
    """
    return f"{role.value}_{lo}" if lo == hi else f"{role.value}_{lo}_{hi}"


class FieldInfo(NamedTuple):
    """A field resolved for one platform: exports offset, width and mask."""

    name: str
    lo: int
    width: int
    role: Role
    meaning: str
    control: str | None = None
    short: str = ""
    presence: bool = False  # only where the field is active on this platform
    read_not_present: bool = False
    page_size: bool = False
    pa_lo: int | None = None  # address fields: PA bit of the field's bit 0

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
        if type(field_value) is not int:
            field_value = exact_int(field_value, self.name)
        if not 0 <= field_value <= self.max:
            raise ValueError(
                f"{self.name}={field_value:#x} does not fit in {self.width} bit"
                f"{'s' if self.width > 1 else ''} ({self.bits_text()})"
            )
        return (value & ~self.mask) | (field_value << self.lo)


def exact_int(value: object, what: str) -> int:
    """``value`` as an int if it is one exactly (numpy integers included); refuses the rest.

    >>> exact_int(True, "x")
    Traceback (most recent call last):
    ...
    TypeError: x: a bool is not a number here
    """
    if isinstance(value, bool):
        raise TypeError(f"{what}: a bool is not a number here")
    if isinstance(value, int):
        return int(value)
    index = getattr(type(value), "__index__", None)
    if index is not None:  # numpy integers and other exact integer types
        return int(index(value))
    raise TypeError(f"{what}: expected an integer, got {type(value).__name__}")


class LayoutError(AssertionError):
    """A field table breaks an invariant (raised at import or resolve time)."""


class Layout:
    """A table resolved for one platform; every mask is derived here, once.

    Compared, hashed and pickled by its fields, width and platform."""

    __slots__ = ("fields", "width", "platform", "by_name", "present_mask", "not_present_read_mask",
                 "page_size_mask", "address_mask", "reserved_mask", "ignored_mask", "hardware_mask",
                 "address_is_mask", "_extract")
    fields: tuple[FieldInfo, ...]
    width: int
    platform: Platform
    by_name: dict[str, FieldInfo]
    present_mask: int
    not_present_read_mask: int
    page_size_mask: int
    address_mask: int
    reserved_mask: int
    ignored_mask: int
    hardware_mask: int
    address_is_mask: bool
    _extract: tuple[tuple[str, int, int], ...]  # (name, lo, max) per field: the fields() hot path

    def __init__(self, fields: tuple[FieldInfo, ...], width: int, platform: Platform) -> None:
        object.__setattr__(self, "fields", fields)
        object.__setattr__(self, "width", width)
        object.__setattr__(self, "platform", platform)
        self._derive()

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"a Layout is immutable: cannot set {name}")

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Layout):
            return NotImplemented
        return (self.fields, self.width, self.platform) == (other.fields, other.width, other.platform)

    def __hash__(self) -> int:
        return hash((self.fields, self.width, self.platform))

    def __repr__(self) -> str:
        return f"Layout(fields={self.fields!r}, width={self.width!r}, platform={self.platform!r})"

    def __reduce__(self) -> tuple[type[Layout], tuple[tuple[FieldInfo, ...], int, Platform]]:
        return Layout, (self.fields, self.width, self.platform)

    def _derive(self) -> None:
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
        names = [f.name for f in self.fields]
        if len(set(names)) != len(names):
            raise LayoutError(f"duplicate field names in {names}")
        derived = {
            "by_name": {f.name: f for f in self.fields},
            "present_mask": union(f.mask for f in self.fields if f.presence),
            "not_present_read_mask": union(f.mask for f in self.fields if f.read_not_present),
            "page_size_mask": union(f.mask for f in self.fields if f.page_size),
            "address_mask": self.role_mask(Role.ADDRESS),
            "reserved_mask": self.role_mask(Role.RESERVED),
            "ignored_mask": self.role_mask(Role.IGNORED),
            "hardware_mask": self.role_mask(*(r for r in Role if r.is_hardware)),
            # True when the address is just value & address_mask (no field moves its bits).
            "address_is_mask": all(f.pa_lo in (None, f.lo) for f in self.fields if f.role is Role.ADDRESS),
            "_extract": tuple((f.name, f.lo, f.max) for f in self.fields),
        }
        for k, v in derived.items():
            object.__setattr__(self, k, v)

    def role_mask(self, *roles: Role) -> int:
        return union(f.mask for f in self.fields if f.role in roles)

    def address(self, value: int) -> int:
        """The physical address the address fields of ``value`` hold."""
        out = 0
        for f in self.fields:
            if f.role is Role.ADDRESS:
                out |= ((value >> f.lo) & f.max) << (f.lo if f.pa_lo is None else f.pa_lo)
        return out

    def extract(self, value: int) -> dict[str, int]:
        """``{name: field value}`` for every field, in bit order."""
        return {name: (value >> lo) & m for name, lo, m in self._extract}

    def field_at(self, bit: int) -> FieldInfo:
        for f in self.fields:
            if f.lo <= bit <= f.hi:
                return f
        raise KeyError(bit)


def field_words(fields: Iterable[FieldInfo], value: int, enums: Mapping[str, Mapping[int, str]] | None = None,
                *, labels: bool = True) -> tuple[list[str], list[str]]:
    """The one flag-word formatter: (flags, ``name=value`` words) for the non-zero fields.

    Single-bit hardware fields are flags; the rest are ``name=value`` (an enum value by
    its name).  ``labels`` uses the short labels (R, W, MT) of active hardware fields, as
    one-line output does; otherwise full names, with ``WB(6)`` for enum values.

    >>> from spte.platform import Platform
    >>> table = (Field("read", 0, Role.PERMISSION, "R", short="R"), Field("mt", (3, 1), Role.MEMORY_TYPE, "MT"),
    ...          ignored((31, 4)))
    >>> layout = resolve(table, Platform(), width=32)
    >>> field_words(layout.fields, 0x1D, {"mt": {6: "WB"}})
    (['R'], ['mt=WB', 'ignored_4_31=0x1'])
    >>> field_words(layout.fields, 0x1D, {"mt": {6: "WB"}}, labels=False)
    (['read'], ['mt=WB(6)', 'ignored_4_31=0x1'])
    """
    flags: list[str] = []
    words: list[str] = []
    for f in fields:
        v = (value >> f.lo) & f.max
        if not v:
            continue
        hardware = f.role.is_hardware
        name = f.label if labels and hardware else f.name
        if f.width == 1 and hardware:
            flags.append(name)
            continue
        names = enums.get(f.name) if enums else None
        if names and v in names:
            words.append(f"{name}={names[v]}" if labels else f"{name}={names[v]}({v})")
        else:
            words.append(f"{name}={v:#x}")
    return flags, words


# The one-line renderers' piece boundaries: x86 entries keep their flags in bits 11:0 and 63:52,
# the address between, so a line is composed from tables of those two windows and the middle.
LOW_BITS, HIGH_SHIFT = 12, 52
LOW_MASK = (1 << LOW_BITS) - 1
MID_TABLE_BITS = 16  # a middle pattern of at most this many bits gets a table (<= 64 Ki pieces)


def split_fields(fields: Iterable[FieldInfo]) -> tuple[list[FieldInfo], list[FieldInfo], list[FieldInfo]]:
    """``fields`` (in layout order) as the fields within bits 11:0, those between, and those
    within bits 63:52: the three windows the one-line and JSON tables are built from."""
    fields = list(fields)
    low = [f for f in fields if f.hi < LOW_BITS]
    high = [f for f in fields if f.lo >= HIGH_SHIFT]
    return low, [f for f in fields if f.hi >= LOW_BITS and f.lo < HIGH_SHIFT], high


def field_pieces(fields: Iterable[FieldInfo], value: int,
                 enums: Mapping[str, Mapping[int, str]] | None = None) -> tuple[str, str]:
    """:func:`field_words` as two pieces that join by concatenation: the flags each with a
    leading bar and the words each with a leading space (the one-line renderers' tables).

    >>> from spte.platform import Platform
    >>> layout = resolve((Field("read", 0, Role.PERMISSION, "R", short="R"), ignored((31, 1))), Platform(), 32)
    >>> field_pieces(layout.fields, 0x3)
    ('|R', ' ignored_1_31=0x1')
    """
    flags, words = field_words(fields, value, enums)
    return "".join("|" + f for f in flags), "".join(" " + w for w in words)


def _split_at_c_bit(f: Field, lo: int, hi: int, c_bit: int) -> list[FieldInfo]:
    """An address field loses the SME/SEV C-bit: address below, C-bit, address above."""
    out = []
    if c_bit > lo:
        out.append(FieldInfo(f.name, lo, c_bit - lo, Role.ADDRESS, f.meaning))
    out.append(FieldInfo("c_bit", c_bit, 1, Role.FLAG, "SME/SEV C-bit: the page is encrypted", short="C"))
    if hi > c_bit:
        out.append(FieldInfo(f"{f.name}_high", c_bit + 1, hi - c_bit, Role.ADDRESS,
                             "address bits above the C-bit"))
    return out


def _merge_anonymous(fields: list[FieldInfo]) -> list[FieldInfo]:
    """Adjacent anonymous ignored ranges become one: bits 62:52 of an EPT leaf on a CPU
    without HLAT, SSS or SPP are simply ignored, as that CPU's SDM figure shows them."""
    out: list[FieldInfo] = []
    for f in fields:
        prev = out[-1] if out else None
        if prev is not None and not f.name and not prev.name and f.role is prev.role is Role.IGNORED:
            parts = [m.removeprefix("ignored; ") for m in (prev.meaning, f.meaning) if m != "ignored"]
            out[-1] = FieldInfo("", prev.lo, prev.width + f.width, Role.IGNORED, "; ".join(["ignored", *parts]))
        else:
            out.append(f)
    return [f if f.name else f._replace(name=range_name(f.role, f.lo, f.hi)) for f in out]


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
        if on:
            out.append(FieldInfo(f.name, lo, hi - lo + 1, role, f.meaning, f.control, f.short, f.presence,
                                 f.read_not_present, f.page_size, f.pa_lo))
        elif role is Role.IGNORED:  # an optional feature that is off: just ignored bits
            optional = f"{f.bits_text()}: {f.meaning} (with {f.control})" if f.name else ""
            out.append(FieldInfo("", lo, hi - lo + 1, role, "; ".join(filter(None, ["ignored", optional]))))
        else:
            out.append(FieldInfo(f.name, lo, hi - lo + 1, role, f"{f.meaning} ({f.control} off: {role})",
                                 f.control, f.short))
    out.sort(key=lambda fi: fi.lo)
    return Layout(tuple(_merge_anonymous(out)), width, platform)
