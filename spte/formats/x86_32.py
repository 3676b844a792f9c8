"""32-bit paging entries (SDM Vol. 3A Tables 4-4..4-6), 32 bits wide.

A 4 MiB PDE (CR4.PSE=1) carries physical-address bits (M'-1):32 in bits 20:13 (PSE-36),
with M' = min(MAXPHYADDR, 40); bit 21 and the unused top of 20:13 are reserved.  KVM
always assumes 36 bits and reserves 21:17 (hardware-formats.md section 8.5).
"""

from __future__ import annotations

from spte.bits import Field, PhysBound, Role

P, F, MT, A, IGN, RSV = (Role.PERMISSION, Role.FLAG, Role.MEMORY_TYPE, Role.ADDRESS,
                         Role.IGNORED, Role.RESERVED)

M40 = PhysBound(cap=40)  # M' = min(MAXPHYADDR, 40)

_LOW = (
    Field("present", 0, F, "the entry is present", short="P"),
    Field("writable", 1, P, "writes allowed (R/W)", short="W"),
    Field("user", 2, P, "user-mode accesses allowed (U/S)", short="U"),
    Field("write_through", 3, MT, "page-level write-through (PWT)", short="PWT"),
    Field("cache_disable", 4, MT, "page-level cache disable (PCD)", short="PCD"),
    Field("accessed", 5, F, "set by the CPU when the entry is used", short="A"),
)

PDE32 = (
    *_LOW,
    Field("ignored_6", 6, IGN, "ignored"),
    Field("page_size", 7, F, "0: this entry references a page table", short="PS"),
    Field("ignored_8_11", (11, 8), IGN, "ignored"),
    Field("frame", (31, 12), A, "physical address of the page table"),
)

PDE32_4M = (
    *_LOW,
    Field("dirty", 6, F, "set by the CPU on a write to the page", short="D"),
    Field("page_size", 7, F, "1: this entry maps a 4 MiB page (CR4.PSE=1)", short="PS"),
    Field("global", 8, F, "global translation (CR4.PGE)", short="G"),
    Field("ignored_9_11", (11, 9), IGN, "ignored"),
    Field("pat", 12, MT, "PAT index bit 2", short="PAT"),
    Field("frame_high", (M40 - 20, 13), A, "physical-address bits (M'-1):32 (PSE-36)"),
    Field("reserved_pse36", (21, M40 - 19), RSV, "reserved: bit 21 and unused PSE-36 bits"),
    Field("frame", (31, 22), A, "physical-address bits 31:22 of the 4 MiB page"),
)

PTE32 = (
    *_LOW,
    Field("dirty", 6, F, "set by the CPU on a write to the page", short="D"),
    Field("pat", 7, MT, "PAT index bit 2", short="PAT"),
    Field("global", 8, F, "global translation (CR4.PGE)", short="G"),
    Field("ignored_9_11", (11, 9), IGN, "ignored"),
    Field("frame", (31, 12), A, "physical address of the 4 KiB page"),
)
