"""Rows that IA-32e, PAE and 32-bit paging entries share (SDM Vol. 3A Tables 4-4..4-20).

Declared once here; each format module assembles its tables from these and its own rows.
"""

from __future__ import annotations

from spte.bits import Field, Role, ignored

P, F, MT = Role.PERMISSION, Role.FLAG, Role.MEMORY_TYPE

PRESENT = Field("present", 0, F, "the entry is present", short="P", presence=True)
LOW = (  # bits 5:0 of every legacy entry
    PRESENT,
    Field("writable", 1, P, "writes allowed (R/W)", short="W"),
    Field("user", 2, P, "user-mode accesses allowed (U/S)", short="U"),
    Field("write_through", 3, MT, "page-level write-through (PWT)", short="PWT"),
    Field("cache_disable", 4, MT, "page-level cache disable (PCD)", short="PCD"),
    Field("accessed", 5, F, "set by the CPU when the entry is used", short="A"),
)
IGNORED_6 = ignored(6)
DIRTY = Field("dirty", 6, F, "set by the CPU on a write to the page", short="D")
PS_TABLE = Field("page_size", 7, F, "0: this entry references a table", short="PS", page_size=True)
PAT_4K = Field("pat", 7, MT, "PAT index bit 2 (bit 7 in a 4 KiB PTE)", short="PAT")
PAT_LARGE = Field("pat", 12, MT, "PAT index bit 2 (bit 12 in large leaves)", short="PAT")
GLOBAL = Field("global", 8, F, "global translation (CR4.PGE)", short="G")
IGNORED_9_11 = ignored((11, 9))
XD = Field("execute_disable", 63, P, "instruction fetches not allowed (XD, EFER.NXE=1)",
           control="nx", otherwise=Role.RESERVED, short="XD")

LEAF_4K_LOW = (*LOW, DIRTY, PAT_4K, GLOBAL)  # bits 8:0 of a 4 KiB PTE


def large_low(size: str, control: str | None = None) -> tuple[Field, ...]:
    """Bits 8:0 of a large leaf: PS = 1 (reserved without ``control``, e.g. 1 GiB pages)."""
    ps = Field("page_size", 7, F, f"1: this entry maps a {size} page", control=control,
               otherwise=Role.RESERVED, short="PS", page_size=True)
    return (*LOW, DIRTY, ps, GLOBAL)
