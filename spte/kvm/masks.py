"""The kernel's SPTE constants and its run-time mask initialisation, replayed.

The constants keep the kernel's names and spelling (``arch/x86/kvm/mmu/spte.h``,
``arch/x86/kvm/mmu.h``, ``arch/x86/include/asm/vmx.h``); where one name meant different
bits in different releases, the older meaning carries the release as a suffix
(``_5_4``, ``_5_8``).  Every constant that names a hardware bit is asserted against the
SDM field tables of :mod:`spte.entry` right beside its definition, as ``spte.h`` puts a
``static_assert`` under the ``#define`` it protects.

:func:`compute_masks` replays ``kvm_mmu_reset_all_pte_masks``, ``kvm_mmu_set_ept_masks``
(5.8: ``kvm_mmu_set_mask_ptes`` from ``vmx_enable_tdp``), ``kvm_mmu_set_mmio_spte_mask``
and ``svm_adjust_mmio_mask`` for one release (a :class:`~spte.kvm.releases.KernelSpec`)
on one host (:class:`HostConfig`) and returns the globals as a typed record
(:class:`Masks`).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING

from spte.bits import genmask
from spte.entry import EptPde2M, EptPte, Pde2M, Pte

if TYPE_CHECKING:  # releases.py names these constants in its change points
    from spte.kvm.releases import KernelSpec


def _hw(entry: type[EptPte] | type[Pte] | type[EptPde2M] | type[Pde2M], field: str) -> int:
    """The mask of a hardware field in the SDM tables (the one adapter to spte.entry)."""
    return entry.layout().by_name[field].mask


# -- arch/x86/kvm/mmu.h: the architectural bits KVM uses for non-EPT SPTEs ------------------
PT_PRESENT_MASK = 1 << 0
assert PT_PRESENT_MASK == _hw(Pte, "present")
PT_WRITABLE_MASK = 1 << 1
assert PT_WRITABLE_MASK == _hw(Pte, "writable")
PT_USER_MASK = 1 << 2
assert PT_USER_MASK == _hw(Pte, "user")
PT_PWT_MASK = 1 << 3
assert PT_PWT_MASK == _hw(Pte, "write_through")
PT_PCD_MASK = 1 << 4
assert PT_PCD_MASK == _hw(Pte, "cache_disable")
PT_ACCESSED_MASK = 1 << 5
assert PT_ACCESSED_MASK == _hw(Pte, "accessed")
PT_DIRTY_MASK = 1 << 6
assert PT_DIRTY_MASK == _hw(Pte, "dirty")
PT_PAGE_SIZE_MASK = 1 << 7
assert PT_PAGE_SIZE_MASK == _hw(Pde2M, "page_size") == _hw(EptPde2M, "page_size")
PT_GLOBAL_MASK = 1 << 8
assert PT_GLOBAL_MASK == _hw(Pte, "global")
PT64_NX_MASK = 1 << 63
assert PT64_NX_MASK == _hw(Pte, "execute_disable")

# -- arch/x86/include/asm/vmx.h -----------------------------------------------------------
VMX_EPT_READABLE_MASK = 0x1
assert VMX_EPT_READABLE_MASK == _hw(EptPte, "read")
VMX_EPT_WRITABLE_MASK = 0x2
assert VMX_EPT_WRITABLE_MASK == _hw(EptPte, "write") == PT_WRITABLE_MASK  # mmu.c BUILD_BUG_ON
VMX_EPT_EXECUTABLE_MASK = 0x4
assert VMX_EPT_EXECUTABLE_MASK == _hw(EptPte, "execute")
VMX_EPT_RWX_MASK = VMX_EPT_READABLE_MASK | VMX_EPT_WRITABLE_MASK | VMX_EPT_EXECUTABLE_MASK
VMX_EPT_MT_EPTE_SHIFT = 3
VMX_EPT_MT_MASK = 7 << VMX_EPT_MT_EPTE_SHIFT
assert VMX_EPT_MT_MASK == _hw(EptPte, "memory_type")
VMX_EPT_IPAT_BIT = 1 << 6
assert VMX_EPT_IPAT_BIT == _hw(EptPte, "ignore_pat")
VMX_EPT_ACCESS_BIT = 1 << 8
assert VMX_EPT_ACCESS_BIT == _hw(EptPte, "accessed")
VMX_EPT_DIRTY_BIT = 1 << 9
assert VMX_EPT_DIRTY_BIT == _hw(EptPte, "dirty")
VMX_EPT_SUPPRESS_VE_BIT = 1 << 63  # 6.10+
assert VMX_EPT_SUPPRESS_VE_BIT == _hw(EptPte, "suppress_ve")
VMX_EPT_MISCONFIG_WX_VALUE = VMX_EPT_WRITABLE_MASK | VMX_EPT_EXECUTABLE_MASK

# -- mmu.c: KVM's abstract access rights (not SPTE bits, but MMIO SPTEs store them) ----------
ACC_EXEC_MASK, ACC_WRITE_MASK, ACC_USER_MASK = 1, PT_WRITABLE_MASK, PT_USER_MASK

# -- software bits, 5.4-5.12 (mmu.c; 5.10-5.12 mmu/spte.h) ----------------------------------
PT_FIRST_AVAIL_BITS_SHIFT = 10
SPTE_HOST_WRITEABLE = 1 << PT_FIRST_AVAIL_BITS_SHIFT  # bit 10, every flavour
SPTE_MMU_WRITEABLE = 1 << (PT_FIRST_AVAIL_BITS_SHIFT + 1)  # bit 11, every flavour
SPTE_SPECIAL_MASK = 3 << 52  # "A/D type or MMIO": value 3 marks an MMIO SPTE
SPTE_AD_ENABLED_MASK, SPTE_AD_DISABLED_MASK, SPTE_AD_WRPROT_ONLY_MASK = 0 << 52, 1 << 52, 2 << 52
SPTE_MMIO_MASK = 3 << 52
SPTE_SPECIAL_MASK_4_19 = 1 << 62  # 4.19 (kvm_host.h): A/D-disabled (shadow_acc_track_value) or MMIO
REMOVED_SPTE_5_12 = 1 << 59  # 5.12 only: TDP-MMU placeholder (5.13 moved it to the low bits)

# -- software bits, 5.13+ (mmu/spte.h) --------------------------------------------------------
SPTE_MMU_PRESENT_MASK = 1 << 11
SPTE_TDP_AD_SHIFT = 52
SPTE_TDP_AD_MASK = 3 << SPTE_TDP_AD_SHIFT
SPTE_TDP_AD_ENABLED, SPTE_TDP_AD_DISABLED, SPTE_TDP_AD_WRPROT_ONLY = 0, 1 << 52, 2 << 52  # 5.13-6.5: ..._MASK
assert SPTE_TDP_AD_MASK == SPTE_SPECIAL_MASK  # the same two bits, renamed when MMIO stopped using them
DEFAULT_SPTE_HOST_WRITABLE, DEFAULT_SPTE_MMU_WRITABLE = 1 << 9, 1 << 10  # 5.13-5.15: ..._WRITEABLE
EPT_SPTE_HOST_WRITABLE, EPT_SPTE_MMU_WRITABLE = 1 << 57, 1 << 58
SPTE_MMIO_ALLOWED_MASK = 0x800FFFFFFFFFF007  # 6.1+: bits 63, 51:12, 2:0
SHADOW_NONPRESENT_VALUE = 1 << 63  # 6.10+ (x86-64): EPT suppress-#VE in every empty SPTE
assert SHADOW_NONPRESENT_VALUE == _hw(EptPte, "suppress_ve") and not SHADOW_NONPRESENT_VALUE & SPTE_MMU_PRESENT_MASK
REMOVED_SPTE = 0x5A0  # 5.13-6.9: no RWX/P, no PFN, no bit 11
REMOVED_SPTE_6_10 = SHADOW_NONPRESENT_VALUE | REMOVED_SPTE  # 6.10 name
FROZEN_SPTE = REMOVED_SPTE_6_10  # 6.11+ name, same value

# -- access tracking (EPT without A/D) ----------------------------------------------------------
SHADOW_ACC_TRACK_SAVED_BITS_MASK = VMX_EPT_READABLE_MASK | VMX_EPT_EXECUTABLE_MASK
SHADOW_ACC_TRACK_SAVED_BITS_SHIFT = 54  # 5.4 onwards (PT64_SECOND_AVAIL_BITS_SHIFT until 5.9)
SHADOW_ACC_TRACK_SAVED_MASK = SHADOW_ACC_TRACK_SAVED_BITS_MASK << SHADOW_ACC_TRACK_SAVED_BITS_SHIFT
SHADOW_NONPRESENT_OR_RSVD_MASK_LEN = 5

# spte.h's static_asserts, restated.
assert not SPTE_TDP_AD_MASK & SHADOW_ACC_TRACK_SAVED_MASK
assert not (EPT_SPTE_HOST_WRITABLE | EPT_SPTE_MMU_WRITABLE) & (SPTE_TDP_AD_MASK | SHADOW_ACC_TRACK_SAVED_MASK)
assert not FROZEN_SPTE & SPTE_MMU_PRESENT_MASK and not REMOVED_SPTE & (VMX_EPT_RWX_MASK | PT_PRESENT_MASK)


@dataclass(frozen=True)
class MmioGen:
    """Where one release keeps the MMIO generation, and how it shifts it (bug-for-bug)."""

    low_mask: int
    high_mask: int
    low_shift: int
    high_shift: int
    gen_mask: int  # MMIO_SPTE_GEN_MASK: the memslot generation is cut to this
    strip_mmio_mask: bool  # 5.4: get_mmio_spte_generation() first clears shadow_mmio_mask
    names: tuple[str, str]  # the kernel's names of the two shift constants

    def encode(self, gen: int) -> int:
        return ((gen << self.low_shift) & self.low_mask) | ((gen << self.high_shift) & self.high_mask)

    def decode(self, spte: int) -> int:
        return ((spte & self.low_mask) >> self.low_shift) | ((spte & self.high_mask) >> self.high_shift)

    @property
    def mask(self) -> int:
        return self.low_mask | self.high_mask


# 4.19: 20 bits; bits 1-9 in SPTE bits 3-11 (MMIO_SPTE_GEN_LOW_SHIFT 2, bit 0 presumed zero), bits
# 10-19 in 52-61 (MMIO_SPTE_GEN_HIGH_SHIFT 52 after MMIO_GEN_LOW_SHIFT 10); decoding takes bits 52-63
# after clearing shadow_mmio_mask.
MMIO_GEN_4_19 = MmioGen(genmask(11, 3), genmask(63, 52), 2, 42, genmask(19, 0), True,
                        ("MMIO_SPTE_GEN_LOW_SHIFT", "MMIO_SPTE_GEN_HIGH_SHIFT"))
# 5.4.0-5.4.18 (cae7ed3c2cb0 dropped the shift of the high half): bits 3-11 and 52-61, the high
# half shifted by 52 (so it repeats generation bits 0-9) and overlapping SPTE_SPECIAL_MASK.
MMIO_GEN_5_4 = MmioGen(genmask(11, 3), genmask(61, 52), 3, 52, genmask(18, 0), True,
                       ("MMIO_SPTE_GEN_LOW_START", "MMIO_SPTE_GEN_HIGH_START"))
# 56871d444bc4 (5.6; 5.4.y by 5.4.31): high half moved to 54-62, 18 bits, still shifted by 54.
MMIO_GEN_5_6 = MmioGen(genmask(11, 3), genmask(62, 54), 3, 54, genmask(17, 0), False,
                       ("MMIO_SPTE_GEN_LOW_START", "MMIO_SPTE_GEN_HIGH_START"))
# 34c0f6f2695a (5.10; 5.4.85): the high half shifted by 54 - 9 = 45.
MMIO_GEN_5_10 = MmioGen(genmask(11, 3), genmask(62, 54), 3, 45, genmask(17, 0), False,
                        ("MMIO_SPTE_GEN_LOW_SHIFT", "MMIO_SPTE_GEN_HIGH_SHIFT"))
# 5.13 "Introduce MMU_PRESENT": bits 3-10 and 52-62, 19 bits.
MMIO_GEN_5_13 = MmioGen(genmask(10, 3), genmask(62, 52), 3, 44, genmask(18, 0), False,
                        ("MMIO_SPTE_GEN_LOW_SHIFT", "MMIO_SPTE_GEN_HIGH_SHIFT"))
MMIO_GENS = {"4.19": MMIO_GEN_4_19, "5.4": MMIO_GEN_5_4, "5.6": MMIO_GEN_5_6, "5.10": MMIO_GEN_5_10,
             "5.13": MMIO_GEN_5_13}
assert not (MMIO_GEN_5_6.mask | MMIO_GEN_5_10.mask) & SPTE_SPECIAL_MASK  # mmu.c BUILD_BUG_ON
assert not MMIO_GEN_5_13.mask & SPTE_MMU_PRESENT_MASK
assert MMIO_GEN_5_13.low_mask.bit_count() == 8 and MMIO_GEN_5_13.high_mask.bit_count() == 11


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
    mmio_caching: bool = True  # kvm.mmio_caching module parameter (5.13+)
    pae: bool = False  # a 32-bit host: PAE-format shadow/NPT tables, no SHADOW_NONPRESENT_VALUE (x86-64 only)

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


@dataclass(frozen=True)
class Masks:
    """The globals one kernel computes for one host (``spte.c``/``mmu.c``), under their names."""

    shadow_user_mask: int
    shadow_accessed_mask: int
    shadow_dirty_mask: int
    shadow_nx_mask: int
    shadow_x_mask: int
    shadow_present_mask: int
    shadow_acc_track_mask: int
    shadow_me_mask: int
    shadow_me_value: int  # 5.19+; before it, make_spte ORs in shadow_me_mask
    shadow_host_writable_mask: int  # 5.13+ variables; SPTE_HOST_WRITEABLE before
    shadow_mmu_writable_mask: int
    shadow_mmio_value: int
    shadow_mmio_mask: int
    shadow_mmio_access_mask: int
    shadow_nonpresent_or_rsvd_mask: int
    shadow_nonpresent_or_rsvd_lower_gfn_mask: int
    SPTE_BASE_ADDR_MASK: int  # PT64_BASE_ADDR_MASK before 6.1
    physical_mask: int
    shadow_phys_bits: int  # kvm_host.maxphyaddr from 6.11
    enable_mmio_caching: int
    kvm_ad_enabled: int

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


def compute_masks(spec: KernelSpec, host: HostConfig) -> Masks:
    """Every global mask ``spec``'s kernel computes for ``host`` (booleans as 0/1)."""
    sme_me_mask = 1 << host.me_bit if host.sme and host.me_bit is not None else 0
    physical_mask = genmask(51, 0) & ~sme_me_mask

    # kvm_mmu_reset_all_pte_masks(): the L1TF split.  Before 5.7 (5.4.49 in 5.4.y) it did not
    # test X86_BUG_L1TF: every host with x86_cache_bits < 47 got the mitigation masks.
    low_phys_bits = host.x86_phys_bits
    rsvd = 0
    # 4.19 used x86_phys_bits for the same split.
    l1tf_bits = host.x86_cache_bits if spec.l1tf_uses_cache_bits else host.x86_phys_bits
    if (host.l1tf or not spec.l1tf_gated) and l1tf_bits < 52 - SHADOW_NONPRESENT_OR_RSVD_MASK_LEN:
        low_phys_bits = l1tf_bits - SHADOW_NONPRESENT_OR_RSVD_MASK_LEN
        rsvd = genmask(l1tf_bits - 1, low_phys_bits)

    m: dict[str, int] = dict(
        shadow_user_mask=PT_USER_MASK, shadow_accessed_mask=PT_ACCESSED_MASK, shadow_dirty_mask=PT_DIRTY_MASK,
        shadow_nx_mask=PT64_NX_MASK, shadow_x_mask=0, shadow_present_mask=PT_PRESENT_MASK,
        shadow_acc_track_mask=0, shadow_me_mask=0 if spec.me_value_split else sme_me_mask, shadow_me_value=0,
        shadow_host_writable_mask=DEFAULT_SPTE_HOST_WRITABLE if spec.mmu_present else SPTE_HOST_WRITEABLE,
        shadow_mmu_writable_mask=DEFAULT_SPTE_MMU_WRITABLE if spec.mmu_present else SPTE_MMU_WRITEABLE,
        shadow_nonpresent_or_rsvd_mask=rsvd, shadow_nonpresent_or_rsvd_lower_gfn_mask=genmask(low_phys_bits - 1, 12),
        SPTE_BASE_ADDR_MASK=physical_mask & ~0xFFF, physical_mask=physical_mask, shadow_phys_bits=host.maxphyaddr,
        kvm_ad_enabled=1)
    # kvm_set_mmio_spte_mask(): a reserved PA bit (51) and P.  With 52 PA bits there is no
    # reserved bit: 5.7+ (5.4.49+) turns MMIO caching off, older kernels keep bit 51 alone.
    if host.maxphyaddr < 52:
        value = 1 << 51 | PT_PRESENT_MASK
    else:
        value = 0 if spec.mmio_off_at_52 else 1 << 51
    _set_mmio(m, spec, host, value, value, ACC_WRITE_MASK | ACC_USER_MASK)

    if host.ept:
        ad = host.flavour == "ept-ad"
        m.update(shadow_user_mask=VMX_EPT_READABLE_MASK,
                 shadow_accessed_mask=VMX_EPT_ACCESS_BIT if ad or spec.ad_rework else 0,
                 shadow_dirty_mask=VMX_EPT_DIRTY_BIT if ad or spec.ad_rework else 0,
                 shadow_nx_mask=0, shadow_x_mask=VMX_EPT_EXECUTABLE_MASK,
                 shadow_present_mask=(0 if host.exec_only else VMX_EPT_READABLE_MASK)
                 | (VMX_EPT_SUPPRESS_VE_BIT if spec.ept_suppress_ve else 0),
                 shadow_acc_track_mask=VMX_EPT_RWX_MASK, shadow_me_mask=0, shadow_me_value=0, kvm_ad_enabled=int(ad))
        if spec.mmu_present:
            m.update(shadow_host_writable_mask=EPT_SPTE_HOST_WRITABLE, shadow_mmu_writable_mask=EPT_SPTE_MMU_WRITABLE)
        mmio_mask = VMX_EPT_RWX_MASK | (VMX_EPT_SUPPRESS_VE_BIT if spec.ept_suppress_ve else 0)
        _set_mmio(m, spec, host, VMX_EPT_MISCONFIG_WX_VALUE, mmio_mask, 0)
    elif host.sme and spec.svm_adjust_mmio_mask:
        if spec.me_value_split:  # kvm_mmu_set_me_spte_mask(sme_me_mask, sme_me_mask)
            m.update(shadow_me_value=sme_me_mask, shadow_me_mask=sme_me_mask)
        # svm_adjust_mmio_mask(): a reserved-PA mask starting at x86_phys_bits.
        mask_bit = host.x86_phys_bits
        if mask_bit == host.me_bit:
            mask_bit += 1
        value = genmask(51, mask_bit) | PT_PRESENT_MASK if mask_bit < 52 else 0
        _set_mmio(m, spec, host, value, value, PT_WRITABLE_MASK | PT_USER_MASK)
    return Masks(**m)


def _set_mmio(m: dict[str, int], spec: KernelSpec, host: HostConfig, value: int, mask: int,
              access_mask: int) -> None:
    """kvm_mmu_set_mmio_spte_mask() of the release: how value and mask are stored."""
    if spec.mmio_rule in ("vendor_mask", "special"):
        # <= 5.12: the marker bits 52-53 are ORed in; 5.4-5.7 also keep the vendor mask.
        marker = spec.special_mask  # SPTE_MMIO_MASK (= SPTE_SPECIAL_MASK) 5.4-5.12, bit 62 in 4.19
        stored_mask = (mask | marker) if spec.mmio_rule == "vendor_mask" else marker
        if spec.mmio_access_from_low_bits:  # 4.19: mark_mmio_spte() keeps ACC_WRITE_MASK | ACC_USER_MASK
            access_mask = ACC_WRITE_MASK | ACC_USER_MASK
        m.update(shadow_mmio_value=value | marker, shadow_mmio_mask=stored_mask,
                 shadow_mmio_access_mask=access_mask, enable_mmio_caching=1)
        return
    # 5.13+: the sanity rules that turn MMIO caching off.
    if not host.mmio_caching:
        value = 0
    if spec.mmio_rule == "mask_caching" and mask & ~SPTE_MMIO_ALLOWED_MASK:
        value = 0
    if value & (m["shadow_nonpresent_or_rsvd_mask"] << SHADOW_NONPRESENT_OR_RSVD_MASK_LEN):
        value = 0
    frozen = spec.frozen_value or 0
    if value & mask != value or (value and frozen & mask == value):
        value = 0
    m.update(shadow_mmio_value=value, shadow_mmio_mask=mask, shadow_mmio_access_mask=access_mask,
             enable_mmio_caching=int(bool(value)))
