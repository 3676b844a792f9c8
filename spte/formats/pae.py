"""PAE paging entries (SDM Vol. 3A Tables 4-8..4-11; KVM ``__reset_rsvds_bits_mask``).

Bits 62:52 are reserved in PAE entries (not ignored as in IA-32e), and the four PDPTEs
are loaded by MOV CR3, where a set reserved bit raises #GP.
"""

from __future__ import annotations

from spte.bits import Field, M, Role
from spte.formats.legacy import IGNORED_6, IGNORED_9_11, LEAF_4K_LOW, LOW, PAT_LARGE, PS_TABLE, XD, large_low

F, MT, A, IGN, RSV = Role.FLAG, Role.MEMORY_TYPE, Role.ADDRESS, Role.IGNORED, Role.RESERVED

_RSVD_PA = Field("reserved_pa", (62, M), RSV, "reserved: bits 62:MAXPHYADDR")

PAE_PDPTE = (
    LOW[0],  # present
    Field("reserved_1_2", (2, 1), RSV, "reserved (#GP on MOV CR3)"),
    *LOW[3:5],  # write_through, cache_disable
    Field("reserved_5_8", (8, 5), RSV, "reserved (#GP on MOV CR3)"),
    IGNORED_9_11,
    Field("frame", (M - 1, 12), A, "physical address of the page directory"),
    Field("reserved_pa", (63, M), RSV, "reserved: bits 63:MAXPHYADDR (no XD in a PDPTE)"),
)

PAE_PDE = (
    *LOW,
    IGNORED_6,
    PS_TABLE,
    Field("ignored_8_11", (11, 8), IGN, "ignored"),
    Field("frame", (M - 1, 12), A, "physical address of the page table"),
    _RSVD_PA,
    XD,
)

PAE_PDE_2M = (
    *large_low("2 MiB"),
    IGNORED_9_11,
    PAT_LARGE,
    Field("reserved_13_20", (20, 13), RSV, "reserved: 2 MiB alignment"),
    Field("frame", (M - 1, 21), A, "physical address of the 2 MiB page"),
    _RSVD_PA,
    XD,
)

PAE_PTE = (
    *LEAF_4K_LOW,
    IGNORED_9_11,
    Field("frame", (M - 1, 12), A, "physical address of the 4 KiB page"),
    _RSVD_PA,
    XD,
)
