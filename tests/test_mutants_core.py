"""Boundaries of the hardware tables that one-character mutants moved without a test noticing.

Expected values come from the SDM (Intel SDM Vol. 3A, chapter 4 paging tables 4-4..4-20, and
Vol. 3C §29.3.3.1 EPT misconfigurations) and the AMD APM Vol. 2 (§5.3 long-mode entries, §7.10
the C-bit), each named per test.  Platforms come from tests/strategies.py, which draws every
MAXPHYADDR 32-52, the C-bit at its ends, LA57 and PSE off.
"""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from spte import Platform
from spte.entry import EptPte, decode
from tests.strategies import maxphyaddrs, platforms


@given(maxphyaddrs, st.integers(12, 51))
def test_x86_64_pte_reserved_address_bits(m, bit):
    """SDM Table 4-20: a 4-KByte PTE's bits 51:M are reserved (M = MAXPHYADDR); M-1:12 address."""
    e = decode(1 << bit | 1, "x86-64", 1, Platform(maxphyaddr=m))
    assert bool(e.reserved_bits) == (bit >= m)
    assert e.pfn == (0 if bit >= m else 1 << (bit - 12))


@given(maxphyaddrs, st.integers(12, 51))
def test_ept_pte_reserved_address_bits(m, bit):
    """SDM Table 29-6 (EPT PTE): bits 51:N are reserved, N = MAXPHYADDR; bits N-1:12 address."""
    e = EptPte(1 << bit | 7, Platform(maxphyaddr=m))
    assert bool(e.reserved_bits) == (bit >= m)


def test_c_bit_at_its_lowest_and_highest_position():
    """AMD APM Vol. 2 §7.10.1: the C-bit is a physical-address bit chosen by CPUID 8000001F EBX[5:0];
    it is not part of the frame number.  Lowest legal position is 12 (the first address bit)."""
    low = Platform(vendor="amd", c_bit=12, maxphyaddr=48)
    e = decode(1 << 13 | 1 << 12 | 1, "x86-64", 1, low)
    assert e.pfn == 2 and e.c_bit == 1 and not e.reserved_bits
    e = decode(1 << 12 | 1, "x86-64", 1, low)
    assert e.pfn == 0 and e.c_bit == 1
    high = Platform(vendor="amd", c_bit=47, maxphyaddr=48)
    e = decode(1 << 47 | 1 << 46 | 1, "x86-64", 1, high)
    assert e.c_bit == 1 and e.pfn == 1 << 34 and not e.reserved_bits
    assert decode(1 << 48 | 1, "x86-64", 1, high).reserved_bits == 1 << 48  # bits 51:48 reserved


@given(platforms)
def test_c_bit_is_never_an_address_bit(p):
    if p.c_bit is None:
        return
    amd = p.replace(vendor="amd")
    e = decode(1 << p.c_bit | 1, "x86-64", 1, amd)
    assert e.pfn == 0 and e.c_bit == 1 and not e.reserved_bits


@pytest.mark.parametrize("xwr,exec_only,misconfigured", [
    (0b100, True, False),  # execute-only, supported (IA32_VMX_EPT_VPID_CAP[0] = 1)
    (0b100, False, True),  # execute-only without support: misconfiguration
    (0b010, True, True),  # write without read: always a misconfiguration
    (0b110, True, True),  # write+execute without read: same
    (0b011, False, False),
    (0b001, False, False),
    (0b111, False, False),
])
def test_ept_misconfiguration_rules(xwr, exec_only, misconfigured):
    """SDM Vol. 3C §29.3.3.1: bit 0 clear and bit 1 set; or execute-only without the capability."""
    x, w, r = xwr >> 2 & 1, xwr >> 1 & 1, xwr & 1
    e = EptPte(read=r, write=w, execute=x, memory_type="WB", platform=Platform(ept_execute_only=exec_only))
    assert e.misconfigured == misconfigured


@pytest.mark.parametrize("mt,bad", [(0, False), (1, False), (2, True), (3, True), (4, False), (5, False),
                                    (6, False), (7, True)])
def test_ept_memory_types(mt, bad):
    """SDM §29.3.3.1: a leaf with memory type 2, 3 or 7 is misconfigured."""
    assert EptPte(read=1, memory_type=mt).misconfigured == bad


def test_nx_and_pse_and_gbpages_and_amd_bit_8():
    """SDM Table 4-20: bit 63 is XD if IA32_EFER.NXE = 1, else reserved.  SDM §4.3: with CR4.PSE = 0
    a 32-bit PDE's bit 7 is ignored (it maps a page table).  SDM Table 4-15: PDPTE PS = 1 is reserved
    without 1-GByte pages.  AMD APM Vol. 2 §5.3.3: PML4E bit 8 (and 7) reserved (MBZ)."""
    assert decode(1 << 63 | 1, "x86-64", 1, Platform(nx=False)).reserved_bits == 1 << 63
    assert decode(1 << 63 | 1, "x86-64", 1, Platform(nx=True)).reserved_bits == 0
    assert not decode(0x83, "x86-32", 2, Platform(pse=False)).is_leaf
    assert decode(0x83, "x86-32", 2, Platform(pse=True)).is_leaf
    assert decode(0x81, "x86-64", 3, Platform(gbpages=False)).reserved_bits == 0x80
    assert decode(0x81, "x86-64", 3, Platform(gbpages=True)).reserved_bits == 0
    assert decode(0x181, "x86-64", 4, Platform(vendor="amd")).reserved_bits == 0x180
    assert decode(0x181, "x86-64", 4, Platform(vendor="intel")).reserved_bits == 0x80


def test_misconfiguration_names_the_bits_that_trigger_it():
    """SDM §29.3.3.1: write without read is bit 1 set with bit 0 clear (the set bit is 1); memory
    type 2 is bits 5:3 = 010 (bit 4)."""
    (p,) = EptPte(0x2).problems()
    assert p.kind == "write_without_read" and p.bits == 0x2
    (p,) = EptPte(read=1, memory_type=2).problems()
    assert p.bits == 0x10


def test_class_levels_are_the_sdm_levels():
    """SDM: PTE 1, PDE 2, PDPTE 3, PML4E 4, PML5E 5 (EPT and x86-64; PAE 1-3; 32-bit 1-2)."""
    from spte.entry import CLASSES, entry_class

    expected = {"ept": [1, 2, 3, 4, 5], "x86-64": [1, 2, 3, 4, 5], "npt": [1, 2, 3, 4, 5], "pae": [1, 2, 3],
                "x86-32": [1, 2]}
    for fmt, levels in expected.items():
        assert sorted(CLASSES[fmt]) == levels
        for level in levels:
            table, large = CLASSES[fmt][level]
            assert table.LEVEL == level and (large is None or large.LEVEL == level)
            assert entry_class(fmt, level) is table
            if large is None:
                with pytest.raises(ValueError, match="has no large page"):
                    entry_class(fmt, level, large=True)
            else:
                assert entry_class(fmt, level, large=True) is large and large.LEAF
    # Large pages exist at PDE and PDPTE only (SDM Tables 4-17, 4-15, 29-4, 29-2); PAE and 32-bit PDE only.
    assert [lv for lv in (1, 2, 3, 4, 5) if CLASSES["ept"][lv][1]] == [2, 3]
    assert [lv for lv in (1, 2, 3) if CLASSES["pae"][lv][1]] == [2]


@pytest.mark.parametrize("fmt,span", [("x86-64", [12, 21, 30, 39, 48]), ("ept", [12, 21, 30, 39, 48]),
                                      ("pae", [12, 21, 30]), ("x86-32", [12, 22])])
def test_span_of_every_entry(fmt, span):
    """Bytes of address space one entry covers: 4 KiB at level 1, times 512 per level (SDM §4.5, §4.4
    for PAE: a PDPTE covers 1 GiB), times 1024 in 32-bit paging (§4.3: a PDE covers 4 MiB)."""
    from spte.entry import CLASSES

    for level, shift in enumerate(span, 1):
        for cls in CLASSES[fmt][level]:
            if cls is not None:
                assert cls(0).span_bytes == 1 << shift, (cls.__name__, level)
