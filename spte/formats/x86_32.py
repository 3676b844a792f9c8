"""32-bit paging entries (SDM Vol. 3A Tables 4-4..4-6), 32 bits wide.

A 4 MiB PDE (CR4.PSE=1) carries physical-address bits (M'-1):32 in bits 20:13 (PSE-36),
with M' = min(MAXPHYADDR, 40); bit 21 and the unused top of 20:13 are reserved.  KVM
always assumes 36 bits and reserves 21:17.  With CR4.PSE=0 bit 7 of a PDE is ignored,
so it selects nothing.
"""

from __future__ import annotations

from spte.bits import Field, PhysBound, Role, ignored, reserved
from spte.formats.legacy import IGNORED_6, IGNORED_9_11, LEAF_4K_LOW, LOW, PAT_LARGE, large_low

M40 = PhysBound(cap=40)  # M' = min(MAXPHYADDR, 40)

PDE32 = (
    *LOW,
    IGNORED_6,
    Field("page_size", 7, Role.FLAG, "0: this entry references a table (CR4.PSE=1)", control="pse", short="PS",
          page_size=True),
    ignored((11, 8)),
    Field("frame", (31, 12), Role.ADDRESS, "physical address of the page table"),
)

PDE32_4M = (
    *large_low("4 MiB"),
    IGNORED_9_11,
    PAT_LARGE,
    Field("frame_high", (M40 - 20, 13), Role.ADDRESS, "physical-address bits (M'-1):32 (PSE-36)", pa_lo=32),
    reserved((21, M40 - 19), "reserved: bit 21 and unused PSE-36 bits"),
    Field("frame", (31, 22), Role.ADDRESS, "physical-address bits 31:22 of the 4 MiB page"),
)

PTE32 = (
    *LEAF_4K_LOW,
    IGNORED_9_11,
    Field("frame", (31, 12), Role.ADDRESS, "physical address of the 4 KiB page"),
)
