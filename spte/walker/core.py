"""Walk page-table trees in physical memory: every entry reached, decoded at its level.

The walker reads one table page at a time (512 entries, or 1024 four-byte ones for
32-bit paging, four for the PAE PDPT), decodes every non-empty entry with the project's
entry classes and, if given one, shows it through an owner (e.g. a KVM profile).  Memory
stays bounded: the tables on the current path plus the set of table addresses seen.

>>> from spte.walker import table_geometry
>>> table_geometry("x86-32", 2), table_geometry("pae", 3), table_geometry("ept", 4)
((1024, 4), (4, 8), (512, 8))
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field

from spte.entry import CLASSES, Entry, Problem, canonical_format, entry_class_for, levels_in_use
from spte.images.base import PhysicalMemory
from spte.metadata.owner import Owner
from spte.platform import Platform

PAGE = 4096
# EPTP fields (SDM 25.6.11), with the kernel's names (arch/x86/include/asm/vmx.h).
VMX_EPTP_PWL_MASK, VMX_EPTP_PWL_4, VMX_EPTP_PWL_5 = 0x38, 0x18, 0x20  # bits 5:3: page-walk length - 1
VMX_EPTP_AD_ENABLE_BIT = 1 << 6
assert VMX_EPTP_PWL_4 == (4 - 1) << 3 and VMX_EPTP_PWL_5 == (5 - 1) << 3


# -- the owner adapter: the one place the walker talks to an owner ---------------------------

@dataclass(frozen=True)
class OwnerView:
    """What the owner makes of one entry."""

    owner: str
    kind: str
    summary: str
    software: dict[str, int]
    plausible: bool | None = None
    reasons: tuple[str, ...] = ()


def owner_view(owner: Owner, value: int, level: int) -> OwnerView:
    """An owner's reading of ``value`` at ``level`` (the owner protocol's ``read``)."""
    r = owner.read(value, level)
    return OwnerView(r.owner, r.kind, r.summary, dict(r.software), r.plausible, tuple(r.reasons))


def is_mmio_kind(kind: str) -> bool:
    return kind == "mmio"


# -- geometry -------------------------------------------------------------------------------

def table_geometry(format: str, level: int) -> tuple[int, int]:
    """(entries, bytes per entry) of a table at ``level``."""
    fmt = canonical_format(format)
    if fmt == "x86-32":
        return 1024, 4
    if fmt == "pae" and level == 3:
        return 4, 8
    return 512, 8


def root_table(format: str, root: int, platform: Platform) -> tuple[int, int | None, Platform]:
    """The table address a root register holds, the levels it implies (EPTP) and the platform it implies.

    CR3 keeps PCD/PWT/PCID in its low bits (PAE: the PDPT is 32-byte aligned); an EPTP keeps
    the memory type, the walk length and the A/D enable there; a C-bit or bits above
    MAXPHYADDR are not part of the address.
    """
    fmt = canonical_format(format)
    levels: int | None = None
    addr_mask = (1 << platform.maxphyaddr) - 1
    if platform.c_bit is not None:
        addr_mask &= ~(1 << platform.c_bit)
    if fmt == "pae":
        return root & addr_mask & ~0x1F, None, platform
    if fmt == "x86-32":
        return root & 0xFFFFF000, None, platform
    if fmt == "ept" and root & 0xFFF:
        pwl = root & VMX_EPTP_PWL_MASK
        levels = 4 if pwl == VMX_EPTP_PWL_4 else 5 if pwl == VMX_EPTP_PWL_5 else None
        platform = platform.replace(ept_ad=bool(root & VMX_EPTP_AD_ENABLE_BIT))
    return root & addr_mask & ~0xFFF, levels, platform


# -- what a walk yields -----------------------------------------------------------------------

class Visit:
    """One entry the walk reached.  ``entry`` (the decoded object) is built when first asked for."""

    __slots__ = ("entry_address", "level", "index", "input_address", "value", "cls", "platform", "present", "leaf",
                 "output_address", "effective", "owner", "flags", "problems", "host_entry_address",
                 "host_output_address", "_entry")

    def __init__(self, entry_address: int, level: int, index: int, input_address: int, value: int,
                 cls: type[Entry], platform: Platform, present: bool, leaf: bool, output_address: int | None,
                 effective: tuple[bool, bool, bool, bool | None], owner: OwnerView | None = None,
                 flags: tuple[str, ...] = (), problems: tuple[Problem, ...] = (),
                 host_entry_address: int | None = None, host_output_address: int | None = None) -> None:
        self.entry_address = entry_address  # where the entry sits (a guest-physical address in a 2-D walk)
        self.level = level
        self.index = index
        self.input_address = input_address  # the first address the entry maps
        self.value = value
        self.cls = cls
        self.platform = platform
        self.present = present
        self.leaf = leaf  # maps a page: present, a PTE or a large page, no problem (hardware would translate)
        self.output_address = output_address  # the page (leaf) or next table (non-leaf); None if not present
        self.effective = effective  # readable, writable, executable, user (None for EPT), through every level
        self.owner = owner
        self.flags = flags  # "outside", "shared", "loop"
        self.problems = problems  # why hardware would fault (present entries only)
        self.host_entry_address = host_entry_address  # 2-D walks: where the entry sits in host memory
        self.host_output_address = host_output_address
        self._entry: Entry | None = None

    @property
    def entry(self) -> Entry:
        if self._entry is None:
            self._entry = self.cls(self.value, self.platform)
        return self._entry

    @property
    def size(self) -> int:
        return 1 << self.cls.SPAN_SHIFT

    def __repr__(self) -> str:
        return (f"Visit(L{self.level} [{self.index}] @{self.entry_address:#x} in={self.input_address:#x} "
                f"{self.cls.__name__}({self.value:#x}){' ' + ','.join(self.flags) if self.flags else ''})")


@dataclass
class WalkStats:
    tables: int = 0
    entries: int = 0
    leaves: dict[int, int] = field(default_factory=dict)  # level -> count
    outside: int = 0


class _Masks:
    """Bit masks of the permission fields of one class on one platform (from its layout).

    A field the class lacks restricts nothing (a PAE PDPTE has no R/W or U/S: SDM 4.4.1).
    """

    __slots__ = ("ept", "r", "w", "x", "u", "xd", "present", "address", "reserved", "plain_address", "problems")

    def __init__(self, cls: type[Entry], platform: Platform) -> None:
        layout = cls.layout(platform)
        by = layout.by_name
        self.present = cls.present_mask(platform)
        self.address, self.reserved = layout.address_mask, layout.reserved_mask
        self.plain_address = cls.address is Entry.address  # not e.g. a 4 MiB PDE's PSE-36 split
        # Problems depend on the bits outside the address field only: cached by those bits.
        self.problems: dict[int, tuple[Problem, ...]] = {}

        def m(name: str) -> int:
            f = by.get(name)
            return f.mask if f is not None else 0

        self.ept = cls.FORMAT == "ept"
        if self.ept:
            self.r, self.w, self.x, self.u, self.xd = m("read"), m("write"), m("execute"), 0, 0
        else:
            self.r, self.w, self.x, self.u, self.xd = m("present"), m("writable"), 0, m("user"), m("execute_disable")

    def problems_of(self, cls: type[Entry], value: int, platform: Platform) -> tuple[Problem, ...]:
        key = value & ~self.address
        p = self.problems.get(key)
        if p is None:
            p = self.problems[key] = tuple(cls(value, platform).problems())
        return p

    def effective(self, value: int, eff: tuple[bool, bool, bool, bool | None]) -> tuple[bool, bool, bool, bool | None]:
        """Permissions through this entry: each level can only take rights away."""
        if self.ept:
            return (eff[0] and bool(value & self.r), eff[1] and bool(value & self.w),
                    eff[2] and bool(value & self.x), None)
        return (eff[0], eff[1] and (not self.w or bool(value & self.w)), eff[2] and not value & self.xd,
                bool(eff[3]) and (not self.u or bool(value & self.u)))


class Walker:
    """Walks trees of one format over one memory; see :func:`walk`."""

    def __init__(self, memory: PhysicalMemory, format: str, *, levels: int | None = None,
                 platform: Platform | None = None, owner: Owner | None = None, include_empty: bool = False,
                 revisit: bool = True, progress: Callable[[WalkStats], None] | None = None) -> None:
        self.memory = memory
        self.format = canonical_format(format)
        self.owner = owner
        self.platform = platform if platform is not None else (owner.platform if owner is not None else Platform())
        if levels is not None:
            if levels not in (4, 5) and self.format in ("ept", "x86-64", "npt"):
                raise ValueError(f"levels={levels}: {self.format} walks have 4 or 5 levels")
            if self.format in ("ept", "x86-64", "npt"):
                self.platform = self.platform.replace(la57=levels == 5)
        self.include_empty = include_empty
        self.revisit = revisit  # walk a table referenced a second time again (its mappings are real)
        self.progress = progress
        self.stats = WalkStats()
        self._masks: dict[type[Entry], _Masks] = {}
        self._empty = {0}
        nonpresent = getattr(owner, "SHADOW_NONPRESENT_VALUE", 0) if owner is not None else 0
        if isinstance(nonpresent, int):
            self._empty.add(nonpresent)

    @property
    def top_level(self) -> int:
        return max(levels_in_use(self.format, self.platform))

    def _mask(self, cls: type[Entry]) -> _Masks:
        m = self._masks.get(cls)
        if m is None:
            m = self._masks[cls] = _Masks(cls, self.platform)
        return m

    def walk(self, root: int) -> Iterator[Visit]:
        """Every non-empty entry reachable from ``root`` (every entry with ``include_empty``), in address order."""
        table, levels, platform = root_table(self.format, root, self.platform)
        if levels is not None and levels != self.top_level:
            self.platform = platform.replace(la57=levels == 5)
        else:
            self.platform = platform
        self._seen: dict[int, tuple[int, int | None]] = {}
        start = (True, True, True, None if self.format == "ept" else True)
        yield from self._table(table, self.top_level, 0, start, frozenset(), None)

    def _sign_extend(self, address: int) -> int:
        """x86-64 linear addresses are canonical: bit 47 (56 with LA57) copied upwards, as ptdump prints them."""
        if self.format != "x86-64":
            return address
        top = 57 if self.platform.la57 else 48
        return address | ((1 << 64) - (1 << top)) if address >> (top - 1) & 1 else address

    def _table(self, table: int, level: int, base: int, eff: tuple[bool, bool, bool, bool | None],
               ancestors: frozenset[int], parent: int | None, again: bool = False) -> Iterator[Visit]:
        """One table's entries, then (depth first) the tables they point to.

        ``again``: this table is being walked a second time through a shared reference, so its
        own references are not reported as shared once more.
        """
        count, width = table_geometry(self.format, level)
        data = self.memory.read(table, count * width)
        if data is None:
            return
        self._seen[table] = (level, parent)
        self.stats.tables += 1
        if self.progress is not None and self.stats.tables % 64 == 0:
            self.progress(self.stats)
        values = struct.unpack(f"<{count}{'I' if width == 4 else 'Q'}", data)
        table_cls, large_cls = CLASSES[self.format][level]
        shift = table_cls.SPAN_SHIFT
        platform, owner, empty = self.platform, self.owner, self._empty
        ps = table_cls.layout(platform).page_size_mask if large_cls is not None else 0  # PS selects the large form
        ancestors = ancestors | {table}
        host_of = getattr(self.memory, "to_host", None)
        x86_64 = self.format == "x86-64"
        top = 57 if platform.la57 else 48
        canon = (1 << 64) - (1 << top)
        for index, value in enumerate(values):
            if value in empty and not self.include_empty:
                continue
            cls = large_cls if value & ps and large_cls is not None else table_cls
            m = self._masks.get(cls) or self._mask(cls)
            present = bool(value & m.present)
            problems = m.problems_of(cls, value, platform) if present else ()
            leaf = present and cls.LEAF and not problems
            inp = base | index << shift
            if x86_64 and inp >> (top - 1) & 1:
                inp |= canon  # canonical, as ptdump prints it
            neff = m.effective(value, eff)
            out = (value & m.address if m.plain_address else cls(value, platform).address) if present else None
            flags: list[str] = []
            view = owner_view(owner, value, level) if owner is not None else None
            descend = present and not cls.LEAF and not problems
            if out is not None and not problems:  # hardware uses no address from a faulting entry
                if descend:
                    if out in ancestors:
                        flags.append("loop")
                        descend = False
                    elif out in self._seen:
                        if not again:
                            flags.append("shared")
                        descend = descend and self.revisit
                    n, wd = table_geometry(self.format, level - 1)
                    if not self.memory.contains(out, n * wd):
                        flags.append("outside")
                        descend = False
                elif not self.memory.contains(out, 1):
                    flags.append("outside")
            self.stats.entries += 1
            if leaf:
                self.stats.leaves[level] = self.stats.leaves.get(level, 0) + 1
            if flags and "outside" in flags:
                self.stats.outside += 1
            entry_at = table + index * width
            yield Visit(entry_at, level, index, inp, value, cls, platform, present, leaf, out, neff, view,
                        tuple(flags), problems, host_of(entry_at) if host_of else None,
                        host_of(out) if host_of and leaf and out is not None else None)
            if descend and out is not None:
                yield from self._table(out, level - 1, base | index << shift, neff, ancestors, entry_at,
                                       again or "shared" in flags)


def walk(memory: PhysicalMemory, root: int, format: str, *, levels: int | None = None,
         platform: Platform | None = None, owner: Owner | None = None, include_empty: bool = False) -> Iterator[Visit]:
    """Every entry reachable from ``root`` in ``memory`` (see :class:`Visit`), in input-address order."""
    return Walker(memory, format, levels=levels, platform=platform, owner=owner,
                  include_empty=include_empty).walk(root)


# -- one address ------------------------------------------------------------------------------

@dataclass(frozen=True)
class Translation:
    address: int
    steps: tuple[Visit, ...]
    physical: int | None  # None: the walk faulted
    fault: str | None


def translate(memory: PhysicalMemory, root: int, format: str, address: int, *, levels: int | None = None,
              platform: Platform | None = None, owner: Owner | None = None) -> Translation:
    """The walk of one address, every entry on the way decoded (as crash's ``vtop``)."""
    w = Walker(memory, format, levels=levels, platform=platform, owner=owner, include_empty=True)
    table, lv, w.platform = root_table(w.format, root, w.platform)
    if lv is not None:
        w.platform = w.platform.replace(la57=lv == 5)
    level = w.top_level
    steps: list[Visit] = []
    host_of = getattr(memory, "to_host", None)
    eff: tuple[bool, bool, bool, bool | None] = (True, True, True, None if w.format == "ept" else True)
    base = 0
    while True:
        count, width = table_geometry(w.format, level)
        table_cls = CLASSES[w.format][level][0]
        shift = table_cls.SPAN_SHIFT
        index = (address >> shift) % count
        at = table + index * width
        data = memory.read(at, width)
        if data is None:
            return Translation(address, tuple(steps), None,
                               f"level-{level} table entry at {at:#x} is outside the image")
        value = int.from_bytes(data, "little")
        cls = entry_class_for(value, w.format, level, w.platform)
        e = cls(value, w.platform)
        eff = w._mask(cls).effective(value, eff)
        base |= index << shift
        view = owner_view(owner, value, level) if owner is not None else None
        present = bool(e.present)
        out = e.address if present else None
        problems = tuple(e.problems()) if present else ()
        steps.append(Visit(at, level, index, w._sign_extend(base), value, cls, w.platform, present,
                           present and cls.LEAF and not problems, out, eff, view, (), problems,
                           host_of(at) if host_of else None))
        if not present:
            return Translation(address, tuple(steps), None, f"level-{level} entry not present")
        if problems:
            return Translation(address, tuple(steps), None, "; ".join(p.message for p in problems))
        assert out is not None
        if cls.LEAF:
            return Translation(address, tuple(steps), out | (address & ((1 << shift) - 1)), None)
        table, level = out, level - 1


# -- two-dimensional walks --------------------------------------------------------------------

class NestedMemory(PhysicalMemory):
    """Guest-physical memory seen through an EPT/NPT tree: a guest's tables can be walked over it."""

    def __init__(self, host: PhysicalMemory, root: int, format: str, *, levels: int | None = None,
                 platform: Platform | None = None) -> None:
        self.host, self.root, self.format = host, root, canonical_format(format)
        self.levels, self.platform = levels, platform
        self.name, self.kind = f"{host.name} through {self.format} root {root:#x}", "nested"
        self._cache: dict[int, int | None] = {}

    def to_host(self, gpa: int) -> int | None:
        page = gpa & ~0xFFF
        hpa = self._cache.get(page, -1)
        if hpa == -1:
            t = translate(self.host, self.root, self.format, page, levels=self.levels, platform=self.platform)
            hpa = t.physical
            if len(self._cache) > 1 << 16:
                self._cache.clear()
            self._cache[page] = hpa
        return None if hpa is None else hpa | (gpa & 0xFFF)

    def read(self, address: int, size: int) -> bytes | None:
        out = b""
        while size > 0:
            n = min(size, PAGE - (address & 0xFFF))
            hpa = self.to_host(address)
            chunk = None if hpa is None else self.host.read(hpa, n)
            if chunk is None:
                return None
            out += chunk
            address, size = address + n, size - n
        return out

    def contains(self, address: int, size: int = 1) -> bool:
        return self.to_host(address) is not None and self.to_host(address + size - 1) is not None

    def ranges(self) -> tuple[tuple[int, int], ...]:
        out: list[tuple[int, int]] = []
        for v in walk(self.host, self.root, self.format, levels=self.levels, platform=self.platform):
            if v.leaf and not v.problems and "outside" not in v.flags:
                s, e = v.input_address, v.input_address + v.size
                if out and out[-1][1] == s:
                    out[-1] = (out[-1][0], e)
                else:
                    out.append((s, e))
        return tuple(out)


# -- ptdump-like ranges -------------------------------------------------------------------------

@dataclass(frozen=True)
class Range:
    start: int
    end: int
    level: int
    page_size: int
    permissions: str
    memory_type: str
    state: str  # the owner's kind and software bits, or "" without an owner
    output_start: int | None
    present: bool

    @property
    def size(self) -> int:
        return self.end - self.start


def permissions_text(v: Visit, fmt: str) -> str:
    """Effective permissions through every level: EPT ``rwx``; legacy/NPT as ptdump spells them."""
    r, w, x, u = v.effective
    if not v.present:
        return ""
    if fmt == "ept":
        return ("r" if r else "-") + ("w" if w else "-") + ("x" if x else "-")
    return " ".join(p for p in ("USR" if u else "", "RW" if w else "ro", "x" if x else "NX") if p)


def memory_type_text(v: Visit) -> str:
    """A leaf's caching attributes: EPT's memory type (and IPAT); legacy PWT/PCD/PAT and G as ptdump names them."""
    if not v.leaf:
        return ""
    f = v.entry.fields()
    if v.entry.FORMAT == "ept":
        name = getattr(v.entry, "memory_type_name", None) or ""
        return f"{name}{' IPAT' if f.get('ignore_pat') else ''}"
    return " ".join(n for n, k in (("PWT", "write_through"), ("PCD", "cache_disable"), ("PAT", "pat"),
                                   ("GLB", "global")) if f.get(k))


def state_text(v: Visit) -> str:
    if v.owner is None:
        return ""
    sw = " ".join(f"{k}={x:#x}" for k, x in sorted(v.owner.software.items()))
    return v.owner.kind + (f" {sw}" if sw else "")


def coalesce(visits: Sequence[Visit] | Iterator[Visit], fmt: str) -> Iterator[Range]:
    """Leaves (and non-empty not-present entries) merged into ranges of equal attributes."""
    cur: Range | None = None
    for v in visits:
        if v.present and not v.leaf and not v.problems:
            continue
        out = v.output_address if v.leaf and not v.problems else None
        r = Range(v.input_address, v.input_address + v.size, v.level, v.size, permissions_text(v, fmt)
                  if not v.problems else "fault", memory_type_text(v), state_text(v), out, v.present)
        if cur is not None and cur.end == r.start and (cur.level, cur.permissions, cur.memory_type, cur.state,
                                                        cur.present) == (r.level, r.permissions, r.memory_type,
                                                                         r.state, r.present) and (
                (cur.output_start is None and r.output_start is None) or (
                cur.output_start is not None and r.output_start == cur.output_start + cur.size)):
            cur = Range(cur.start, r.end, cur.level, cur.page_size, cur.permissions, cur.memory_type, cur.state,
                        cur.output_start, cur.present)
            continue
        if cur is not None:
            yield cur
        cur = r
    if cur is not None:
        yield cur


# -- anomalies ----------------------------------------------------------------------------------

@dataclass(frozen=True)
class Anomaly:
    kind: str  # reserved_bits, ept_misconfig..., implausible, outside, shared, loop, wx
    entry_address: int | None
    level: int
    input_address: int
    message: str


def check(visits: Iterator[Visit] | Sequence[Visit], fmt: str) -> Iterator[Anomaly]:
    """Anomalies: hardware problems (unless the owner built the value so on purpose, e.g. KVM's MMIO
    SPTEs), values the owner could not have built, present entries outside the image, tables
    referenced twice or in a loop, and writable+executable ranges (merged)."""
    wx: Anomaly | None = None
    wx_end = 0
    for v in visits:
        # Faulting on purpose: an MMIO SPTE the owner could have built.
        mmio = v.owner is not None and is_mmio_kind(v.owner.kind) and v.owner.plausible is not False
        for p in v.problems:
            if not mmio:
                yield Anomaly(p.kind, v.entry_address, v.level, v.input_address, p.message)
        if v.owner is not None and v.owner.plausible is False:
            yield Anomaly("implausible", v.entry_address, v.level, v.input_address,
                          f"{v.owner.owner} could not have built {v.value:#x}: " + "; ".join(v.owner.reasons))
        for flag, text in (("outside", "points outside the image"),
                           ("shared", "references a table another entry referenced already"),
                           ("loop", "references a table on its own path (a loop)")):
            if flag in v.flags:
                yield Anomaly(flag, v.entry_address, v.level, v.input_address,
                              f"{v.cls.__name__} {v.value:#x} {text} ({v.output_address:#x})")
        if v.leaf and not v.problems and v.effective[1] and v.effective[2]:
            if wx is not None and wx_end == v.input_address:
                wx_end += v.size
                continue
            if wx is not None:
                yield _wx(wx, wx_end)
            wx, wx_end = Anomaly("wx", v.entry_address, v.level, v.input_address, ""), v.input_address + v.size
    if wx is not None:
        yield _wx(wx, wx_end)


def _wx(a: Anomaly, end: int) -> Anomaly:
    return Anomaly("wx", a.entry_address, a.level, a.input_address,
                   f"{a.input_address:#x}-{end:#x} ({end - a.input_address} bytes) mapped writable and executable")
