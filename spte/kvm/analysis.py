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

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, NamedTuple

from spte.bits import genmask, size_text, union
from spte.entry import CLASSES, Entry, decode, entry_class
from spte.kvm import masks as K
from spte.kvm.patterns import KEYED_KINDS, MMIO_SUMMARY, KvmPatterns, ReadingSource
from spte.kvm.rules import U64, BitsReason, Rule, must_clear, must_differ, must_equal, must_set, never, nonzero, verdict
from spte.metadata.owner import Reading

KINDS = ("not_present", "present_leaf", "present_nonleaf", "access_tracked", "mmio", "frozen")
# The entry state whose fields apply to each kind (an access-tracked EPT leaf has RWX = 0).
STATE_OF_KIND = {"not_present": "not_present", "present_leaf": "present_leaf", "present_nonleaf": "present_nonleaf",
                 "access_tracked": "not_present", "mmio": "fault", "frozen": "not_present"}


class SummaryTemplate(NamedTuple):
    """A summary as ``template % args``; ``pfn_shift``: the one arg is ``spte_to_pfn(spte) << pfn_shift``
    (None: the args are not the pfn)."""

    kind: str
    template: str
    args: tuple[int, ...]
    pfn_shift: int | None


def _esc(text: str) -> str:
    return text.replace("%", "%%")


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


class Analysis:
    """classify/describe/read for a profile (mixed into :class:`~spte.kvm.profiles.KvmProfile`)."""

    def classify(self: Any, spte: int, level: int) -> Classification:
        kind, template, args, _ = self._summary_template(spte, level)
        return Classification(kind, template % args)

    def _summary_template(self: Any, spte: int, level: int) -> SummaryTemplate:
        """:meth:`classify` with the summary's numbers as ``%#x`` slots: every value of a
        non-MMIO kind that agrees on the kind's key and on :meth:`_summary_mask` has the same
        template, and its one number is ``spte_to_pfn(spte) << pfn_shift``."""
        if not 1 <= level <= 5:
            raise ValueError(f"level {level} is not 1..5")
        if spte in (0, self.SHADOW_NONPRESENT_VALUE):
            what = "zero" if spte == 0 else "SHADOW_NONPRESENT_VALUE"
            return SummaryTemplate("not_present", _esc(f"empty SPTE ({what})"), (), None)
        if spte == self.frozen_value:
            return SummaryTemplate("frozen", _esc(f"{self.spec.frozen_name} ({self.spec.frozen_helper}): another "
                                                  "thread is updating this SPTE"), (), None)
        pfn = self.spte_to_pfn(spte)
        if self.host.pae and level == 3:  # one of the four PAE roots (mmu->pae_root), not an SPTE
            if spte & K.PT_PRESENT_MASK:
                return SummaryTemplate("present_nonleaf", "PAE root (pae_root[i]): points to a level-2 table at %#x",
                                       (pfn << 12,), 12)
            if not self.spec.mmu_present and self.is_shadow_present_pte(spte):  # the literal <5.13 answer
                return SummaryTemplate("present_nonleaf", "is_shadow_present_pte() is true, but as a PAE root it is "
                                       "invalid (P clear)", (), None)
            return SummaryTemplate("not_present", "invalid PAE root (P clear)", (), None)
        present = self.is_shadow_present_pte(spte)
        if self.is_mmio_spte(spte) and not (present and self.spec.mmu_present):
            return SummaryTemplate("mmio", MMIO_SUMMARY, self._mmio_summary_args(spte), None)
        if present:
            if self.is_last_spte(spte, level):
                if self.is_access_track_spte(spte):
                    return SummaryTemplate("access_tracked", "access-tracked leaf, pfn %#x, not present to hardware "
                                           "until the next access", (pfn,), 0)
                w = "w" if self.is_writable_pte(spte) else "-"
                x = "x" if self.is_executable_pte(spte) else "-"
                table_cls, large_cls = CLASSES[self.format][level]
                leaf_cls = table_cls if table_cls.LEAF else large_cls
                size = size_text(1 << leaf_cls.SPAN_SHIFT) if leaf_cls else f"level-{level} (impossible)"
                return SummaryTemplate("present_leaf", _esc(f"leaf {size} page, pfn ") + "%#x" + _esc(
                    f" ({w}{x}), accessed={int(self.is_accessed_spte(spte))}"), (pfn,), 0)
            return SummaryTemplate("present_nonleaf", _esc(f"points to a level-{level - 1} table at ") + "%#x",
                                   (pfn << 12,), 12)
        return SummaryTemplate("not_present", "not present; non-zero bits are software metadata", (), None)

    def _mmio_summary_args(self: Any, spte: int) -> tuple[int, int, int]:
        """The numbers of an MMIO SPTE's summary (:data:`MMIO_SUMMARY`): gfn, generation, access."""
        return self.get_mmio_spte_gfn(spte), self.get_mmio_spte_generation(spte), self.get_mmio_spte_access(spte)

    def _summary_mask(self: Any) -> int:
        """The bits a non-MMIO summary reads besides the kind's key and the pfn: is_writable_pte(),
        is_executable_pte(), is_accessed_spte()."""
        m = self.masks
        return int(K.PT_WRITABLE_MASK | m.shadow_x_mask | m.shadow_nx_mask | m.shadow_accessed_mask
                   | self.spec.special_mask | m.shadow_acc_track_mask)

    def _kind_tests(self: Any, level: int) -> tuple[int, tuple[int, int] | None]:
        """What :meth:`classify` reads of a value at ``level`` besides its exact values (0,
        SHADOW_NONPRESENT_VALUE, the frozen value): the bits it tests, and the MMIO pattern
        ``(mask, value)`` it matches (None: no such test, or its bits are among the first).
        Every value that agrees on these (and is not an exact value) has the same kind."""
        m, spec = self.masks, self.spec
        bits = spec.special_mask | m.shadow_acc_track_mask  # spte_ad_enabled(), is_access_track_spte()
        if level > 1:
            bits |= K.PT_PAGE_SIZE_MASK  # is_last_spte(): at level 1 every SPTE is a leaf
        if spec.mmu_present:
            bits |= K.SPTE_MMU_PRESENT_MASK  # is_shadow_present_pte(); before 5.13: non-zero and not MMIO
        if self.host.pae and level == 3:
            bits |= K.PT_PRESENT_MASK  # a PAE root is valid with P
        if spec.mmio_rule == "special":  # bits 53:52 == 11b, already among the bits
            return bits, None
        return bits, (m.shadow_mmio_mask, m.shadow_mmio_value) if m.enable_mmio_caching else None

    # -- could this kernel have built the value? ---------------------------------------------
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

    def _address_rule(self: Any, what: str) -> list[Rule]:
        """Address bits at or above x86_phys_bits: physical_mask keeps them, the CPU reserves them."""
        n = self.host.x86_phys_bits
        above = genmask(51, n) & self.masks.physical_mask if n < 52 else 0
        return [must_clear("x86_phys_bits", above,
                           BitsReason(f"{what} ", above, f" lie at or above x86_phys_bits {n}"))]

    def _rule_set(self: Any, kind: str, level: int) -> tuple[Rule, ...]:
        """What this kernel's make_spte()/make_nonleaf_spte()/make_mmio_spte() (or the PAE root
        setup) always do, as mask tests on a value of ``kind`` at ``level``, in the order
        :meth:`plausibility` gives their reasons.  (Not for the exact values: 0,
        SHADOW_NONPRESENT_VALUE and the frozen value are judged as themselves.)"""
        memo: dict[tuple[str, int], tuple[Rule, ...]] = self.__dict__.setdefault("_rule_memo", {})
        if (kind, level) not in memo:  # a profile is immutable: its rules are derived once per kind and level
            memo[kind, level] = tuple(r for r in self._rules(kind, level) if r.broken_when)
        return memo[kind, level]

    def _rules(self: Any, kind: str, level: int) -> list[Rule]:
        m, spec, ept = self.masks, self.spec, self.host.ept
        out: list[Rule] = []
        if self.host.pae and level == 3:
            root = K.PT_PRESENT_MASK | m.SPTE_BASE_ADDR_MASK | self.spte_me_bits
            out.append(must_set("PT_PRESENT_MASK", K.PT_PRESENT_MASK, lambda v: (
                "a PAE root without P: KVM writes root | PT_PRESENT_MASK, or 0 when the root is unused"), 0))
            out.append(must_clear("pae_root", U64 & ~root, BitsReason(
                "", U64 & ~root, " set: a PAE root holds only the table address, P and the C-bit")))
            out += self._address_rule("address")
            return out
        if kind in ("present_leaf", "present_nonleaf", "access_tracked"):
            if spec.mmu_present and m.enable_mmio_caching:  # is_mmio_spte() of 5.13+
                out.append(must_differ("shadow_mmio_mask", m.shadow_mmio_mask, m.shadow_mmio_value, lambda v: (
                    "it also matches the MMIO pattern (spte & shadow_mmio_mask) == shadow_mmio_value, and "
                    "make_mmio_spte() never sets SPTE_MMU_PRESENT_MASK"), 0))
            present, p_note = m.shadow_present_mask, "" if ept else " (P on a non-EPT host)"
            out.append(must_set("shadow_present_mask", present, BitsReason(
                "shadow_present_mask ", present, " clear: make_spte()/make_nonleaf_spte() always set it" + p_note,
                clear=True)))
            if ept and kind != "access_tracked":
                out.append(nonzero("VMX_EPT_RWX_MASK", K.VMX_EPT_RWX_MASK, lambda v: (
                    f"RWX = 0 in an SPTE that is not A/D-disabled ({spec.ad_names[1]}): not present to hardware "
                    "and not access-tracked"), 0))
            special = spec.special_mask
            shift = special.bit_length() - special.bit_count()
            if ept and not m.kvm_ad_enabled:  # every MMU is A/D-disabled on such a host
                out.append(must_equal(spec.ad_names[1], special, spec.ad_disabled_mask, lambda v: (
                    f"A/D type {(v & special) >> shift} on a host without EPT A/D bits: every MMU is "
                    f"A/D-disabled there ({spec.ad_names[1]})"), special))
            elif not ept:
                out.append(must_clear(spec.ad_names[0], special, lambda v: (
                    f"A/D type {(v & special) >> shift} in a non-EPT SPTE: KVM uses only {spec.ad_names[0]} there"),
                    special))
            if level >= 4:
                out.append(must_clear("PT_PAGE_SIZE_MASK", K.PT_PAGE_SIZE_MASK, lambda v: (
                    f"bit 7 (page size) is reserved in a level-{level} entry: KVM builds no leaf above level 3"), 0))
            out += self._address_rule("address")
            if kind == "present_nonleaf":
                need = K.PT_WRITABLE_MASK | m.shadow_user_mask | m.shadow_x_mask
                out.append(must_set(spec.nonleaf_function, need, BitsReason(
                    "", need, " clear: make_nonleaf_spte() sets W, shadow_user_mask and shadow_x_mask in every "
                    "non-leaf SPTE", clear=True)))
                marker = spec.ad_disabled_mask | m.shadow_accessed_mask
                out.append(nonzero("shadow_accessed_mask", marker, lambda v: (
                    f"neither the accessed bit nor {spec.ad_names[1]}: make_nonleaf_spte() sets one"), 0))
                allowed = (marker | need | m.shadow_present_mask | self.spte_me_bits | m.SPTE_BASE_ADDR_MASK
                           | (K.SPTE_MMU_PRESENT_MASK if spec.mmu_present else 0))
            else:
                allowed = self._leaf_allowed(level)
            extra = U64 & ~allowed & ~genmask(51, self.host.x86_phys_bits)
            what = "non-leaf" if kind == "present_nonleaf" else "leaf"
            out.append(must_clear("make_spte", extra, BitsReason(
                "", extra, f" set: this kernel never sets them in a {what} SPTE")))
        elif kind == "mmio":
            n, lower, rsvd = self.host.x86_phys_bits, m.shadow_nonpresent_or_rsvd_lower_gfn_mask, \
                m.shadow_nonpresent_or_rsvd_mask
            # get_mmio_spte_gfn() takes the gfn from the lower gfn bits and from the bits
            # SHADOW_NONPRESENT_OR_RSVD_MASK_LEN above shadow_nonpresent_or_rsvd_mask: a gfn at or above
            # x86_phys_bits is a set bit of either at or above bit x86_phys_bits of the gpa.
            high = U64 & ~genmask(n - 1, 0)
            above = (lower & high) | (rsvd & high) << K.SHADOW_NONPRESENT_OR_RSVD_MASK_LEN
            out.append(must_clear("get_mmio_spte_gfn", above, lambda v: (
                f"MMIO gfn {self.get_mmio_spte_gfn(v):#x} lies above x86_phys_bits {n}")))
            value = m.shadow_mmio_value
            out.append(must_set("shadow_mmio_value", value, BitsReason(
                "shadow_mmio_value ", value, " clear: make_mmio_spte() always sets it", clear=True)))
            out.append(must_set("shadow_nonpresent_or_rsvd_mask", rsvd, lambda v: (
                "shadow_nonpresent_or_rsvd_mask (L1TF) is not fully set: make_mmio_spte() always sets it"), 0))
            allowed = (self.gen.mask | m.shadow_mmio_value | m.shadow_mmio_access_mask | lower | rsvd
                       | rsvd << K.SHADOW_NONPRESENT_OR_RSVD_MASK_LEN)
            out.append(must_clear("make_mmio_spte", U64 & ~allowed, BitsReason(
                "", U64 & ~allowed, " set: make_mmio_spte() never sets them")))
        elif kind == "not_present" and spec.mmu_present:
            hw_present = K.VMX_EPT_RWX_MASK if ept else K.PT_PRESENT_MASK
            out.append(Rule("SPTE_MMU_PRESENT_MASK", ((hw_present, 0, False), (m.SPTE_BASE_ADDR_MASK, 0, False)),
                            lambda v: "present to hardware and pointing at memory, but without SPTE_MMU_PRESENT_MASK "
                            "(bit 11): from 5.13 KVM sets bit 11 in every SPTE it makes present", 0))
            empty = ("SHADOW_NONPRESENT_VALUE" if self.SHADOW_NONPRESENT_VALUE else "0") + (
                f" or {spec.frozen_name}" if spec.frozen_name else "")
            out.append(never("SHADOW_NONPRESENT_VALUE", lambda v: (
                f"a non-present, non-MMIO SPTE other than {empty}: KVM never writes one (a third party's software "
                "tag?)"), 0))
        return out

    def plausibility(self: Any, spte: int, level: int, kind: str | None = None) -> tuple[str, ...]:
        """Why this kernel never builds ``spte`` at ``level`` (empty: it could have): the reasons of
        the :meth:`_rule_set` the value breaks."""
        kind = kind or self.classify(spte, level).kind
        if spte == 0 and self.host.pae and level == 3:
            return ()  # an unused PAE root
        if kind == "not_present" and spte in (0, self.SHADOW_NONPRESENT_VALUE):
            return ()
        plausible: dict[tuple[str, int], Callable[[int], bool]] = self.__dict__.setdefault("_verdict_memo", {})
        if (kind, level) not in plausible:
            plausible[kind, level] = verdict(self._rule_set(kind, level))
        if plausible[kind, level](spte):  # the common case, in a few mask tests
            return ()
        return tuple(r.reason(spte) for r in self._rule_set(kind, level) if r.broken(spte))

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

    def _software(self: Any, spte: int, kind: str) -> dict[str, int]:
        """The non-zero fields a reading of ``spte`` as ``kind`` shows (:meth:`read`'s ``software``)."""
        return {k: v for k, v in self._software_values(spte, kind).items() if v}

    def _software_mask(self: Any, kind: str) -> int:
        """The bits the fields of ``kind`` read, but for an MMIO SPTE's gfn and generation."""
        if kind == "frozen":
            return 0
        fields = self.fields(STATE_OF_KIND[kind])
        return union(f.mask for f in fields if kind != "not_present" or f.name == "mmu_present")

    def _patterns(self: Any, level: int) -> KvmPatterns:
        """This profile's readings at ``level`` from bounded pieces of the value (derived once per level)."""
        memo: dict[int, KvmPatterns] = self.__dict__.setdefault("_pattern_memo", {})
        if level not in memo:
            exact = [0, self.SHADOW_NONPRESENT_VALUE] + ([] if self.frozen_value is None else [self.frozen_value])
            # An MMIO SPTE's fields in the order _software_values() gives them (gen and gfn decoded).
            getters: dict[str, Callable[[int], int]] = {f.name: f.get for f in self.fields("fault")}
            getters.update(mmio_gen=self.get_mmio_spte_generation, mmio_gfn=self.get_mmio_spte_gfn)
            memo[level] = KvmPatterns(
                {v: self.read(v, level) for v in exact}, self._kind_tests(level),
                {kind: self._rule_set(kind, level) for kind in (*KEYED_KINDS, "mmio")},
                {kind: self._software_mask(kind) for kind in KEYED_KINDS},
                lambda v: str(self.classify(v, level).kind), self._software, tuple(getters.items()),
                ReadingSource(lambda v: self._summary_template(v, level), self._summary_mask(),
                              self.masks.SPTE_BASE_ADDR_MASK, self._software_values, self._notes,
                              self._mmio_summary_args, self.get_mmio_spte_generation, self._mmio_notes()))
        return memo[level]

    def _mmio_notes(self: Any) -> tuple[str, tuple[str, ...]]:
        """An MMIO SPTE's notes: the first as a template of its generation (``%#x``), the rest."""
        g = self.gen
        template = "MMIO generation %#x" + _esc(f" as {self.spec.key} decodes it ({g.names[0]} {g.low_shift}, "
                                                f"{g.names[1]} {g.high_shift})")
        spec_bug = next((n for n in self.spec.notes if "generation" in n and "bug" in n), None)
        return template, (spec_bug,) if spec_bug else ()

    def _notes(self: Any, spte: int, kind: str, software: dict[str, int]) -> list[str]:
        notes = []
        for f in ("ad_type", "spte_special"):
            if f in software and kind != "mmio":
                notes.append(f"A/D type {software[f]} = {self.value_name(f, software[f])}")
        if kind == "mmio":
            template, more = self._mmio_notes()
            notes.append(template % software["mmio_gen"])
            notes += more
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
        if level not in CLASSES[self.format]:
            entry_class(self.format, level)  # refuses a level the format lacks (4 of a PAE host) with the reason
        c = self.classify(value, level)  # describe() without the hardware view, which a reading does not carry
        software = self._software_values(value, c.kind)
        reasons = self.plausibility(value, level, c.kind)
        return Reading(self.name, c.kind, STATE_OF_KIND[c.kind], c.summary, {k: v for k, v in software.items() if v},
                       tuple(self._notes(value, c.kind, software)), not reasons, reasons)
