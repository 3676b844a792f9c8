"""Intel EPT paging-structure entries (SDM Vol. 3C, "EPT Translation Mechanism").

Sources: SDM Tables 29-1..29-6 (28-x in older editions) and "EPT Misconfigurations";
KVM ``__reset_rsvds_bits_mask_ept`` and ``arch/x86/include/asm/vmx.h`` (``VMX_EPT_*``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import NamedTuple

from spte.bits import Field, M, Role, ignored, reserved
from spte.platform import Platform

P, F, MT, A = Role.PERMISSION, Role.FLAG, Role.MEMORY_TYPE, Role.ADDRESS

# EPT memory types (bits 5:3 of a leaf); 2, 3 and 7 are reserved (misconfiguration).
MEMORY_TYPES = {0: "UC", 1: "WC", 4: "WT", 5: "WP", 6: "WB"}

# Any of R/W/X (and user-execute with MBEC) makes an EPT entry present (SDM 29.3.2).
_RWX = (
    Field("read", 0, P, "reads allowed", short="R", presence=True),
    Field("write", 1, P, "writes allowed", short="W", presence=True),
    Field("execute", 2, P, "instruction fetches allowed (supervisor-mode with MBEC)", short="X", presence=True),
)
_UX = Field("execute_user", 10, P, "user-mode fetches allowed (mode-based execute control)",
            control="ept_mbec", short="XU", presence=True)
_ACCESSED = Field("accessed", 8, F, "set by the CPU when the entry is used (EPTP[6]=1)",
                  control="ept_ad", short="A")
_DIRTY = Field("dirty", 9, F, "set by the CPU on a write to the page (EPTP[6]=1)",
               control="ept_ad", short="D")
_RSVD_PA = reserved((51, M), "physical-address bits at or above MAXPHYADDR")
# Bit 63 is ignored in a present non-leaf entry, but in a *not-present* entry at any level
# it decides whether an EPT violation becomes #VE: hardware reads it there.
_SVE_NONLEAF = Field("suppress_ve", 63, Role.IGNORED,
                     "ignored while present; suppresses #VE when the entry is not present",
                     control="ept_ve", short="SVE", read_not_present=True)
_LEAF_HIGH = (
    ignored((56, 52)),
    Field("verify_guest_paging", 57, F, "guest-paging verification (HLAT family)",
          control="ept_verify_guest_paging", short="VGP"),
    Field("paging_write", 58, F, "paging-write access (HLAT family)", control="ept_paging_write", short="PWA"),
    ignored(59),
    Field("supervisor_shadow_stack", 60, F, "supervisor shadow-stack page (EPTP[7]=1)",
          control="ept_supervisor_shadow_stack", short="SSS"),
)
_MEMORY_TYPE = (  # bits 6:3 of a leaf
    Field("memory_type", (5, 3), MT, "EPT memory type: UC 0, WC 1, WT 4, WP 5, WB 6", short="MT"),
    Field("ignore_pat", 6, F, "ignore the guest PAT memory type", short="IPAT"),
)
_SVE_LEAF = Field("suppress_ve", 63, F, "EPT violations are not converted to #VE",
                  control="ept_ve", short="SVE", read_not_present=True)

_NONLEAF_HIGH = (  # bits 63:8 of every entry that references a table
    _ACCESSED,
    ignored(9),
    _UX,
    ignored(11),
    Field("frame", (M - 1, 12), A, "physical address of the next EPT table"),
    _RSVD_PA,
    ignored((62, 52)),
    _SVE_NONLEAF,
)

EPT_PML4E = (
    *_RWX,
    reserved((7, 3), "reserved (no memory type, no page size here)"),
    *_NONLEAF_HIGH,
)
EPT_PML5E = EPT_PML4E

EPT_TABLE = (  # PDPTE or PDE that references a table (bit 7 = 0)
    *_RWX,
    reserved((6, 3), "reserved in a non-leaf entry"),
    Field("page_size", 7, F, "0: this entry references a table", short="PS", page_size=True),
    *_NONLEAF_HIGH,
)
EPT_PDPTE = EPT_TABLE
EPT_PDE = EPT_TABLE


def _large_leaf(align_hi: int, size: str, control: str) -> tuple[Field, ...]:
    return (
        *_RWX,
        *_MEMORY_TYPE,
        Field("page_size", 7, F, f"1: this entry maps a {size} page", control=control,
              otherwise=Role.RESERVED, short="PS", page_size=True),
        _ACCESSED,
        _DIRTY,
        _UX,
        ignored(11),
        reserved((align_hi, 12), f"reserved: {size} alignment"),
        Field("frame", (M - 1, align_hi + 1), A, f"physical address of the {size} page"),
        _RSVD_PA,
        *_LEAF_HIGH,
        ignored((62, 61)),
        _SVE_LEAF,
    )


EPT_PDPTE_1G = _large_leaf(29, "1 GiB", "ept_1g")
EPT_PDE_2M = _large_leaf(20, "2 MiB", "ept_2m")

EPT_PTE = (
    *_RWX,
    *_MEMORY_TYPE,
    ignored(7, "ignored (there is no page-size bit in a PTE)"),
    _ACCESSED,
    _DIRTY,
    _UX,
    ignored(11),
    Field("frame", (M - 1, 12), A, "physical address of the 4 KiB page"),
    _RSVD_PA,
    *_LEAF_HIGH,
    Field("sub_page_write", 61, F, "sub-page write permissions apply (SPP)",
          control="ept_sub_page", short="SPP"),
    ignored(62),
    _SVE_LEAF,
)


class Misconfiguration(NamedTuple):
    """One cause of an EPT misconfiguration (SDM "EPT Misconfigurations"), over field values.

    ``fields`` are the fields the rule reads; ``test`` gets their values and the platform.
    """

    kind: str
    fields: tuple[str, ...]
    leaf_only: bool
    test: Callable[[Mapping[str, int], Platform], bool]
    message: str  # formatted with the field values


MISCONFIGURATIONS = (
    # Bit 0 clear and bit 1 set: write without read.
    Misconfiguration("write_without_read", ("read", "write"), False,
                     lambda f, p: bool(f["write"] and not f["read"]),
                     "write={write} without read={read} is an EPT misconfiguration"),
    # Execute-only (bits 1:0 clear, X or user-X set) without the execute-only capability.
    Misconfiguration("execute_only_unsupported", ("read", "write", "execute", "execute_user"), False,
                     lambda f, p: not (f["read"] or f["write"]) and bool(f["execute"] or f.get("execute_user"))
                     and not p.ept_execute_only,
                     "execute-only entry but the CPU lacks execute-only support"),
    # Memory types 2, 3 and 7 are reserved in a leaf.
    Misconfiguration("reserved_memory_type", ("memory_type",), True,
                     lambda f, p: f["memory_type"] not in MEMORY_TYPES,
                     "memory type {memory_type} is reserved"),
)
# The rule KVM's EPT MMIO SPTEs (W=1, R=0: VMX_EPT_MISCONFIG_WX_VALUE) rely on.
FAULT_RULE = MISCONFIGURATIONS[0]
