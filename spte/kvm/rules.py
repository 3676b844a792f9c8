"""Plausibility rules as data: what a kernel always does when it builds an SPTE, as mask
tests, with the kernel-literal explanation beside each (:meth:`spte.kvm.analysis.Analysis.plausibility`
gives the reasons of the rules a value breaks; the fast readings of :mod:`spte.kvm.patterns`
test the same rules as masks).

>>> r = must_set("shadow_present_mask", 1 << 63, lambda v: "bit 63 clear")
>>> r.broken(0x8000000000000b77), r.broken(0xb77), hex(must_clear("x86_phys_bits", 0xF << 48, str).clear)
(False, True, '0xf000000000000')
>>> plausible = verdict((r, must_clear("x86_phys_bits", 0xF << 48, str), nonzero("RWX", 7, str)))
>>> plausible(0x8000000000000b77), plausible(0x8001000000000b77), plausible(0x8000000000000b70)
(True, False, False)
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from spte.bits import format_ranges

U64 = (1 << 64) - 1
Test = tuple[int, int, bool]  # (mask, value, equal): true when (spte & mask == value) == equal


def bits_text(mask: int) -> str:
    """``bit 4`` or ``bits 58:57,8``: how a reason names the bits of a mask."""
    return f"bit{'s' if mask.bit_count() > 1 else ''} {format_ranges(mask)}"


class BitsReason:
    """A reason that names the bits of the value under ``mask`` (of its complement when
    ``clear``): ``prefix + bits_text(...) + suffix``.  Declared as data so the fast readings
    (:mod:`spte.kvm.patterns`) compose it from tables of the mask's bits, not per value.

    >>> BitsReason("address ", 0xF << 48, " lie at or above x86_phys_bits 48")(0x3 << 49)
    'address bits 50:49 lie at or above x86_phys_bits 48'
    >>> BitsReason("shadow_present_mask ", 1, " clear", clear=True)(0x8000000000000b76)
    'shadow_present_mask bit 0 clear'
    """

    __slots__ = ("prefix", "mask", "suffix", "clear")

    def __init__(self, prefix: str, mask: int, suffix: str, clear: bool = False) -> None:
        self.prefix, self.mask, self.suffix = prefix, mask, suffix
        self.clear = clear  # name the mask's bits the value has clear

    def __call__(self, v: int) -> str:
        return f"{self.prefix}{bits_text((~v if self.clear else v) & self.mask)}{self.suffix}"


@dataclass(frozen=True)
class Rule:
    """Something this kernel always does when it builds an SPTE, as mask tests: a value breaks
    the rule when every test of ``broken_when`` is true.  The verdict of many values is then a
    few mask tests; ``reason`` is the kernel-literal explanation for one that breaks it."""

    name: str  # the kernel's name of what the rule is about (a mask, a constant, a function)
    broken_when: tuple[Test, ...]  # empty: the rule says nothing on this host
    reason: Callable[[int], str] = field(compare=False)
    # The bits ``reason`` reads (0: a constant text; None: not declared, read per value).  A
    # :class:`BitsReason` declares itself.
    reads: int | None = field(default=None, compare=False)

    @property
    def reason_bits(self) -> int | None:
        """The bits the reason's text depends on (None: any)."""
        return self.reason.mask if isinstance(self.reason, BitsReason) else self.reads

    def broken(self, spte: int) -> bool:
        tests = self.broken_when
        return bool(tests) and all((spte & mask == value) == equal for mask, value, equal in tests)

    @property
    def always(self) -> bool:
        """Every value breaks it (e.g. "KVM never writes one")."""
        return bool(self.broken_when) and all(mask == 0 and value == 0 and equal
                                              for mask, value, equal in self.broken_when)

    @property
    def clear(self) -> int:
        """The bits the rule asks to be clear, if that is all it asks (else 0)."""
        if len(self.broken_when) == 1:
            mask, value, equal = self.broken_when[0]
            if value == 0 and not equal:
                return mask
        return 0


Reason = Callable[[int], str]


def must_clear(name: str, mask: int, reason: Reason, reads: int | None = None) -> Rule:
    return Rule(name, ((mask, 0, False),) if mask else (), reason, reads)


def must_set(name: str, mask: int, reason: Reason, reads: int | None = None) -> Rule:
    return Rule(name, ((mask, mask, False),) if mask else (), reason, reads)


def must_equal(name: str, mask: int, value: int, reason: Reason, reads: int | None = None) -> Rule:
    return Rule(name, ((mask, value, False),), reason, reads)


def must_differ(name: str, mask: int, value: int, reason: Reason, reads: int | None = None) -> Rule:
    return Rule(name, ((mask, value, True),), reason, reads)


def nonzero(name: str, mask: int, reason: Reason, reads: int | None = None) -> Rule:
    return Rule(name, ((mask, 0, True),), reason, reads)


def never(name: str, reason: Reason, reads: int | None = None) -> Rule:
    return Rule(name, ((0, 0, True),), reason, reads)


def verdict(rules: tuple[Rule, ...]) -> Callable[[int], bool]:
    """``lambda v: not any(r.broken(v) for r in rules)`` as few mask tests: every rule that asks
    ``v & mask == value`` merges into one such test, the rest are tested one by one."""
    em = ev = 0
    differ: list[tuple[int, int]] = []
    other: list[Rule] = []
    for r in rules:
        if len(r.broken_when) != 1:
            other.append(r)
            continue
        mask, value, equal = r.broken_when[0]
        if equal:
            differ.append((mask, value))
        elif ev & mask != value & em:  # two rules want different values of the same bit
            return lambda v: False
        else:
            em, ev = em | mask, ev | value
    if not other and not differ:
        return lambda v: v & em == ev
    if not other and len(differ) == 1:  # e.g. a present SPTE must not match the MMIO pattern
        (dm, dv), = differ
        return lambda v: v & em == ev and v & dm != dv
    return lambda v: (v & em == ev and all(v & m != x for m, x in differ)
                      and not any(r.broken(v) for r in other))
