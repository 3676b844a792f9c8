"""Values in logs that are not paging-structure entries: EPTP, AMD nCR3, swp_entry_t.

Each is a table of fields (bits, name, meaning), declared once; :func:`decode_register`
reads a value with it and says what is wrong with it.

>>> r = decode_register("eptp", 0x114fd601e)
>>> r.fields["memory_type"], r.fields["walk_length"], r.fields["accessed_dirty"], hex(r.root)
('WB', 4, 0, '0x114fd6000')
"""

from __future__ import annotations

from dataclasses import dataclass

from spte.bits import Field, Layout, Role, genmask, ignored, range_name, reserved, resolve
from spte.platform import DEFAULT_PLATFORM

# Intel SDM Vol. 3C 25.6.11 "Extended-Page-Table Pointer (EPTP)"; bits 51:M are reserved too.
EPTP_FIELDS = (
    Field("memory_type", (2, 0), Role.MEMORY_TYPE, "memory type of the EPT paging structures: UC 0, WB 6"),
    Field("walk_length", (5, 3), Role.FLAG, "EPT page-walk length minus 1: 3 = 4-level, 4 = 5-level"),
    Field("accessed_dirty", 6, Role.FLAG, "accessed and dirty flags enabled for EPT"),
    Field("supervisor_shadow_stack", 7, Role.FLAG, "supervisor shadow-stack access rights enforced"),
    reserved((11, 8), "reserved"),
    Field("root", (51, 12), Role.ADDRESS, "physical address of the EPT PML4 (or PML5) table"),
    reserved((63, 52), "reserved"),
)
EPT_MEMORY_TYPES = {0: "UC", 6: "WB"}  # the only two the EPTP allows (IA32_VMX_EPT_VPID_CAP bits 8, 14)
VMX_EPTP_PWL_4, VMX_EPTP_PWL_5 = 0x18, 0x20  # the kernel's names (arch/x86/include/asm/vmx.h)
assert VMX_EPTP_PWL_4 == 3 << 3 and VMX_EPTP_PWL_5 == 4 << 3 and EPTP_FIELDS[1].hi_lo == (5, 3)

# AMD APM Vol. 2 15.25.4 "Nested Paging and VMRUN/#VMEXIT": nCR3 has the format of CR3 in
# long mode (PWT bit 3, PCD bit 4, table base 51:12).
NCR3_FIELDS = (
    ignored((2, 0)),
    Field("pwt", 3, Role.FLAG, "page-level write-through for the top-level table"),
    Field("pcd", 4, Role.FLAG, "page-level cache disable for the top-level table"),
    ignored((11, 5)),
    Field("root", (51, 12), Role.ADDRESS, "physical address of the top-level nested page table"),
    reserved((63, 52), "reserved (must be zero)"),
)

# include/linux/swapops.h: SWP_TYPE_SHIFT = BITS_PER_XA_VALUE - MAX_SWAPFILES_SHIFT = 63 - 5 on 64-bit.
SWP_TYPE_SHIFT = 58
SWP_FIELDS = (
    Field("offset", (SWP_TYPE_SHIFT - 1, 0), Role.SOFTWARE, "page offset in the swap device"),
    Field("type", (62, SWP_TYPE_SHIFT), Role.SOFTWARE, "swap device (swap_info[] index)"),
    Field("bit_63", 63, Role.IGNORED, "beyond BITS_PER_XA_VALUE"),
)

# Resolved like entry tables (every bit described exactly once); their bounds are fixed, so
# MAXPHYADDR only bounds the root (decode_register).
TABLES: dict[str, Layout] = {kind: resolve(table, DEFAULT_PLATFORM) for kind, table in
                             (("eptp", EPTP_FIELDS), ("ncr3", NCR3_FIELDS), ("swp", SWP_FIELDS))}
assert TABLES["swp"].by_name["offset"].mask == (1 << SWP_TYPE_SHIFT) - 1
FORMAT_NAMES = {"eptp": "eptp", "ncr3": "ncr3", "swp": "swp_entry_t"}


@dataclass(frozen=True)
class RegisterReading:
    format: str
    value: int
    fields: dict[str, int | str]
    root: int | None
    problems: tuple[str, ...]

    def text(self) -> str:
        parts = [f"{k}={v:#x}" if isinstance(v, int) and k == "root" else f"{k}={v}" for k, v in self.fields.items()]
        out = f"{self.format} " + " ".join(parts)
        return out + "".join(f" !{p}" for p in self.problems)


def decode_register(kind: str, value: int, maxphyaddr: int = 52) -> RegisterReading:
    """``kind`` one of ``eptp``, ``ncr3``, ``swp``; MAXPHYADDR bounds the root address."""
    layout = TABLES[kind]
    raw = layout.extract(value)
    problems = []
    fields: dict[str, int | str] = {}
    root = None
    for f in layout.fields:
        v = raw[f.name]
        if f.role is Role.RESERVED:
            if v:
                problems.append(f"{f.name}={v:#x}: reserved bits {f.hi}:{f.lo} set")
            continue
        if f.role is Role.IGNORED and (not v or f.name == range_name(f.role, f.lo, f.hi)):
            continue  # unnamed ignored bits are not shown; a named one (swp bit 63) only when set
        if f.name == "root":
            root = v << f.lo
            high = root & ~genmask(maxphyaddr - 1, 0)
            if high:
                problems.append(f"root {root:#x} is beyond MAXPHYADDR {maxphyaddr}")
            fields["root"] = root
            continue
        fields[f.name] = v
    if kind == "eptp":
        mt = raw["memory_type"]
        fields["memory_type"] = EPT_MEMORY_TYPES.get(mt, f"reserved({mt})")
        if mt not in EPT_MEMORY_TYPES:
            problems.append(f"memory type {mt} is not UC (0) or WB (6): VM entry fails")
        pwl = raw["walk_length"]
        fields["walk_length"] = pwl + 1
        if pwl not in (3, 4):
            problems.append(f"walk length {pwl + 1} is not 4 or 5: VM entry fails")
    return RegisterReading(FORMAT_NAMES[kind], value, fields, root, tuple(problems))
