"""A profile's readings at one level as a function of bounded pieces of the value
(:class:`spte.metadata.owner.Patterns`): what ``decode --kvm ... --line`` and the log
reader need per SPTE without a :meth:`~spte.kvm.analysis.Analysis.read` per value.  A
profile derives them (``KvmProfile._patterns``, registered with
:func:`spte.metadata.owner.register_patterns`); :func:`spte.metadata.owner.patterns_of` and
:func:`spte.metadata.owner.brief_reader` and :func:`spte.render.owner.owner_suffix` use them.

A reading's kind, its verdict and the fields it shows depend on few bits:

* the kind on the bits KVM's predicates test (masks, the PS bit above level 1, bit 11 from
  5.13, P of a PAE root) and on the MMIO pattern, besides the exact values (0,
  SHADOW_NONPRESENT_VALUE, the frozen value), which are read on their own;
* the verdict on the plausibility rules (:mod:`spte.kvm.rules`) of that kind: the rules that
  only ask for clear bits (address bits above x86_phys_bits, bits the kernel never sets) are
  one mask test per value; the others read bits that join the key;
* the fields on the bits of that kind's software fields.

So a value's key is ``v & key_mask`` (plus one bit for an MMIO pattern too wide to key on,
e.g. bits 51:43 | P of an SME host), and the key's reading is taken from a *representative*:
a value with the key's bits and nothing else, which classify(), the keyed rules and the
fields read exactly as they read any value with that key.  MMIO SPTEs are read per value
(their gfn and generation are address-like bits), faster than ``read`` but from the same
helpers.

>>> from spte.kvm import profile
>>> from spte.metadata.owner import patterns_of
>>> pats = patterns_of(profile("6.19", "ept-ad"), 1)
>>> hex(pats.key_mask), pats.match  # RWX, accessed, MMU-present, A/D type, SUPPRESS_VE
('0x8030000000000907', None)
>>> k = pats.kind(0x8600000001234b77 & pats.key_mask)
>>> k.kind, k.plausible, pats.software(k.kind, 0x8600000001234b77 & k.fields)
('present_leaf', True, {'mmu_present': 1, 'host_writable': 1, 'mmu_writable': 1})
>>> pats.kind(0x12300000feb0022e & pats.key_mask) is None  # an MMIO SPTE: read per value
True
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, NamedTuple

from spte.bits import union
from spte.kvm.rules import BitsReason, Rule, verdict
from spte.metadata.owner import PATTERN_CAP, KindPattern, Parts, Reading
from spte.metadata.ranges import ranges_text

# The kinds a non-exact value can have besides "mmio" (read per value); "frozen" is an exact value.
KEYED_KINDS = ("present_leaf", "present_nonleaf", "access_tracked", "not_present")
NARROW = 12  # a reason naming at most this many bits is kept per pattern of them (else composed per value)
# An MMIO pattern reaching this many bits beyond the key is matched per value instead (one key bit).
WIDE_MATCH = 4


class ReadingSource(NamedTuple):
    """What :meth:`KvmPatterns.reading_parts` composes a whole reading from (a profile's own
    methods at one level): the summary as a template (``summary_template(v)``: kind, template,
    args, pfn shift), the bits it reads besides the key and the pfn, the address mask of the pfn,
    the fields as the kernel reads them (``software_values(v, kind)``) and the notes
    (``notes(v, kind, software_values)``)."""

    summary_template: Callable[[int], Any]
    summary_mask: int
    base_mask: int
    software_values: Callable[[int, str], dict[str, int]]
    notes: Callable[[int, str, dict[str, int]], list[str]]


def _if_broken(rule: Rule, text: Callable[[int], str]) -> Callable[[int], str]:
    return lambda v: text(v) if rule.broken(v) else ""


class KvmPatterns:
    """:class:`spte.metadata.owner.Patterns` of one profile at one level, from what the profile
    derives: its exact values' readings, what classify() tests (``tests``: bits and the MMIO
    pattern), the rules of each kind (:data:`KEYED_KINDS` and ``"mmio"``), the field bits of
    each kind, classify() itself, the fields of a value of a kind, and an MMIO SPTE's fields
    (name and getter, in the order a reading gives them)."""

    def __init__(self, exact: dict[int, Reading], tests: tuple[int, tuple[int, int] | None],
                 rules: Mapping[str, tuple[Rule, ...]], fields: Mapping[str, int], classify: Callable[[int], str],
                 software: Callable[[int, str], dict[str, int]],
                 mmio_fields: tuple[tuple[str, Callable[[int], int]], ...],
                 source: ReadingSource | None = None) -> None:
        self.exact = exact
        self._source = source
        self._rules, self._fields, self._classify, self._software = rules, fields, classify, software
        bits, match = tests
        never: set[str] = set()  # kinds no non-exact value of which is plausible
        for kind in KEYED_KINDS:
            if any(r.always for r in rules[kind]):
                never.add(kind)
                continue
            for r in rules[kind]:
                if not r.clear:  # a rule that reads bits: they join the key (the MMIO pattern is one test)
                    bits |= union(mask for mask, value, _ in r.broken_when if (mask, value) != match)
        if match is not None and (match[0] & ~bits).bit_count() <= WIDE_MATCH:
            bits |= match[0]
            match = None
        self.key_mask: int = bits
        self.match: tuple[int, int] | None = match
        self.field_mask = union(fields[kind] for kind in KEYED_KINDS)
        self._never = never
        # Bits no key or pattern reads: one makes a representative non-exact.
        used = bits | (match[0] if match else 0)
        self._spare = [1 << b for b in range(64) if not used >> b & 1]
        self._mmio_fields = mmio_fields
        self._mmio = verdict(rules["mmio"])

    def representative(self, key: int) -> int:
        """A non-exact value with ``key``: its bits, the MMIO pattern as bit 64 says, nothing else."""
        r = key & self.key_mask
        if self.match is not None:
            mm, mv = self.match
            outside = mm & ~self.key_mask
            if key >> 64 & 1:
                r |= mv & outside
            elif r & mm & ~outside == mv & ~outside:  # the key's bits match: the rest must not
                r |= 0 if mv & outside else outside & -outside
        for spare in self._spare:
            if r not in self.exact:
                break
            r |= spare
        return r

    def kind(self, key: int) -> KindPattern | None:
        r = self.representative(key)
        kind = self._classify(r)
        if kind == "mmio":
            return None
        if kind in self._never:
            return KindPattern(kind, False, 0, self._fields[kind])
        rules = self._rules[kind]
        keyed = tuple(rule for rule in rules if not rule.clear)
        clear = union(rule.clear for rule in rules)
        return KindPattern(kind, not any(rule.broken(r) for rule in keyed), clear, self._fields[kind])

    def software(self, kind: str, fields: int) -> dict[str, int]:
        return self._software(fields, kind)

    def value(self, v: int) -> tuple[str, dict[str, int], bool | None]:
        """A value whose key has no :meth:`kind` (an MMIO SPTE), read on its own: kind, fields, verdict."""
        return "mmio", {name: x for name, get in self._mmio_fields if (x := get(v))}, self._mmio(v)

    # -- whole readings, composed (the log reader's JSON and MMIO text) ---------------------------
    def _reason_text(self, rule: Rule) -> Callable[[int], str]:
        """``rule.reason`` as a function of the value, from tables where the rule says what its
        text reads: a :class:`BitsReason` from the ranges of its mask, a text of few bits
        memoised by them (bounded), any other read per value."""
        reason = rule.reason
        if isinstance(reason, BitsReason) and reason.mask.bit_count() > NARROW:
            prefix, mask, suffix, clear = reason.prefix, reason.mask, reason.suffix, reason.clear
            ranges = ranges_text(mask)
            if clear:
                return lambda v: f"{prefix}bit{'s' if (~v & mask).bit_count() > 1 else ''} {ranges(~v)}{suffix}"
            return lambda v: f"{prefix}bit{'s' if (v & mask).bit_count() > 1 else ''} {ranges(v)}{suffix}"
        reads = rule.reason_bits
        if reads is None:
            return reason
        memo: dict[int, str] = {}

        def text(v: int) -> str:
            t = memo.get(v & reads)
            if t is None:
                t = reason(v)
                if len(memo) < PATTERN_CAP:
                    memo[v & reads] = t
            return t

        return text

    def _rule_plan(self, rules: tuple[Rule, ...], key: int | None,
                   texts: dict[int, Callable[[int], str]]) -> tuple[tuple[int, int, Callable[[int], str]], ...]:
        """The rules of a kind as (how to test, mask, text): 0 broken for every value of ``key``,
        1 broken when ``v & mask``, 2 per value (``rule.broken``, mask unused); the rules no value
        of the key breaks are left out.  ``key`` None: no key (an MMIO SPTE), each rule per value."""
        plan = []
        rep = None if key is None else self.representative(key)
        for rule in rules:
            text = texts.setdefault(id(rule), self._reason_text(rule))
            tests = rule.broken_when
            if rep is not None and not union(m for m, _, _ in tests) & ~self.key_mask:
                if rule.broken(rep):
                    plan.append((0, 0, text))
            elif (rep is not None and key is not None and len(tests) == 1 and tests[0][2]
                  and (tests[0][0], tests[0][1]) == self.match):
                if key >> 64 & 1:  # the MMIO pattern is the key's bit 64
                    plan.append((0, 0, text))
            elif rule.clear:
                plan.append((1, rule.clear, text))
            else:
                plan.append((2, 0, _if_broken(rule, text)))
        return tuple(plan)

    def reading_parts(self) -> Callable[[int], Parts]:
        """``v`` -> the :data:`~spte.metadata.owner.Parts` of ``read(v, level)``, composed: per
        key the kind and which rules its values break; per key and summary bits the summary's
        template; per key and field bits the fields and notes; per value the pfn, the rules
        that test address bits, and the texts of reasons (from tables of their bits).  MMIO
        SPTEs and exact values are read on their own."""
        src = self._source
        if src is None:
            raise ValueError("these patterns were made without a ReadingSource")
        exact = {v: (r.kind, r.summary.replace("%", "%%"), (), None, None, r.software, r.notes, r.plausible, r.reasons)
                 for v, r in self.exact.items()}
        key_mask = self.key_mask
        mm, mv = self.match or (0, 1)
        sm, base = src.summary_mask, src.base_mask
        summary_template, software_values, notes_of = src.summary_template, src.software_values, src.notes
        texts: dict[int, Callable[[int], str]] = {}
        # key -> (kind, field bits, rule plan), or None for an MMIO key
        plans: dict[int, tuple[str, int, tuple[tuple[int, int, Callable[[int], str]], ...]] | None] = {}
        # key | (summary and field bits) << 65 -> summary template, pfn shift, fields, notes
        memo: dict[int, tuple[str, int | None, dict[str, int], tuple[str, ...]]] = {}
        mmio_plan = self._rule_plan(self._rules["mmio"], None, texts)

        def reasons(plan: tuple[tuple[int, int, Callable[[int], str]], ...], v: int) -> tuple[str, ...]:
            out = []
            for how, mask, text in plan:
                if how == 1:
                    if v & mask:
                        out.append(text(v))
                elif how == 0:
                    out.append(text(v))
                else:
                    t = text(v)
                    if t:
                        out.append(t)
            return tuple(out)

        def plan_of(key: int) -> tuple[str, int, tuple[tuple[int, int, Callable[[int], str]], ...]] | None:
            p = self.kind(key)
            made = None if p is None else (p.kind, p.fields | sm, self._rule_plan(self._rules[p.kind], key, texts))
            plans[key] = made  # bounded: 2 ** (popcount(key_mask) + 1) keys
            return made

        def fill(v: int, kind: str, mkey: int) -> tuple[str, int | None, dict[str, int], tuple[str, ...]]:
            st = summary_template(v)
            values = software_values(v, kind)
            known = (st.template, st.pfn_shift, {k: x for k, x in values.items() if x},
                     tuple(notes_of(v, kind, values)))
            if len(memo) < PATTERN_CAP:
                memo[mkey] = known
            return known

        def read(v: int) -> Parts:
            hit = exact.get(v)
            if hit is not None:
                return hit
            key = v & key_mask | (v & mm == mv) << 64
            plan = plans[key] if key in plans else plan_of(key)
            if plan is None:  # an MMIO SPTE: its numbers are address-like bits
                st = summary_template(v)
                values = software_values(v, "mmio")
                why = reasons(mmio_plan, v)
                return ("mmio", st.template, st.args, None, None, {k: x for k, x in values.items() if x},
                        tuple(notes_of(v, "mmio", values)), not why, why)
            kind, bits, rule_plan = plan
            mkey = key | (v & bits) << 65
            known = memo.get(mkey) or fill(v, kind, mkey)
            template, shift, software, notes = known
            why = reasons(rule_plan, v)
            return (kind, template, () if shift is None else (((v & base) >> 12) << shift,), shift,
                    mkey, software, notes, not why, why)

        return read

    @property
    def base_mask(self) -> int:
        return self._source.base_mask if self._source is not None else 0

    def pfn_only(self, key: int) -> int:
        """The bits only the summary's pfn reads in the non-exact values of ``key``: no key, field,
        summary bit, rule or reason of the key's kind reads them (0 for an MMIO key, or when a
        reason may read any bit)."""
        p = self.kind(key)
        src = self._source
        if p is None or src is None:
            return 0
        used = self.key_mask | (self.match[0] if self.match else 0) | p.fields | src.summary_mask
        for rule in self._rules[p.kind]:
            reads = rule.reason_bits
            if reads is None:
                return 0
            used |= reads | union(m for m, _, _ in rule.broken_when)
        return src.base_mask & ~used

    def summary_reader(self) -> Callable[[int], str]:
        """``v`` -> ``read(v, level).summary``: per key and summary bits a template, the pfn (or an
        MMIO SPTE's gfn, generation and access) per value."""
        src = self._source
        if src is None:
            raise ValueError("these patterns were made without a ReadingSource")
        exact = {v: r.summary for v, r in self.exact.items()}
        key_mask, sm, base, summary_template = self.key_mask, src.summary_mask, src.base_mask, src.summary_template
        mm, mv = self.match or (0, 1)
        mmio: dict[int, bool] = {}  # key -> whether its values are MMIO SPTEs
        summaries: dict[int, tuple[str, int | None]] = {}

        def summary(v: int) -> str:
            hit = exact.get(v)
            if hit is not None:
                return hit
            key = v & key_mask | (v & mm == mv) << 64
            is_mmio = mmio.get(key)
            if is_mmio is None:
                is_mmio = mmio[key] = self.kind(key) is None  # bounded: 2 ** (popcount(key_mask) + 1) keys
            if is_mmio:
                st = summary_template(v)
                return str(st.template % st.args)
            skey = key | (v & sm) << 65
            st2 = summaries.get(skey)
            if st2 is None:
                st = summary_template(v)
                st2 = (st.template, st.pfn_shift)
                if len(summaries) < PATTERN_CAP:
                    summaries[skey] = st2
            template, shift = st2
            return template % (((v & base) >> 12) << shift,) if shift is not None else template % ()

        return summary
