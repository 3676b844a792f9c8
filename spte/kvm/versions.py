"""What each kernel version does with SPTE software bits, as data.

One :class:`KernelSpec` row per supported version.  Every switch names the kernel
change behind it; each row's ``source`` names the
kernel tree, commit and files it was read from.
"""

from __future__ import annotations

from dataclasses import dataclass

B63 = 1 << 63


@dataclass(frozen=True)
class KernelSpec:
    version: str
    source: str
    # v5.13 "Introduce MMU_PRESENT": bit 11 marks shadow-present SPTEs; before it, any
    # non-zero non-MMIO SPTE was present and bits 52-53 = 11b marked MMIO SPTEs.
    mmu_present: bool
    # 5.12+ REMOVED_SPTE (5.13+: 0x5a0), renamed FROZEN_SPTE in 6.11; 6.10 adds bit 63.
    frozen_name: str | None
    frozen_value: int | None
    # 6.10: SHADOW_NONPRESENT_VALUE = BIT(63) (suppress #VE); 0 before.
    nonpresent_value: int
    # 6.10: EPT shadow_present_mask and MMIO mask include SUPPRESS_VE; is_ept_ve_possible().
    ept_suppress_ve: bool
    # 6.13: EPT accessed/dirty masks are always 0x100/0x200 (software A/D when hardware
    # A/D is off), kvm_ad_enabled is a variable, is_dirty_spte() is gone, access tracking
    # also clears the accessed bit, is_accessed_spte() is a plain bit test.
    ad_rework: bool
    # 5.8/5.13-5.15: spte_can_locklessly_be_made_writable (host-w && mmu-w);
    # 6.x: is_mmu_writable_spte (mmu-w).
    writable_helper: str
    # 6.1+: shadow_me_value (set in SPTEs) split from shadow_me_mask (rsvd exemption).
    me_value_split: bool
    # 6.1+: SPTE_MMIO_ALLOWED_MASK check when the MMIO mask is set.
    mmio_allowed_mask: bool
    ad_names: tuple[str, str, str]  # enabled / disabled / wrprot-only constant names
    notes: tuple[str, ...] = ()


V5_8 = KernelSpec(
    "5.8", "SOMINIUM/LINUX5.8.18 @3567cf37, arch/x86/kvm/mmu/mmu.c (5.8.18)",
    mmu_present=False, frozen_name=None, frozen_value=None, nonpresent_value=0,
    ept_suppress_ve=False, ad_rework=False, writable_helper="spte_can_locklessly_be_made_writable",
    me_value_split=False, mmio_allowed_mask=False,
    ad_names=("SPTE_AD_ENABLED_MASK", "SPTE_AD_DISABLED_MASK", "SPTE_AD_WRPROT_ONLY_MASK"),
    notes=(
        "MMIO generation bug (fixed upstream by 34c0f6f2695a, never backported to 5.8.y): the high "
        "half is shifted by MMIO_SPTE_GEN_HIGH_START (54) instead of 54-9, so generation bits 9-17 "
        "are lost and get_mmio_spte_generation() returns gen & 0x1ff.",
        "is_shadow_present_pte() is spte != 0 && !is_mmio_spte(): any non-zero non-MMIO value, "
        "including a not-present SPTE carrying a software tag, counts as present.",
        "Host-/MMU-writable are bits 10/11 in every flavour; bits 52-53 = 11b mark MMIO SPTEs.",
    ),
)
V5_13 = KernelSpec(
    "5.13", "5.13 layout as in Kingdo777/linux-5.14.2-faascale-host @21101b62 and OSS-SSH/linux "
    "@2baa35fe, arch/x86/kvm/mmu/spte.{h,c}",
    mmu_present=True, frozen_name="is_removed_spte", frozen_value=0x5A0, nonpresent_value=0,
    ept_suppress_ve=False, ad_rework=False, writable_helper="spte_can_locklessly_be_made_writable",
    me_value_split=False, mmio_allowed_mask=False,
    ad_names=("SPTE_TDP_AD_ENABLED_MASK", "SPTE_TDP_AD_DISABLED_MASK", "SPTE_TDP_AD_WRPROT_ONLY_MASK"),
    notes=("Sean Christopherson's series 'KVM: x86/mmu: Introduce MMU_PRESENT and fix bugs': bit 11 "
           "marks shadow-present SPTEs; MMIO SPTEs are (spte & mask) == value per flavour.",),
)
V6_1 = KernelSpec(
    "6.1", "linux6119/linux-6.1.119 @09ec286f, arch/x86/kvm/mmu/spte.{h,c}",
    mmu_present=True, frozen_name="is_removed_spte", frozen_value=0x5A0, nonpresent_value=0,
    ept_suppress_ve=False, ad_rework=False, writable_helper="is_mmu_writable_spte",
    me_value_split=True, mmio_allowed_mask=True,
    ad_names=("SPTE_TDP_AD_ENABLED_MASK", "SPTE_TDP_AD_DISABLED_MASK", "SPTE_TDP_AD_WRPROT_ONLY_MASK"),
)
V6_6 = KernelSpec(
    "6.6", "Yunbaby8/linux-6.6.87-lab @12bdb170, arch/x86/kvm/mmu/spte.{h,c}",
    mmu_present=True, frozen_name="is_removed_spte", frozen_value=0x5A0, nonpresent_value=0,
    ept_suppress_ve=False, ad_rework=False, writable_helper="is_mmu_writable_spte",
    me_value_split=True, mmio_allowed_mask=True,
    ad_names=("SPTE_TDP_AD_ENABLED", "SPTE_TDP_AD_DISABLED", "SPTE_TDP_AD_WRPROT_ONLY"),
    notes=("Same SPTE semantics as 6.1; the A/D-type constants lost their _MASK suffix.",),
)
V6_19 = KernelSpec(
    "6.19", "matankalina/linux-6.19.10-fork @094d8694 (Linux 6.19.0), arch/x86/kvm/mmu/spte.{h,c}; "
    "unchanged through 7.1.5 (danayer/linux-7.1.5 @7d33d86d)",
    mmu_present=True, frozen_name="is_frozen_spte", frozen_value=B63 | 0x5A0, nonpresent_value=B63,
    ept_suppress_ve=True, ad_rework=True, writable_helper="is_mmu_writable_spte",
    me_value_split=True, mmio_allowed_mask=True,
    ad_names=("SPTE_TDP_AD_ENABLED", "SPTE_TDP_AD_DISABLED", "SPTE_TDP_AD_WRPROT_ONLY"),
    notes=("Not-present SPTEs hold SHADOW_NONPRESENT_VALUE (bit 63, EPT suppress-#VE); "
           "FROZEN_SPTE = 0x80000000000005a0.",
           "TDX VMs use a per-VM MMIO value of 0, which this profile does not model."),
)

SPECS: dict[str, KernelSpec] = {s.version: s for s in (V5_8, V5_13, V6_1, V6_6, V6_19)}
ALIASES = {"latest": "6.19", "7.0": "6.19", "7.1": "6.19", "5.14": "5.13", "5.15": "5.13",
           "5.8.18": "5.8", "6.1.119": "6.1", "6.6.87": "6.6", "6.19.0": "6.19"}
VERSIONS = tuple(SPECS)
FLAVOURS = ("ept-ad", "ept-noad", "shadow", "npt")
