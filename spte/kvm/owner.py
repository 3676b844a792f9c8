"""KVM as an owner of software bits (:class:`spte.metadata.owner.Owner`): its fields per
entry state under the kernel's names, the rules a new tag must respect, and the bits its
own transitions write -- so that the allocator's proof covers what KVM *does* to an SPTE,
not only which bits it names.

Transitions (:meth:`OwnerSide.transitions`) are the kernel functions that rewrite a live
SPTE in a state where a third party's tag could sit: ``mark_spte_for_access_track`` (saves
R/X into bits 54/56 of EPT leaves whose A/D type is disabled, then clears RWX and, from 6.13,
the accessed bit), ``restore_acc_track_spte`` (clears the saved bits again), the
write-protection paths (clear W and MMU-writable), and the zap/freeze paths that replace
the whole value (``SHADOW_NONPRESENT_VALUE``, ``REMOVED_SPTE``/``FROZEN_SPTE``,
``make_mmio_spte``).  A tag may not use a bit a transition writes in a state it may be set
in; whole-value replacements cannot be survived by any bit, and say so.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from spte.bits import bit_list, union
from spte.entry import entry_class, levels_in_use
from spte.kvm import masks as K
from spte.metadata.owner import SoftwareField
from spte.metadata.states import hardware_owned

if TYPE_CHECKING:  # the allocator loads when a layout is asked for (decoding and logs need none)
    from spte.metadata.allocator import TagLayout

U64 = (1 << 64) - 1
_ALL_STATES = ("present_leaf", "present_nonleaf", "not_present", "fault")


@dataclass(frozen=True)
class Transition:
    """A kernel function that rewrites an SPTE in ``states``, and the bits it writes."""

    function: str
    states: tuple[str, ...]
    writes: int  # bits the function may change while keeping the rest (0: replaces the whole value)
    effect: str


class OwnerSide:
    """fields/owned_bits/owner_of/transitions/allocate (mixed into KvmProfile)."""

    # -- fields ---------------------------------------------------------------------------------
    def _all_fields(self: Any) -> tuple[SoftwareField, ...]:
        m, spec, ept = self.masks, self.spec, self.host.ept
        leaf = ("present_leaf", "not_present") if ept else ("present_leaf",)  # not_present: access-tracked
        out: list[SoftwareField] = []

        def field(name: str, mask: int, states: tuple[str, ...], meaning: str) -> None:
            if mask:
                out.append(SoftwareField(name, mask, states, meaning))

        if spec.mmu_present:
            field("mmu_present", K.SPTE_MMU_PRESENT_MASK, ("present_leaf", "present_nonleaf", *leaf[1:]),
                  "SPTE_MMU_PRESENT_MASK: backed by memory (set even while access-tracked)")
        hw_name = "shadow_host_writable_mask" if spec.mmu_present else "SPTE_HOST_WRITEABLE"
        mw_name = "shadow_mmu_writable_mask" if spec.mmu_present else "SPTE_MMU_WRITEABLE"
        field("host_writable", m.shadow_host_writable_mask, leaf, f"{hw_name}: the host mapping is writable")
        field("mmu_writable", m.shadow_mmu_writable_mask, leaf, f"{mw_name}: KVM may make the SPTE writable")
        # The A/D type is always 0 (enabled) outside EPT: it is a field only in EPT SPTEs, and
        # before 5.13 value 3 of the same bits marks every MMIO SPTE.
        present = ("present_leaf", "present_nonleaf", *leaf[1:]) if ept else ()
        if spec.mmu_present:
            field("ad_type", K.SPTE_TDP_AD_MASK if ept else 0, present,
                  "SPTE_TDP_AD_MASK: A/D tracking type (0 enabled, 1 disabled, 2 write-protect only)")
        else:
            field("spte_special", spec.special_mask, (*present, "fault"),
                  "SPTE_SPECIAL_MASK: A/D type 0 enabled, 1 disabled, 2 write-protect only, 3 MMIO"
                  if spec.special_mask == K.SPTE_SPECIAL_MASK else "SPTE_SPECIAL_MASK: A/D-disabled or MMIO")
        if ept:
            saved = self.acc_track_saved_mask
            field("acc_track_saved", saved, ("not_present",),
                  f"R ({saved.bit_length() - 3}) and X ({saved.bit_length() - 1}) saved by mark_spte_for_access_track")
            if spec.ad_rework and not m.kvm_ad_enabled:
                field("soft_accessed", m.shadow_accessed_mask, ("present_leaf", "present_nonleaf"),
                      "shadow_accessed_mask: software accessed bit (EPT A/D off, 6.13+)")
                field("soft_dirty", m.shadow_dirty_mask, ("present_leaf",), "shadow_dirty_mask: software dirty bit")
        if m.enable_mmio_caching:
            gen = self.gen.encode(self.gen.gen_mask) & ~(0 if spec.mmu_present else spec.special_mask)
            field("mmio_gen", gen, ("fault",), f"MMIO generation ({self.gen.names[0]}/{self.gen.names[1]})")
            field("mmio_access", m.shadow_mmio_access_mask & ~m.shadow_mmio_mask, ("fault",),
                  "shadow_mmio_access_mask: guest access bits")
            gfn = m.shadow_nonpresent_or_rsvd_lower_gfn_mask | (
                m.shadow_nonpresent_or_rsvd_mask << K.SHADOW_NONPRESENT_OR_RSVD_MASK_LEN)
            field("mmio_gfn", gfn & ~m.shadow_mmio_value, ("fault",), "MMIO gfn (split around the L1TF mask)")
            field("l1tf_rsvd", m.shadow_nonpresent_or_rsvd_mask, ("fault",),
                  "shadow_nonpresent_or_rsvd_mask: always set, points the SPTE at uncacheable memory")
        return tuple(out)

    def fields(self: Any, state: str) -> tuple[SoftwareField, ...]:
        by_state: dict[str, tuple[SoftwareField, ...]] | None = self.__dict__.get("_fields_by_state")
        if by_state is None:  # a profile is immutable: its fields are computed once
            every = self._all_fields()
            by_state = self.__dict__["_fields_by_state"] = {
                s: tuple(f for f in every if s in f.states) for s in _ALL_STATES}
        return by_state[state] if state in by_state else ()

    # -- transitions ----------------------------------------------------------------------------
    def transitions(self: Any, state: str) -> tuple[Transition, ...]:
        m, ept = self.masks, self.host.ept
        out = []
        if ept:
            saved = self.acc_track_saved_mask
            clears = m.shadow_acc_track_mask | (m.shadow_accessed_mask if self.spec.ad_rework else 0)
            out.append(Transition("mark_spte_for_access_track", ("present_leaf",), saved | clears,
                                  f"saves R/X into bits {saved.bit_length() - 3}/{saved.bit_length() - 1} "
                                  f"(SHADOW_ACC_TRACK_SAVED_BITS_SHIFT) of a leaf that is A/D-disabled "
                                  f"({self.spec.ad_names[1]}) and WARNs if they are not zero"))
            out.append(Transition("restore_acc_track_spte", ("not_present",), saved | m.shadow_acc_track_mask,
                                  "clears bits 54/56 again and restores R/X"))
        out.append(Transition("write-protection (mmu_spte_update, kvm_mmu_write_protect_pt_masked)",
                              ("present_leaf",), K.PT_WRITABLE_MASK | m.shadow_mmu_writable_mask,
                              "clears W and MMU-writable"))
        out.append(Transition("zap (mmu_spte_clear_track_bits, tdp_mmu_zap_spte_atomic)",
                              ("present_leaf", "present_nonleaf", "fault"), 0,
                              f"replaces the whole value with {self.SHADOW_NONPRESENT_VALUE:#x}"))
        if self.frozen_value is not None:
            out.append(Transition(f"freeze ({self.spec.frozen_name})", ("present_leaf", "present_nonleaf"), 0,
                                  f"replaces the whole value with {self.frozen_value:#x} while it is updated"))
        return tuple(t for t in out if state in t.states)

    # -- owned bits -------------------------------------------------------------------------------
    def not_present_rules(self: Any) -> dict[str, int]:
        """Bits a new tag in a non-shadow-present SPTE must avoid, and why."""
        m, spec = self.masks, self.spec
        if not spec.mmu_present:
            return {"any non-zero non-MMIO SPTE is shadow-present in this kernel": U64}
        rules = {
            "SPTE_MMU_PRESENT_MASK: the tag would make the SPTE shadow-present": K.SPTE_MMU_PRESENT_MASK,
            # Bits 51:12, the frame of the widest CPU (MAXPHYADDR 52).
            "PFN bits: a non-present SPTE must not point at memory (L1TF)":
                entry_class(self.format, 1).table_field("frame").mask,
        }
        if self.SHADOW_NONPRESENT_VALUE:
            rules["SHADOW_NONPRESENT_VALUE bits stay set"] = self.SHADOW_NONPRESENT_VALUE
        if self.frozen_value:
            rules[f"{spec.frozen_helper}: the SPTE must never equal the frozen value"] = (
                self.frozen_value & ~self.SHADOW_NONPRESENT_VALUE)
        hw_not_present = hardware_owned(self.format, 1, "not_present", self.platform)
        # A not-present SPTE can only look like MMIO if the MMIO value needs no hardware bit.
        if m.enable_mmio_caching and not m.shadow_mmio_value & hw_not_present:
            rules["(spte & shadow_mmio_mask) == shadow_mmio_value must stay false"] = m.shadow_mmio_mask
        return rules

    def fault_trigger(self: Any) -> int:
        """The bits that mark an MMIO SPTE (and make hardware fault on it)."""
        if self.host.ept:
            return K.VMX_EPT_READABLE_MASK | K.PT_WRITABLE_MASK
        value = self.masks.shadow_mmio_value & ~(0 if self.spec.mmu_present else self.spec.special_mask)
        return value if value else K.PT_PRESENT_MASK

    def owned_bits(self: Any, state: str) -> int:
        owned = union(f.mask for f in self.fields(state)) | union(t.writes for t in self.transitions(state))
        if state == "not_present":  # also an access-tracked EPT leaf: not present to hardware, present to KVM
            return owned | union(self.not_present_rules().values())
        if state == "fault":  # the MMIO marker, and no MMU-present bit (MMIO SPTEs are not present)
            marker = (self.masks.shadow_mmio_mask | K.SPTE_MMU_PRESENT_MASK if self.spec.mmu_present
                      else self.spec.special_mask | self.masks.shadow_mmio_mask)
            owned |= self.fault_trigger() | marker
        return owned

    def owner_of(self: Any, bit: int, state: str) -> str | None:
        if state == "not_present":  # the rules of an empty SPTE first: they are why most bits are taken
            for why, mask in self.not_present_rules().items():
                if mask >> bit & 1:
                    return f"{self.name}: {why}"
        for f in self.fields(state):
            if f.mask >> bit & 1:
                what = " of an access-tracked SPTE" if state == "not_present" else ""
                return f"{self.name}: {f.name}{what} ({f.meaning})"
        for t in self.transitions(state):
            if t.writes >> bit & 1:
                return f"{self.name}: {t.function} {t.effect}"
        return f"{self.name}: MMIO marker" if state == "fault" and self.owned_bits(state) >> bit & 1 else None

    def free_not_present_bits(self: Any) -> int:
        """Bits a new not-present tag may use under this kernel (hardware and kernel rules)."""
        hw = union(hardware_owned(self.format, level, "not_present", self.platform)
                   for level in levels_in_use(self.format, self.platform))
        return U64 & ~hw & ~int(self.owned_bits("not_present"))

    # -- KVM's own bits as a proven tag layout, and allocation against them ---------------------------
    def _build_layout(self: Any) -> TagLayout:
        from spte.metadata.allocator import TagSpec, allocate

        specs = [TagSpec(f.name, f.mask.bit_count(), bits=tuple(bit_list(f.mask)), states=f.states,
                         meaning=f.meaning) for f in self._all_fields()]
        return allocate(self.format, specs, states=_ALL_STATES, platform=self.platform,
                        fault_trigger=self.fault_trigger())

    def allocate(self: Any, tags: Any, states: tuple[str, ...] = ("not_present",), **kw: Any) -> TagLayout:
        """Allocate new tags against this kernel (``spte.allocate(..., owner=self)``)."""
        from spte.metadata.allocator import allocate

        return allocate(self.format, tags, states=states, platform=self.platform, owner=self, **kw)
