"""Intel EPT paging-structure entries (SDM Vol. 3C, "EPT Translation Mechanism").

Sources: SDM Tables 29-1..29-6 (28-x in older editions), ia32-doc ``EPT.yml``, KVM
``__reset_rsvds_bits_mask_ept`` and ``arch/x86/include/asm/vmx.h`` (``VMX_EPT_*``).
"""

from __future__ import annotations

from spte.bits import Field, M, Role

P, F, MT, A, IGN, RSV = (Role.PERMISSION, Role.FLAG, Role.MEMORY_TYPE, Role.ADDRESS,
                         Role.IGNORED, Role.RESERVED)

# EPT memory types (bits 5:3 of a leaf); 2, 3 and 7 are reserved (misconfiguration).
MEMORY_TYPES = {0: "UC", 1: "WC", 4: "WT", 5: "WP", 6: "WB"}

_RWX = (
    Field("read", 0, P, "reads allowed", short="R"),
    Field("write", 1, P, "writes allowed", short="W"),
    Field("execute", 2, P, "instruction fetches allowed (supervisor-mode with MBEC)", short="X"),
)
_UX = Field("execute_user", 10, P, "user-mode fetches allowed (mode-based execute control)",
            control="ept_mbec", short="XU")
_ACCESSED = Field("accessed", 8, F, "set by the CPU when the entry is used (EPTP[6]=1)",
                  control="ept_ad", short="A")
_DIRTY = Field("dirty", 9, F, "set by the CPU on a write to the page (EPTP[6]=1)",
               control="ept_ad", short="D")
_RSVD_PA = Field("reserved_pa", (51, M), RSV, "physical-address bits at or above MAXPHYADDR")
# Bit 63 is ignored in a present non-leaf entry, but in a *not-present* entry at any level
# it decides whether an EPT violation becomes #VE, so it keeps its name everywhere.
_SVE_NONLEAF = Field("suppress_ve", 63, IGN,
                     "ignored while present; suppresses #VE when the entry is not present", short="SVE")
_LEAF_HIGH = (
    Field("ignored_52_56", (56, 52), IGN, "ignored"),
    Field("verify_guest_paging", 57, F, "guest-paging verification (HLAT family)",
          control="ept_verify_guest_paging", short="VGP"),
    Field("paging_write", 58, F, "paging-write access (HLAT family)", control="ept_paging_write", short="PWA"),
    Field("ignored_59", 59, IGN, "ignored"),
    Field("supervisor_shadow_stack", 60, F, "supervisor shadow-stack page (EPTP[7]=1)",
          control="ept_supervisor_shadow_stack", short="SSS"),
)
_MEMORY_TYPE = (  # bits 6:3 of a leaf
    Field("memory_type", (5, 3), MT, "EPT memory type: UC 0, WC 1, WT 4, WP 5, WB 6", short="MT"),
    Field("ignore_pat", 6, F, "ignore the guest PAT memory type", short="IPAT"),
)
_SVE_LEAF = Field("suppress_ve", 63, F, "EPT violations are not converted to #VE",
                  control="ept_ve", short="SVE")

_IGNORED_11 = Field("ignored_11", 11, IGN, "ignored")
_NONLEAF_HIGH = (  # bits 63:8 of every entry that references a table
    _ACCESSED,
    Field("ignored_9", 9, IGN, "ignored"),
    _UX,
    _IGNORED_11,
    Field("frame", (M - 1, 12), A, "physical address of the next EPT table"),
    _RSVD_PA,
    Field("ignored_52_62", (62, 52), IGN, "ignored"),
    _SVE_NONLEAF,
)

EPT_PML4E = (
    *_RWX,
    Field("reserved_3_7", (7, 3), RSV, "reserved (no memory type, no page size here)"),
    *_NONLEAF_HIGH,
)
EPT_PML5E = EPT_PML4E

EPT_TABLE = (  # PDPTE or PDE that references a table (bit 7 = 0)
    *_RWX,
    Field("reserved_3_6", (6, 3), RSV, "reserved in a non-leaf entry"),
    Field("page_size", 7, F, "0: this entry references a table", short="PS"),
    *_NONLEAF_HIGH,
)
EPT_PDPTE = EPT_TABLE
EPT_PDE = EPT_TABLE


def _large_leaf(align_hi: int, size: str, control: str) -> tuple[Field, ...]:
    return (
        *_RWX,
        *_MEMORY_TYPE,
        Field("page_size", 7, F, f"1: this entry maps a {size} page", control=control,
              otherwise=RSV, short="PS"),
        _ACCESSED,
        _DIRTY,
        _UX,
        _IGNORED_11,
        Field(f"reserved_12_{align_hi}", (align_hi, 12), RSV, f"reserved: {size} alignment"),
        Field("frame", (M - 1, align_hi + 1), A, f"physical address of the {size} page"),
        _RSVD_PA,
        *_LEAF_HIGH,
        Field("ignored_61_62", (62, 61), IGN, "ignored"),
        _SVE_LEAF,
    )


EPT_PDPTE_1G = _large_leaf(29, "1 GiB", "ept_1g")
EPT_PDE_2M = _large_leaf(20, "2 MiB", "ept_2m")

EPT_PTE = (
    *_RWX,
    *_MEMORY_TYPE,
    Field("ignored_7", 7, IGN, "ignored (there is no page-size bit in a PTE)"),
    _ACCESSED,
    _DIRTY,
    _UX,
    _IGNORED_11,
    Field("frame", (M - 1, 12), A, "physical address of the 4 KiB page"),
    _RSVD_PA,
    *_LEAF_HIGH,
    Field("sub_page_write", 61, F, "sub-page write permissions apply (SPP)",
          control="ept_sub_page", short="SPP"),
    Field("ignored_62", 62, IGN, "ignored"),
    _SVE_LEAF,
)
