"""Typed, immutable page-table entries built from the field tables.

One class per format and level/kind (``EptPte``, ``EptPde2M``, ``Pml4e``, ...).  Every
field of the class's table is a read-only attribute; accessors are plain mask-and-shift
closures generated from the table, so the hot path is integer arithmetic.

>>> e = EptPte(0x8600000000000b77 | 0x1234 << 12)
>>> e.read, e.write, e.execute, e.memory_type_name, hex(e.pfn)
(1, 1, 1, 'WB', '0x1234')
>>> e.replace(write=0).value == e.value & ~2
True
>>> EptPte(read=1, memory_type="WB", pfn=0x10)
EptPte(0x0000000000010031: read memory_type=WB(6) frame=0x10)
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar, NamedTuple

from spte import tokens
from spte.bits import Field, FieldInfo, Layout, Role, exact_int, field_words, format_ranges, resolve
from spte.formats import ept, pae, x86_32, x86_64
from spte.platform import DEFAULT_PLATFORM, Platform

if TYPE_CHECKING:
    from bitstring import Bits


class Problem(NamedTuple):
    """A finding about an entry: reported as data, never raised."""

    kind: str  # "reserved_bits", "write_without_read", "execute_only_unsupported", ...
    bits: int  # the bits responsible
    message: str


def parse_value(value: int | str | bytes | Bits, width: int = 64) -> int:
    """An entry value from an int, hex text, little-endian bytes or ``bitstring.Bits``.

    ``Bits`` are read as an unsigned integer (bitstring numbers bits MSB0; we number
    them LSB0, so bit 0 is ``Bits[-1]``).

    >>> from bitstring import Bits
    >>> parse_value("0x800"), parse_value(b"\\x00\\x08" + bytes(6)), parse_value(Bits(uint=0x800, length=64))
    (2048, 2048, 2048)
    """
    nbytes = width // 8
    bits = _is_bits(value)
    if isinstance(value, bool):
        raise TypeError("a bool is not an entry value")
    if isinstance(value, int) or (hasattr(type(value), "__index__") and not isinstance(value, bytes) and not bits):
        v = exact_int(value, "entry value")
    elif isinstance(value, str):
        v = tokens.parse(value, width=width)  # the grammar the CLI reads (docs/cli.md)
    elif isinstance(value, (bytes, bytearray, memoryview)):
        if len(value) != nbytes:
            raise ValueError(f"expected {nbytes} little-endian bytes, got {len(value)}")
        v = int.from_bytes(value, "little")
    elif bits:
        assert not isinstance(value, (int, str, bytes))
        if len(value) != width:
            raise ValueError(f"expected {width} bits, got {len(value)}")
        v = value.uint
    else:
        raise TypeError(f"cannot make an entry from {type(value).__name__}")
    if not 0 <= v < 1 << width:
        raise ValueError(f"{v:#x} does not fit in {width} bits")
    return v


def _is_bits(value: object) -> bool:
    """Whether ``value`` is a ``bitstring.Bits``: only possible once bitstring is imported, so
    decoding never imports it (it is a third of a single ``spte decode``'s start-up)."""
    module = sys.modules.get("bitstring")
    return module is not None and isinstance(value, module.Bits)


def _constant_getter(lo: int, mask: int) -> property:
    def get(self: Entry) -> int:
        return (self._value >> lo) & mask

    return property(get)


def _layout_getter(name: str) -> property:
    def get(self: Entry) -> int:
        f = self._layout.by_name.get(name)
        if f is None:
            raise AttributeError(f"{type(self).__name__} has no field {name!r} on this platform")
        return (self._value >> f.lo) & f.max

    return property(get)


class Entry:
    """Base of every entry class; see the module docstring."""

    __slots__ = ("_value", "_layout")

    FORMAT: ClassVar[str]
    LEVEL: ClassVar[int]
    LEAF: ClassVar[bool]
    SPAN_SHIFT: ClassVar[int]  # log2 of the bytes of address space the entry maps
    SDM_NAME: ClassVar[str]
    TABLE: ClassVar[tuple[Field, ...]]
    WIDTH: ClassVar[int] = 64
    ENUMS: ClassVar[Mapping[str, Mapping[str, int]]] = {}
    # The reserved-bits problem's message, "{}" for the bits' ranges: what the fault is (SDM Vol. 3A
    # 4.7: a present entry with a reserved bit set faults with PFEC.RSVD).
    RESERVED_MESSAGE: ClassVar[str] = "reserved bits {} set: #PF with PFEC.RSVD"

    _layouts: ClassVar[dict[Platform, Layout]]
    _default_layout: ClassVar[Layout]
    _max_value: ClassVar[int]
    _table_fields: ClassVar[dict[str, FieldInfo]]  # fixed-position named rows, for construction

    def __getattr__(self, name: str) -> int:
        """Fields named per platform (``ignored_52_62``, ``c_bit``): looked up in the layout.

        Named rows of the table have generated accessors; this only runs when those miss.
        """
        if name.startswith("_"):
            raise AttributeError(name)
        f = self._layout.by_name.get(name)
        if f is None:
            raise AttributeError(f"{type(self).__name__} has no field {name!r} on this platform")
        return (self._value >> f.lo) & f.max

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "TABLE" not in cls.__dict__:
            return
        cls._layouts = {}
        cls._max_value = (1 << cls.WIDTH) - 1
        cls._default_layout = cls._layout_for(DEFAULT_PLATFORM)
        cls._table_fields = {}
        for f in cls.TABLE:
            if not f.name:
                continue  # anonymous ignored/reserved ranges: named by their bits per platform
            hi, lo = f.hi_lo
            fixed = isinstance(hi, int) and isinstance(lo, int) and f.role is not Role.ADDRESS
            if fixed:
                assert isinstance(hi, int) and isinstance(lo, int)
                setattr(cls, f.name, _constant_getter(lo, (1 << (hi - lo + 1)) - 1))
                cls._table_fields[f.name] = FieldInfo(f.name, lo, hi - lo + 1, f.role, f.meaning)
            else:
                setattr(cls, f.name, _layout_getter(f.name))

    @classmethod
    def table_field(cls, name: str) -> FieldInfo:
        """A named row of the table at its fixed position, whatever the platform says of it.

        For constants that mirror the SDM (the kernel's ``_PAGE_BIT_PKEY_BIT0``, ``VMX_EPT_*``):
        their asserts hold whether or not the feature is on.  Rows bounded by MAXPHYADDR
        (the frame) are given as on the default platform (MAXPHYADDR 52).
        """
        f = cls._table_fields.get(name) or cls._default_layout.by_name.get(name)
        if f is None:
            raise KeyError(f"{cls.__name__} has no field {name!r}")
        return f

    @classmethod
    def normalize_platform(cls, platform: Platform) -> Platform:
        return platform

    @classmethod
    def _layout_for(cls, platform: Platform) -> Layout:
        layout = cls._layouts.get(platform)
        if layout is None:
            layout = resolve(cls.TABLE, cls.normalize_platform(platform), cls.WIDTH)
            cls._layouts[platform] = layout
        return layout

    @classmethod
    def layout(cls, platform: Platform | None = None) -> Layout:
        """The resolved field table of this class for ``platform``."""
        return cls._default_layout if platform is None else cls._layout_for(platform)

    def __init__(self, value: int = 0, platform: Platform | None = None, **fields: int | str) -> None:
        if type(value) is not int or not 0 <= value <= self._max_value:
            value = parse_value(value, self.WIDTH)
        layout = self._default_layout if platform is None else self._layout_for(platform)
        self._layout = layout
        self._value = value
        if fields:
            self._value = self._apply(value, fields)

    # -- construction helpers ------------------------------------------------------------

    def _apply(self, value: int, fields: Mapping[str, int | str]) -> int:
        layout = self._layout
        for name, fv in fields.items():
            if name in ("pfn", "address"):
                if isinstance(fv, (str, bool)):
                    raise ValueError(f"{name} must be an int")
                n = exact_int(fv, name)
                value = self._put_address(value, n << 12 if name == "pfn" else n, name)
                continue
            info = layout.by_name.get(name) or self._table_fields.get(name)
            if info is None:
                known = ", ".join(f.name for f in layout.fields)
                raise ValueError(f"{type(self).__name__} has no field {name!r} (fields: {known})")
            if isinstance(fv, str):
                names = self.ENUMS.get(name, {})
                if fv.upper() not in names:
                    raise ValueError(f"{name}={fv!r}: expected an int or one of {', '.join(names)}")
                fv = names[fv.upper()]
            if isinstance(fv, bool) and info.width != 1:  # True is a flag, not memory type 1
                raise TypeError(f"{name}: a bool sets only a one-bit field ({name} has {info.width} bits)")
            value = info.put(value, int(fv) if isinstance(fv, bool) else exact_int(fv, name))
        return value

    def _put_address(self, value: int, address: int, what: str) -> int:
        """Spread ``address`` over the address fields (each holds PA bits from its ``pa_lo``)."""
        layout = self._layout
        fits = 0
        for f in layout.fields:
            if f.role is Role.ADDRESS:
                pa_lo = f.lo if f.pa_lo is None else f.pa_lo
                fits |= f.max << pa_lo
                value = (value & ~f.mask) | (((address >> pa_lo) & f.max) << f.lo)
        if address < 0 or address & ~fits:
            raise ValueError(
                f"{what}={address if what == 'address' else address >> 12:#x} does not fit the "
                f"address bits {format_ranges(fits)} of {type(self).__name__}"
            )
        return value

    @classmethod
    def from_int(cls, value: int, platform: Platform | None = None) -> Entry:
        return cls(value, platform)

    @classmethod
    def from_hex(cls, text: str, platform: Platform | None = None) -> Entry:
        return cls(parse_value(text, cls.WIDTH), platform)

    @classmethod
    def from_bytes(cls, data: bytes, platform: Platform | None = None) -> Entry:
        """From ``WIDTH/8`` little-endian bytes, as the entry sits in memory."""
        return cls(parse_value(bytes(data), cls.WIDTH), platform)

    @classmethod
    def from_bits(cls, bits: Bits, platform: Platform | None = None) -> Entry:
        return cls(parse_value(bits, cls.WIDTH), platform)

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self._value, self._layout.platform))

    def replace(self, **fields: int | str) -> Entry:
        """A copy with some fields changed (range-checked like the constructor)."""
        new = type(self)(self._value, self._layout.platform)
        new._value = new._apply(self._value, fields)
        return new

    # -- conversions ---------------------------------------------------------------------

    @property
    def value(self) -> int:
        return self._value

    def __int__(self) -> int:
        return self._value

    def __index__(self) -> int:
        return self._value

    def to_int(self) -> int:
        return self._value

    def to_hex(self) -> str:
        return f"{self._value:#0{self.WIDTH // 4 + 2}x}"

    def to_bytes(self) -> bytes:
        return self._value.to_bytes(self.WIDTH // 8, "little")

    def to_bits(self) -> Bits:
        """As ``bitstring.Bits`` (MSB0 order, as bitstring numbers bits)."""
        from bitstring import Bits

        return Bits(uint=self._value, length=self.WIDTH)

    # -- derived facts -------------------------------------------------------------------

    @property
    def platform(self) -> Platform:
        return self._layout.platform

    @classmethod
    def present_mask(cls, platform: Platform | None = None) -> int:
        """Bits any one of which makes the entry present to hardware (the ``presence`` rows)."""
        return cls.layout(platform).present_mask

    @property
    def present(self) -> bool:
        return bool(self._value & self._layout.present_mask)

    @property
    def is_leaf(self) -> bool:
        return self.LEAF

    @property
    def span_bytes(self) -> int:
        """Bytes of address space the entry covers (its page, or everything below its table)."""
        return 1 << self.SPAN_SHIFT

    @property
    def page_size_bytes(self) -> int | None:
        """The size of the page a leaf maps; None for an entry that references a table."""
        return 1 << self.SPAN_SHIFT if self.LEAF else None

    @property
    def address(self) -> int:
        """Physical address the entry points at (page or next table), C-bit removed."""
        layout = self._layout
        return self._value & layout.address_mask if layout.address_is_mask else layout.address(self._value)

    @property
    def pfn(self) -> int:
        layout = self._layout  # inlined `address`: one property call, not two
        return (self._value & layout.address_mask if layout.address_is_mask else layout.address(self._value)) >> 12

    @property
    def reserved_bits(self) -> int:
        """Reserved bits that are set (a fault only if the entry is present)."""
        return self._value & self._layout.reserved_mask

    def problems(self) -> list[Problem]:
        """Why hardware would fault on this entry instead of translating."""
        if not self.present or not self.reserved_bits:
            return []
        bits = self.reserved_bits
        return [Problem("reserved_bits", bits, self.RESERVED_MESSAGE.format(format_ranges(bits)))]

    def fields(self) -> dict[str, int]:
        """Every field, in bit order: decode keeps every bit."""
        return self._layout.extract(self._value)

    @classmethod
    def field_info(cls, platform: Platform | None = None) -> tuple[FieldInfo, ...]:
        return cls.layout(platform).fields

    # -- value semantics -----------------------------------------------------------------

    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        assert isinstance(other, Entry)
        return self._value == other._value and self._layout.platform == other._layout.platform

    def __hash__(self) -> int:
        return hash((type(self), self._value, self._layout.platform))

    @classmethod
    def enum_names(cls) -> dict[str, dict[int, str]]:
        """Field -> {code: name} for the fields whose values have names (EPT memory type)."""
        return {k: {code: name for name, code in v.items()} for k, v in cls.ENUMS.items()}

    def flag_text(self) -> str:
        """``read|write|... memory_type=WB(6) frame=0x1`` -- every non-zero field."""
        flags, words = field_words(self._layout.fields, self._value, self.enum_names(), labels=False)
        return " ".join(filter(None, ["|".join(flags), *words]))

    def __repr__(self) -> str:
        text = self.flag_text()
        return f"{type(self).__name__}({self.to_hex()}{': ' + text if text else ''})"


# (bits the EPT misconfiguration rules read, their findings by those bits) of a class and layout
MisconfigPlan = tuple[int, dict[int, tuple[Problem, ...]]]


class EptEntry(Entry):
    """Common behaviour of EPT entries: presence by R/W/X(/XU) and misconfigurations."""

    __slots__ = ()
    FORMAT = "ept"
    ENUMS = {"memory_type": {name: code for code, name in ept.MEMORY_TYPES.items()}}
    # A reserved bit set is one of the EPT misconfigurations (SDM Vol. 3C, "EPT Misconfigurations"):
    # the exit says so without a fault name of its own.
    RESERVED_MESSAGE = "reserved bits {} set"
    # Per class, id of a layout (kept for good in ``_layouts``) -> its misconfiguration plan: the
    # rules read a few fields (R/W/X/XU, memory type), so at most 2**(those bits) findings per class
    # and layout.  The default layout's plan is also a class attribute: most entries have that
    # layout, and finding its plan then costs no call.
    _misconfig_plans: ClassVar[dict[int, MisconfigPlan]]
    _default_plan: ClassVar[MisconfigPlan]

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls._misconfig_plans = {}  # (a class's own: LEAF decides which rules apply)
        if hasattr(cls, "_default_layout"):  # (a class with a table, its own or inherited)
            cls._default_plan = cls._misconfig_plan(cls._default_layout)

    @classmethod
    def _misconfig_plan(cls, layout: Layout) -> MisconfigPlan:
        plan = cls._misconfig_plans.get(id(layout))
        if plan is None:
            read = {n for rule in ept.MISCONFIGURATIONS if cls.LEAF or not rule.leaf_only for n in rule.fields}
            rule_bits = sum(layout.by_name[n].mask for n in read if n in layout.by_name)
            plan = cls._misconfig_plans[id(layout)] = (rule_bits, {})
        return plan

    @classmethod
    def misconfiguration_bits(cls, layout: Layout) -> int:
        """The bits that the misconfiguration rules for this class read on ``layout``."""
        return cls._misconfig_plan(layout)[0]

    @property
    def memory_type_name(self) -> str | None:
        """``UC``/``WC``/``WT``/``WP``/``WB``, ``reserved(N)``, or None off a leaf."""
        f = self._layout.by_name.get("memory_type")
        if f is None:
            return None
        mt = f.get(self._value)
        return ept.MEMORY_TYPES.get(mt, f"reserved({mt})")

    def problems(self) -> list[Problem]:
        """EPT-misconfiguration causes (SDM "EPT Misconfigurations", ``ept.MISCONFIGURATIONS``)."""
        layout, v = self._layout, self._value
        if not v & layout.present_mask:
            return []
        rule_bits, memo = self._default_plan if layout is self._default_layout else self._misconfig_plan(layout)
        found = memo.get(v & rule_bits)
        if found is None:
            found = memo[v & rule_bits] = tuple(self._misconfigurations(v & rule_bits))
        reserved = v & layout.reserved_mask
        if reserved:
            return [*found, Problem("reserved_bits", reserved, self.RESERVED_MESSAGE.format(format_ranges(reserved)))]
        return list(found)

    def _misconfigurations(self, v: int) -> list[Problem]:
        layout = self._layout
        out = []
        for rule in ept.MISCONFIGURATIONS:
            if rule.leaf_only and not self.LEAF:
                continue
            fields = {n: layout.by_name[n].get(v) for n in rule.fields if n in layout.by_name}
            if rule.test(fields, layout.platform):
                bits = sum(layout.by_name[n].mask for n in fields) & v
                out.append(Problem(rule.kind, bits or sum(layout.by_name[n].mask for n in fields),
                                   rule.message.format(**fields)))
        return out

    @property
    def misconfigured(self) -> bool:
        return bool(self.problems())


class EptPml5e(EptEntry):
    __slots__ = ()
    LEVEL, LEAF, SPAN_SHIFT, SDM_NAME, TABLE = 5, False, 48, "EPT PML5 entry", ept.EPT_PML5E


class EptPml4e(EptEntry):
    __slots__ = ()
    LEVEL, LEAF, SPAN_SHIFT, SDM_NAME, TABLE = 4, False, 39, "EPT PML4 entry", ept.EPT_PML4E


class EptPdpte(EptEntry):
    __slots__ = ()
    LEVEL, LEAF, SPAN_SHIFT, SDM_NAME, TABLE = (3, False, 30, "EPT PDPTE that references a page directory",
                                                ept.EPT_PDPTE)


class EptPdpte1G(EptEntry):
    __slots__ = ()
    LEVEL, LEAF, SPAN_SHIFT, SDM_NAME, TABLE = 3, True, 30, "EPT PDPTE that maps a 1-GByte page", ept.EPT_PDPTE_1G


class EptPde(EptEntry):
    __slots__ = ()
    LEVEL, LEAF, SPAN_SHIFT, SDM_NAME, TABLE = 2, False, 21, "EPT PDE that references a page table", ept.EPT_PDE


class EptPde2M(EptEntry):
    __slots__ = ()
    LEVEL, LEAF, SPAN_SHIFT, SDM_NAME, TABLE = 2, True, 21, "EPT PDE that maps a 2-MByte page", ept.EPT_PDE_2M


class EptPte(EptEntry):
    __slots__ = ()
    LEVEL, LEAF, SPAN_SHIFT, SDM_NAME, TABLE = 1, True, 12, "EPT PTE that maps a 4-KByte page", ept.EPT_PTE


class LongModeEntry(Entry):
    """IA-32e (4/5-level) entries; the NPT subclasses below share the tables."""

    __slots__ = ()
    FORMAT = "x86-64"


class Pml5e(LongModeEntry):
    __slots__ = ()
    LEVEL, LEAF, SPAN_SHIFT, SDM_NAME, TABLE = 5, False, 48, "PML5E", x86_64.PML5E


class Pml4e(LongModeEntry):
    __slots__ = ()
    LEVEL, LEAF, SPAN_SHIFT, SDM_NAME, TABLE = 4, False, 39, "PML4E", x86_64.PML4E


class Pdpte(LongModeEntry):
    __slots__ = ()
    LEVEL, LEAF, SPAN_SHIFT, SDM_NAME, TABLE = 3, False, 30, "PDPTE that references a page directory", x86_64.PDPTE


class Pdpte1G(LongModeEntry):
    __slots__ = ()
    LEVEL, LEAF, SPAN_SHIFT, SDM_NAME, TABLE = 3, True, 30, "PDPTE that maps a 1-GByte page", x86_64.PDPTE_1G


class Pde(LongModeEntry):
    __slots__ = ()
    LEVEL, LEAF, SPAN_SHIFT, SDM_NAME, TABLE = 2, False, 21, "PDE that references a page table", x86_64.PDE


class Pde2M(LongModeEntry):
    __slots__ = ()
    LEVEL, LEAF, SPAN_SHIFT, SDM_NAME, TABLE = 2, True, 21, "PDE that maps a 2-MByte page", x86_64.PDE_2M


class Pte(LongModeEntry):
    __slots__ = ()
    LEVEL, LEAF, SPAN_SHIFT, SDM_NAME, TABLE = 1, True, 12, "PTE that maps a 4-KByte page", x86_64.PTE


def _npt(base: type[LongModeEntry]) -> type[LongModeEntry]:
    """The NPT twin of a long-mode class: same table, platform seen as an NPT walk."""

    def normalize_platform(cls: type[Entry], platform: Platform) -> Platform:
        return platform.for_npt()

    ns = {"__slots__": (), "FORMAT": "npt", "TABLE": base.TABLE, "__doc__": f"AMD NPT {base.SDM_NAME}.",
          "normalize_platform": classmethod(normalize_platform)}
    return type(f"Npt{base.__name__}", (base,), ns)


NptPml5e, NptPml4e, NptPdpte, NptPdpte1G, NptPde, NptPde2M, NptPte = (
    _npt(c) for c in (Pml5e, Pml4e, Pdpte, Pdpte1G, Pde, Pde2M, Pte))


class PaeEntry(Entry):
    __slots__ = ()
    FORMAT = "pae"


class PaePdpte(PaeEntry):
    __slots__ = ()
    LEVEL, LEAF, SPAN_SHIFT, SDM_NAME, TABLE = 3, False, 30, "PAE PDPTE", pae.PAE_PDPTE

    # The PDPTEs are loaded from CR3 (SDM Vol. 3A 4.4.1): a reserved bit faults the load, not a walk.
    RESERVED_MESSAGE = "reserved bits {} set: #GP on MOV CR3"


class PaePde(PaeEntry):
    __slots__ = ()
    LEVEL, LEAF, SPAN_SHIFT, SDM_NAME, TABLE = 2, False, 21, "PAE PDE that references a page table", pae.PAE_PDE


class PaePde2M(PaeEntry):
    __slots__ = ()
    LEVEL, LEAF, SPAN_SHIFT, SDM_NAME, TABLE = 2, True, 21, "PAE PDE that maps a 2-MByte page", pae.PAE_PDE_2M


class PaePte(PaeEntry):
    __slots__ = ()
    LEVEL, LEAF, SPAN_SHIFT, SDM_NAME, TABLE = 1, True, 12, "PAE PTE", pae.PAE_PTE


class Entry32(Entry):
    __slots__ = ()
    FORMAT = "x86-32"
    WIDTH = 32


class Pde32(Entry32):
    __slots__ = ()
    LEVEL, LEAF, SPAN_SHIFT, SDM_NAME, TABLE = 2, False, 22, "32-bit PDE that references a page table", x86_32.PDE32


class Pde4M(Entry32):
    __slots__ = ()
    LEVEL, LEAF, SPAN_SHIFT, SDM_NAME, TABLE = 2, True, 22, "32-bit PDE that maps a 4-MByte page", x86_32.PDE32_4M


class Pte32(Entry32):
    __slots__ = ()
    LEVEL, LEAF, SPAN_SHIFT, SDM_NAME, TABLE = 1, True, 12, "32-bit PTE", x86_32.PTE32


# format -> level -> (class when PS=0 or no PS bit, large-leaf class or None)
CLASSES: dict[str, dict[int, tuple[type[Entry], type[Entry] | None]]] = {
    "ept": {5: (EptPml5e, None), 4: (EptPml4e, None), 3: (EptPdpte, EptPdpte1G),
            2: (EptPde, EptPde2M), 1: (EptPte, None)},
    "x86-64": {5: (Pml5e, None), 4: (Pml4e, None), 3: (Pdpte, Pdpte1G), 2: (Pde, Pde2M),
               1: (Pte, None)},
    "npt": {5: (NptPml5e, None), 4: (NptPml4e, None), 3: (NptPdpte, NptPdpte1G),
            2: (NptPde, NptPde2M), 1: (NptPte, None)},
    "pae": {3: (PaePdpte, None), 2: (PaePde, PaePde2M), 1: (PaePte, None)},
    "x86-32": {2: (Pde32, Pde4M), 1: (Pte32, None)},
}
FORMATS = tuple(CLASSES)
# The largest value an entry of each format holds (x86-32 entries are 32 bits wide).
MAX_VALUE = {fmt: (1 << levels[1][0].WIDTH) - 1 for fmt, levels in CLASSES.items()}
ALL_CLASSES: tuple[type[Entry], ...] = tuple(
    dict.fromkeys(c for levels in CLASSES.values() for pair in levels.values() for c in pair if c))

_ALIASES = {"x86_64": "x86-64", "ia32e": "x86-64", "long": "x86-64", "x86_32": "x86-32",
            "ia32": "x86-32", "32bit": "x86-32", "legacy": "x86-64"}


def canonical_format(format: str) -> str:
    f = _ALIASES.get(format.lower(), format.lower())
    if f not in CLASSES:
        raise ValueError(f"unknown format {format!r}: expected one of {', '.join(FORMATS)}")
    return f


def entry_class(format: str, level: int, large: bool = False) -> type[Entry]:
    """The class for ``format`` at ``level``; ``large`` picks the large-leaf class."""
    levels = CLASSES[canonical_format(format)]
    if level not in levels:
        raise ValueError(f"format {format!r} has no level {level}: levels are "
                         f"{', '.join(map(str, sorted(levels)))}")
    table_cls, large_cls = levels[level]
    if large:
        if large_cls is None:
            raise ValueError(f"format {format!r} has no large page at level {level}")
        return large_cls
    return table_cls


def levels_in_use(format: str, platform: Platform | None = None) -> tuple[int, ...]:
    """The levels a walk of ``format`` uses: level 5 only with 5-level paging (``la57``).

    >>> levels_in_use("ept"), levels_in_use("ept", Platform(la57=True)), levels_in_use("pae")
    ((1, 2, 3, 4), (1, 2, 3, 4, 5), (1, 2, 3))
    """
    levels = tuple(sorted(CLASSES[canonical_format(format)]))
    if 5 in levels and not (platform or DEFAULT_PLATFORM).la57:
        levels = levels[:-1]
    return levels


def decode(value: int | str | bytes | Bits, format: str, level: int,
           platform: Platform | None = None) -> Entry:
    """Decode a raw entry; the level is never guessed.

    At a level that allows a large page, the ``page_size`` row (PS) of the table-referencing
    form picks the large-leaf class; where the platform ignores it (32-bit paging with
    CR4.PSE=0) it picks nothing.  (In a 4 KiB PTE bit 7 is PAT or ignored and selects nothing.)

    >>> decode(0x80000000000000e7, "x86-64", 2)
    Pde2M(0x80000000000000e7: present|writable|user|accessed|dirty|page_size|execute_disable)
    >>> decode("0x80", "x86-64", 1).pat
    1
    """
    fast = _DECODE_FAST.get((format, level))
    if fast is not None and platform is None and type(value) is int and 0 <= value <= fast[3]:
        # An int on the default platform: what __init__ would do, without its checks and keywords.
        cls = fast[1] if value & fast[2] else fast[0]
        entry = object.__new__(cls)
        entry._value, entry._layout = value, cls._default_layout
        return entry
    fmt = canonical_format(format)
    table_cls, large_cls = CLASSES[fmt].get(level, (None, None))
    if table_cls is None:
        entry_class(fmt, level)  # raises the error naming the levels
        raise AssertionError
    v = parse_value(value, table_cls.WIDTH)
    if large_cls is not None and v & table_cls.layout(platform).page_size_mask:
        return large_cls(v, platform)
    return table_cls(v, platform)


def entry_class_for(value: int, format: str, level: int, platform: Platform | None = None) -> type[Entry]:
    """The class :func:`decode` would pick for ``value`` (no entry is built)."""
    table_cls, large_cls = CLASSES[canonical_format(format)][level]
    if large_cls is not None and value & table_cls.layout(platform).page_size_mask:
        return large_cls
    return table_cls


# (format, level) -> (table class, large class, PS mask, largest value) on the default platform:
# the common call of decode() in one lookup.
_DECODE_FAST: dict[tuple[str, int], tuple[type[Entry], type[Entry], int, int]] = {
    (fmt, level): (t, g or t, t.layout().page_size_mask if g else 0, t._max_value)
    for fmt, levels in CLASSES.items() for level, (t, g) in levels.items()}


def _check_tables() -> None:
    """Import-time invariants, like spte.h's static_asserts."""
    for cls in ALL_CLASSES:
        layout = cls.layout()
        assert layout.present_mask, f"{cls.__name__}: no presence bit"
        assert all(isinstance(getattr(cls, f.name, None), property) for f in cls.TABLE if f.name)
    for levels in CLASSES.values():
        for table_cls, large_cls in levels.values():  # PS selects exactly where a large form exists
            assert bool(table_cls.layout().page_size_mask) == (large_cls is not None), table_cls.__name__


_check_tables()
