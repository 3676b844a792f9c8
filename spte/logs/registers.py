"""Values in logs that are not paging-structure entries: EPTP, AMD nCR3, swp_entry_t.

Each is a table of fields (bits, name, meaning), declared once; :func:`decode_register`
reads a value with it and says what is wrong with it.

>>> r = decode_register("eptp", 0x114fd601e)
>>> r.fields["memory_type"], r.fields["walk_length"], r.fields["accessed_dirty"], hex(r.root)
('WB', 4, 0, '0x114fd6000')
"""

from __future__ import annotations

from dataclasses import dataclass

from spte.bits import genmask


@dataclass(frozen=True)
class RegField:
    name: str
    hi: int
    lo: int
    meaning: str

    @property
    def mask(self) -> int:
        return genmask(self.hi, self.lo)

    def get(self, value: int) -> int:
        return (value & self.mask) >> self.lo


# Intel SDM Vol. 3C 25.6.11 "Extended-Page-Table Pointer (EPTP)"; bits 51:M are reserved too.
EPTP_FIELDS = (
    RegField("memory_type", 2, 0, "memory type of the EPT paging structures: UC 0, WB 6"),
    RegField("walk_length", 5, 3, "EPT page-walk length minus 1: 3 = 4-level, 4 = 5-level"),
    RegField("accessed_dirty", 6, 6, "accessed and dirty flags enabled for EPT"),
    RegField("supervisor_shadow_stack", 7, 7, "supervisor shadow-stack access rights enforced"),
    RegField("reserved_8_11", 11, 8, "reserved"),
    RegField("root", 51, 12, "physical address of the EPT PML4 (or PML5) table"),
    RegField("reserved_52_63", 63, 52, "reserved"),
)
EPT_MEMORY_TYPES = {0: "UC", 6: "WB"}  # the only two the EPTP allows (IA32_VMX_EPT_VPID_CAP bits 8, 14)
VMX_EPTP_PWL_4, VMX_EPTP_PWL_5 = 0x18, 0x20  # the kernel's names (arch/x86/include/asm/vmx.h)
assert VMX_EPTP_PWL_4 == 3 << EPTP_FIELDS[1].lo and VMX_EPTP_PWL_5 == 4 << EPTP_FIELDS[1].lo

# AMD APM Vol. 2 15.25.4 "Nested Paging and VMRUN/#VMEXIT": nCR3 has the format of CR3 in
# long mode (PWT bit 3, PCD bit 4, table base 51:12).
NCR3_FIELDS = (
    RegField("ignored_0_2", 2, 0, "ignored"),
    RegField("pwt", 3, 3, "page-level write-through for the top-level table"),
    RegField("pcd", 4, 4, "page-level cache disable for the top-level table"),
    RegField("ignored_5_11", 11, 5, "ignored"),
    RegField("root", 51, 12, "physical address of the top-level nested page table"),
    RegField("reserved_52_63", 63, 52, "reserved (must be zero)"),
)

# include/linux/swapops.h: SWP_TYPE_SHIFT = BITS_PER_XA_VALUE - MAX_SWAPFILES_SHIFT = 63 - 5 on 64-bit.
SWP_TYPE_SHIFT = 58
SWP_FIELDS = (
    RegField("offset", SWP_TYPE_SHIFT - 1, 0, "page offset in the swap device"),
    RegField("type", 62, SWP_TYPE_SHIFT, "swap device (swap_info[] index)"),
    RegField("bit_63", 63, 63, "beyond BITS_PER_XA_VALUE"),
)
assert SWP_FIELDS[0].mask == (1 << SWP_TYPE_SHIFT) - 1

TABLES = {"eptp": EPTP_FIELDS, "ncr3": NCR3_FIELDS, "swp": SWP_FIELDS}
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
    table = TABLES[kind]
    raw = {f.name: f.get(value) for f in table}
    problems = []
    fields: dict[str, int | str] = {}
    root = None
    for f in table:
        v = raw[f.name]
        if f.name.startswith("reserved"):
            if v:
                problems.append(f"{f.name}={v:#x}: reserved bits {f.hi}:{f.lo} set")
            continue
        if f.name.startswith("ignored") or (f.name == "bit_63" and not v):
            continue
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
