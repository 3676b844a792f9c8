"""PAE paging entries (SDM Vol. 3A Tables 4-8..4-11; KVM ``__reset_rsvds_bits_mask``).

Bits 62:52 are reserved in PAE entries (not ignored as in IA-32e), and the four PDPTEs
are loaded by MOV CR3, where a set reserved bit raises #GP.
"""

from __future__ import annotations

from spte.bits import Field, M, Role, ignored, reserved
from spte.formats.legacy import IGNORED_6, IGNORED_9_11, LEAF_4K_LOW, LOW, PAT_LARGE, PRESENT, PS_TABLE, XD, large_low

_RSVD_PA = reserved((62, M), "reserved: bits 62:MAXPHYADDR")

PAE_PDPTE = (
    PRESENT,
    reserved((2, 1), "reserved (#GP on MOV CR3)"),
    *LOW[3:5],  # write_through, cache_disable
    reserved((8, 5), "reserved (#GP on MOV CR3)"),
    IGNORED_9_11,
    Field("frame", (M - 1, 12), Role.ADDRESS, "physical address of the page directory"),
    reserved((63, M), "reserved: bits 63:MAXPHYADDR (no XD in a PDPTE)"),
)

PAE_PDE = (
    *LOW,
    IGNORED_6,
    PS_TABLE,
    ignored((11, 8)),
    Field("frame", (M - 1, 12), Role.ADDRESS, "physical address of the page table"),
    _RSVD_PA,
    XD,
)

PAE_PDE_2M = (
    *large_low("2 MiB"),
    IGNORED_9_11,
    PAT_LARGE,
    reserved((20, 13), "reserved: 2 MiB alignment"),
    Field("frame", (M - 1, 21), Role.ADDRESS, "physical address of the 2 MiB page"),
    _RSVD_PA,
    XD,
)

PAE_PTE = (
    *LEAF_4K_LOW,
    IGNORED_9_11,
    Field("frame", (M - 1, 12), Role.ADDRESS, "physical address of the 4 KiB page"),
    _RSVD_PA,
    XD,
)
