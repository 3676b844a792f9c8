"""Find roots of page-table trees in an image, with the evidence for each, true roots first.

Sources, strongest first:

* registers the image recorded: the ``QEMU`` note's CR3 (format from CR0/CR4), and a
  kdump VMCOREINFO's ``init_top_pgt``;
* AMD VMCBs found by their architectural layout (AMD APM vol. 2, appendix B): the VMRUN
  intercept set (VMRUN fails without it), a non-zero guest ASID, EFER.SVME set in the save
  area; with NP_ENABLE their ``nested_cr3`` is an NPT root and their save-area CR3 a guest
  root (guest-physical, walked through that NPT tree);
* pages that look like tables, searched upwards from a given table page (each level's
  parents are the pages holding an entry that points at it).

Every candidate's tree is then walked.  Two kinds of look-alikes lie in memory and are kept
from ranking as live roots:

* raw copies of entry values, e.g. in the ftrace ring buffer: a page holding them is not a
  table, so most of its other 8-byte words decode to entries with reserved bits, pointing
  outside the image or at pages that are no tables; such a candidate's tree is invalid;
* stale copies of tables in free memory: they decode well, but every table they reach is
  also reached from a candidate with register or VMCB evidence, or from a larger tree; the
  copy is ranked below that candidate and its evidence says whose tables it repeats.
"""

from __future__ import annotations

import re
import struct
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from spte.entry import CLASSES, canonical_format
from spte.images.base import PhysicalMemory
from spte.platform import Platform
from spte.walker.core import NestedMemory, Walker, table_geometry

# AMD APM vol. 2, appendix B; the kernel's struct vmcb_control_area / vmcb_save_area and names
# (arch/x86/include/asm/svm.h, Linux 6.1: nested_ctl, SVM_NESTED_CTL_NP_ENABLE).
INTERCEPT_VMRUN = 128  # bit 0 of intercept word 4, at byte 0x10
VMCB_INTERCEPT_VMRUN = (INTERCEPT_VMRUN // 32 * 4, INTERCEPT_VMRUN % 32)
assert VMCB_INTERCEPT_VMRUN == (0x010, 0)
VMCB_ASID = 0x058
VMCB_NESTED_CTL = 0x090
VMCB_NESTED_CR3 = 0x0B0
VMCB_SAVE = 0x400  # EXPECTED_VMCB_CONTROL_AREA_SIZE
SAVE_EFER, SAVE_CR4, SAVE_CR3, SAVE_CR0, SAVE_RIP = 0x0D0, 0x148, 0x150, 0x158, 0x178
_EFER_SVME, _EFER_LMA = 12, 10  # arch/x86/include/asm/msr-index.h
EFER_SVME, EFER_LMA = 1 << _EFER_SVME, 1 << _EFER_LMA
SVM_NESTED_CTL_NP_ENABLE = 1 << 0
X86_CR0_PG, X86_CR4_PAE, X86_CR4_LA57 = 1 << 31, 1 << 5, 1 << 12
__START_KERNEL_map = 0xFFFFFFFF80000000
MAX_TABLES = 4096  # a validation walk stops here: enough to judge, bounded on a huge image
TIER_NAMES = {0: "register", 1: "VMCB", 2: "page-table search"}


@dataclass
class Candidate:
    root: int
    format: str
    levels: int
    evidence: list[str]
    tier: int  # 0 registers, 1 VMCB, 2 heuristic
    space: str = "host-physical"
    nested: tuple[int, str, int] | None = None  # (root, format, levels) a guest root is walked through
    tables: int = 0
    present: int = 0
    leaves: int = 0
    bad: int = 0
    table_set: frozenset[int] = frozenset()
    copy_of: int | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def valid(self) -> float:
        return 1.0 - self.bad / self.present if self.present else 0.0

    def rank_key(self) -> tuple[int, int, float, int, int]:
        return (self.copy_of is not None or self.valid < 0.9, self.tier, -self.valid, -self.tables, self.root)

    def to_json(self) -> dict[str, Any]:
        return {"root": f"{self.root:#x}", "format": self.format, "levels": self.levels,
                "evidence": "; ".join(self.evidence + self.notes), "space": self.space,
                "source": TIER_NAMES[self.tier], "tables": self.tables, "leaves": self.leaves,
                "bad_entries": self.bad, "valid": round(self.valid, 4),
                **({"copy_of": f"{self.copy_of:#x}"} if self.copy_of is not None else {}),
                **({"through": {"root": f"{self.nested[0]:#x}", "format": self.nested[1], "levels": self.nested[2]}}
                   if self.nested else {})}


def register_candidates(memory: PhysicalMemory, platform: Platform) -> Iterator[Candidate]:
    for r in memory.registers:
        if r.cr3 is None:
            continue
        cr0, cr4 = r.cr0 or 0, r.cr4 or 0
        if cr0 and not cr0 & X86_CR0_PG:
            continue  # paging off: CR3 means nothing
        fmt, levels = ("x86-64", 5 if cr4 & X86_CR4_LA57 else 4) if cr4 & X86_CR4_PAE else ("x86-32", 2)
        assumed = "; long mode assumed: the note has no EFER" if fmt == "x86-64" else ""
        yield Candidate(r.cr3, fmt, levels, [f"CR3 {r.cr3:#x} in the {r.source} (CR0 {cr0:#x}, CR4 {cr4:#x}"
                                             f"{assumed})"], 0)
    info = memory.vmcoreinfo
    sym = info.get("SYMBOL(init_top_pgt)")
    if sym:
        try:
            va, base = int(sym, 16), int(info.get("NUMBER(phys_base)", "0"), 0)
        except ValueError:
            return
        levels = 5 if info.get("NUMBER(pgtable_l5_enabled)", "0").strip() == "1" else 4
        yield Candidate(va - __START_KERNEL_map + base, "x86-64", levels,
                        [f"VMCOREINFO: init_top_pgt {va:#x} - __START_KERNEL_map + phys_base {base:#x}"], 0)


def vmcb_candidates(memory: PhysicalMemory, npt_levels: int = 4) -> Iterator[Candidate]:
    """NPT roots (and guest CR3s) from VMCBs recognised by their architectural layout."""
    for start, end in memory.pages():
        for page in range(start, end, 4096):
            head = memory.read(page, 0xB8)
            word, bit = VMCB_INTERCEPT_VMRUN
            if head is None or not head[word] >> bit & 1:
                continue
            asid, = struct.unpack_from("<I", head, VMCB_ASID)
            nested_ctl, nested_cr3 = struct.unpack_from("<QQ", head, VMCB_NESTED_CTL)[0], \
                struct.unpack_from("<Q", head, VMCB_NESTED_CR3)[0]
            if asid == 0 or not nested_ctl & SVM_NESTED_CTL_NP_ENABLE:
                continue
            save = memory.read(page + VMCB_SAVE, 0x180)
            if save is None:
                continue
            efer, = struct.unpack_from("<Q", save, SAVE_EFER)
            cr4, cr3, cr0 = struct.unpack_from("<QQQ", save, SAVE_CR4)
            # VMRUN's consistency checks (APM vol. 2, 15.5.1): EFER.SVME set, EFER[63:16], CR0[63:32],
            # CR3[63:52] and CR4[63:32] zero; nested_cr3 page-aligned below 2^52.
            if (not efer & EFER_SVME or efer >> 16 or cr0 >> 32 or cr3 >> 52 or cr4 >> 32
                    or nested_cr3 & 0xFFF or not nested_cr3 or nested_cr3 >> 52):
                continue
            rip, = struct.unpack_from("<Q", save, SAVE_RIP)
            why = (f"VMCB at {page:#x}: VMRUN intercepted, ASID {asid}, save-area EFER {efer:#x} (SVME), "
                   f"VMRUN's consistency checks pass, "
                   f"NP_ENABLE, nested_cr3 {nested_cr3:#x}, guest RIP {rip:#x}")
            yield Candidate(nested_cr3, "npt", npt_levels, [why], 1)
            if cr0 & X86_CR0_PG:
                if efer & EFER_LMA:
                    gfmt, glevels = "x86-64", 5 if cr4 & X86_CR4_LA57 else 4
                else:
                    gfmt, glevels = ("pae", 3) if cr4 & X86_CR4_PAE else ("x86-32", 2)
                yield Candidate(cr3, gfmt, glevels, [f"guest CR3 {cr3:#x} in the save area of the VMCB at {page:#x} "
                                                     f"(CR0 {cr0:#x}, CR4 {cr4:#x}, EFER {efer:#x})"], 1,
                                space=f"guest-physical through npt root {nested_cr3:#x}",
                                nested=(nested_cr3, "npt", npt_levels))


def _parents(memory: PhysicalMemory, page: int, fmt: str, level: int, platform: Platform,
             chunk: int = 1 << 24) -> list[int]:
    """Entry addresses of present level-``level`` non-leaf entries whose address is ``page``."""
    _, width = table_geometry(fmt, level)
    cls = CLASSES[fmt][level][0]
    # The low byte and bits 8-11 are flags; bits 12 up to 39 are the address.  Find the address
    # bytes 2-4 (a literal search runs at memory speed), then check alignment and bits 12-15.
    b = page.to_bytes(width, "little")
    needle = re.compile(re.escape(b[2:min(5, width)]))
    out = []
    for start, end in memory.ranges():
        for at in range(start, end, chunk):
            data = memory.read(at, min(chunk, end - at))
            if data is None:
                continue
            for m in needle.finditer(data):
                off = m.start() - 2
                if off < 0 or off % width or data[off + 1] & 0xF0 != b[1] & 0xF0:
                    continue
                value = int.from_bytes(data[off:off + width], "little")
                e = cls(value, platform)
                if e.present and e.address == page and not e.problems():
                    out.append(at + off)
    return out


def search_upwards(memory: PhysicalMemory, table: int, fmt: str, table_level: int, top: int,
                   platform: Platform, limit: int = 64) -> Iterator[Candidate]:
    """Roots reached by following parents upwards from a table page at ``table_level``."""
    fmt = canonical_format(fmt)
    frontier = {table & ~0xFFF: [f"table {table & ~0xFFF:#x} (level {table_level})"]}
    for level in range(table_level + 1, top + 1):
        nxt: dict[int, list[str]] = {}
        for page, chain in frontier.items():
            for at in _parents(memory, page, fmt, level, platform)[:limit]:
                parent = at & ~0xFFF
                nxt.setdefault(parent, [*chain, f"entry at {at:#x} (level {level})"])
        frontier = nxt
        if not frontier:
            return
    for page, chain in frontier.items():
        yield Candidate(page, fmt, top, ["upward search: " + " <- ".join(chain)], 2)


def validate(memory: PhysicalMemory, c: Candidate, platform: Platform) -> None:
    """Walk a candidate's tree (bounded) and record what it holds."""
    mem: PhysicalMemory = memory
    if c.nested is not None:
        mem = NestedMemory(memory, c.nested[0], c.nested[1], levels=c.nested[2], platform=platform)
    levels = c.levels if c.format in ("ept", "x86-64", "npt") else None
    w = Walker(mem, c.format, levels=levels, platform=platform, revisit=False)
    tables: set[int] = set()
    try:
        for v in w.walk(c.root):
            tables.add(v.entry_address & ~0xFFF)
            if c.bad > 64 and c.bad > c.present // 2:
                c.notes.append("validation stopped: most entries are not page-table entries")
                break
            if w.stats.tables > MAX_TABLES:
                c.notes.append(f"validation stopped after {MAX_TABLES} tables")
                break
            if not v.present:
                continue
            c.present += 1
            if v.leaf:
                c.leaves += 1
            elif not v.cls.LEAF and (v.problems or "outside" in v.flags or "loop" in v.flags):
                c.bad += 1  # a leaf outside the image may be device memory; a table outside it is not
    except ValueError as e:
        c.notes.append(f"cannot walk: {e}")
    c.tables = w.stats.tables
    c.table_set = frozenset(tables)
    if not mem.contains(c.root, 8):
        c.notes.append("root outside the image")


def find_roots(memory: PhysicalMemory, *, platform: Platform | None = None, from_table: int | None = None,
               table_format: str = "npt", table_level: int = 1, levels: int = 4,
               scan_vmcbs: bool = True) -> list[Candidate]:
    """Candidate roots, best first (see the module docstring for the ranking)."""
    plat = platform or Platform(vendor="amd")
    found: list[Candidate] = list(register_candidates(memory, plat))
    if scan_vmcbs:
        found += list(vmcb_candidates(memory, levels))
    if from_table is not None:
        found += list(search_upwards(memory, from_table, table_format, table_level, levels, plat))
    merged: dict[tuple[int, str, str], Candidate] = {}
    for c in found:
        key = (c.root, c.format, c.space)
        if key in merged:
            m = merged[key]
            m.evidence += c.evidence
            m.tier = min(m.tier, c.tier)
        else:
            merged[key] = c
    cands = list(merged.values())
    for c in cands:
        validate(memory, c, plat)
    _mark_copies(cands)
    return sorted(cands, key=Candidate.rank_key)


def _mark_copies(cands: Sequence[Candidate]) -> None:
    """A candidate whose tables (below its root) all belong to a stronger candidate's tree is a stale copy.

    Strength: register/VMCB evidence first, then a valid tree, then the larger tree (live
    tables only gain entries while a copy keeps what they held when it was made).  Only a
    stronger candidate that is itself not a copy can make another one a copy.
    """
    order = sorted(cands, key=lambda c: (c.tier, -c.valid, -c.tables, -c.present, c.root))
    for i, c in enumerate(order):
        below = c.table_set - {c.root}
        for s in order[:i]:
            if s.copy_of is not None or s.space != c.space or s.format != c.format:
                continue
            if c.root in s.table_set:
                c.copy_of = s.root
                c.notes.append(f"it is a table inside the tree of {s.root:#x}, not a root")
                break
            if below and below <= s.table_set:
                c.copy_of = s.root
                c.notes.append(f"every table below it is in the tree of {s.root:#x}: a stale copy, not a live root")
                break
