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

from spte.bits import union
from spte.kvm.rules import Rule, verdict
from spte.metadata.owner import KindPattern, Reading

# The kinds a non-exact value can have besides "mmio" (read per value); "frozen" is an exact value.
KEYED_KINDS = ("present_leaf", "present_nonleaf", "access_tracked", "not_present")
# An MMIO pattern reaching this many bits beyond the key is matched per value instead (one key bit).
WIDE_MATCH = 4


class KvmPatterns:
    """:class:`spte.metadata.owner.Patterns` of one profile at one level, from what the profile
    derives: its exact values' readings, what classify() tests (``tests``: bits and the MMIO
    pattern), the rules of each kind (:data:`KEYED_KINDS` and ``"mmio"``), the field bits of
    each kind, classify() itself, the fields of a value of a kind, and an MMIO SPTE's fields
    (name and getter, in the order a reading gives them)."""

    def __init__(self, exact: dict[int, Reading], tests: tuple[int, tuple[int, int] | None],
                 rules: Mapping[str, tuple[Rule, ...]], fields: Mapping[str, int], classify: Callable[[int], str],
                 software: Callable[[int, str], dict[str, int]],
                 mmio_fields: tuple[tuple[str, Callable[[int], int]], ...]) -> None:
        self.exact = exact
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
