"""IA-32e (4- and 5-level) paging entries; AMD long mode and NPT use the same format.

Sources: SDM Vol. 3A Tables 4-15..4-20, KVM ``__reset_rsvds_bits_mask`` (incl. the AMD
PML4E bit-8 fix 5ecad245de2a), Linux ``arch/x86/include/asm/pgtable_types.h``.
"""

from __future__ import annotations

from spte.bits import Field, M, Role, ignored, reserved
from spte.formats.legacy import IGNORED_6, LEAF_4K_LOW, LOW, PAT_LARGE, PS_TABLE, XD, large_low

_IGNORED_9_10 = ignored((10, 9))
_RESTART = Field("restart", 11, Role.FLAG, "HLAT paging: restart the walk with ordinary paging",
                 control="hlat", short="RST")
_RSVD_PA = reserved((51, M), "physical-address bits at or above MAXPHYADDR")
_PKEY = Field("protection_key", (62, 59), Role.PROTECTION_KEY, "protection key (CR4.PKE / CR4.PKS)",
              control="pkeys", short="PK")
_NONLEAF_HIGH = (  # bits 63:9 of every entry that references a table
    _IGNORED_9_10,
    _RESTART,
    Field("frame", (M - 1, 12), Role.ADDRESS, "physical address of the next table"),
    _RSVD_PA,
    ignored((62, 52)),
    XD,
)

PML4E = (
    *LOW,
    IGNORED_6,
    reserved(7, "reserved (PS must be 0)"),
    reserved(8, "reserved on AMD, ignored on Intel (KVM nonleaf_bit8_rsvd)", control="amd"),
    *_NONLEAF_HIGH,
)
PML5E = PML4E

TABLE = (  # PDPTE or PDE that references a table (PS = 0)
    *LOW,
    IGNORED_6,
    PS_TABLE,
    ignored(8, "ignored (AMD too: bug fix 5ecad245de2a)"),
    *_NONLEAF_HIGH,
)
PDPTE = TABLE
PDE = TABLE

_LEAF_HIGH = (  # bits 63:52 of every leaf
    ignored((58, 52)),
    _PKEY,
    XD,
)


def _large_leaf(align_hi: int, size: str, control: str | None) -> tuple[Field, ...]:
    return (
        *large_low(size, control),
        _IGNORED_9_10,
        _RESTART,
        PAT_LARGE,
        reserved((align_hi, 13), f"reserved: {size} alignment"),
        Field("frame", (M - 1, align_hi + 1), Role.ADDRESS, f"physical address of the {size} page"),
        _RSVD_PA,
        *_LEAF_HIGH,
    )


PDPTE_1G = _large_leaf(29, "1 GiB", "gbpages")
PDE_2M = _large_leaf(20, "2 MiB", None)

PTE = (
    *LEAF_4K_LOW,
    _IGNORED_9_10,
    _RESTART,
    Field("frame", (M - 1, 12), Role.ADDRESS, "physical address of the 4 KiB page"),
    _RSVD_PA,
    *_LEAF_HIGH,
)
