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

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar, NamedTuple

from bitstring import Bits

from spte.bits import Field, FieldInfo, Layout, Role, format_ranges, resolve
from spte.formats import ept, pae, x86_32, x86_64
from spte.platform import DEFAULT_PLATFORM, Platform


class Problem(NamedTuple):
    """A finding about an entry: reported as data, never raised."""

    kind: str  # "reserved_bits", "write_without_read", "execute_only_unsupported", ...
    bits: int  # the bits responsible
    message: str


def parse_value(value: int | str | bytes | Bits, width: int = 64) -> int:
    """An entry value from an int, hex text, little-endian bytes or ``bitstring.Bits``.

    ``Bits`` are read as an unsigned integer (bitstring numbers bits MSB0; we number
    them LSB0, so bit 0 is ``Bits[-1]``).

    >>> parse_value("0x800"), parse_value(b"\\x00\\x08" + bytes(6)), parse_value(Bits(uint=0x800, length=64))
    (2048, 2048, 2048)
    """
    nbytes = width // 8
    if isinstance(value, bool):
        raise TypeError("a bool is not an entry value")
    if isinstance(value, int):
        v = value
    elif isinstance(value, str):
        text = value.strip().replace("_", "")
        if text[:2].lower() == "0x":
            text = text[2:]
        try:
            v = int(text, 16)
        except ValueError:
            raise ValueError(f"cannot parse {value!r} as a hex value") from None
        if not text or text.startswith(("-", "+")):
            raise ValueError(f"cannot parse {value!r} as a hex value")
    elif isinstance(value, (bytes, bytearray, memoryview)):
        if len(value) != nbytes:
            raise ValueError(f"expected {nbytes} little-endian bytes, got {len(value)}")
        v = int.from_bytes(value, "little")
    elif isinstance(value, Bits):
        if len(value) != width:
            raise ValueError(f"expected {width} bits, got {len(value)}")
        v = value.uint
    else:
        raise TypeError(f"cannot make an entry from {type(value).__name__}")
    if not 0 <= v < 1 << width:
        raise ValueError(f"{v:#x} does not fit in {width} bits")
    return v


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
    PRESENT_FIELDS: ClassVar[tuple[str, ...]] = ("present",)
    ENUMS: ClassVar[Mapping[str, Mapping[str, int]]] = {}

    _layouts: ClassVar[dict[Platform, Layout]]
    _present_masks: ClassVar[dict[int, int]]
    _default_layout: ClassVar[Layout]
    _max_value: ClassVar[int]

    if TYPE_CHECKING:  # field accessors are generated from TABLE

        def __getattr__(self, name: str) -> int: ...

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "TABLE" not in cls.__dict__:
            return
        cls._layouts = {}
        cls._present_masks = {}
        cls._max_value = (1 << cls.WIDTH) - 1
        cls._default_layout = cls._layout_for(DEFAULT_PLATFORM)
        for f in cls.TABLE:
            hi, lo = f.hi_lo
            fixed = isinstance(hi, int) and isinstance(lo, int) and f.role is not Role.ADDRESS
            if fixed:
                assert isinstance(hi, int) and isinstance(lo, int)
                setattr(cls, f.name, _constant_getter(lo, (1 << (hi - lo + 1)) - 1))
            else:
                setattr(cls, f.name, _layout_getter(f.name))
        for name in ("c_bit", "frame_high"):
            if name not in cls.__dict__:
                setattr(cls, name, _layout_getter(name))

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
                if not isinstance(fv, int):
                    raise ValueError(f"{name} must be an int")
                value = self._put_address(value, fv << 12 if name == "pfn" else fv, name)
                continue
            info = layout.by_name.get(name)
            if info is None:
                known = ", ".join(f.name for f in layout.fields)
                raise ValueError(f"{type(self).__name__} has no field {name!r} (fields: {known})")
            if isinstance(fv, str):
                names = self.ENUMS.get(name, {})
                if fv.upper() not in names:
                    raise ValueError(f"{name}={fv!r}: expected an int or one of {', '.join(names)}")
                fv = names[fv.upper()]
            if isinstance(fv, bool):
                fv = int(fv)
            value = info.put(value, fv)
        return value

    def _put_address(self, value: int, address: int, what: str) -> int:
        amask = self._layout.address_mask
        if address < 0 or address & ~amask:
            raise ValueError(
                f"{what}={address if what == 'address' else address >> 12:#x} does not fit the "
                f"address bits {format_ranges(amask)} of {type(self).__name__}"
            )
        return (value & ~amask) | address

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
        return Bits(uint=self._value, length=self.WIDTH)

    # -- derived facts -------------------------------------------------------------------

    @property
    def platform(self) -> Platform:
        return self._layout.platform

    @classmethod
    def present_mask(cls, platform: Platform | None = None) -> int:
        """Bits any one of which makes the entry present to hardware."""
        return cls._present_mask_of(cls.layout(platform))

    @classmethod
    def _present_mask_of(cls, layout: Layout) -> int:
        mask = cls._present_masks.get(id(layout))  # layouts live as long as the class cache
        if mask is None:
            mask = cls._present_masks[id(layout)] = sum(
                f.mask for f in layout.fields if f.name in cls.PRESENT_FIELDS and f.role.is_hardware)
        return mask

    @property
    def present(self) -> bool:
        return bool(self._value & self._present_mask_of(self._layout))

    @property
    def is_leaf(self) -> bool:
        return self.LEAF

    @property
    def page_size_bytes(self) -> int:
        """Bytes of address space this entry maps (the page size, for a leaf)."""
        return 1 << self.SPAN_SHIFT

    @property
    def address(self) -> int:
        """Physical address the entry points at (page or next table), C-bit removed."""
        return self._value & self._layout.address_mask

    @property
    def pfn(self) -> int:
        return self.address >> 12

    @property
    def reserved_bits(self) -> int:
        """Reserved bits that are set (a fault only if the entry is present)."""
        return self._value & self._layout.reserved_mask

    def problems(self) -> list[Problem]:
        """Why hardware would fault on this entry instead of translating."""
        if not self.present or not self.reserved_bits:
            return []
        return [Problem("reserved_bits", self.reserved_bits,
                        f"reserved bits {format_ranges(self.reserved_bits)} set: #PF with PFEC.RSVD")]

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

    def flag_text(self) -> str:
        """``read|write|... memory_type=WB(6) frame=0x1`` -- every non-zero field."""
        parts = []
        for f in self._layout.fields:
            v = (self._value >> f.lo) & f.max
            if not v:
                continue
            if f.width == 1 and f.role is not Role.RESERVED and f.role is not Role.IGNORED:
                parts.append(f.name)
            else:
                names = {n: k for k, n in self.ENUMS.get(f.name, {}).items()}
                parts.append(f"{f.name}={names[v]}({v})" if v in names else f"{f.name}={v:#x}")
        flags = [p for p in parts if "=" not in p]
        rest = [p for p in parts if "=" in p]
        return " ".join(filter(None, ["|".join(flags), *rest]))

    def __repr__(self) -> str:
        text = self.flag_text()
        return f"{type(self).__name__}({self.to_hex()}{': ' + text if text else ''})"


class EptEntry(Entry):
    """Common behaviour of EPT entries: presence by R/W/X(/XU) and misconfigurations."""

    __slots__ = ()
    FORMAT = "ept"
    PRESENT_FIELDS = ("read", "write", "execute", "execute_user")
    ENUMS = {"memory_type": {name: code for code, name in ept.MEMORY_TYPES.items()}}

    @property
    def memory_type_name(self) -> str | None:
        """``UC``/``WC``/``WT``/``WP``/``WB``, ``reserved(N)``, or None off a leaf."""
        if not self.LEAF:
            return None
        mt = (self._value >> 3) & 7
        return ept.MEMORY_TYPES.get(mt, f"reserved({mt})")

    def problems(self) -> list[Problem]:
        """EPT-misconfiguration causes (SDM "EPT Misconfigurations"); empty if fine."""
        if not self.present:
            return []
        v, platform = self._value, self._layout.platform
        out = []
        if v & 2 and not v & 1:
            out.append(Problem("write_without_read", v & 7,
                               f"XWR={v & 7:03b}: write without read is an EPT misconfiguration"))
        ux = bool(platform.ept_mbec and v & 0x400)
        if not v & 3 and (v & 4 or ux) and not platform.ept_execute_only:
            out.append(Problem("execute_only_unsupported", v & 0x407,
                               "execute-only entry but the CPU lacks execute-only support"))
        if self.LEAF and ((v >> 3) & 7) in (2, 3, 7):
            out.append(Problem("reserved_memory_type", v & 0x38,
                               f"memory type {(v >> 3) & 7} is reserved"))
        if self.reserved_bits:
            out.append(Problem("reserved_bits", self.reserved_bits,
                               f"reserved bits {format_ranges(self.reserved_bits)} set"))
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

    def problems(self) -> list[Problem]:
        if not self.present or not self.reserved_bits:
            return []
        return [Problem("reserved_bits", self.reserved_bits,
                        f"reserved bits {format_ranges(self.reserved_bits)} set: #GP on MOV CR3")]


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

    @property
    def address(self) -> int:
        """Bits 31:22 give PA 31:22; PSE-36 bits 20:13 give PA (M'-1):32."""
        high = self._layout.by_name.get("frame_high")
        pa = self._value & 0xFFC00000
        return pa | (high.get(self._value) << 32) if high else pa

    def _put_address(self, value: int, address: int, what: str) -> int:
        high = self._layout.by_name.get("frame_high")
        top = high.width if high else 0
        if address < 0 or address & 0x3FFFFF or address >> (32 + top):
            raise ValueError(f"{what}: {address:#x} is not a 4 MiB-aligned address below 2^{32 + top}")
        value = (value & ~0xFFC00000) | (address & 0xFFC00000)
        return high.put(value, address >> 32) if high else value


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
ALL_CLASSES: tuple[type[Entry], ...] = tuple(
    dict.fromkeys(c for levels in CLASSES.values() for pair in levels.values() for c in pair if c))

_ALIASES = {"x86_64": "x86-64", "ia32e": "x86-64", "long": "x86-64", "x86_32": "x86-32",
            "ia32": "x86-32", "32bit": "x86-32", "legacy": "x86-64"}

PS_BIT = 7


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

    At a level that allows a large page, PS (bit 7) picks the large-leaf class.  (In a
    4 KiB PTE bit 7 is PAT -- or ignored, for EPT -- and never selects anything.)

    >>> decode(0x80000000000000e7, "x86-64", 2)
    Pde2M(0x80000000000000e7: present|writable|user|accessed|dirty|page_size|execute_disable)
    >>> decode("0x80", "x86-64", 1).pat
    1
    """
    fmt = canonical_format(format)
    table_cls, large_cls = CLASSES[fmt].get(level, (None, None))
    if table_cls is None:
        entry_class(fmt, level)  # raises the error naming the levels
        raise AssertionError
    v = parse_value(value, table_cls.WIDTH)
    cls = table_cls
    if large_cls is not None and v >> PS_BIT & 1:
        if not (fmt == "x86-32" and platform is not None and not platform.pse):
            cls = large_cls  # with CR4.PSE=0 a 32-bit PDE's PS bit is ignored
    return cls(v, platform)


def _check_tables() -> None:
    """Import-time invariants, like spte.h's static_asserts."""
    for cls in ALL_CLASSES:
        layout = cls.layout()
        names = [f.name for f in layout.fields]
        assert len(names) == len(set(names)), f"{cls.__name__}: duplicate field names"
        assert cls.present_mask(), f"{cls.__name__}: no presence bit"
        assert all(isinstance(getattr(cls, f.name, None), property) for f in layout.fields)


_check_tables()
