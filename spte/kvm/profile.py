"""A KVM profile: one kernel version + MMU flavour + host, with the kernel's predicates
and helpers under the kernel's own names, its software bits as a proven tag layout, and
``classify``/``describe`` for raw SPTEs.

Helpers that the kernel only calls under ``MMU_WARN_ON``/``KVM_MMU_WARN_ON`` preconditions
(``spte_ad_enabled`` and friends need a shadow-present SPTE; in 5.8 a non-MMIO one)
*return the kernel's answer* for any input -- the formula the kernel would execute --
unless called with ``strict=True``, which raises :class:`KvmPreconditionError` instead.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from spte.bits import bit_list, genmask, union
from spte.entry import Entry, decode, levels_in_use
from spte.kvm import masks as K
from spte.kvm.masks import HostConfig, compute_masks
from spte.kvm.versions import B63, KernelSpec
from spte.metadata.allocator import TagLayout, TagSpec, allocate
from spte.metadata.states import hardware_owned
from spte.platform import Platform

U64 = (1 << 64) - 1


class KvmPreconditionError(ValueError):
    """A helper was called on an SPTE for which the kernel would WARN."""


@dataclass(frozen=True)
class Classification:
    kind: str  # "not-present", "frozen", "mmio", "present-leaf", "present-nonleaf", "access-tracked"
    summary: str


@dataclass(frozen=True)
class Description:
    """Everything a profile can say about one SPTE."""

    spte: int
    level: int
    profile: str
    kind: str
    summary: str
    hardware: Entry
    software: dict[str, int]
    mmio: dict[str, int] | None
    notes: tuple[str, ...] = ()

    def text(self) -> str:
        lines = [f"{self.spte:#018x} level {self.level} [{self.profile}]: {self.kind} -- {self.summary}",
                 f"  hardware: {self.hardware!r}"]
        if self.software:
            lines.append("  software: " + " ".join(f"{k}={v:#x}" for k, v in self.software.items()))
        if self.mmio:
            lines.append("  mmio: " + " ".join(f"{k}={v:#x}" for k, v in self.mmio.items()))
        lines += [f"  note: {n}" for n in self.notes]
        return "\n".join(lines)


class KvmProfile:
    """Base profile; the version-specific helper names live in the mixins below."""

    def __init__(self, spec: KernelSpec, host: HostConfig) -> None:
        self.spec = spec
        self.host = host
        self.version = spec.version
        self.flavour = host.flavour
        self.name = f"kvm-{spec.version}:{host.flavour}"
        self.masks = compute_masks(spec, host)
        for k, v in self.masks.items():
            setattr(self, k, v)
        self.format = "ept" if host.ept else ("npt" if host.flavour == "npt" else "x86-64")
        self.platform = Platform(
            maxphyaddr=host.maxphyaddr, vendor="amd" if host.flavour == "npt" or host.sme else "intel",
            c_bit=host.me_bit if host.sme else None, ept_ad=host.flavour == "ept-ad",
            ept_execute_only=host.exec_only)
        self.layout: TagLayout = self._build_layout()
        self._check_static_asserts()

    # -- attributes the masks dict sets (declared for type checkers) -------------------
    shadow_user_mask: int
    shadow_accessed_mask: int
    shadow_dirty_mask: int
    shadow_nx_mask: int
    shadow_x_mask: int
    shadow_present_mask: int
    shadow_acc_track_mask: int
    shadow_me_mask: int
    shadow_me_value: int
    shadow_host_writable_mask: int
    shadow_mmu_writable_mask: int
    shadow_mmio_value: int
    shadow_mmio_mask: int
    shadow_mmio_access_mask: int
    shadow_nonpresent_or_rsvd_mask: int
    shadow_nonpresent_or_rsvd_lower_gfn_mask: int
    SPTE_BASE_ADDR_MASK: int
    enable_mmio_caching: int
    kvm_ad_enabled: int

    def __repr__(self) -> str:
        return f"<KvmProfile {self.name} maxphyaddr={self.host.maxphyaddr}>"

    # -- constants ---------------------------------------------------------------------
    @property
    def SHADOW_NONPRESENT_VALUE(self) -> int:
        return self.spec.nonpresent_value

    @property
    def frozen_value(self) -> int | None:
        return self.spec.frozen_value

    @property
    def spte_me_bits(self) -> int:
        """What make_spte/make_nonleaf_spte OR in for memory encryption."""
        return self.shadow_me_value if self.spec.me_value_split else self.shadow_me_mask

    @property
    def mmio_gen_masks(self) -> tuple[int, int]:
        if self.spec.mmu_present:
            return K.MMIO_GEN_LOW_MASK, K.MMIO_GEN_HIGH_MASK
        return K.MMIO_GEN_LOW_MASK_5_8, K.MMIO_GEN_HIGH_MASK_5_8

    def describe_profile(self) -> str:
        lines = [f"{self.name}: Linux {self.version}, {self.flavour} MMU, MAXPHYADDR {self.host.maxphyaddr}"
                 f"{', L1TF mitigation on' if self.shadow_nonpresent_or_rsvd_mask else ''}"
                 f"{f', SME C-bit {self.host.me_bit}' if self.host.sme else ''}",
                 f"source: {self.spec.source}"]
        lines += [f"note: {n}" for n in self.spec.notes]
        lines += [f"{k} = {v:#x}" for k, v in self.masks.items()]
        return "\n".join(lines)

    # -- predicates every version has ----------------------------------------------------
    def is_mmio_spte(self, spte: int) -> bool:
        if not self.spec.mmu_present:
            return spte & K.SPTE_MMIO_MASK_5_8 == K.SPTE_MMIO_MASK_5_8
        return spte & self.shadow_mmio_mask == self.shadow_mmio_value and bool(self.enable_mmio_caching)

    def is_shadow_present_pte(self, spte: int) -> bool:
        if not self.spec.mmu_present:
            return spte != 0 and not self.is_mmio_spte(spte)
        return bool(spte & K.SPTE_MMU_PRESENT_MASK)

    def is_large_pte(self, spte: int) -> bool:
        return bool(spte & K.PT_PAGE_SIZE_MASK)

    def is_last_spte(self, spte: int, level: int) -> bool:
        return level == 1 or self.is_large_pte(spte)

    def is_writable_pte(self, spte: int) -> bool:
        return bool(spte & K.PT_WRITABLE_MASK)

    def is_executable_pte(self, spte: int) -> bool:
        return spte & (self.shadow_x_mask | self.shadow_nx_mask) == self.shadow_x_mask

    def spte_to_pfn(self, spte: int) -> int:
        return (spte & self.SPTE_BASE_ADDR_MASK) >> 12

    def _precondition(self, name: str, spte: int, strict: bool) -> None:
        if not strict:
            return
        ok = not self.is_mmio_spte(spte) if not self.spec.mmu_present else self.is_shadow_present_pte(spte)
        if not ok:
            need = "a non-MMIO SPTE" if not self.spec.mmu_present else "a shadow-present SPTE"
            raise KvmPreconditionError(f"{name}({spte:#x}): Linux {self.version} requires {need} "
                                       "(MMU_WARN_ON would fire)")

    def spte_ad_enabled(self, spte: int, *, strict: bool = False) -> bool:
        self._precondition("spte_ad_enabled", spte, strict)
        return spte & K.SPTE_TDP_AD_MASK != K.SPTE_TDP_AD_DISABLED

    def spte_ad_need_write_protect(self, spte: int, *, strict: bool = False) -> bool:
        self._precondition("spte_ad_need_write_protect", spte, strict)
        return spte & K.SPTE_TDP_AD_MASK != K.SPTE_TDP_AD_ENABLED

    def is_access_track_spte(self, spte: int, *, strict: bool = False) -> bool:
        self._precondition("is_access_track_spte", spte, strict)
        return not self.spte_ad_enabled(spte) and spte & self.shadow_acc_track_mask == 0

    def is_accessed_spte(self, spte: int, *, strict: bool = False) -> bool:
        if self.spec.ad_rework:
            return bool(spte & self.shadow_accessed_mask)
        self._precondition("is_accessed_spte", spte, strict)
        accessed = self.shadow_accessed_mask if self.spte_ad_enabled(spte) else 0
        return bool(spte & accessed) if accessed else not self.is_access_track_spte(spte)

    def get_mmio_spte_generation(self, spte: int) -> int:
        if not self.spec.mmu_present:  # bug-for-bug: the high half is shifted by 54, not 45
            return ((spte & K.MMIO_GEN_LOW_MASK_5_8) >> K.MMIO_GEN_LOW_START_5_8) | (
                (spte & K.MMIO_GEN_HIGH_MASK_5_8) >> K.MMIO_GEN_HIGH_START_5_8)
        return ((spte & K.MMIO_GEN_LOW_MASK) >> K.MMIO_GEN_LOW_SHIFT) | (
            (spte & K.MMIO_GEN_HIGH_MASK) >> K.MMIO_GEN_HIGH_SHIFT)

    def get_mmio_spte_gfn(self, spte: int) -> int:
        gpa = spte & self.shadow_nonpresent_or_rsvd_lower_gfn_mask
        gpa |= (spte >> K.SHADOW_NONPRESENT_OR_RSVD_MASK_LEN) & self.shadow_nonpresent_or_rsvd_mask
        return gpa >> 12

    def get_mmio_spte_access(self, spte: int) -> int:
        return spte & self.shadow_mmio_access_mask

    def generation_mmio_spte_mask(self, gen: int) -> int:
        if not self.spec.mmu_present:
            return ((gen << K.MMIO_GEN_LOW_START_5_8) & K.MMIO_GEN_LOW_MASK_5_8) | (
                (gen << K.MMIO_GEN_HIGH_START_5_8) & K.MMIO_GEN_HIGH_MASK_5_8)
        return ((gen << K.MMIO_GEN_LOW_SHIFT) & K.MMIO_GEN_LOW_MASK) | (
            (gen << K.MMIO_GEN_HIGH_SHIFT) & K.MMIO_GEN_HIGH_MASK)

    def make_mmio_spte(self, gfn: int, access: int, gen: int) -> int:
        """``gen`` is the memslots generation, masked to the SPTE's width as the kernel does."""
        gen &= K.MMIO_GEN_MASK if self.spec.mmu_present else K.MMIO_GEN_MASK_5_8
        access &= 0xFFFFFFFF  # an unsigned int in the kernel
        gpa = (gfn << 12) & U64
        rsvd = self.shadow_nonpresent_or_rsvd_mask
        spte = self.generation_mmio_spte_mask(gen)
        spte |= self.shadow_mmio_value | (access & self.shadow_mmio_access_mask)
        spte |= gpa | rsvd
        spte |= (gpa & rsvd) << K.SHADOW_NONPRESENT_OR_RSVD_MASK_LEN
        return spte & U64

    def mark_spte_for_access_track(self, spte: int) -> int:
        if self.spte_ad_enabled(spte):
            return spte & ~self.shadow_accessed_mask & U64
        if self.is_access_track_spte(spte):
            return spte
        saved = K.SHADOW_ACC_TRACK_SAVED_BITS_MASK
        spte |= (spte & saved) << K.SHADOW_ACC_TRACK_SAVED_BITS_SHIFT
        clear = self.shadow_acc_track_mask | (self.shadow_accessed_mask if self.spec.ad_rework else 0)
        return spte & ~clear & U64

    def restore_acc_track_spte(self, spte: int) -> int:
        saved_mask = K.SHADOW_ACC_TRACK_SAVED_BITS_MASK
        saved = (spte >> K.SHADOW_ACC_TRACK_SAVED_BITS_SHIFT) & saved_mask
        spte &= ~self.shadow_acc_track_mask
        spte &= ~(saved_mask << K.SHADOW_ACC_TRACK_SAVED_BITS_SHIFT)
        return (spte | saved) & U64

    def _nonleaf(self, child_pt_phys: int, ad_disabled: bool) -> int:
        spte = K.SPTE_MMU_PRESENT_MASK if self.spec.mmu_present else 0
        spte |= (child_pt_phys | self.shadow_present_mask | K.PT_WRITABLE_MASK | self.shadow_user_mask
                 | self.shadow_x_mask | self.spte_me_bits)
        spte |= K.SPTE_TDP_AD_DISABLED if ad_disabled else self.shadow_accessed_mask
        return spte & U64

    # -- classification ----------------------------------------------------------------
    def _is_frozen(self, spte: int) -> bool:
        return self.spec.frozen_value is not None and spte == self.spec.frozen_value

    def classify(self, spte: int, level: int) -> Classification:
        if spte in (0, self.SHADOW_NONPRESENT_VALUE):
            what = "zero" if spte == 0 else "SHADOW_NONPRESENT_VALUE"
            return Classification("not-present", f"empty SPTE ({what})")
        if self._is_frozen(spte):
            return Classification("frozen", f"{self.spec.frozen_name} placeholder: another thread is "
                                  "updating this SPTE")
        if self.is_mmio_spte(spte):
            gen, gfn = self.get_mmio_spte_generation(spte), self.get_mmio_spte_gfn(spte)
            return Classification("mmio", f"MMIO SPTE: gfn {gfn:#x} gen {gen:#x} "
                                  f"access {self.get_mmio_spte_access(spte):#x}")
        if self.is_shadow_present_pte(spte):
            pfn = self.spte_to_pfn(spte)
            if self.is_last_spte(spte, level) and self.is_access_track_spte(spte):
                return Classification("access-tracked", f"access-tracked leaf, pfn {pfn:#x}, "
                                      "not present to hardware until the next access")
            if self.is_last_spte(spte, level):
                w = "w" if self.is_writable_pte(spte) else "-"
                x = "x" if self.is_executable_pte(spte) else "-"
                return Classification("present-leaf", f"leaf {4 << (9 * (level - 1))} KiB page, pfn {pfn:#x} "
                                      f"({w}{x}), accessed={int(self.is_accessed_spte(spte))}")
            return Classification("present-nonleaf", f"points to a level-{level - 1} table at {pfn << 12:#x}")
        return Classification("not-present", "not present; non-zero bits are software metadata")

    def describe(self, spte: int, level: int) -> Description:
        c = self.classify(spte, level)
        hw = decode(spte, self.format, level, self.platform)
        state = {"mmio": "fault", "present-leaf": "present_leaf", "present-nonleaf": "present_nonleaf",
                 "access-tracked": "not_present", "not-present": "not_present"}.get(c.kind)
        software = {}
        if state is not None:
            for t in self.layout.tags:
                if state in t.states and (c.kind != "not-present" or t.name == "mmu_present"):
                    software[t.name] = t.get(spte)
        mmio = None
        if c.kind == "mmio":
            mmio = {"gfn": self.get_mmio_spte_gfn(spte), "gen": self.get_mmio_spte_generation(spte),
                    "access": self.get_mmio_spte_access(spte)}
        notes = []
        if c.kind == "mmio" and not self.spec.mmu_present:
            notes.append("5.8 MMIO generation bug: only generation bits 8:0 survive (34c0f6f2695a)")
        if self.spec.mmu_present and self.is_mmio_spte(spte) and self.is_shadow_present_pte(spte):
            notes.append("matches the MMIO pattern *and* has the MMU-present bit: no KVM SPTE looks like this")
        return Description(spte, level, self.name, c.kind, c.summary, hw, software, mmio, tuple(notes))

    # -- software bits as a tag layout ----------------------------------------------------
    def _tag_specs(self) -> list[TagSpec]:
        ept, mp = self.host.ept, self.spec.mmu_present
        leaf_states = ("present_leaf", "not_present") if ept else ("present_leaf",)
        specs: list[TagSpec] = []

        def tag(name: str, mask: int, states: tuple[str, ...], meaning: str) -> None:
            if mask:
                specs.append(TagSpec(name, mask.bit_count(), bits=tuple(bit_list(mask)), states=states,
                                     meaning=meaning))

        if mp:
            tag("mmu_present", K.SPTE_MMU_PRESENT_MASK, ("present_leaf", "present_nonleaf", *leaf_states[1:]),
                "SPTE_MMU_PRESENT_MASK: backed by memory (set even while access-tracked)")
        tag("host_writable", self.shadow_host_writable_mask, leaf_states, "host mapping is writable")
        tag("mmu_writable", self.shadow_mmu_writable_mask, leaf_states, "KVM may make the SPTE writable")
        tag("ad_type" if mp else "spte_special", K.SPTE_TDP_AD_MASK,
            ("present_leaf", "present_nonleaf", *leaf_states[1:]) if mp else
            ("present_leaf", "present_nonleaf", *leaf_states[1:], "fault"),
            "A/D tracking type: 0 enabled, 1 disabled, 2 write-protect only"
            + ("" if mp else ", 3 MMIO"))
        if ept:
            tag("acc_track_saved", K.SHADOW_ACC_TRACK_SAVED_BITS_MASK << K.SHADOW_ACC_TRACK_SAVED_BITS_SHIFT,
                ("not_present",), "R (54) and X (56) saved while access-tracked")
            if self.spec.ad_rework and not self.kvm_ad_enabled:
                tag("soft_accessed", self.shadow_accessed_mask, ("present_leaf", "present_nonleaf"),
                    "software accessed bit (EPT A/D off, 6.13+)")
                tag("soft_dirty", self.shadow_dirty_mask, ("present_leaf",), "software dirty bit")
        if self.shadow_mmio_value or not mp:
            low, high = self.mmio_gen_masks
            tag("mmio_gen", low | high, ("fault",), "MMIO generation")
            tag("mmio_access", self.shadow_mmio_access_mask, ("fault",), "guest access bits of the MMIO SPTE")
            gfn = self.shadow_nonpresent_or_rsvd_lower_gfn_mask | (
                self.shadow_nonpresent_or_rsvd_mask << K.SHADOW_NONPRESENT_OR_RSVD_MASK_LEN)
            tag("mmio_gfn", gfn, ("fault",), "MMIO gfn (split around the L1TF mask)")
            tag("l1tf_rsvd", self.shadow_nonpresent_or_rsvd_mask, ("fault",),
                "shadow_nonpresent_or_rsvd_mask: always set, makes the SPTE point at uncacheable memory")
        return specs

    def fault_trigger(self) -> int:
        """The bits that mark an MMIO SPTE (and make hardware fault on it)."""
        if self.host.ept:
            return K.VMX_EPT_READABLE_MASK | K.PT_WRITABLE_MASK
        value = self.shadow_mmio_value & ~K.SPTE_MMIO_MASK_5_8
        return value if value else K.PT_PRESENT_MASK

    def _build_layout(self) -> TagLayout:
        states = ("present_leaf", "present_nonleaf", "not_present", "fault")
        return allocate(self.format, self._tag_specs(), states=states, platform=self.platform,
                        fault_trigger=self.fault_trigger())

    # -- BitOwner: what a new tag must avoid ----------------------------------------------
    def not_present_rules(self) -> dict[str, int]:
        """Bits a new tag in a non-shadow-present SPTE must avoid, and why."""
        if not self.spec.mmu_present:
            return {"any non-zero non-MMIO SPTE is shadow-present in this kernel": U64}
        rules = {
            "SPTE_MMU_PRESENT_MASK: the tag would make the SPTE shadow-present": K.SPTE_MMU_PRESENT_MASK,
            "PFN bits: a non-present SPTE must not point at memory (L1TF)": genmask(51, 12),
        }
        if self.SHADOW_NONPRESENT_VALUE:
            rules["SHADOW_NONPRESENT_VALUE bits stay set"] = self.SHADOW_NONPRESENT_VALUE
        if self.frozen_value:
            rules[f"{self.spec.frozen_name}: the SPTE must never equal the frozen value"] = (
                self.frozen_value & ~self.SHADOW_NONPRESENT_VALUE)
        hw_not_present = hardware_owned(self.format, 1, "not_present", self.platform)
        # A not-present SPTE can only look like MMIO if the MMIO value needs no hardware bit.
        if self.enable_mmio_caching and not self.shadow_mmio_value & hw_not_present:
            rules["(spte & shadow_mmio_mask) == shadow_mmio_value must stay false"] = self.shadow_mmio_mask
        return rules

    def owned_bits(self, state: str) -> int:
        if state == "not_present":
            return union(self.not_present_rules().values())
        owned = union(t.mask for t in self.layout.tags if state in t.states)
        if state == "fault":  # the MMIO marker, and no MMU-present bit (MMIO SPTEs are not present)
            owned |= self.fault_trigger() | (
                self.shadow_mmio_mask | K.SPTE_MMU_PRESENT_MASK if self.spec.mmu_present else K.SPTE_MMIO_MASK_5_8)
        return owned

    def owner_of(self, bit: int, state: str) -> str | None:
        if state == "not_present":
            for why, mask in self.not_present_rules().items():
                if mask >> bit & 1:
                    return f"{self.name}: {why}"
            return None
        for t in self.layout.tags:
            if state in t.states and t.mask >> bit & 1:
                return f"{self.name}: {t.name} ({t.meaning})"
        return f"{self.name}: MMIO marker" if state == "fault" and self.owned_bits(state) >> bit & 1 else None

    def free_not_present_bits(self) -> int:
        """Bits a new not-present tag may use under this kernel (hardware and kernel rules)."""
        hw = union(hardware_owned(self.format, level, "not_present", self.platform)
                   for level in levels_in_use(self.format, self.platform))
        return U64 & ~hw & ~self.owned_bits("not_present")

    def allocate(self, tags: Any, states: tuple[str, ...] = ("not_present",), **kw: Any) -> TagLayout:
        """Allocate new tags against this kernel (``spte.allocate(..., owner=self)``)."""
        return allocate(self.format, tags, states=states, platform=self.platform, owner=self, **kw)

    # -- the kernel's static_asserts, as checks of this profile ---------------------------
    def _check_static_asserts(self) -> None:
        if self.spec.mmu_present:
            low, high = self.mmio_gen_masks
            assert not K.SPTE_MMU_PRESENT_MASK & (low | high)
            if self.frozen_value is not None:
                assert not self.frozen_value & K.SPTE_MMU_PRESENT_MASK
                assert not (self.enable_mmio_caching and self.is_mmio_spte(self.frozen_value))
            assert not self.shadow_mmio_value & K.SPTE_MMU_PRESENT_MASK
            assert (self.shadow_host_writable_mask | self.shadow_mmu_writable_mask) & K.SPTE_TDP_AD_MASK == 0


class _Lockless58:
    def spte_can_locklessly_be_made_writable(self: Any, spte: int) -> bool:
        both = self.shadow_host_writable_mask | self.shadow_mmu_writable_mask
        return bool(spte & both == both)


class _MmuWritable:
    def is_mmu_writable_spte(self: Any, spte: int) -> bool:
        return bool(spte & self.shadow_mmu_writable_mask)


class _Dirty:
    def is_dirty_spte(self: Any, spte: int, *, strict: bool = False) -> bool:
        self._precondition("is_dirty_spte", spte, strict)
        dirty = self.shadow_dirty_mask if self.spte_ad_enabled(spte) else 0
        return bool(spte & dirty) if dirty else bool(spte & K.PT_WRITABLE_MASK)


class _Removed:
    def is_removed_spte(self: Any, spte: int) -> bool:
        return bool(spte == self.spec.frozen_value)


class _Frozen:
    def is_frozen_spte(self: Any, spte: int) -> bool:
        return bool(spte == self.spec.frozen_value)


class _EptVe:
    def is_ept_ve_possible(self: Any, spte: int) -> bool:
        return (bool(self.shadow_present_mask & K.VMX_EPT_SUPPRESS_VE_BIT) and not spte & B63
                and spte & K.VMX_EPT_RWX_MASK != K.VMX_EPT_MISCONFIG_WX_VALUE)


class _LinkShadowPage:
    def link_shadow_page(self: Any, child_pt_phys: int, ad_disabled: bool) -> int:
        """5.8 builds non-leaf SPTEs inline in link_shadow_page() (no MMU-present bit)."""
        return int(self._nonleaf(child_pt_phys, ad_disabled))

    make_nonleaf_spte = link_shadow_page


class _MakeNonleaf:
    def make_nonleaf_spte(self: Any, child_pt_phys: int, ad_disabled: bool) -> int:
        return int(self._nonleaf(child_pt_phys, ad_disabled))


class Kvm5_8(_Lockless58, _Dirty, _LinkShadowPage, KvmProfile):
    pass


class Kvm5_13(_Lockless58, _Dirty, _Removed, _MakeNonleaf, KvmProfile):
    pass


class Kvm6_1(_MmuWritable, _Dirty, _Removed, _MakeNonleaf, KvmProfile):
    pass


class Kvm6_19(_MmuWritable, _Frozen, _EptVe, _MakeNonleaf, KvmProfile):
    pass


PROFILE_CLASSES: dict[str, type[KvmProfile]] = {"5.8": Kvm5_8, "5.13": Kvm5_13, "6.1": Kvm6_1,
                                                "6.6": Kvm6_1, "6.19": Kvm6_19}
