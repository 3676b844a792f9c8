"""The owner side of the log reader's composed readings: a KVM profile's reading in parts
(:func:`spte.metadata.owner.parts_reader`, :func:`spte.metadata.owner.summary_reader`) is its
``read`` (kind, summary, fields, notes, verdict, reasons), the plausibility reasons declared as
data (:class:`spte.kvm.rules.BitsReason`) say what their texts read, and :func:`ranges_text`
is :func:`spte.bits.format_ranges` of the masked value."""

from __future__ import annotations

import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bench.inputs import kvm_shaped, random_words
from spte.bits import format_ranges
from spte.entry import CLASSES
from spte.kvm import profile
from spte.kvm.rules import BitsReason
from spte.metadata.owner import parts_reader, pfn_slots, summary_reader
from spte.metadata.ranges import ranges_text
from tests.strategies import u64

PROFILES = [(v, f, kw) for v in ("5.4", "5.10", "5.13", "6.1", "6.19", "7.1")
            for f, kw in (("shadow", {"maxphyaddr": 48}), ("ept-ad", {}), ("ept-noad", {"maxphyaddr": 36}),
                          ("npt", {"maxphyaddr": 48, "me_bit": 47}), ("npt", {"format": "pae", "maxphyaddr": 36}),
                          ("shadow", {"format": "pae", "maxphyaddr": 36}))]


def _reading(parts: tuple[object, ...]) -> tuple[object, ...]:
    kind, template, args, _, _, software, notes, plausible, _, reasons, more = parts
    return kind, template % args, software, notes, plausible, reasons + more  # type: ignore[operator]


@pytest.mark.parametrize(("version", "flavour", "kw"), PROFILES)
def test_parts_are_the_reading(version: str, flavour: str, kw: dict[str, object]) -> None:
    prof = profile(version, flavour, **kw)  # type: ignore[arg-type]
    values = random_words(150, 7) + kvm_shaped(150, 8) + [0, (1 << 64) - 1, 1 << 63]
    rng = random.Random(9)
    values += [v ^ rng.getrandbits(36) << 12 for v in values[:100]]
    for level in CLASSES[prof.format]:
        parts, summary = parts_reader(prof, level), summary_reader(prof, level)
        for v in values:
            r = prof.read(v, level)
            assert _reading(parts(v)) == (r.kind, r.summary, r.software, r.notes, r.plausible, r.reasons), hex(v)
            assert summary(v) == r.summary


@given(u64, st.sampled_from(PROFILES), st.integers(1, 5))
def test_any_value_in_parts_is_the_reading(v: int, which: tuple[str, str, dict[str, object]], level: int) -> None:
    version, flavour, kw = which
    prof = profile(version, flavour, **kw)  # type: ignore[arg-type]
    levels = sorted(CLASSES[prof.format])
    level = levels[(level - 1) % len(levels)]
    r = prof.read(v, level)
    assert _reading(parts_reader(prof, level)(v)) == (r.kind, r.summary, r.software, r.notes, r.plausible,
                                                      r.reasons)


def test_pfn_only_bits_change_only_the_pfn() -> None:
    """pfn_slots' promise, on the values of a key: flipping those bits changes the summary's
    pfn and nothing else of the reading."""
    prof = profile("6.19", "ept-ad")
    key_mask, match, pfn_only, base, exact = pfn_slots(prof, 1) or (0, None, None, 0, frozenset())
    assert pfn_only is not None and match is None
    rng = random.Random(4)
    parts = parts_reader(prof, 1)
    checked = 0
    for v in kvm_shaped(300, 5) + random_words(300, 6):
        bits = pfn_only(v & key_mask)
        if not bits or v in exact:
            continue
        w = v ^ (rng.getrandbits(64) & bits)
        a, b = parts(v), parts(w)
        if a[3] is None or a[4] is None:  # no pfn in the summary, or a reading not shared by a key
            continue
        checked += 1
        assert a[:2] + a[3:] == b[:2] + b[3:], (hex(v), hex(w))
        assert b[2] == (((w & base) >> 12) << a[3],)
    assert checked > 100


def test_reasons_declare_what_they_read() -> None:
    """A rule's reason text is a function of the bits it declares (``reason_bits``): two values
    that agree on them read alike, for every rule of every kind of a few profiles."""
    rng = random.Random(12)
    for version, flavour, kw in PROFILES[::5]:
        prof = profile(version, flavour, **kw)  # type: ignore[arg-type]
        for level in CLASSES[prof.format]:
            for kind in ("present_leaf", "present_nonleaf", "access_tracked", "not_present", "mmio"):
                for rule in prof._rule_set(kind, level):
                    reads = rule.reason_bits
                    if reads is None:
                        continue
                    for _ in range(30):
                        v = rng.getrandbits(64)
                        w = v & reads | rng.getrandbits(64) & ~reads
                        assert rule.reason(v) == rule.reason(w), (rule.name, hex(v), hex(w))


def test_a_bits_reason_is_its_text() -> None:
    """The kernel-literal wording, as analysis.py wrote it before the rules became data."""
    r = BitsReason("", 0x7FC0000000000198, " set: this kernel never sets them in a leaf SPTE")
    assert r(0x0600000000000100) == "bits 58:57,8 set: this kernel never sets them in a leaf SPTE"
    assert r(0x0000000000000010) == "bit 4 set: this kernel never sets them in a leaf SPTE"
    assert BitsReason("shadow_present_mask ", 0x1, " clear", clear=True)(0x8) == "shadow_present_mask bit 0 clear"


@given(st.integers(0, 2**64 - 1), st.lists(u64, min_size=1, max_size=30))
def test_ranges_text_is_format_ranges(mask: int, values: list[int]) -> None:
    text = ranges_text(mask)
    for v in values:
        assert text(v) == format_ranges(v & mask)


def test_ranges_text_of_long_runs() -> None:
    """Runs that cross the tables' 12-bit chunks merge into one (bits 29:12 of an EPT 1G page)."""
    text = ranges_text(0x3FFFF000 | 0xF << 48)
    assert text(0x3FFFF000) == "29:12"
    assert text(0x00FFF000 | 1 << 50) == "50,23:12"
    assert text(0x01001000) == "24,12"
    rng = random.Random(1)
    for _ in range(2000):
        v = rng.getrandbits(64)
        assert text(v) == format_ranges(v & (0x3FFFF000 | 0xF << 48))
