"""The kernel's mask initialisation, replayed: the run-time SPTE masks a given kernel
computes for a given host (``kvm_mmu_reset_all_pte_masks``, ``kvm_mmu_set_ept_masks`` /
5.8 ``vmx_enable_tdp``, ``kvm_mmu_set_mmio_spte_mask``, ``svm_adjust_mmio_mask``)."""

from __future__ import annotations

from dataclasses import dataclass

from spte.bits import genmask
from spte.kvm.versions import B63, KernelSpec

PT_PRESENT_MASK, PT_WRITABLE_MASK, PT_USER_MASK = 1 << 0, 1 << 1, 1 << 2
PT_ACCESSED_MASK, PT_DIRTY_MASK, PT_PAGE_SIZE_MASK = 1 << 5, 1 << 6, 1 << 7
PT64_NX_MASK = B63
VMX_EPT_READABLE_MASK, VMX_EPT_EXECUTABLE_MASK, VMX_EPT_RWX_MASK = 0x1, 0x4, 0x7
VMX_EPT_ACCESS_BIT, VMX_EPT_DIRTY_BIT = 1 << 8, 1 << 9
VMX_EPT_MISCONFIG_WX_VALUE = 0x6
VMX_EPT_SUPPRESS_VE_BIT = B63
ACC_WRITE_MASK, ACC_USER_MASK = PT_WRITABLE_MASK, PT_USER_MASK

SPTE_MMU_PRESENT_MASK = 1 << 11  # 5.13+
SPTE_TDP_AD_SHIFT = 52
SPTE_TDP_AD_MASK = 3 << SPTE_TDP_AD_SHIFT
SPTE_TDP_AD_ENABLED, SPTE_TDP_AD_DISABLED, SPTE_TDP_AD_WRPROT_ONLY = 0, 1 << 52, 2 << 52
SPTE_MMIO_MASK_5_8 = 3 << 52  # 5.8: SPTE_SPECIAL_MASK == SPTE_MMIO_MASK marks MMIO
SHADOW_ACC_TRACK_SAVED_BITS_MASK = VMX_EPT_READABLE_MASK | VMX_EPT_EXECUTABLE_MASK
SHADOW_ACC_TRACK_SAVED_BITS_SHIFT = 54
SHADOW_NONPRESENT_OR_RSVD_MASK_LEN = 5
SPTE_MMIO_ALLOWED_MASK = 0x800FFFFFFFFFF007  # 6.1+: bits 63, 51:12, 2:0
DEFAULT_SPTE_HOST_WRITABLE, DEFAULT_SPTE_MMU_WRITABLE = 1 << 9, 1 << 10  # 5.13+, non-EPT
EPT_SPTE_HOST_WRITABLE, EPT_SPTE_MMU_WRITABLE = 1 << 57, 1 << 58  # 5.13+, EPT
SPTE_HOST_WRITEABLE_5_8, SPTE_MMU_WRITEABLE_5_8 = 1 << 10, 1 << 11

# MMIO generation: 5.13+ bits 3-10 and 52-62 (19 bits); 5.8 bits 3-11 and 54-62 (18 bits).
MMIO_GEN_LOW_MASK, MMIO_GEN_HIGH_MASK = genmask(10, 3), genmask(62, 52)
MMIO_GEN_LOW_SHIFT, MMIO_GEN_HIGH_SHIFT, MMIO_GEN_MASK = 3, 52 - 8, genmask(18, 0)
MMIO_GEN_LOW_MASK_5_8, MMIO_GEN_HIGH_MASK_5_8 = genmask(11, 3), genmask(62, 54)
MMIO_GEN_LOW_START_5_8, MMIO_GEN_HIGH_START_5_8, MMIO_GEN_MASK_5_8 = 3, 54, genmask(17, 0)

# spte.h's static_asserts, restated.
assert not SPTE_TDP_AD_MASK & (SHADOW_ACC_TRACK_SAVED_BITS_MASK << SHADOW_ACC_TRACK_SAVED_BITS_SHIFT)
assert not (EPT_SPTE_HOST_WRITABLE | EPT_SPTE_MMU_WRITABLE) & (
    SPTE_TDP_AD_MASK | SHADOW_ACC_TRACK_SAVED_BITS_MASK << SHADOW_ACC_TRACK_SAVED_BITS_SHIFT)
assert not SPTE_MMU_PRESENT_MASK & (MMIO_GEN_LOW_MASK | MMIO_GEN_HIGH_MASK)
assert MMIO_GEN_LOW_MASK.bit_count() == 8 and MMIO_GEN_HIGH_MASK.bit_count() == 11
assert not (MMIO_GEN_LOW_MASK_5_8 | MMIO_GEN_HIGH_MASK_5_8) & SPTE_MMIO_MASK_5_8
assert not (0x5A0 | B63) & SPTE_MMU_PRESENT_MASK  # frozen SPTEs are never shadow-present


@dataclass(frozen=True)
class HostConfig:
    """The host inputs the kernel's mask code reads."""

    flavour: str  # "ept-ad", "ept-noad", "shadow", "npt"
    maxphyaddr: int = 46  # raw CPUID 0x80000008 EAX[7:0] (shadow_phys_bits / kvm_host.maxphyaddr)
    l1tf: bool = False  # X86_BUG_L1TF
    me_bit: int | None = None  # SME C-bit (CPUID 0x8000001F EBX[5:0]) with SYSCFG.MemEncrypt=1
    phys_addr_reduction: int = 0  # CPUID 0x8000001F EBX[11:6]
    cache_bits: int | None = None  # boot_cpu_data.x86_cache_bits, default x86_phys_bits
    exec_only: bool = True  # EPT execute-only support
    mmio_caching: bool = True  # kvm.mmio_caching module parameter

    @property
    def ept(self) -> bool:
        return self.flavour.startswith("ept")

    @property
    def sme(self) -> bool:
        return self.me_bit is not None and not self.ept

    @property
    def x86_phys_bits(self) -> int:
        return self.maxphyaddr - self.phys_addr_reduction if self.sme else self.maxphyaddr

    @property
    def x86_cache_bits(self) -> int:
        return self.cache_bits if self.cache_bits is not None else self.x86_phys_bits


def compute_masks(spec: KernelSpec, host: HostConfig) -> dict[str, int]:
    """Every global mask the kernel computes for ``host`` (booleans as 0/1)."""
    m: dict[str, int] = {}
    sme_me_mask = 1 << host.me_bit if host.sme and host.me_bit is not None else 0
    physical_mask = genmask(51, 0) & ~sme_me_mask
    m["physical_mask"] = physical_mask
    m["SPTE_BASE_ADDR_MASK"] = physical_mask & ~0xFFF
    m["shadow_phys_bits"] = host.maxphyaddr

    # kvm_mmu_reset_all_pte_masks(): the L1TF split.
    low_phys_bits = host.x86_phys_bits
    rsvd = 0
    if host.l1tf and host.x86_cache_bits < 52 - SHADOW_NONPRESENT_OR_RSVD_MASK_LEN:
        low_phys_bits = host.x86_cache_bits - SHADOW_NONPRESENT_OR_RSVD_MASK_LEN
        rsvd = genmask(host.x86_cache_bits - 1, low_phys_bits)
    m["shadow_nonpresent_or_rsvd_mask"] = rsvd
    m["shadow_nonpresent_or_rsvd_lower_gfn_mask"] = genmask(low_phys_bits - 1, 12)

    # Non-EPT defaults (5.8 sets them via kvm_mmu_set_mask_ptes() from kvm_arch_init()).
    m.update(shadow_user_mask=PT_USER_MASK, shadow_accessed_mask=PT_ACCESSED_MASK,
             shadow_dirty_mask=PT_DIRTY_MASK, shadow_nx_mask=PT64_NX_MASK, shadow_x_mask=0,
             shadow_present_mask=PT_PRESENT_MASK, shadow_acc_track_mask=0,
             shadow_me_mask=sme_me_mask if not spec.me_value_split else 0, shadow_me_value=0,
             kvm_ad_enabled=1)
    if spec.mmu_present:
        m.update(shadow_host_writable_mask=DEFAULT_SPTE_HOST_WRITABLE,
                 shadow_mmu_writable_mask=DEFAULT_SPTE_MMU_WRITABLE)
    else:
        m.update(shadow_host_writable_mask=SPTE_HOST_WRITEABLE_5_8,
                 shadow_mmu_writable_mask=SPTE_MMU_WRITEABLE_5_8)
    value = (1 << 51 | PT_PRESENT_MASK) if host.maxphyaddr < 52 else 0
    _set_mmio(m, spec, host, value, value, ACC_WRITE_MASK | ACC_USER_MASK)

    if host.ept:
        ad = host.flavour == "ept-ad"
        both = spec.ad_rework
        m.update(shadow_user_mask=VMX_EPT_READABLE_MASK,
                 shadow_accessed_mask=VMX_EPT_ACCESS_BIT if ad or both else 0,
                 shadow_dirty_mask=VMX_EPT_DIRTY_BIT if ad or both else 0,
                 shadow_nx_mask=0, shadow_x_mask=VMX_EPT_EXECUTABLE_MASK,
                 shadow_present_mask=(0 if host.exec_only else VMX_EPT_READABLE_MASK)
                 | (VMX_EPT_SUPPRESS_VE_BIT if spec.ept_suppress_ve else 0),
                 shadow_acc_track_mask=VMX_EPT_RWX_MASK, shadow_me_mask=0, shadow_me_value=0,
                 kvm_ad_enabled=int(ad))
        if spec.mmu_present:
            m.update(shadow_host_writable_mask=EPT_SPTE_HOST_WRITABLE,
                     shadow_mmu_writable_mask=EPT_SPTE_MMU_WRITABLE)
        mmio_mask = VMX_EPT_RWX_MASK | (VMX_EPT_SUPPRESS_VE_BIT if spec.ept_suppress_ve else 0)
        _set_mmio(m, spec, host, VMX_EPT_MISCONFIG_WX_VALUE, mmio_mask, 0)
    elif host.sme:
        if spec.me_value_split:  # kvm_mmu_set_me_spte_mask(sme_me_mask, sme_me_mask)
            m.update(shadow_me_value=sme_me_mask, shadow_me_mask=sme_me_mask)
        # svm_adjust_mmio_mask(): a reserved-PA mask starting at x86_phys_bits.
        mask_bit = host.x86_phys_bits
        if mask_bit == host.me_bit:
            mask_bit += 1
        value = genmask(51, mask_bit) | PT_PRESENT_MASK if mask_bit < 52 else 0
        _set_mmio(m, spec, host, value, value, PT_WRITABLE_MASK | PT_USER_MASK)
    return m


def _set_mmio(m: dict[str, int], spec: KernelSpec, host: HostConfig, value: int, mask: int,
              access_mask: int) -> None:
    """kvm_mmu_set_mmio_spte_mask(): the sanity rules that turn MMIO caching off."""
    if not spec.mmu_present:  # 5.8: the marker bits 52-53 are ORed in, no mask argument
        m.update(shadow_mmio_value=value | SPTE_MMIO_MASK_5_8, shadow_mmio_mask=SPTE_MMIO_MASK_5_8,
                 shadow_mmio_access_mask=access_mask, enable_mmio_caching=1)
        return
    if not host.mmio_caching:
        value = 0
    if spec.mmio_allowed_mask and mask & ~SPTE_MMIO_ALLOWED_MASK:
        value = 0
    if value & (m["shadow_nonpresent_or_rsvd_mask"] << SHADOW_NONPRESENT_OR_RSVD_MASK_LEN):
        value = 0
    frozen = spec.frozen_value or 0
    if value & mask != value or (value and frozen & mask == value):
        value = 0
    m.update(shadow_mmio_value=value, shadow_mmio_mask=mask, shadow_mmio_access_mask=access_mask,
             enable_mmio_caching=int(bool(value)))
