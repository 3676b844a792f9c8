"""PAE paging entries (SDM Vol. 3A Tables 4-8..4-11; KVM ``__reset_rsvds_bits_mask``).

Bits 62:52 are reserved in PAE entries (not ignored as in IA-32e), and the four PDPTEs
are loaded by MOV CR3, where a set reserved bit raises #GP.
"""

from __future__ import annotations

from spte.bits import Field, M, Role

P, F, MT, A, IGN, RSV = (Role.PERMISSION, Role.FLAG, Role.MEMORY_TYPE, Role.ADDRESS,
                         Role.IGNORED, Role.RESERVED)

_LOW = (
    Field("present", 0, F, "the entry is present", short="P"),
    Field("writable", 1, P, "writes allowed (R/W)", short="W"),
    Field("user", 2, P, "user-mode accesses allowed (U/S)", short="U"),
    Field("write_through", 3, MT, "page-level write-through (PWT)", short="PWT"),
    Field("cache_disable", 4, MT, "page-level cache disable (PCD)", short="PCD"),
    Field("accessed", 5, F, "set by the CPU when the entry is used", short="A"),
)
_RSVD_PA = Field("reserved_pa", (62, M), RSV, "reserved: bits 62:MAXPHYADDR")
_XD = Field("execute_disable", 63, P, "instruction fetches not allowed (XD, EFER.NXE=1)",
            control="nx", otherwise=RSV, short="XD")

PAE_PDPTE = (
    Field("present", 0, F, "the entry is present", short="P"),
    Field("reserved_1_2", (2, 1), RSV, "reserved (#GP on MOV CR3)"),
    Field("write_through", 3, MT, "page-level write-through (PWT)", short="PWT"),
    Field("cache_disable", 4, MT, "page-level cache disable (PCD)", short="PCD"),
    Field("reserved_5_8", (8, 5), RSV, "reserved (#GP on MOV CR3)"),
    Field("ignored_9_11", (11, 9), IGN, "ignored"),
    Field("frame", (M - 1, 12), A, "physical address of the page directory"),
    Field("reserved_pa", (63, M), RSV, "reserved: bits 63:MAXPHYADDR (no XD in a PDPTE)"),
)

PAE_PDE = (
    *_LOW,
    Field("ignored_6", 6, IGN, "ignored"),
    Field("page_size", 7, F, "0: this entry references a page table", short="PS"),
    Field("ignored_8_11", (11, 8), IGN, "ignored"),
    Field("frame", (M - 1, 12), A, "physical address of the page table"),
    _RSVD_PA,
    _XD,
)

PAE_PDE_2M = (
    *_LOW,
    Field("dirty", 6, F, "set by the CPU on a write to the page", short="D"),
    Field("page_size", 7, F, "1: this entry maps a 2 MiB page", short="PS"),
    Field("global", 8, F, "global translation (CR4.PGE)", short="G"),
    Field("ignored_9_11", (11, 9), IGN, "ignored"),
    Field("pat", 12, MT, "PAT index bit 2 (bit 12 in large leaves)", short="PAT"),
    Field("reserved_13_20", (20, 13), RSV, "reserved: 2 MiB alignment"),
    Field("frame", (M - 1, 21), A, "physical address of the 2 MiB page"),
    _RSVD_PA,
    _XD,
)

PAE_PTE = (
    *_LOW,
    Field("dirty", 6, F, "set by the CPU on a write to the page", short="D"),
    Field("pat", 7, MT, "PAT index bit 2 (bit 7 in a 4 KiB PTE)", short="PAT"),
    Field("global", 8, F, "global translation (CR4.PGE)", short="G"),
    Field("ignored_9_11", (11, 9), IGN, "ignored"),
    Field("frame", (M - 1, 12), A, "physical address of the 4 KiB page"),
    _RSVD_PA,
    _XD,
)
