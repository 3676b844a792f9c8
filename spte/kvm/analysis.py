"""What a profile makes of one SPTE: the kernel's literal classification, the software
fields under the kernel's names, and whether this kernel could have built the value.

Kinds share the vocabulary of the entry states (:data:`spte.metadata.STATES`):
``not_present``, ``present_leaf``, ``present_nonleaf``, plus KVM's own ``access_tracked``,
``mmio`` and ``frozen``.  The kind is the kernel's literal answer (its predicates, in the
order its fault and zap paths ask them); the plausibility verdict says separately whether
``make_spte``/``make_nonleaf_spte``/``make_mmio_spte`` of that release ever produce such a
value, and why not.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from spte.bits import format_ranges, genmask, size_text
from spte.entry import CLASSES, Entry, decode
from spte.kvm import masks as K
from spte.metadata.owner import Reading

KINDS = ("not_present", "present_leaf", "present_nonleaf", "access_tracked", "mmio", "frozen")
# The entry state whose fields apply to each kind (an access-tracked EPT leaf has RWX = 0).
STATE_OF_KIND = {"not_present": "not_present", "present_leaf": "present_leaf", "present_nonleaf": "present_nonleaf",
                 "access_tracked": "not_present", "mmio": "fault", "frozen": "not_present"}


@dataclass(frozen=True)
class Classification:
    kind: str  # one of KINDS
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
    software: dict[str, int]  # the kernel's fields of this kind, as the kernel reads them
    mmio: dict[str, int] | None
    notes: tuple[str, ...] = ()
    plausible: bool = True
    reasons: tuple[str, ...] = ()  # why this kernel never builds the value (empty when plausible)

    @property
    def state(self) -> str:
        return STATE_OF_KIND[self.kind]

    def text(self) -> str:
        lines = [f"{self.spte:#018x} level {self.level} [{self.profile}]: {self.kind} -- {self.summary}",
                 f"  hardware: {self.hardware!r}"]
        if self.software:
            lines.append("  software: " + " ".join(f"{k}={v:#x}" for k, v in self.software.items()))
        if self.mmio:
            lines.append("  mmio: " + " ".join(f"{k}={v:#x}" for k, v in self.mmio.items()))
        lines += [f"  note: {n}" for n in self.notes]
        lines += [f"  not a value this kernel builds: {r}" for r in self.reasons]
        return "\n".join(lines)


def _bits(mask: int) -> str:
    return f"bit{'s' if mask.bit_count() > 1 else ''} {format_ranges(mask)}"


class Analysis:
    """classify/describe/read for a profile (mixed into :class:`~spte.kvm.profiles.KvmProfile`)."""

    def classify(self: Any, spte: int, level: int) -> Classification:
        if not 1 <= level <= 5:
            raise ValueError(f"level {level} is not 1..5")
        if spte in (0, self.SHADOW_NONPRESENT_VALUE):
            what = "zero" if spte == 0 else "SHADOW_NONPRESENT_VALUE"
            return Classification("not_present", f"empty SPTE ({what})")
        if spte == self.frozen_value:
            return Classification("frozen", f"{self.spec.frozen_name} ({self.spec.frozen_helper}): another thread "
                                  "is updating this SPTE")
        if self.host.pae and level == 3:  # one of the four PAE roots (mmu->pae_root), not an SPTE
            if spte & K.PT_PRESENT_MASK:
                return Classification("present_nonleaf", f"PAE root (pae_root[i]): points to a level-2 table at "
                                      f"{self.spte_to_pfn(spte) << 12:#x}")
            if not self.spec.mmu_present and self.is_shadow_present_pte(spte):  # the literal <5.13 answer
                return Classification("present_nonleaf", "is_shadow_present_pte() is true, but as a PAE root it is "
                                      "invalid (P clear)")
            return Classification("not_present", "invalid PAE root (P clear)")
        present = self.is_shadow_present_pte(spte)
        if self.is_mmio_spte(spte) and not (present and self.spec.mmu_present):
            gen, gfn = self.get_mmio_spte_generation(spte), self.get_mmio_spte_gfn(spte)
            return Classification("mmio", f"MMIO SPTE: gfn {gfn:#x} gen {gen:#x} "
                                  f"access {self.get_mmio_spte_access(spte):#x}")
        if present:
            pfn = self.spte_to_pfn(spte)
            if self.is_last_spte(spte, level):
                if self.is_access_track_spte(spte):
                    return Classification("access_tracked", f"access-tracked leaf, pfn {pfn:#x}, "
                                          "not present to hardware until the next access")
                w = "w" if self.is_writable_pte(spte) else "-"
                x = "x" if self.is_executable_pte(spte) else "-"
                table_cls, large_cls = CLASSES[self.format][level]
                leaf_cls = table_cls if table_cls.LEAF else large_cls
                size = size_text(1 << leaf_cls.SPAN_SHIFT) if leaf_cls else f"level-{level} (impossible)"
                return Classification("present_leaf", f"leaf {size} page, pfn {pfn:#x} ({w}{x}), "
                                      f"accessed={int(self.is_accessed_spte(spte))}")
            return Classification("present_nonleaf", f"points to a level-{level - 1} table at {pfn << 12:#x}")
        return Classification("not_present", "not present; non-zero bits are software metadata")

    # -- could this kernel have built the value? ---------------------------------------------
    def _address_reasons(self: Any, spte: int, what: str) -> list[str]:
        n = self.host.x86_phys_bits
        above = spte & genmask(51, n) & self.masks.physical_mask if n < 52 else 0
        return [f"{what} {_bits(above)} lie at or above x86_phys_bits {n}"] if above else []

    def _leaf_allowed(self: Any, level: int) -> int:
        m, ept = self.masks, self.host.ept
        allowed = (m.shadow_present_mask | K.PT_WRITABLE_MASK | m.shadow_user_mask | m.shadow_x_mask
                   | m.shadow_nx_mask | m.shadow_accessed_mask | m.shadow_dirty_mask | m.shadow_host_writable_mask
                   | m.shadow_mmu_writable_mask | self.spte_me_bits | m.SPTE_BASE_ADDR_MASK | self.spec.special_mask)
        if self.spec.mmu_present:
            allowed |= K.SPTE_MMU_PRESENT_MASK
        if level > 1:
            allowed |= K.PT_PAGE_SIZE_MASK
        if ept:
            allowed |= K.VMX_EPT_MT_MASK | K.VMX_EPT_IPAT_BIT | self.acc_track_saved_mask
        return int(allowed)

    def plausibility(self: Any, spte: int, level: int, kind: str | None = None) -> tuple[str, ...]:
        """Why this kernel never builds ``spte`` at ``level`` (empty: it could have)."""
        kind = kind or self.classify(spte, level).kind
        m, spec, ept = self.masks, self.spec, self.host.ept
        out: list[str] = []
        if self.host.pae and level == 3:
            if spte == 0:
                return ()
            if not spte & K.PT_PRESENT_MASK:
                out.append("a PAE root without P: KVM writes root | PT_PRESENT_MASK, or 0 when the root is unused")
            extra = spte & ~(K.PT_PRESENT_MASK | m.SPTE_BASE_ADDR_MASK | self.spte_me_bits)
            if extra:
                out.append(f"{_bits(extra)} set: a PAE root holds only the table address, P and the C-bit")
            return tuple(out + self._address_reasons(spte, "address"))
        if kind in ("present_leaf", "present_nonleaf", "access_tracked"):
            if spec.mmu_present and self.is_mmio_spte(spte):
                out.append("it also matches the MMIO pattern (spte & shadow_mmio_mask) == shadow_mmio_value, and "
                           "make_mmio_spte() never sets SPTE_MMU_PRESENT_MASK")
            missing = m.shadow_present_mask & ~spte
            if missing:
                out.append(f"shadow_present_mask {_bits(missing)} clear: make_spte()/make_nonleaf_spte() always "
                           "set it" + (" (P on a non-EPT host)" if not ept else ""))
            if ept and kind != "access_tracked" and not spte & K.VMX_EPT_RWX_MASK:
                out.append(f"RWX = 0 in an SPTE that is not A/D-disabled ({spec.ad_names[1]}): not present to hardware "
                           "and not access-tracked")
            ad_type = spte & spec.special_mask
            shift = spec.special_mask.bit_length() - spec.special_mask.bit_count()
            if ept and not m.kvm_ad_enabled and ad_type != spec.ad_disabled_mask:
                out.append(f"A/D type {ad_type >> shift} on a host without EPT A/D bits: every MMU is "
                           f"A/D-disabled there ({spec.ad_names[1]})")
            elif not ept and ad_type:
                out.append(f"A/D type {ad_type >> shift} in a non-EPT SPTE: KVM uses only "
                           f"{spec.ad_names[0]} there")
            if level >= 4 and spte & K.PT_PAGE_SIZE_MASK:
                out.append(f"bit 7 (page size) is reserved in a level-{level} entry: KVM builds no leaf above level 3")
            out += self._address_reasons(spte, "address")
            if kind == "present_nonleaf":
                need = K.PT_WRITABLE_MASK | m.shadow_user_mask | m.shadow_x_mask
                if spte & need != need:
                    out.append(f"{_bits(need & ~spte)} clear: make_nonleaf_spte() sets W, shadow_user_mask and "
                               "shadow_x_mask in every non-leaf SPTE")
                marker = spec.ad_disabled_mask | m.shadow_accessed_mask
                if not spte & marker:
                    out.append(f"neither the accessed bit nor {spec.ad_names[1]}: make_nonleaf_spte() sets one")
                allowed = (marker | need | m.shadow_present_mask | self.spte_me_bits | m.SPTE_BASE_ADDR_MASK
                           | (K.SPTE_MMU_PRESENT_MASK if spec.mmu_present else 0))
            else:
                allowed = self._leaf_allowed(level)
            extra = spte & ~allowed & ~genmask(51, self.host.x86_phys_bits)
            if extra:
                out.append(f"{_bits(extra)} set: this kernel never sets them in a "
                           f"{'non-leaf' if kind == 'present_nonleaf' else 'leaf'} SPTE")
        elif kind == "mmio":
            gfn = self.get_mmio_spte_gfn(spte)
            if gfn >> max(self.host.x86_phys_bits - 12, 0):
                out.append(f"MMIO gfn {gfn:#x} lies above x86_phys_bits {self.host.x86_phys_bits}")
            missing = m.shadow_mmio_value & ~spte
            if missing:
                out.append(f"shadow_mmio_value {_bits(missing)} clear: make_mmio_spte() always sets it")
            rsvd = m.shadow_nonpresent_or_rsvd_mask
            if rsvd and spte & rsvd != rsvd:
                out.append("shadow_nonpresent_or_rsvd_mask (L1TF) is not fully set: make_mmio_spte() always sets it")
            allowed = (self.gen.mask | m.shadow_mmio_value | m.shadow_mmio_access_mask
                       | m.shadow_nonpresent_or_rsvd_lower_gfn_mask | rsvd
                       | rsvd << K.SHADOW_NONPRESENT_OR_RSVD_MASK_LEN)
            extra = spte & ~allowed
            if extra:
                out.append(f"{_bits(extra)} set: make_mmio_spte() never sets them")
        elif kind == "not_present" and spte not in (0, self.SHADOW_NONPRESENT_VALUE) and spec.mmu_present:
            hw_present = spte & (K.VMX_EPT_RWX_MASK if ept else K.PT_PRESENT_MASK)
            if hw_present and spte & m.SPTE_BASE_ADDR_MASK:
                out.append("present to hardware and pointing at memory, but without SPTE_MMU_PRESENT_MASK (bit 11): "
                           "from 5.13 KVM sets bit 11 in every SPTE it makes present")
            out.append("a non-present, non-MMIO SPTE other than "
                       + ("SHADOW_NONPRESENT_VALUE" if self.SHADOW_NONPRESENT_VALUE else "0")
                       + (f" or {spec.frozen_name}" if spec.frozen_name else "")
                       + ": KVM never writes one (a third party's software tag?)")
        return tuple(out)

    # -- the kernel's way of saying it -----------------------------------------------------------
    def value_name(self: Any, field: str, value: int) -> str | None:
        """The kernel's name for a field value (A/D type constants, the frozen value), or None."""
        if field in ("ad_type", "spte_special"):
            names: tuple[str | None, ...] = (*self.spec.ad_names, None if self.spec.mmu_present else "SPTE_MMIO_MASK")
            return names[value] if 0 <= value < len(names) else None
        if field == "spte" and value == self.frozen_value:
            return str(self.spec.frozen_name)
        if field == "spte" and value == self.SHADOW_NONPRESENT_VALUE and value:
            return "SHADOW_NONPRESENT_VALUE"
        return None

    def _software_values(self: Any, spte: int, kind: str) -> dict[str, int]:
        """The kernel's fields for ``kind``, as the kernel reads them (MMIO gen/gfn decoded)."""
        state = STATE_OF_KIND[kind]
        out: dict[str, int] = {}
        if kind == "frozen":
            return out
        for f in self.fields(state):
            if kind == "not_present" and f.name != "mmu_present":
                continue  # a plain not-present SPTE carries no KVM fields; show a stray bit 11
            out[f.name] = f.get(spte)
        if kind == "mmio":
            out["mmio_gen"] = self.get_mmio_spte_generation(spte)
            out["mmio_gfn"] = self.get_mmio_spte_gfn(spte)
        return out

    def _notes(self: Any, spte: int, kind: str, software: dict[str, int]) -> list[str]:
        notes = []
        for f in ("ad_type", "spte_special"):
            if f in software and kind != "mmio":
                notes.append(f"A/D type {software[f]} = {self.value_name(f, software[f])}")
        if kind == "mmio":
            g = self.gen
            notes.append(f"MMIO generation {software['mmio_gen']:#x} as {self.spec.key} decodes it "
                         f"({g.names[0]} {g.low_shift}, {g.names[1]} {g.high_shift})")
            if spec_bug := next((n for n in self.spec.notes if "generation" in n and "bug" in n), None):
                notes.append(spec_bug)
        if kind == "frozen":
            notes.append(f"{self.spec.frozen_name} = {self.frozen_value:#x} in {self.spec.key}")
        if self.spec.mmu_present and kind.startswith("present") and self.is_mmio_spte(spte):
            notes.append("is_mmio_spte() is also true: the kernel's paths disagree on this value")
        return notes

    def describe(self: Any, spte: int, level: int) -> Description:
        c = self.classify(spte, level)
        hw = decode(spte, self.format, level, self.platform)
        software = self._software_values(spte, c.kind)
        mmio = None
        if c.kind == "mmio":
            mmio = {"gfn": self.get_mmio_spte_gfn(spte), "gen": self.get_mmio_spte_generation(spte),
                    "access": self.get_mmio_spte_access(spte)}
        reasons = self.plausibility(spte, level, c.kind)
        return Description(spte, level, self.name, c.kind, c.summary, hw, software, mmio,
                           tuple(self._notes(spte, c.kind, software)), not reasons, reasons)

    def read(self: Any, value: int, level: int) -> Reading:
        """The owner protocol's reading: kind, state, summary, non-zero fields, notes, verdict."""
        d = self.describe(value, level)
        return Reading(self.name, d.kind, d.state, d.summary, {k: v for k, v in d.software.items() if v},
                       d.notes, d.plausible, d.reasons)
