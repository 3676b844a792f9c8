"""A profile's readings at one level as a function of bounded pieces of the value
(:class:`spte.metadata.owner.Patterns`): what ``decode --kvm ... --line`` and the log
reader need per SPTE without a :meth:`~spte.kvm.analysis.Analysis.read` per value.  A
profile derives them (``KvmProfile._patterns``, registered with
:func:`spte.metadata.owner.register_patterns`); :func:`spte.metadata.owner.patterns_of`
gives them to the readers that compose readings (``brief_reader``, ``parts_reader`` and
``summary_reader`` there, :func:`spte.render.owner.owner_suffix`, :mod:`spte.logs.pieces`).

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
from spte.kvm.rules import BitsReason, Rule, Test, verdict
from spte.metadata.owner import PATTERN_CAP, KindPattern, Parts, Reading
from spte.metadata.ranges import ranges_text

# The kinds a non-exact value can have besides "mmio" (read per value); "frozen" is an exact value.
KEYED_KINDS = ("present_leaf", "present_nonleaf", "access_tracked", "not_present")
TEXT_BITS = 14  # a reason naming at most this many bits is memoised per pattern of them (else composed)
NARROW = 12  # the rules whose reasons are memoised read at most this many bits (the last ones: per value)
MMIO_SUMMARY = "MMIO SPTE: gfn %#x gen %#x access %#x"  # classify()'s summary of an MMIO SPTE
# An MMIO pattern reaching this many bits beyond the key is matched per value instead (one key bit).
WIDE_MATCH = 4


class ReadingSource(NamedTuple):
    """What :meth:`KvmPatterns.reading_parts` composes a whole reading from (a profile's own
    methods at one level): the summary as a template (``summary_template(v)``: kind, template,
    args, pfn shift), the bits it reads besides the key and the pfn, the address mask of the pfn,
    the fields as the kernel reads them (``software_values(v, kind)``) and the notes
    (``notes(v, kind, software_values)``), and an MMIO SPTE's summary numbers,
    generation and notes."""

    summary_template: Callable[[int], Any]
    summary_mask: int
    base_mask: int
    software_values: Callable[[int, str], dict[str, int]]
    notes: Callable[[int, str, dict[str, int]], list[str]]
    mmio_args: Callable[[int], tuple[int, ...]]  # an MMIO SPTE's summary numbers
    mmio_gen: Callable[[int], int]  # its generation
    mmio_notes: tuple[str, tuple[str, ...]]  # its notes: the first a template of the generation, the rest


Plan = tuple[tuple[int, int, Callable[[int], str], int, tuple[Test, ...]], ...]  # see KvmPatterns._rule_plan


def _reasons(plan: Plan, v: int) -> tuple[str, ...]:
    """The reasons of the rules of ``plan`` that ``v`` breaks, in order."""
    out = []
    for how, mask, text, _, _ in plan:
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


def _too_wide(plan: Plan) -> bool:
    """Whether the rules of ``plan`` read too many bits to memoise their reasons by them."""
    reads = union(entry[3] for entry in plan)
    return reads < 0 or reads.bit_count() > NARROW


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

    value_kind = "mmio"  # the kind of every value read on its own

    def value(self, v: int) -> tuple[str, dict[str, int], bool | None]:
        """A value whose key has no :meth:`kind` (an MMIO SPTE), read on its own: kind, fields, verdict."""
        return "mmio", {name: x for name, get in self._mmio_fields if (x := get(v))}, self._mmio(v)

    # -- whole readings, composed (the log reader's JSON and MMIO text) ---------------------------
    def _reason_text(self, rule: Rule) -> Callable[[int], str]:
        """``rule.reason`` as a function of the value, from tables where the rule says what its
        text reads: a :class:`BitsReason` from the ranges of its mask, a text of few bits
        memoised by them (bounded), any other read per value."""
        reason = rule.reason
        if isinstance(reason, BitsReason) and reason.mask.bit_count() > TEXT_BITS:
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

    def _rule_plan(self, rules: tuple[Rule, ...], key: int | None, texts: dict[int, Callable[[int], str]]) -> Plan:
        """The rules of a kind as (how to test, mask, text, the bits test and text read (-1: any),
        the tests of many bits): how 0: broken for every value of ``key``; 1: broken when
        ``v & mask``; 2: per value (``rule.broken``; mask unused; the bits read leave out the
        tests of many bits); the rules no value of the key breaks are left out.  ``key`` None:
        no key (an MMIO SPTE), each rule per value."""
        plan: list[tuple[int, int, Callable[[int], str], int, tuple[Test, ...]]] = []
        rep = None if key is None else self.representative(key)
        for rule in rules:
            text = texts.setdefault(id(rule), self._reason_text(rule))
            tests = rule.broken_when
            tested = union(m for m, _, _ in tests)
            said = rule.reason_bits
            reads = -1 if said is None else said
            if rep is not None and not tested & ~self.key_mask:
                if rule.broken(rep):
                    plan.append((0, 0, text, reads, ()))
            elif rep is not None and len(tests) == 1 and tests[0][2] and (tests[0][0], tests[0][1]) == self.match:
                if key is not None and key >> 64 & 1:  # the MMIO pattern is the key's bit 64
                    plan.append((0, 0, text, reads, ()))
            elif rule.clear:
                plan.append((1, rule.clear, text, reads | rule.clear, ()))
            else:  # tests of few bits join the reads; a test of many is one flag (see reading_parts)
                wide = tuple(t for t in tests if t[0].bit_count() > NARROW)
                narrow = union(m for m, _, _ in tests if m.bit_count() <= NARROW)
                plan.append((2, 0, _if_broken(rule, text), reads | narrow, wide))
        return tuple(plan)

    def reading_parts(self) -> Callable[[int], Parts]:
        """``v`` -> the :data:`~spte.metadata.owner.Parts` of ``read(v, level)``, composed: per key
        the kind and how its rules test; per key and the bits that the summary (but its pfn), the
        fields, the narrow rules and their reasons read, everything but the pfn and the wide
        rules' reasons, which are composed per value from tables of their bits.  MMIO SPTEs
        and exact values are read on their own."""
        src = self._reading_source()
        exact = {v: (r.kind, r.summary.replace("%", "%%"), (), None, None, r.software, r.notes, r.plausible, None,
                     r.reasons, ()) for v, r in self.exact.items()}
        key_mask = self.key_mask
        mm, mv = self.match or (0, 1)
        base, summary_of = src.base_mask, self._summaries(src)
        software_values, notes_of = src.software_values, src.notes
        mmio_args, mmio_gen, (mmio_note, mmio_more), mmio_fields = (src.mmio_args, src.mmio_gen, src.mmio_notes,
                                                                    self._mmio_fields)
        texts: dict[int, Callable[[int], str]] = {}
        # key -> (kind, field bits, the bits the narrow rules read, their plan, the wide rules at the
        # end tested per value), or None for an MMIO key
        plans: dict[int, tuple[str, int, int, int, tuple[Test, ...], Plan,
                               tuple[tuple[int, Callable[[int], str]], ...]] | None] = {}
        plan_ids: dict[tuple[tuple[int, int, int], ...], int] = {}
        # Memos keyed by key | bits << 65 (bounded by the key's and those bits' count, and by PATTERN_CAP):
        fields_memo: dict[int, tuple[dict[str, int], tuple[str, ...]]] = {}  # field bits -> fields, notes
        reasons_memo: dict[int, tuple[str, ...]] = {}  # plan | its bits << 16 -> the narrow rules' reasons
        mmio_plan = self._rule_plan(self._rules["mmio"], None, texts)

        def plan_of(key: int) -> tuple[str, int, int, int, tuple[Test, ...], Plan,
                                       tuple[tuple[int, Callable[[int], str]], ...]] | None:
            p = self.kind(key)
            made = None
            if p is not None:
                plan = self._rule_plan(self._rules[p.kind], key, texts)
                # The wide rules at the end of the plan (they ask for clear bits and name many) are
                # tested per value; the others read few bits, memoised by them.
                n = len(plan)
                while n and plan[n - 1][0] == 1 and _too_wide(plan[:n]):
                    n -= 1
                narrow, rest = plan[:n], tuple((mask, text) for _, mask, text, _, _ in plan[n:])
                reads = union(reads for _, _, _, reads, _ in narrow)
                flags = tuple(t for *_, wide in narrow for t in wide)  # one bit of the memo's key each
                # Keys whose narrow rules test alike share their reasons: the memo is keyed by the plan.
                pid = plan_ids.setdefault(tuple((how, mask, id(text)) for how, mask, text, _, _ in narrow),
                                          len(plan_ids))
                made = (p.kind, p.fields, reads if 0 <= reads and reads.bit_count() <= NARROW else -1, pid,
                        flags, narrow, rest)
            plans[key] = made  # bounded: 2 ** (popcount(key_mask) + 1) keys
            return made

        def fields_of(v: int, kind: str, fkey: int) -> tuple[dict[str, int], tuple[str, ...]]:
            values = software_values(v, kind)
            known = ({k: x for k, x in values.items() if x}, tuple(notes_of(v, kind, values)))
            if len(fields_memo) < PATTERN_CAP:
                fields_memo[fkey] = known
            return known

        def reasons_of(v: int, plan: Plan, rkey: int) -> tuple[str, ...]:
            known = _reasons(plan, v)
            if len(reasons_memo) < PATTERN_CAP:
                reasons_memo[rkey] = known
            return known

        def read(v: int) -> Parts:
            hit = exact.get(v)
            if hit is not None:
                return hit
            key = v & key_mask | (v & mm == mv) << 64
            plan = plans[key] if key in plans else plan_of(key)
            if plan is None:  # an MMIO SPTE: its numbers are address-like bits
                why = _reasons(mmio_plan, v)
                return ("mmio", MMIO_SUMMARY, mmio_args(v), None, None,
                        {name: x for name, get in mmio_fields if (x := get(v))},
                        (mmio_note % mmio_gen(v), *mmio_more), not why, None, (), why)
            kind, fields, reads, pid, flags, narrow, rest = plan
            template, shift = summary_of(v, key)
            fkey = key | (v & fields) << 65
            software, notes = fields_memo.get(fkey) or fields_of(v, kind, fkey)
            if reads < 0:
                rkey, why = None, _reasons(narrow, v)
            else:
                rkey = pid | (v & reads) << 16
                for i, (m, x, eq) in enumerate(flags):
                    if (v & m == x) == eq:
                        rkey |= 1 << 80 + i
                known = reasons_memo.get(rkey)
                why = reasons_of(v, narrow, rkey) if known is None else known
            more = tuple([text(v) for mask, text in rest if v & mask]) if rest else ()
            return (kind, template, () if shift is None else (((v & base) >> 12) << shift,), shift,
                    fkey, software, notes, not why and not more, rkey, why, more)

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

    def _reading_source(self) -> ReadingSource:
        if self._source is None:
            raise ValueError("these patterns were made without a ReadingSource")
        return self._source

    def _summaries(self, src: ReadingSource) -> Callable[[int, int], tuple[str, int | None]]:
        """``(v, its key)`` -> the template and pfn shift of ``v``'s (non-MMIO) summary, memoised
        by the key and the summary's bits (bounded by their count and by PATTERN_CAP)."""
        sm, summary_template = src.summary_mask, src.summary_template
        memo: dict[int, tuple[str, int | None]] = {}

        def summary(v: int, key: int) -> tuple[str, int | None]:
            skey = key | (v & sm) << 65
            known = memo.get(skey)
            if known is None:
                st = summary_template(v)
                known = (st.template, st.pfn_shift)
                if len(memo) < PATTERN_CAP:
                    memo[skey] = known
            return known

        return summary

    def summary_reader(self) -> Callable[[int], str]:
        """``v`` -> ``read(v, level).summary``: per key and summary bits a template, the pfn (or an
        MMIO SPTE's gfn, generation and access) per value."""
        src = self._reading_source()
        exact = {v: r.summary for v, r in self.exact.items()}
        key_mask, base, summary_of = self.key_mask, src.base_mask, self._summaries(src)
        mm, mv = self.match or (0, 1)
        mmio: dict[int, bool] = {}  # key -> whether its values are MMIO SPTEs

        def summary(v: int) -> str:
            hit = exact.get(v)
            if hit is not None:
                return hit
            key = v & key_mask | (v & mm == mv) << 64
            is_mmio = mmio.get(key)
            if is_mmio is None:
                is_mmio = mmio[key] = self.kind(key) is None  # bounded: 2 ** (popcount(key_mask) + 1) keys
            if is_mmio:
                return MMIO_SUMMARY % src.mmio_args(v)
            template, shift = summary_of(v, key)
            return template % (((v & base) >> 12) << shift,) if shift is not None else template % ()

        return summary
