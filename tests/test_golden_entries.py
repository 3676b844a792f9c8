"""Golden rows per entry class, construct-style: value -> class and every non-zero field.

Each expected value is read off the SDM figure named in the row (Vol. 3A Tables 4-4..4-20,
Vol. 3C Tables 29-1..29-6) by hand; the values themselves come from real entries where the
row says so.  A field not listed must be zero, so a wrong name or a wrong bit fails.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import pytest

from spte import Platform, decode


class Row(NamedTuple):
    source: str
    format: str
    level: int
    value: int
    platform: dict[str, Any]
    cls: str
    fields: dict[str, int]  # every non-zero field
    problems: tuple[str, ...] = ()
    address: int | None = None


ROWS = [
    Row("SDM 3C Table 29-6; a KVM 6.19 EPT leaf (kvm-spte-bits.md 1c): 57/58 ignored without HLAT",
        "ept", 1, 0x8600000001234B77, {}, "EptPte",
        dict(read=1, write=1, execute=1, memory_type=6, ignore_pat=1, accessed=1, dirty=1, ignored_10_11=2,
             frame=0x1234, ignored_52_62=0x60, suppress_ve=1)),
    Row("SDM 3C Table 29-6 with EPTP[6]=0 and MBEC: 8/9 ignored, bit 10 is user-execute",
        "ept", 1, 0x8600000001234B77, dict(maxphyaddr=46, ept_ad=False, ept_mbec=True), "EptPte",
        dict(read=1, write=1, execute=1, memory_type=6, ignore_pat=1, ignored_7_9=6, ignored_11=1,
             frame=0x1234, ignored_52_62=0x60, suppress_ve=1)),
    Row("SDM 3C Table 29-6: W without R is a misconfiguration", "ept", 1, 0x2, {}, "EptPte",
        dict(write=1), ("write_without_read",)),
    Row("SDM 3C Table 29-6: memory type 2 is reserved", "ept", 1, 0x11, {}, "EptPte",
        dict(read=1, memory_type=2), ("reserved_memory_type",)),
    Row("SDM 3C Table 29-4: a 2 MiB EPT page (bit 7 = 1)", "ept", 2, 0x2000B3, {}, "EptPde2M",
        dict(read=1, write=1, memory_type=6, page_size=1, frame=1), address=0x200000),
    Row("SDM 3C Table 29-5: an EPT PDE referencing a table", "ept", 2, 0x12345007, {}, "EptPde",
        dict(read=1, write=1, execute=1, frame=0x12345)),
    Row("SDM 3C Table 29-1 (PML4E): bit 63 read when not present (#VE)", "ept", 4, 0x8000000012345007, {},
        "EptPml4e", dict(read=1, write=1, execute=1, frame=0x12345, suppress_ve=1)),
    Row("SDM 3C Table 29-3: a 1 GiB EPT page at 4 GiB", "ept", 3, 0x1000000F7, {}, "EptPdpte1G",
        dict(read=1, write=1, execute=1, memory_type=6, ignore_pat=1, page_size=1, frame=4)),
    Row("SDM 3A Table 4-20; a host PTE from a 'BUG: Bad page map' report", "x86-64", 1, 0x800000018F8A9027,
        {}, "Pte", dict(present=1, writable=1, user=1, accessed=1, frame=0x18F8A9, execute_disable=1)),
    Row("SDM 3A Table 4-18: 2 MiB page, PAT in bit 12", "x86-64", 2, 0x80000000002010E7, {}, "Pde2M",
        dict(present=1, writable=1, user=1, accessed=1, dirty=1, page_size=1, pat=1, frame=1, execute_disable=1)),
    Row("SDM 3A Table 4-16: 1 GiB page at 1 GiB", "x86-64", 3, 0x400000E3, {}, "Pdpte1G",
        dict(present=1, writable=1, accessed=1, dirty=1, page_size=1, frame=1)),
    Row("SDM 3A Table 4-15, Intel: PML4E bit 8 ignored", "x86-64", 4, 0x1000000123, {}, "Pml4e",
        dict(present=1, writable=1, accessed=1, ignored_8_11=1, frame=0x1000000)),
    Row("APM 2 / KVM nonleaf_bit8_rsvd, AMD: PML4E bit 8 reserved", "x86-64", 4, 0x1000000123,
        dict(vendor="amd"), "Pml4e", dict(present=1, writable=1, accessed=1, reserved_8=1, frame=0x1000000),
        ("reserved_bits",)),
    Row("SDM 3A Table 4-20 at MAXPHYADDR 46: bit 46 reserved", "x86-64", 1, 0x400000000001,
        dict(maxphyaddr=46), "Pte", dict(present=1, reserved_46_51=1), ("reserved_bits",)),
    Row("APM 2 7.10.1: C-bit 47 taken out of the frame (SME, MAXPHYADDR 48)", "npt", 1,
        0x100001067 | 1 << 47, dict(maxphyaddr=48, c_bit=47), "NptPte",
        dict(present=1, writable=1, user=1, accessed=1, dirty=1, frame=0x100001, c_bit=1), address=0x100001000),
    Row("SDM 3A Table 4-8: PAE PDPTE", "pae", 3, 0x12345001, {}, "PaePdpte", dict(present=1, frame=0x12345)),
    Row("SDM 3A Table 4-8: PAE PDPTE bit 1 reserved (#GP on MOV CR3)", "pae", 3, 0x12345003, {}, "PaePdpte",
        dict(present=1, reserved_1_2=1, frame=0x12345), ("reserved_bits",)),
    Row("SDM 3A Table 4-11: PAE bits 62:52 reserved", "pae", 1, 0x0010000000000001, {}, "PaePte",
        dict(present=1, reserved_52_62=1), ("reserved_bits",)),
    Row("SDM 3A Table 4-4 (PSE-36, MAXPHYADDR 36): PA 35:32 in bits 16:13", "x86-32", 2, 0xC0406083,
        dict(maxphyaddr=36), "Pde4M", dict(present=1, writable=1, page_size=1, frame_high=3, frame=0x301),
        address=0x3C0400000),
    Row("SDM 3A Table 4-6: 32-bit PTE", "x86-32", 1, 0x12345067, {}, "Pte32",
        dict(present=1, writable=1, user=1, accessed=1, dirty=1, frame=0x12345)),
    Row("SDM 3A 4.3: with CR4.PSE=0 a PDE's bit 7 is ignored and selects nothing", "x86-32", 2, 0x12345081,
        dict(pse=False), "Pde32", dict(present=1, ignored_6_11=2, frame=0x12345)),
]


@pytest.mark.parametrize("row", ROWS, ids=[r.source for r in ROWS])
def test_golden_row(row: Row) -> None:
    e = decode(row.value, row.format, row.level, Platform(**row.platform))
    assert type(e).__name__ == row.cls
    assert {k: v for k, v in e.fields().items() if v} == row.fields
    assert tuple(p.kind for p in e.problems()) == row.problems
    if row.address is not None:
        assert e.address == row.address
    # One declaration parses and builds: the fields build the value back.
    assert type(e)(0, Platform(**row.platform), **row.fields).value == row.value
