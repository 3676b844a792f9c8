"""The kernel's SPTE helpers under the kernel's names, one release at a time.

:class:`KvmHelpers` has the helpers every release from 5.4 to 7.1 has, with the
release's formula chosen by its :class:`~spte.kvm.releases.KernelSpec`; the mixins below
add the helpers that exist only in some releases (``spte_can_locklessly_be_made_writable``
until 5.15, ``is_mmu_writable_spte`` from 5.19, ``is_removed_spte`` 5.12-6.10,
``is_frozen_spte`` from 6.11, ``is_dirty_spte`` until 6.12, ``is_ept_ve_possible`` from 6.10,
``link_shadow_page`` until 5.9, ``make_nonleaf_spte`` from 5.10), so a profile has exactly the
names its kernel has.

Helpers that the kernel only calls under ``MMU_WARN_ON``/``KVM_MMU_WARN_ON`` preconditions
(``spte_ad_enabled`` and friends need a shadow-present SPTE; before 5.13 a non-MMIO one)
*return the kernel's answer* for any input -- the formula the kernel would execute --
unless called with ``strict=True``, which raises :class:`KvmPreconditionError` instead.
"""

from __future__ import annotations

from typing import Any

from spte.kvm import masks as K
from spte.kvm.masks import HostConfig, Masks, MmioGen, compute_masks
from spte.kvm.releases import KernelSpec

U64 = (1 << 64) - 1


class KvmPreconditionError(ValueError):
    """A helper was called on an SPTE for which the kernel would WARN."""


def legacy_is_shadow_present_pte(spte: int, is_mmio_spte: Any) -> bool:
    """KVM's definition until 5.11: ``spte != 0 && !is_mmio_spte(spte)``.

    Any non-zero, non-MMIO value counts as present -- so a not-present SPTE carrying a
    software tag is misread as present (the problem raised on LKML in June 2020).
    """
    return spte != 0 and not is_mmio_spte(spte)


class KvmHelpers:
    """The masks of one kernel on one host, and the helpers every release has."""

    def __init__(self, spec: KernelSpec, host: HostConfig) -> None:
        self.spec = spec
        self.host = host
        self.masks: Masks = compute_masks(spec, host)
        self.gen: MmioGen = K.MMIO_GENS[spec.mmio_gen]

    # The masks under the kernel's names (``p.shadow_present_mask``).
    def __getattr__(self, name: str) -> int:
        masks = self.__dict__.get("masks")
        if masks is not None and name in Masks.__dataclass_fields__:
            return int(getattr(masks, name))
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    @property
    def SHADOW_NONPRESENT_VALUE(self) -> int:
        """Bit 63 from 6.10 on x86-64 hosts; 0 before, and on 32-bit (PAE) hosts."""
        return 0 if self.host.pae else self.spec.nonpresent_value

    @property
    def frozen_value(self) -> int | None:
        """REMOVED_SPTE / FROZEN_SPTE of this release (None before 5.12; without bit 63 on 32-bit hosts)."""
        v = self.spec.frozen_value
        return v & ~K.SHADOW_NONPRESENT_VALUE if v is not None and self.host.pae and v != K.REMOVED_SPTE_5_12 else v

    @property
    def shadow_present_bit(self) -> int | None:
        """The bit that marks every shadow-present SPTE (SPTE_MMU_PRESENT_MASK from 5.13; none before)."""
        return K.SPTE_MMU_PRESENT_MASK.bit_length() - 1 if self.spec.mmu_present else None

    @property
    def acc_track_saved_mask(self) -> int:
        """Where access tracking saves R and X (bits 54/56; 52/54 in 4.19)."""
        return K.SHADOW_ACC_TRACK_SAVED_BITS_MASK << self.spec.acc_track_shift

    @property
    def spte_me_bits(self) -> int:
        """What make_spte/make_nonleaf_spte OR in for memory encryption."""
        return self.masks.shadow_me_value if self.spec.me_value_split else self.masks.shadow_me_mask

    # -- predicates every release has --------------------------------------------------------
    def is_mmio_spte(self, spte: int) -> bool:
        m = self.masks
        if self.spec.mmio_rule == "special":
            return spte & self.spec.special_mask == K.SPTE_MMIO_MASK
        return spte & m.shadow_mmio_mask == m.shadow_mmio_value and bool(m.enable_mmio_caching)

    def is_shadow_present_pte(self, spte: int) -> bool:
        if self.spec.mmu_present:
            return bool(spte & K.SPTE_MMU_PRESENT_MASK)
        present = legacy_is_shadow_present_pte(spte, self.is_mmio_spte)
        return present and spte != self.frozen_value  # 5.12: && !is_removed_spte()

    def is_large_pte(self, spte: int) -> bool:
        return bool(spte & K.PT_PAGE_SIZE_MASK)

    def is_last_spte(self, spte: int, level: int) -> bool:
        return level == 1 or self.is_large_pte(spte)

    def is_writable_pte(self, spte: int) -> bool:
        return bool(spte & K.PT_WRITABLE_MASK)

    def is_executable_pte(self, spte: int) -> bool:
        m = self.masks
        return spte & (m.shadow_x_mask | m.shadow_nx_mask) == m.shadow_x_mask

    def spte_to_pfn(self, spte: int) -> int:
        return (spte & self.masks.SPTE_BASE_ADDR_MASK) >> 12

    def precondition_holds(self, spte: int) -> bool:
        """The literal MMU_WARN_ON condition of the A/D helpers in this release."""
        return self.is_shadow_present_pte(spte) if self.spec.mmu_present else not self.is_mmio_spte(spte)

    def _precondition(self, name: str, spte: int, strict: bool) -> None:
        if strict and not self.precondition_holds(spte):
            need = "a shadow-present SPTE" if self.spec.mmu_present else "a non-MMIO SPTE"
            raise KvmPreconditionError(f"{name}({spte:#x}): Linux {self.spec.key} requires {need} "
                                       "(MMU_WARN_ON would fire)")

    def spte_ad_enabled(self, spte: int, *, strict: bool = False) -> bool:
        self._precondition("spte_ad_enabled", spte, strict)
        return spte & self.spec.special_mask != self.spec.ad_disabled_mask

    def is_access_track_spte(self, spte: int, *, strict: bool = False) -> bool:
        self._precondition("is_access_track_spte", spte, strict)
        return not self.spte_ad_enabled(spte) and spte & self.masks.shadow_acc_track_mask == 0

    def is_accessed_spte(self, spte: int, *, strict: bool = False) -> bool:
        if self.spec.ad_rework:  # 6.13+: a plain bit test, no precondition
            return bool(spte & self.masks.shadow_accessed_mask)
        self._precondition("is_accessed_spte", spte, strict)
        accessed = self.masks.shadow_accessed_mask if self.spte_ad_enabled(spte) else 0
        return bool(spte & accessed) if accessed else not self.is_access_track_spte(spte)

    # -- MMIO SPTEs -------------------------------------------------------------------------------
    def generation_mmio_spte_mask(self, gen: int) -> int:
        return self.gen.encode(gen)

    def get_mmio_spte_generation(self, spte: int) -> int:
        if self.gen.strip_mmio_mask:  # 5.4.0-5.4.18: spte &= ~shadow_mmio_mask first
            spte &= ~self.masks.shadow_mmio_mask
        return self.gen.decode(spte)

    def get_mmio_spte_gfn(self, spte: int) -> int:
        m = self.masks
        gpa = spte & m.shadow_nonpresent_or_rsvd_lower_gfn_mask
        gpa |= (spte >> K.SHADOW_NONPRESENT_OR_RSVD_MASK_LEN) & m.shadow_nonpresent_or_rsvd_mask
        return gpa >> 12

    def get_mmio_spte_access(self, spte: int) -> int:
        if self.spec.mmio_access_from_low_bits:  # 4.19: what is left of the low 12 bits
            return spte & 0xFFF & ~(self.gen.encode(self.gen.gen_mask) | self.masks.shadow_mmio_mask)
        return spte & self.masks.shadow_mmio_access_mask

    def make_mmio_spte(self, gfn: int, access: int, gen: int) -> int:
        """``gen`` is the memslots generation, masked to the SPTE's width as the kernel does."""
        m = self.masks
        gen &= self.gen.gen_mask
        access &= 0xFFFFFFFF  # an unsigned int in the kernel
        gpa = (gfn << 12) & U64
        rsvd = m.shadow_nonpresent_or_rsvd_mask
        spte = self.gen.encode(gen) | m.shadow_mmio_value | (access & m.shadow_mmio_access_mask)
        spte |= gpa | rsvd
        spte |= (gpa & rsvd) << K.SHADOW_NONPRESENT_OR_RSVD_MASK_LEN
        return spte & U64

    # -- access tracking --------------------------------------------------------------------------
    def mark_spte_for_access_track(self, spte: int) -> int:
        m = self.masks
        if self.spte_ad_enabled(spte):
            return spte & ~m.shadow_accessed_mask & U64
        if self.is_access_track_spte(spte):
            return spte
        spte |= (spte & K.SHADOW_ACC_TRACK_SAVED_BITS_MASK) << self.spec.acc_track_shift
        clear = m.shadow_acc_track_mask | (m.shadow_accessed_mask if self.spec.ad_rework else 0)
        return spte & ~clear & U64

    def restore_acc_track_spte(self, spte: int) -> int:
        saved = (spte >> self.spec.acc_track_shift) & K.SHADOW_ACC_TRACK_SAVED_BITS_MASK
        spte &= ~self.masks.shadow_acc_track_mask & ~self.acc_track_saved_mask
        return (spte | saved) & U64

    def _nonleaf_spte(self, child_pt_phys: int, ad_disabled: bool) -> int:
        """make_nonleaf_spte() (5.10+) / the inline composition of link_shadow_page() (5.4-5.9)."""
        m = self.masks
        spte = K.SPTE_MMU_PRESENT_MASK if self.spec.mmu_present else 0
        spte |= (child_pt_phys | m.shadow_present_mask | K.PT_WRITABLE_MASK | m.shadow_user_mask
                 | m.shadow_x_mask | self.spte_me_bits)
        spte |= self.spec.ad_disabled_mask if ad_disabled else m.shadow_accessed_mask
        return spte & U64


# -- helpers that only some releases have ---------------------------------------------------------
class LocklessWritable:
    """<= 5.15."""

    def spte_can_locklessly_be_made_writable(self: Any, spte: int) -> bool:
        both = self.masks.shadow_host_writable_mask | self.masks.shadow_mmu_writable_mask
        return bool(spte & both == both)


class NeedWriteProtect:
    """5.3+ (SPTE_AD_WRPROT_ONLY_MASK)."""

    def spte_ad_need_write_protect(self: Any, spte: int, *, strict: bool = False) -> bool:
        self._precondition("spte_ad_need_write_protect", spte, strict)
        return bool(spte & K.SPTE_TDP_AD_MASK != K.SPTE_TDP_AD_ENABLED)


class MmuWritable:
    """5.19+."""

    def is_mmu_writable_spte(self: Any, spte: int) -> bool:
        return bool(spte & self.masks.shadow_mmu_writable_mask)


class Dirty:
    """<= 6.12 (6.13 removed it with the A/D rework)."""

    def is_dirty_spte(self: Any, spte: int, *, strict: bool = False) -> bool:
        self._precondition("is_dirty_spte", spte, strict)
        dirty = self.masks.shadow_dirty_mask if self.spte_ad_enabled(spte) else 0
        return bool(spte & dirty) if dirty else bool(spte & K.PT_WRITABLE_MASK)


class Removed:
    """5.12-6.10."""

    def is_removed_spte(self: Any, spte: int) -> bool:
        return bool(spte == self.frozen_value)


class Frozen:
    """6.11+."""

    def is_frozen_spte(self: Any, spte: int) -> bool:
        return bool(spte == self.frozen_value)


class EptVe:
    """6.10+."""

    def is_ept_ve_possible(self: Any, spte: int) -> bool:
        return (bool(self.masks.shadow_present_mask & K.VMX_EPT_SUPPRESS_VE_BIT)
                and not spte & K.VMX_EPT_SUPPRESS_VE_BIT
                and spte & K.VMX_EPT_RWX_MASK != K.VMX_EPT_MISCONFIG_WX_VALUE)


class LinkShadowPage:
    """<= 5.9: non-leaf SPTEs are built inline in link_shadow_page()."""

    def link_shadow_page(self: Any, child_pt_phys: int, ad_disabled: bool) -> int:
        return int(self._nonleaf_spte(child_pt_phys, ad_disabled))


class MakeNonleaf:
    """5.10+."""

    def make_nonleaf_spte(self: Any, child_pt_phys: int, ad_disabled: bool) -> int:
        return int(self._nonleaf_spte(child_pt_phys, ad_disabled))


MIXINS: dict[str, type] = {
    "spte_can_locklessly_be_made_writable": LocklessWritable, "is_mmu_writable_spte": MmuWritable,
    "is_dirty_spte": Dirty, "is_removed_spte": Removed, "is_frozen_spte": Frozen,
    "is_ept_ve_possible": EptVe, "spte_ad_need_write_protect": NeedWriteProtect,
    "link_shadow_page": LinkShadowPage, "make_nonleaf_spte": MakeNonleaf,
}
