"""Which kernel release did what to SPTEs: one :class:`KernelSpec` per change point, every
release from 5.4 to 7.1 mapped to one, and a parser for the version strings users have.

Each change point is defined by the kernel change that makes it and names the trees it
was read in (``source``).  A release that no tree was read for is mapped by bracketing
(the releases on both sides have the same SPTE code) or, where a change could fall in
between, with a caution that says so.  ``docs/profiles.md`` is the table in prose.

>>> r = resolve("6.8.0-45-generic")
>>> r.release, r.spec.key, r.distro
('6.8', '6.3', 'Ubuntu')
>>> resolve("5.4.85").spec.key, resolve("5.4.84").spec.key
('5.4.85', '5.4.49')
"""

from __future__ import annotations

from dataclasses import dataclass

from spte.kvm.masks import (
    FROZEN_SPTE,
    REMOVED_SPTE,
    REMOVED_SPTE_5_12,
    REMOVED_SPTE_6_10,
    SHADOW_NONPRESENT_VALUE,
    SPTE_AD_DISABLED_MASK,
    SPTE_SPECIAL_MASK,
    SPTE_SPECIAL_MASK_4_19,
)
from spte.versions import parse_version

FLAVOURS = ("ept-ad", "ept-noad", "shadow", "npt")
OLDEST, NEWEST = (4, 18), (7, 1)
LAST_MINOR = {4: 20, 5: 19, 6: 19, 7: 1}  # 4.20 was followed by 5.0, 5.19 by 6.0, 6.19 by 7.0


@dataclass(frozen=True)
class KernelSpec:
    """One SPTE change point: the kernel change, where it was read, and what it switches."""

    key: str  # the first release with this behaviour, e.g. "5.13" or a stable point "5.4.85"
    change: str  # the kernel change (commit or series) that makes this change point
    source: str  # trees read (repository @ commit, Makefile version) and files
    # 5.13 "Introduce MMU_PRESENT": bit 11 marks shadow-present SPTEs; before it, any
    # non-zero non-MMIO SPTE was present.
    mmu_present: bool
    # How is_mmio_spte() decides: "vendor_mask" (5.4-5.7: (spte & (mask|3<<52)) == value|3<<52),
    # "special" (5.8-5.12: bits 53:52 == 11b), "mask" (5.13-5.19: (spte & mask) == value && value; 5.19
    # tests enable_mmio_caching, which is the same), "mask_caching" (6.0+: a mask outside
    # SPTE_MMIO_ALLOWED_MASK turns MMIO caching off).
    mmio_rule: str
    mmio_gen: str  # key of spte.kvm.masks.MMIO_GENS
    l1tf_gated: bool  # the L1TF masks need X86_BUG_L1TF (5.7+, 5.4.49+); before: any x86_cache_bits < 47
    mmio_off_at_52: bool  # 52 PA bits turn MMIO caching off (5.7+, 5.4.49+); before: bit 51 without P
    frozen_name: str | None  # REMOVED_SPTE (5.12-6.10) / FROZEN_SPTE (6.11+)
    frozen_value: int | None
    nonpresent_value: int  # SHADOW_NONPRESENT_VALUE: bit 63 from 6.10, 0 before
    ept_suppress_ve: bool  # 6.10: EPT present and MMIO masks include VMX_EPT_SUPPRESS_VE_BIT
    ad_rework: bool  # 6.13: EPT A/D masks always 0x100/0x200, kvm_ad_enabled, no is_dirty_spte
    me_value_split: bool  # 5.19: shadow_me_value is what SPTEs carry
    ad_names: tuple[str, str, str]  # the kernel's names of A/D type 0, 1, 2 (and 3 = MMIO before 5.13)
    helpers: tuple[str, ...]  # version-specific helpers (mixins of spte.kvm.profiles)
    notes: tuple[str, ...] = ()
    # 4.19 and earlier: SPTE_SPECIAL_MASK is bit 62, set both in A/D-disabled SPTEs
    # (shadow_acc_track_value) and in MMIO SPTEs; access tracking saves R/X at bit 52
    # (PT64_SECOND_AVAIL_BITS_SHIFT); the L1TF mask follows x86_phys_bits; no svm_adjust_mmio_mask.
    special_mask: int = SPTE_SPECIAL_MASK  # where the A/D type / MMIO marker lives
    ad_disabled_mask: int = SPTE_AD_DISABLED_MASK  # the value of special_mask in an A/D-disabled SPTE
    acc_track_shift: int = 54  # SHADOW_ACC_TRACK_SAVED_BITS_SHIFT (PT64_SECOND_AVAIL_BITS_SHIFT)
    mmio_access_from_low_bits: bool = False  # get_mmio_spte_access(): low 12 bits minus gen and mask bits
    l1tf_uses_cache_bits: bool = True  # the L1TF split follows x86_cache_bits (else x86_phys_bits)
    svm_adjust_mmio_mask: bool = True  # SME hosts get a reserved-PA MMIO mask at x86_phys_bits

    @property
    def frozen_helper(self) -> str | None:
        if self.frozen_name is None:
            return None
        return "is_frozen_spte" if self.frozen_name == "FROZEN_SPTE" else "is_removed_spte"

    @property
    def nonleaf_function(self) -> str:
        return "make_nonleaf_spte" if "make_nonleaf_spte" in self.helpers else "link_shadow_page"


_AD_5_4 = ("SPTE_AD_ENABLED_MASK", "SPTE_AD_DISABLED_MASK", "SPTE_AD_WRPROT_ONLY_MASK")
_AD_5_13 = ("SPTE_TDP_AD_ENABLED_MASK", "SPTE_TDP_AD_DISABLED_MASK", "SPTE_TDP_AD_WRPROT_ONLY_MASK")
_AD_6_6 = ("SPTE_TDP_AD_ENABLED", "SPTE_TDP_AD_DISABLED", "SPTE_TDP_AD_WRPROT_ONLY")


def _pre_5_12(key: str, change: str, source: str, *, mmio_rule: str, mmio_gen: str, l1tf_gated: bool,
              helpers: tuple[str, ...], notes: tuple[str, ...]) -> KernelSpec:
    """A change point before REMOVED_SPTE: no MMU-present bit, no frozen or not-present value."""
    return KernelSpec(key, change, source, mmu_present=False, mmio_rule=mmio_rule, mmio_gen=mmio_gen,
                      l1tf_gated=l1tf_gated, mmio_off_at_52=l1tf_gated, frozen_name=None, frozen_value=None,
                      nonpresent_value=0, ept_suppress_ve=False, ad_rework=False, me_value_split=False,
                      ad_names=_AD_5_4, helpers=helpers, notes=notes)

_WP = "spte_ad_need_write_protect"  # 5.3+: SPTE_AD_WRPROT_ONLY_MASK
_LEGACY_PRESENT = ("is_shadow_present_pte() is spte != 0 && !is_mmio_spte(): any non-zero non-MMIO value, "
                   "including a not-present SPTE carrying a software tag, counts as present.")

SPECS: dict[str, KernelSpec] = {s.key: s for s in (
    KernelSpec(
        "4.19", "4.19.0 as released: SPTE_SPECIAL_MASK (bit 62) marks A/D-disabled and MMIO SPTEs, access "
        "tracking saves R/X at PT64_SECOND_AVAIL_BITS_SHIFT (52), a 20-bit MMIO generation in bits 3-11 and 52-61 "
        "whose low bit is presumed zero",
        "0x88888888/Linux-4.19 @1b4890bc (Makefile 4.19.0, an annotated tree), arch/x86/kvm/mmu.c, x86.c, vmx.c, "
        "arch/x86/include/asm/kvm_host.h; hypoxic/GP2-linux-4.19.124 @e064ab09 (4.19.124) has the same SPTE layout",
        mmu_present=False, mmio_rule="vendor_mask", mmio_gen="4.19", l1tf_gated=False, mmio_off_at_52=False,
        frozen_name=None, frozen_value=None, nonpresent_value=0, ept_suppress_ve=False, ad_rework=False,
        me_value_split=False, ad_names=("A/D enabled (SPTE_SPECIAL_MASK clear)", "SPTE_SPECIAL_MASK", ""),
        helpers=("spte_can_locklessly_be_made_writable", "is_dirty_spte", "link_shadow_page"),
        notes=("SPTE_SPECIAL_MASK (bit 62) is shadow_acc_track_value in A/D-disabled SPTEs and is ORed into "
               "shadow_mmio_value/shadow_mmio_mask; there is no A/D type field and no WRPROT_ONLY.",
               "The MMIO generation is 20 bits: bits 1-9 in SPTE bits 3-11 (bit 0 is presumed zero), bits 10-19 "
               "in SPTE bits 52-61; get_mmio_spte_access() is the low 12 bits outside the generation and mask.",
               _LEGACY_PRESENT),
        special_mask=SPTE_SPECIAL_MASK_4_19, ad_disabled_mask=SPTE_SPECIAL_MASK_4_19, acc_track_shift=52,
        mmio_access_from_low_bits=True,
        l1tf_uses_cache_bits=False, svm_adjust_mmio_mask=False),
    _pre_5_12(
        "5.4", "5.4.0 as released: MMIO generation as cae7ed3c2cb0 'KVM: x86: Refactor the MMIO SPTE generation "
        "handling' left it (bits 3-11 and 52-61, the high half not shifted)",
        "wuyansky/Linux-5.4.18 @8b387dbf (Makefile 5.4.18), arch/x86/kvm/mmu.c",
        mmio_rule="vendor_mask", mmio_gen="5.4", l1tf_gated=False,
        helpers=("spte_can_locklessly_be_made_writable", "is_dirty_spte", "link_shadow_page", _WP),
        notes=("MMIO generation bug: bits 3-11 and 52-61, the high half shifted by 52 instead of 52-9, so it "
               "repeats generation bits 0-9, and bits 52-53 are overwritten by SPTE_MMIO_MASK.", _LEGACY_PRESENT)),
    _pre_5_12(
        "5.4.31", "56871d444bc4 'KVM: x86: fix overlap between SPTE_MMIO_MASK and generation' (5.6; in 5.4.y "
        "between 5.4.18 and 5.4.31)",
        "Caozhongm/fsmp1a-linux-5.4.31 @f8d3b326 (Makefile 5.4.31), wenhuizhang/llvm-linux-5.4.38 @bd6678fb "
        "(5.4.38), shmily1012/linux-5.6.4 @93830a5c (5.6.4), arch/x86/kvm/mmu{,/mmu}.c",
        mmio_rule="vendor_mask", mmio_gen="5.6", l1tf_gated=False,
        helpers=("spte_can_locklessly_be_made_writable", "is_dirty_spte", "link_shadow_page", _WP),
        notes=("MMIO generation bug (fixed by 34c0f6f2695a): the high half is shifted by MMIO_SPTE_GEN_HIGH_START "
               "(54) instead of 54-9, so generation bits 9-17 are lost and get_mmio_spte_generation() returns "
               "gen & 0x1ff.", _LEGACY_PRESENT)),
    _pre_5_12(
        "5.4.49", "kvm_mmu_reset_all_pte_masks() applies the L1TF masks only with X86_BUG_L1TF, and "
        "kvm_set_mmio_spte_mask() turns MMIO caching off with 52 PA bits (5.7; in 5.4.y between 5.4.38 and 5.4.49)",
        "ferry-hhh/linux-5.4.49 @7846e3d5 (5.4.49), BoKyoungHan/linux-5.4.59-vanilla @8b9bd8c4 (5.4.59), "
        "hku-systems/Coorp-Linux-5.4.84-rt @4791b9d1 (5.4.84), HanRunyu/linux-5.7.6-jz2440 @21d92341 (5.7.6), "
        "a5221985/linux-5.7.14 @5d0b54d9 (5.7.14), "
        "arch/x86/kvm/mmu{,/mmu}.c",
        mmio_rule="vendor_mask", mmio_gen="5.6", l1tf_gated=True,
        helpers=("spte_can_locklessly_be_made_writable", "is_dirty_spte", "link_shadow_page", _WP),
        notes=("MMIO generation bug (fixed by 34c0f6f2695a in 5.4.85): only generation bits 8:0 survive.",
               _LEGACY_PRESENT)),
    _pre_5_12(
        "5.4.85", "34c0f6f2695a 'KVM: mmu: Fix SPTE encoding of MMIO generation upper half', stable backport "
        "(first in 5.4.85)",
        "perrynzhou/linux5.4.85-note @5f7e67c9 (Makefile 5.4.85), KINGFIOX/linux-5.4.286 @157e1f2b (5.4.286), "
        "arch/x86/kvm/mmu.c; 5.4.84 still has the bug",
        mmio_rule="vendor_mask", mmio_gen="5.10", l1tf_gated=True,
        helpers=("spte_can_locklessly_be_made_writable", "is_dirty_spte", "link_shadow_page", _WP),
        notes=(_LEGACY_PRESENT,)),
    _pre_5_12(
        "5.8", "is_mmio_spte() tests only SPTE_SPECIAL_MASK (bits 53:52 == 11b); "
        "kvm_mmu_set_mmio_spte_mask() loses its mask argument (5.8)",
        "SOMINIUM/LINUX5.8.18 @3567cf37 (Makefile 5.8.18), ach84/linux-5.9.1 @17224444 (5.9.1), "
        "arch/x86/kvm/mmu/mmu.c; kernel-computed vectors of 5.8.18",
        mmio_rule="special", mmio_gen="5.6", l1tf_gated=True,
        helpers=("spte_can_locklessly_be_made_writable", "is_dirty_spte", "link_shadow_page", _WP),
        notes=("MMIO generation bug (fixed upstream by 34c0f6f2695a, never backported to 5.8.y): the high "
               "half is shifted by MMIO_SPTE_GEN_HIGH_START (54) instead of 54-9, so generation bits 9-17 "
               "are lost and get_mmio_spte_generation() returns gen & 0x1ff.", _LEGACY_PRESENT,
               "Host-/MMU-writable are bits 10/11 in every flavour; bits 52-53 = 11b mark MMIO SPTEs.")),
    _pre_5_12(
        "5.10", "34c0f6f2695a 'KVM: mmu: Fix SPTE encoding of MMIO generation upper half' (5.10); SPTE code "
        "moves to mmu/spte.{h,c} and make_nonleaf_spte()",
        "Rtoax/linux-5.10.13 @4145aee3 (extracted code identical to 5.10.7 and 5.10.44), CompressionDuck/linux-5.11 "
        "@00f38075 (5.11.0), arch/x86/kvm/mmu/spte.{h,c}; kernel-computed vectors of 5.10.13",
        mmio_rule="special", mmio_gen="5.10", l1tf_gated=True,
        helpers=("spte_can_locklessly_be_made_writable", "is_dirty_spte", "make_nonleaf_spte", _WP),
        notes=(_LEGACY_PRESENT,)),
    KernelSpec(
        "5.12", "TDP-MMU concurrency: REMOVED_SPTE = BIT(59), is_shadow_present_pte() && !is_removed_spte() (5.12)",
        "zhangyinjun/linux-5.12.9 @d2af4375 (Makefile 5.12.9), arch/x86/kvm/mmu/spte.{h,c}; kernel-computed "
        "vectors of 5.12.9",
        mmu_present=False, mmio_rule="special", mmio_gen="5.10", l1tf_gated=True, mmio_off_at_52=True,
        frozen_name="REMOVED_SPTE", frozen_value=REMOVED_SPTE_5_12, nonpresent_value=0, ept_suppress_ve=False,
        ad_rework=False, me_value_split=False, ad_names=_AD_5_4,
        helpers=("spte_can_locklessly_be_made_writable", "is_dirty_spte", "make_nonleaf_spte", "is_removed_spte", _WP),
        notes=("REMOVED_SPTE is bit 59; is_shadow_present_pte() is spte != 0 && !is_mmio_spte() && "
               "!is_removed_spte().",)),
    KernelSpec(
        "5.13", "Sean Christopherson's series 'KVM: x86/mmu: Introduce MMU_PRESENT and fix bugs' (5.13)",
        "Kingdo777/linux-5.14.2-faascale-host @21101b62 (Makefile 5.14.2), zcjie1/linux-5.15.100 @5382e6c4 "
        "(5.15.100), arch/x86/kvm/mmu/spte.{h,c}; 5.12.9 lacks all of it",
        mmu_present=True, mmio_rule="mask", mmio_gen="5.13", l1tf_gated=True, mmio_off_at_52=True,
        frozen_name="REMOVED_SPTE", frozen_value=REMOVED_SPTE, nonpresent_value=0, ept_suppress_ve=False,
        ad_rework=False, me_value_split=False, ad_names=_AD_5_13,
        helpers=("spte_can_locklessly_be_made_writable", "is_dirty_spte", "make_nonleaf_spte", "is_removed_spte", _WP),
        notes=("Bit 11 (SPTE_MMU_PRESENT_MASK) marks shadow-present SPTEs; MMIO SPTEs are (spte & mask) == value "
               "per flavour; host-/MMU-writable are 57/58 (EPT) or 9/10.",)),
    KernelSpec(
        "5.19", "shadow_me_value split from shadow_me_mask (Kai Huang, TDX/MKTME preparation); is_mmio_spte() "
        "tests enable_mmio_caching; is_mmu_writable_spte() replaces spte_can_locklessly_be_made_writable() (5.19)",
        "yishangzhang/linux-5.19 @4a855052 (Makefile 5.19.0), arch/x86/kvm/mmu/spte.{h,c}; 5.17.0 (dunli/linux-5.17 "
        "@a5835cac) has none of it",
        mmu_present=True, mmio_rule="mask", mmio_gen="5.13", l1tf_gated=True, mmio_off_at_52=True,
        frozen_name="REMOVED_SPTE", frozen_value=REMOVED_SPTE, nonpresent_value=0, ept_suppress_ve=False,
        ad_rework=False, me_value_split=True, ad_names=_AD_5_13,
        helpers=("is_mmu_writable_spte", "is_dirty_spte", "make_nonleaf_spte", "is_removed_spte", _WP)),
    KernelSpec(
        "6.0", "SPTE_MMIO_ALLOWED_MASK: kvm_mmu_set_mmio_spte_mask() turns MMIO caching off for a mask outside "
        "bits 63, 51:12, 2:0 (6.0)",
        "HHRhr/linux-6.0.1 @0f3467a6 (Makefile 6.0.1), linux6119/linux-6.1.119 @09ec286f (6.1.119), "
        "xmphoenix/linux-6.2.12-slow-motion @d86fed0d (6.2.12), arch/x86/kvm/mmu/spte.{h,c}; kernel-computed "
        "vectors of 6.1.119",
        mmu_present=True, mmio_rule="mask_caching", mmio_gen="5.13", l1tf_gated=True, mmio_off_at_52=True,
        frozen_name="REMOVED_SPTE", frozen_value=REMOVED_SPTE, nonpresent_value=0, ept_suppress_ve=False,
        ad_rework=False, me_value_split=True, ad_names=_AD_5_13,
        helpers=("is_mmu_writable_spte", "is_dirty_spte", "make_nonleaf_spte", "is_removed_spte", _WP)),
    KernelSpec(
        "6.3", "SPTE_TDP_AD_ENABLED/DISABLED/WRPROT_ONLY lose their _MASK suffix (same bits as 6.0); "
        "MMU_WARN_ON later becomes KVM_MMU_WARN_ON (6.3)",
        "SToPire/linux-6.3.8 @1ab8cd40 (Makefile 6.3.8), Yunbaby8/linux-6.6.87-lab @12bdb170 (6.6.87), "
        "vivo50kff/linux-6.8 @bc4fae0d (6.8.0), arch/x86/kvm/mmu/spte.{h,c}; 6.2.12 still has the _MASK names",
        mmu_present=True, mmio_rule="mask_caching", mmio_gen="5.13", l1tf_gated=True, mmio_off_at_52=True,
        frozen_name="REMOVED_SPTE", frozen_value=REMOVED_SPTE, nonpresent_value=0, ept_suppress_ve=False,

        ad_rework=False, me_value_split=True, ad_names=_AD_6_6,
        helpers=("is_mmu_writable_spte", "is_dirty_spte", "make_nonleaf_spte", "is_removed_spte", _WP)),
    KernelSpec(
        "6.10", "SHADOW_NONPRESENT_VALUE = BIT(63) (EPT suppress-#VE) in every empty SPTE; REMOVED_SPTE gains "
        "bit 63; EPT present and MMIO masks include VMX_EPT_SUPPRESS_VE_BIT; is_ept_ve_possible() (6.10)",
        "msgeden/cryptocap-arm64-linux-6.10 @449e0715 (Makefile 6.10.0), arch/x86/kvm/mmu/spte.{h,c}",
        mmu_present=True, mmio_rule="mask_caching", mmio_gen="5.13", l1tf_gated=True, mmio_off_at_52=True,
        frozen_name="REMOVED_SPTE", frozen_value=REMOVED_SPTE_6_10,
        nonpresent_value=SHADOW_NONPRESENT_VALUE, ept_suppress_ve=True,
        ad_rework=False, me_value_split=True, ad_names=_AD_6_6,
        helpers=("is_mmu_writable_spte", "is_dirty_spte", "make_nonleaf_spte", "is_removed_spte",
                 "is_ept_ve_possible", _WP)),
    KernelSpec(
        "6.11", "REMOVED_SPTE renamed FROZEN_SPTE, is_removed_spte() renamed is_frozen_spte() (6.11)",
        "segzix/linux-6.11.11 @323e1467 (Makefile 6.11.11), shilei-massclouds/linux-6.12 @2974a9e7 (6.12.0), "
        "arch/x86/kvm/mmu/spte.{h,c}; kernel-computed vectors of 6.12.0",
        mmu_present=True, mmio_rule="mask_caching", mmio_gen="5.13", l1tf_gated=True, mmio_off_at_52=True,
        frozen_name="FROZEN_SPTE", frozen_value=FROZEN_SPTE,
        nonpresent_value=SHADOW_NONPRESENT_VALUE, ept_suppress_ve=True,
        ad_rework=False, me_value_split=True, ad_names=_AD_6_6,
        helpers=("is_mmu_writable_spte", "is_dirty_spte", "make_nonleaf_spte", "is_frozen_spte",
                 "is_ept_ve_possible", _WP)),
    KernelSpec(
        "6.13", "A/D rework: EPT shadow_accessed_mask/shadow_dirty_mask always 0x100/0x200, kvm_ad_enabled, "
        "is_dirty_spte() removed, access tracking also clears the accessed bit (6.13)",
        "vivo50kff/linux-6.13.2 @ede6db78 (Makefile 6.13.2), perishh/linux-6.14 @16b95dcd (6.14.0), "
        "matankalina/linux-6.19.10-fork @094d8694 (6.19.0), danayer/linux-7.1.5 @7d33d86d (7.1.5), "
        "arch/x86/kvm/mmu/spte.{h,c}; kernel-computed vectors of 6.13.2 and 6.19 (7.1.5 reproduces them)",
        mmu_present=True, mmio_rule="mask_caching", mmio_gen="5.13", l1tf_gated=True, mmio_off_at_52=True,
        frozen_name="FROZEN_SPTE", frozen_value=FROZEN_SPTE,
        nonpresent_value=SHADOW_NONPRESENT_VALUE, ept_suppress_ve=True,
        ad_rework=True, me_value_split=True, ad_names=_AD_6_6,
        helpers=("is_mmu_writable_spte", "make_nonleaf_spte", "is_frozen_spte", "is_ept_ve_possible", _WP),
        notes=("Not-present SPTEs hold SHADOW_NONPRESENT_VALUE (bit 63); FROZEN_SPTE = 0x80000000000005a0.",
               "TDX VMs (6.16+) use a per-VM MMIO value of 0, which this profile does not model.")),
)}

# Every upstream release -> (change point, how it is known).  "read": a tree of that release
# was read; "bracketed": the releases on both sides have the same SPTE code; anything else
# is a caution shown to the user.
_UNVERIFIED = "no {r} tree was read: {why}"
RELEASES: dict[str, tuple[str, str]] = {
    "4.18": ("4.19", _UNVERIFIED.format(r="4.18", why="assumed as 4.19.0 (the L1TF masks came in 4.19-rc1 and "
                                                     "were backported to 4.18.y)")),
    "4.19": ("4.19", "read"),
    "5.4": ("5.4", "read"),  # point releases decide: see _POINT_5_4
    "5.5": ("5.4", _UNVERIFIED.format(r="5.5", why="mapped to 5.4.0 (56871d444bc4 landed in 5.6)")),
    "5.6": ("5.4.31", "read"),
    "5.7": ("5.4.49", _UNVERIFIED.format(r="5.7.0",
                                         why="read at 5.7.6 and 5.7.14; the L1TF gate may be a 5.7.y backport")),
    "5.8": ("5.8", "read"), "5.9": ("5.8", "read"),
    "5.10": ("5.10", "read"), "5.11": ("5.10", "read"),
    "5.12": ("5.12", "read"),
    "5.13": ("5.13", "bracketed"), "5.14": ("5.13", "read"), "5.15": ("5.13", "read"), "5.16": ("5.13", "bracketed"),
    "5.17": ("5.13", "read"),
    "5.18": ("5.13", _UNVERIFIED.format(r="5.18", why="assumed as 5.17 (shadow_me_value was read first in 5.19)")),
    "5.19": ("5.19", "read"),
    "6.0": ("6.0", "read"), "6.1": ("6.0", "read"), "6.2": ("6.0", "read"),
    "6.3": ("6.3", "read"), "6.4": ("6.3", "bracketed"), "6.5": ("6.3", "bracketed"), "6.6": ("6.3", "read"),
    "6.7": ("6.3", "bracketed"), "6.8": ("6.3", "read"), "6.9": ("6.3", "bracketed"),
    "6.10": ("6.10", "read"),
    "6.11": ("6.11", "read"), "6.12": ("6.11", "read"),
    "6.13": ("6.13", "read"), "6.14": ("6.13", "read"),
    **{f"6.{n}": ("6.13", "bracketed") for n in (15, 16, 17, 18)},
    "6.19": ("6.13", "read"), "7.0": ("6.13", "bracketed"), "7.1": ("6.13", "read"),
}
CHANGE_POINTS = tuple(SPECS)
VERSIONS = CHANGE_POINTS  # one profile per change point; RELEASES maps every release to one
# 5.4.y: three SPTE changes arrived in stable point releases.  (first sublevel, change point,
# caution when the boundary was not pinned by a tree of that exact release)
_POINT_5_4 = (
    (0, "5.4", None),
    (19, "5.4.31", "56871d444bc4 entered 5.4.y between 5.4.18 and 5.4.31 (no tree in between was read); "
                   "assumed present"),
    (31, "5.4.31", None),
    (39, "5.4.49", "the L1TF-gate change entered 5.4.y between 5.4.38 and 5.4.49 (no tree in between was read); "
                   "assumed present"),
    (49, "5.4.49", None),
    (85, "5.4.85", None),
)


@dataclass(frozen=True)
class Resolution:
    """What a version string means: the upstream release, its change point and any caution."""

    requested: str
    release: str  # "6.12", or "5.4.85" where the 5.4.y point release decides
    spec: KernelSpec
    cautions: tuple[str, ...] = ()
    distro: str | None = None


def release_key(release: str) -> tuple[int, ...]:
    return tuple(int(x) for x in release.split("."))


def _nearest(major: int, minor: int) -> str:
    if (major, minor) < OLDEST:
        return ("the project stops at 4.18 (read as 4.19): 4.14.y and 4.17 carry the L1TF masks in another form "
                "(4.14.74 has no split gfn); nearest supported: 4.19")
    if (4, 20) <= (major, minor) <= (5, 3):
        return ("not modelled: 4.20 to 5.3 moved the MMIO generation and the A/D marker (SPTE_SPECIAL_MASK went "
                "from bit 62 to bits 53:52) and no tree of them was read; nearest supported: 4.19 and 5.4")
    if (major, minor) > NEWEST:
        return "newer than the newest supported release 7.1 (profile 6.13); nearest supported: 7.1"
    return (f"there was no Linux {major}.{minor} ({major}.x ended at {major}.{LAST_MINOR.get(major, 0)}); "
            f"supported: 4.18, 4.19, 5.4 to 5.19, 6.0 to 6.19, 7.0 and 7.1")


def resolve(version: str) -> Resolution:
    """Parse any version string (``6.12``, ``6.12.5``, ``v6.19-rc3``, ``6.8.0-45-generic``,
    ``5.14.0-427.13.1.el9_4.x86_64``, ``latest``) into its upstream release and change point.

    Raises :class:`ValueError` naming the nearest supported releases for an unknown version.
    """
    text = version.strip()
    if text in ("latest", "newest"):
        text = "7.1"
    try:
        parsed = parse_version(text)
    except ValueError:
        raise ValueError(f"unknown kernel version {version!r}: expected a release such as 6.12, 6.12.5, "
                         f"v6.19-rc3, 6.8.0-45-generic or latest (supported: 5.4 to 7.1)") from None
    major, minor, sub, rc, rest, distro = parsed
    base = f"{major}.{minor}"
    if base not in RELEASES:
        raise ValueError(f"unknown kernel version {version!r}: {_nearest(major, minor)}")
    key, how = RELEASES[base]
    cautions: list[str] = []
    release = base
    if rest:
        cautions.append(f"{version} is a {distro} kernel: vendors backport KVM MMU changes (RHEL 9's 5.14 carries "
                        f"far newer MMU code), so its SPTEs may not match upstream {base}; check the values with "
                        "`spte identify`")
        if base == "5.4" and sub is not None:
            sub = None  # a distribution's sublevel (e.g. Ubuntu 5.4.0-x) is not the stable point release
    if base == "5.4":
        point = sub or 0
        note: str | None = None
        for first, k, caution in _POINT_5_4:
            if point >= first:
                key, note = k, caution
        if note:
            cautions.append(note)
        if sub is None and not rest:
            cautions.append("5.4 means 5.4.0: 5.4.y changed the SPTE layout in 5.4.31, 5.4.49 and 5.4.85 "
                            "(give the point release, e.g. 5.4.286)")
        release = f"5.4.{point}" if sub is not None else "5.4"
    elif how not in ("read", "bracketed"):
        cautions.append(how)
    if rc:
        cautions.append(f"{version} is a release candidate: mapped to {base} as released")
    if base == "5.9" and sub and sub > 1:
        cautions.append("34c0f6f2695a (the MMIO-generation fix) was also backported to 5.9.y; the point release "
                        "was not pinned, so this assumes the 5.8 encoding")
    return Resolution(version, release, SPECS[key], tuple(cautions), distro)


def releases_of(key: str) -> list[str]:
    """The upstream releases (major.minor) a change point covers, oldest first."""
    return [r for r, (k, _) in RELEASES.items() if k == key]
