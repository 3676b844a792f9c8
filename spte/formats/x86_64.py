"""IA-32e (4- and 5-level) paging entries; AMD long mode and NPT use the same format.

Sources: SDM Vol. 3A Tables 4-15..4-20, ia32-doc ``64bit.yml``, KVM
``__reset_rsvds_bits_mask`` (incl. the AMD PML4E bit-8 fix 5ecad245de2a), Linux
``pgtable_types.h``; see ``shared/reference/hardware-formats.md`` section 2.
"""

from __future__ import annotations

from spte.bits import Field, M, Role

P, F, MT, A, PK, IGN, RSV = (Role.PERMISSION, Role.FLAG, Role.MEMORY_TYPE, Role.ADDRESS,
                             Role.PROTECTION_KEY, Role.IGNORED, Role.RESERVED)

_LOW = (
    Field("present", 0, F, "the entry is present", short="P"),
    Field("writable", 1, P, "writes allowed (R/W)", short="W"),
    Field("user", 2, P, "user-mode accesses allowed (U/S)", short="U"),
    Field("write_through", 3, MT, "page-level write-through (PWT)", short="PWT"),
    Field("cache_disable", 4, MT, "page-level cache disable (PCD)", short="PCD"),
    Field("accessed", 5, F, "set by the CPU when the entry is used", short="A"),
)
_RESTART = Field("restart", 11, F, "HLAT paging: restart the walk with ordinary paging",
                 control="hlat", short="RST")
_RSVD_PA = Field("reserved_pa", (51, M), RSV, "physical-address bits at or above MAXPHYADDR")
_XD = Field("execute_disable", 63, P, "instruction fetches not allowed (XD, EFER.NXE=1)",
            control="nx", otherwise=RSV, short="XD")
_PKEY = Field("protection_key", (62, 59), PK, "protection key (CR4.PKE / CR4.PKS)",
              control="pkeys", short="PK")

PML4E = (
    *_LOW,
    Field("ignored_6", 6, IGN, "ignored"),
    Field("reserved_7", 7, RSV, "reserved (PS must be 0)"),
    Field("bit_8", 8, RSV, "reserved on AMD, ignored on Intel (KVM nonleaf_bit8_rsvd)",
          control="amd"),
    Field("ignored_9_10", (10, 9), IGN, "ignored"),
    _RESTART,
    Field("frame", (M - 1, 12), A, "physical address of the next table"),
    _RSVD_PA,
    Field("ignored_52_62", (62, 52), IGN, "ignored"),
    _XD,
)
PML5E = PML4E

TABLE = (  # PDPTE or PDE that references a table (PS = 0)
    *_LOW,
    Field("ignored_6", 6, IGN, "ignored"),
    Field("page_size", 7, F, "0: this entry references a table", short="PS"),
    Field("ignored_8", 8, IGN, "ignored (AMD too: bug fix 5ecad245de2a)"),
    Field("ignored_9_10", (10, 9), IGN, "ignored"),
    _RESTART,
    Field("frame", (M - 1, 12), A, "physical address of the next table"),
    _RSVD_PA,
    Field("ignored_52_62", (62, 52), IGN, "ignored"),
    _XD,
)
PDPTE = TABLE
PDE = TABLE


def _large_leaf(align_hi: int, size: str, control: str | None) -> tuple[Field, ...]:
    return (
        *_LOW,
        Field("dirty", 6, F, "set by the CPU on a write to the page", short="D"),
        Field("page_size", 7, F, f"1: this entry maps a {size} page", control=control,
              otherwise=RSV, short="PS"),
        Field("global", 8, F, "global translation (CR4.PGE)", short="G"),
        Field("ignored_9_10", (10, 9), IGN, "ignored"),
        _RESTART,
        Field("pat", 12, MT, "PAT index bit 2 (bit 12 in large leaves)", short="PAT"),
        Field(f"reserved_13_{align_hi}", (align_hi, 13), RSV, f"reserved: {size} alignment"),
        Field("frame", (M - 1, align_hi + 1), A, f"physical address of the {size} page"),
        _RSVD_PA,
        Field("ignored_52_58", (58, 52), IGN, "ignored"),
        _PKEY,
        _XD,
    )


PDPTE_1G = _large_leaf(29, "1 GiB", "gbpages")
PDE_2M = _large_leaf(20, "2 MiB", None)

PTE = (
    *_LOW,
    Field("dirty", 6, F, "set by the CPU on a write to the page", short="D"),
    Field("pat", 7, MT, "PAT index bit 2 (bit 7 in a 4 KiB PTE)", short="PAT"),
    Field("global", 8, F, "global translation (CR4.PGE)", short="G"),
    Field("ignored_9_10", (10, 9), IGN, "ignored"),
    _RESTART,
    Field("frame", (M - 1, 12), A, "physical address of the 4 KiB page"),
    _RSVD_PA,
    Field("ignored_52_58", (58, 52), IGN, "ignored"),
    _PKEY,
    _XD,
)
