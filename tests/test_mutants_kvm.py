"""Boundaries of KVM's mask derivation that the golden vectors (one host each) do not reach.

Every expected value is worked out by hand from the kernel's own code, named per test, at
the boundary a one-character change would move: Linux v6.19 arch/x86/kvm/mmu/spte.c
(kvm_mmu_reset_all_pte_masks, kvm_mmu_set_mmio_spte_mask), arch/x86/kvm/svm/svm.c
(svm_adjust_mmio_mask), arch/x86/kvm/mmu/spte.h (SHADOW_NONPRESENT_VALUE).
"""

from __future__ import annotations

import pytest

from spte.kvm import profile


def genmask(hi: int, lo: int) -> int:
    """GENMASK_ULL(hi, lo) of include/linux/bits.h."""
    return ((1 << (hi + 1)) - 1) & ~((1 << lo) - 1)


# kvm_mmu_reset_all_pte_masks(): with X86_BUG_L1TF and
#   boot_cpu_data.x86_cache_bits < 52 - shadow_nonpresent_or_rsvd_mask_len (5, i.e. < 47):
#   shadow_nonpresent_or_rsvd_mask = GENMASK_ULL(x86_cache_bits - 1, x86_cache_bits - 5)
#   low_phys_bits = x86_cache_bits - 5
# shadow_nonpresent_or_rsvd_lower_gfn_mask = GENMASK_ULL(low_phys_bits - 1, PAGE_SHIFT).
@pytest.mark.parametrize("bits,rsvd,lower", [
    (46, genmask(45, 41), genmask(40, 12)),  # 46 < 47: the mitigation applies
    (47, 0, genmask(46, 12)),  # 47 is not < 47: no mitigation
    (39, genmask(38, 34), genmask(33, 12)),
    (52, 0, genmask(51, 12)),
])
def test_l1tf_boundary(bits, rsvd, lower):
    p = profile("6.19", "shadow", maxphyaddr=bits, l1tf=True)
    assert p.shadow_nonpresent_or_rsvd_mask == rsvd
    assert p.shadow_nonpresent_or_rsvd_lower_gfn_mask == lower
    off = profile("6.19", "shadow", maxphyaddr=bits, l1tf=False)
    assert off.shadow_nonpresent_or_rsvd_mask == 0
    assert off.shadow_nonpresent_or_rsvd_lower_gfn_mask == genmask(bits - 1, 12)


def test_l1tf_uses_cache_bits_not_phys_bits():
    """The test is on x86_cache_bits (may differ from x86_phys_bits)."""
    p = profile("6.19", "shadow", maxphyaddr=46, l1tf=True, cache_bits=44)
    assert p.shadow_nonpresent_or_rsvd_mask == genmask(43, 39)
    assert p.shadow_nonpresent_or_rsvd_lower_gfn_mask == genmask(38, 12)


# kvm_mmu_reset_all_pte_masks(): "if (shadow_phys_bits < 52) mask = BIT_ULL(51) | PT_PRESENT_MASK;
# else mask = 0;" then kvm_mmu_set_mmio_spte_mask(mask, mask, ACC_WRITE_MASK | ACC_USER_MASK).
def test_shadow_mmio_value_at_maxphyaddr_51_and_52():
    p51 = profile("6.19", "shadow", maxphyaddr=51, l1tf=False)
    assert p51.shadow_mmio_value == 1 << 51 | 1 and p51.shadow_mmio_mask == 1 << 51 | 1
    assert p51.enable_mmio_caching == 1
    p52 = profile("6.19", "shadow", maxphyaddr=52, l1tf=False)
    assert p52.shadow_mmio_value == 0 and p52.enable_mmio_caching == 0


# svm_adjust_mmio_mask(): enc_bit = cpuid_ebx(0x8000001f) & 0x3f; mask_bit = x86_phys_bits
# (MAXPHYADDR less PhysAddrReduction); "if (enc_bit == mask_bit) mask_bit++;"
# mask = (mask_bit < 52) ? rsvd_bits(mask_bit, 51) | PT_PRESENT_MASK : 0.
@pytest.mark.parametrize("maxphy,me_bit,reduction,mask", [
    (48, 47, 5, genmask(51, 43) | 1),  # the npt-sme vector host: C-bit above the reduced bits
    (48, 43, 5, genmask(51, 44) | 1),  # C-bit at the first reserved bit: skipped
    (48, 44, 5, genmask(51, 43) | 1),  # C-bit just above it: not skipped
    (52, 51, 0, 0),  # mask_bit 52 is not < 52: no MMIO caching
    (52, 51, 1, 0),  # mask_bit 51 == enc_bit, skipped to 52: none
    (52, 50, 1, genmask(51, 51) | 1),
])
def test_svm_mmio_mask_skips_the_c_bit(maxphy, me_bit, reduction, mask):
    p = profile("6.19", "npt", maxphyaddr=maxphy, me_bit=me_bit, phys_addr_reduction=reduction)
    assert p.shadow_mmio_value == mask and p.shadow_mmio_mask == mask
    assert p.enable_mmio_caching == int(bool(mask))
    assert p.shadow_me_value == 1 << me_bit and p.shadow_me_mask == 1 << me_bit  # kvm_mmu_set_me_spte_mask


def test_shadow_nonpresent_value():
    """6.19 spte.h: "#ifdef CONFIG_X86_64 #define SHADOW_NONPRESENT_VALUE BIT_ULL(63)" for every
    flavour (6.1's spte.h has no such value: a non-present SPTE is 0)."""
    for flavour in ("ept-ad", "shadow", "npt"):
        p = profile("6.19", flavour)
        assert p.SHADOW_NONPRESENT_VALUE == 1 << 63
        d = p.describe(1 << 63, 1)
        assert d.kind == "not_present" and "SHADOW_NONPRESENT_VALUE" in d.summary
        assert "SHADOW_NONPRESENT_VALUE" not in p.describe(0, 1).summary
    assert getattr(profile("6.1", "ept-ad"), "SHADOW_NONPRESENT_VALUE", 0) == 0


def test_layout_names_the_kernels_not_present_rules_on_their_bits():
    """Linux v6.19 spte.h: SPTE_MMU_PRESENT_MASK BIT_ULL(11); FROZEN_SPTE (SHADOW_NONPRESENT_VALUE |
    0x5a0ULL), i.e. bits 5, 7, 8, 10 and 63; the PFN bits of a non-present SPTE (L1TF) are 51:12."""
    import json

    from tests.test_cli import run

    doc = json.loads(run("layout", "--kvm", "6.19", "--state", "not_present", "--json").stdout)
    sw = {int(b): who for b, who in doc["software"].items()}
    assert sw[11] == "mmu_present"
    assert [b for b, who in sw.items() if who == "is_frozen_spte"] == [5, 7, 8, 10]
    assert [b for b, who in sw.items() if who == "PFN bits"] == list(range(12, 52))
    assert sw[63].startswith("SHADOW_NONPRESENT_VALUE")


def test_mmio_spte_marker_bits_are_owned_in_the_fault_state():
    """6.19 kvm_mmu_set_ept_masks: kvm_mmu_set_mmio_spte_mask(VMX_EPT_MISCONFIG_WX_VALUE,
    VMX_EPT_RWX_MASK | VMX_EPT_SUPPRESS_VE_BIT, 0): bits 2:0 and 63 decide MMIO; an MMIO SPTE
    must also keep SPTE_MMU_PRESENT_MASK (bit 11) clear.  No tag may use them in a faulting SPTE."""
    p = profile("6.19", "ept-ad")
    assert p.shadow_mmio_mask == 0x8000_0000_0000_0007 and p.shadow_mmio_value == 0x6
    marker = 0x7 | 1 << 11 | 1 << 63
    assert p.owned_bits("fault") & marker == marker


def test_profile_maxphyaddr_bounds():
    """MAXPHYADDR is at least 32 (the project's range; SDM: at least 36 on 64-bit parts) and at most 52."""
    assert profile("6.19", "ept-ad", maxphyaddr=32).platform.maxphyaddr == 32
    for bad in (31, 53):
        with pytest.raises(ValueError, match=f"maxphyaddr={bad}"):
            profile("6.19", "ept-ad", maxphyaddr=bad)


def test_not_present_pfn_rule_is_the_address_field():
    """SPTE_BASE_ADDR_MASK (6.19 spte.h) is bits 51:12: the PFN a non-present SPTE must not carry."""
    rules = profile("6.19", "ept-ad").not_present_rules()
    (pfn,) = [mask for why, mask in rules.items() if why.startswith("PFN bits")]
    assert pfn == genmask(51, 12)


def test_nonleaf_points_one_level_down():
    """A present non-leaf SPTE at level N references a level N-1 table (SDM: a PDE references a page table)."""
    p = profile("6.19", "ept-ad")
    d = p.describe(0x1234007 | 1 << 11, 2)
    assert d.kind == "present_nonleaf" and "level-1 table at 0x1234000" in d.summary
