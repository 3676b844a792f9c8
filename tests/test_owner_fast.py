"""The fast owner readings (issue 14) against the reference object path.

``decode --kvm ... --line`` composes a KVM profile's suffix from bounded pieces
(:func:`spte.metadata.owner.patterns_of`, :func:`spte.render.owner.owner_suffix`), and the log
reader takes ``(kind, fields, plausible)`` from :func:`spte.metadata.owner.brief_reader`.
Both must say exactly what ``reading_suffix(profile.read(v, level), profile.value_name)`` says,
for every KVM change point, every MMU flavour it has, every level and several hosts, on:

* uniformly random words (fixed seeds);
* the golden vectors of tests/data/kvm-vectors (SPTEs computed by the kernel's own SPTE code
  of Linux 5.8.18, 5.10.13, 5.12.9, 6.12.0, 6.13.2 and 6.19; see that README), whatever
  release reads them;
* values each profile builds with its own helpers (make_mmio_spte() with gfns at and above
  x86_phys_bits, the non-leaf SPTE of make_nonleaf_spte()/link_shadow_page(), access-tracked
  leaves from mark_spte_for_access_track());
* 0, SHADOW_NONPRESENT_VALUE and the frozen value, and each of the above with every single
  bit flipped.
"""

from __future__ import annotations

import gzip
import json
import random
from functools import cache
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from spte.entry import levels_in_use
from spte.kvm import CHANGE_POINTS, FLAVOURS, KvmProfile, profile
from spte.kvm.rules import Rule, must_clear, must_set, never, verdict
from spte.metadata.owner import PATTERN_CAP, brief_reader, patterns_of
from spte.owners import resolve
from spte.render.fast import PATTERNS
from spte.render.owner import owner_suffix, reading_suffix
from tests.conftest import DATA, golden

# Hosts: MAXPHYADDR 39/46/52, the L1TF split on and off, an SME host with a C-bit and
# PhysAddrReduction (the kvm-vectors npt-sme host) and a 32-bit PAE host; then rarer ones,
# tested on fewer values: x86_cache_bits above the PA width, an SME C-bit at the top PA bit,
# no execute-only EPT, mmio_caching=0, a PAE host with the L1TF split.
HOSTS = {
    "m39": dict(maxphyaddr=39),
    "m46": dict(maxphyaddr=46),
    "m46-no-l1tf": dict(maxphyaddr=46, l1tf=False),
    "m52": dict(maxphyaddr=52),
    "sme48": dict(maxphyaddr=48, me_bit=47, phys_addr_reduction=5),
    "pae36": dict(maxphyaddr=36, format="pae"),
}
RARE_HOSTS = {
    "m40-cache44": dict(maxphyaddr=40, l1tf=True, cache_bits=44),
    "sme52": dict(maxphyaddr=52, me_bit=51, phys_addr_reduction=6),
    "no-exec-only": dict(maxphyaddr=46, exec_only=False),
    "no-mmio-caching": dict(maxphyaddr=46, mmio_caching=False),
    "pae46-l1tf": dict(maxphyaddr=46, format="pae", l1tf=True),
}
VERSIONS = (*CHANGE_POINTS, "latest")


def combos(hosts: dict[str, dict[str, Any]]) -> list[tuple[str, str, str]]:
    """Every (version, flavour, host) the profile() of that version accepts."""
    out = []
    for version in VERSIONS:
        for flavour in FLAVOURS:
            for host, kw in hosts.items():
                try:
                    profile(version, flavour, **kw)
                except ValueError:  # e.g. an SME C-bit on an EPT host, PAE with EPT
                    continue
                out.append((version, flavour, host))
    return out


COMBOS, RARE = combos(HOSTS), combos(RARE_HOSTS)
ALL_HOSTS = HOSTS | RARE_HOSTS


def test_the_combinations_cover_every_change_point_flavour_and_host_kind():
    assert {v for v, _, _ in COMBOS} == set(VERSIONS) and {f for _, f, _ in COMBOS} == set(FLAVOURS)
    assert {h for _, _, h in COMBOS} == set(HOSTS) and {h for _, _, h in RARE} == set(RARE_HOSTS)
    assert len(COMBOS) > 250 and len(RARE) > 150


@cache
def vector_sptes() -> tuple[int, ...]:
    """Every SPTE in the kernel-computed vectors: predicate inputs, make_mmio_spte() and
    make_nonleaf_spte()/link_shadow_page() outputs, access-tracking inputs and outputs."""
    out: set[int] = set()
    for path in sorted((DATA / "kvm-vectors").glob("*.jsonl.gz")):
        with gzip.open(golden(f"kvm-vectors/{path.name}"), "rt") as fh:
            for line in fh:
                rec = json.loads(line)
                if rec["kind"] == "config":
                    continue
                for part in (rec["inputs"], rec["outputs"]):
                    for k, v in part.items():
                        if isinstance(v, str) and v.startswith("0x") and (
                                "spte" in k or k == "link_shadow_page"):
                            out.add(int(v, 16))
    return tuple(sorted(out))


def test_the_vectors_are_there():
    assert len(vector_sptes()) > 20000


def built_values(p: KvmProfile, rng: random.Random) -> list[int]:
    """Values the profile's own helpers build (the kernel's formulas, replayed)."""
    n = p.host.x86_phys_bits
    out = [p.shadow_mmio_value, p.SHADOW_NONPRESENT_VALUE, p.frozen_value or 0, 0]
    for gfn in (0, 0xFEB00, (1 << (n - 12)) - 1, 1 << (n - 12), rng.getrandbits(40)):
        out.append(p.make_mmio_spte(gfn, rng.getrandbits(3), rng.getrandbits(20)))
    for ad_disabled in (False, True):
        out.append(p._nonleaf_spte(rng.getrandbits(n - 12) << 12, ad_disabled))
    leaf = p._nonleaf_spte(rng.getrandbits(n - 12) << 12, False) | p.shadow_host_writable_mask \
        | p.shadow_mmu_writable_mask | p.shadow_dirty_mask
    out += [leaf, leaf | 0x80, p.mark_spte_for_access_track(leaf),
            p.mark_spte_for_access_track(p._nonleaf_spte(0x1234000, True))]
    return out


def flipped(values: list[int]) -> list[int]:
    return [v ^ (1 << b) for v in values for b in range(64)]


def check(p: KvmProfile, level: int, values: list[int]) -> None:
    suffix, brief = owner_suffix(p, level), brief_reader(p, level)
    want = []
    for v in values:
        r = p.read(v, level)
        want.append((reading_suffix(r, p.value_name), (r.kind, tuple(r.software), r.plausible)))
    for _ in range(2):  # the second time round the memos answer
        for v, (text, short) in zip(values, want, strict=True):
            assert suffix(v) == text, (p.name, level, hex(v))
            assert brief(v) == short, (p.name, level, hex(v))


@pytest.mark.parametrize(("version", "flavour", "host"), COMBOS)
def test_fast_readings_are_the_reference_readings(version, flavour, host):
    p = profile(version, flavour, **HOSTS[host])
    vectors = vector_sptes()
    for level in levels_in_use(p.format, p.platform):
        rng = random.Random(f"{version} {flavour} {host} {level}")
        built = built_values(p, rng)
        values = built + flipped(built[:4]) + [rng.getrandbits(64) for _ in range(150)]
        values += rng.sample(vectors, 30)
        check(p, level, list(dict.fromkeys(values)))


@pytest.mark.parametrize(("version", "flavour", "host"), RARE)
def test_fast_readings_on_rarer_hosts(version, flavour, host):
    p = profile(version, flavour, **RARE_HOSTS[host])
    for level in levels_in_use(p.format, p.platform):
        rng = random.Random(f"{version} {flavour} {host} {level}")
        built = built_values(p, rng)
        values = built + flipped(built[2:3]) + [rng.getrandbits(64) for _ in range(60)]
        check(p, level, list(dict.fromkeys(values)))


@pytest.mark.parametrize(("version", "flavour", "host"),
                         [("6.19", "ept-ad", "m46-no-l1tf"), ("5.8", "shadow", "m46"), ("6.13", "npt", "sme48"),
                          ("5.12", "ept-noad", "m46-no-l1tf")])
def test_fast_readings_on_every_vector_and_every_flip_of_the_built_values(version, flavour, host):
    """Some kvm-vectors configurations (README section 2) on all the vectors, at level 1."""
    p = profile(version, flavour, **HOSTS[host])
    check(p, 1, list(vector_sptes()) + flipped(built_values(p, random.Random(1))))


def test_the_memo_is_bounded_by_the_key_bits():
    """Random words ask few keys: the kind key, the field bits and the MMIO match bit are at most
    14 bits, so the memos never reach their cap (PATTERNS = PATTERN_CAP = 2 ** 14 entries)."""
    assert PATTERNS == PATTERN_CAP == 1 << 14
    for version, flavour, host in COMBOS + RARE:
        p = profile(version, flavour, **ALL_HOSTS[host])
        for level in levels_in_use(p.format, p.platform):
            pats = patterns_of(p, level)
            bits = (pats.key_mask | pats.field_mask).bit_count() + (pats.match is not None)
            assert bits <= 14, (p.name, level, hex(pats.key_mask), hex(pats.field_mask), pats.match)
            # and no address bit below x86_phys_bits is among them, unless the MMIO test reads it
            address = p.masks.SPTE_BASE_ADDR_MASK & ((1 << p.host.x86_phys_bits) - 1) & ~p.masks.shadow_mmio_mask
            assert not (pats.key_mask | pats.field_mask) & address, (p.name, level)


@given(st.sampled_from(COMBOS + RARE), st.integers(1, 4), st.integers(0, (1 << 64) - 1), st.integers(0, 63))
def test_fast_readings_hypothesis(combo, level, value, bit):
    version, flavour, host = combo
    p = profile(version, flavour, **ALL_HOSTS[host])
    level = min(level, max(levels_in_use(p.format, p.platform)))
    check(p, level, [value, value ^ (1 << bit), value & ~p.masks.SPTE_BASE_ADDR_MASK])


def test_brief_reader_falls_back_to_read_for_other_owners():
    for spec in ("linux:6.12", "xen:4.19:ept", "linux:6.12,xen:4.19:pv"):
        owner = resolve(spec)
        brief = brief_reader(owner, 1)
        for v in (0, 0x608, 0x8000000000000867, 0x9C000003000003F3, 0x2, 0x7FF0000000000001):
            r = owner.read(v, 1)
            assert brief(v) == (r.kind, tuple(k for k, x in r.software.items() if x), r.plausible), (spec, hex(v))


def test_reading_and_the_brief_reject_a_bad_level():
    p = profile("6.19", "ept-ad")
    with pytest.raises(ValueError, match="level 6"):
        brief_reader(p, 6)


masks = st.integers(0, (1 << 64) - 1).map(lambda m: m & random.Random(m).getrandbits(64))  # sparse masks too
tests = st.tuples(masks, st.integers(0, (1 << 64) - 1), st.booleans()).map(lambda t: (t[0], t[1] & t[0], t[2]))
rule_sets = st.lists(st.lists(tests, min_size=1, max_size=2), max_size=6).map(
    lambda rs: tuple(Rule(f"r{i}", tuple(r), str) for i, r in enumerate(rs)))


@given(rule_sets, st.lists(st.integers(0, (1 << 64) - 1), min_size=1, max_size=20))
def test_the_compiled_verdict_is_every_rule_tested_one_by_one(rules, values):
    """verdict() merges rules into one mask test (and finds rules no value can satisfy together)."""
    plausible = verdict(rules)
    for v in values + [t[1] for r in rules for t in r.broken_when]:
        assert plausible(v) == (not any(r.broken(v) for r in rules))


def test_rules_as_mask_tests():
    r = Rule("shadow_present_mask", ((1 << 63, 1 << 63, False),), str)
    assert r.broken(0xB77) and not r.broken(1 << 63 | 0xB77) and not r.always and r.clear == 0
    c = must_clear("x86_phys_bits", 0xF << 46, str)
    assert c.clear == 0xF << 46 and c.broken(1 << 47) and not c.broken(1 << 45)
    assert never("SHADOW_NONPRESENT_VALUE", str).always
    # Two rules no value satisfies together: must_set and must_clear of the same bit.
    assert not any(verdict((must_set("a", 1, str), must_clear("b", 1, str)))(v) for v in (0, 1, 3))
    # A rule of two tests is broken when both hold: P set and an address (no SPTE_MMU_PRESENT_MASK).
    both = Rule("SPTE_MMU_PRESENT_MASK", ((1, 0, False), (0xFFFFFFFFFF000, 0, False)), str)
    assert both.broken(0x1001) and not both.broken(0x1000) and not both.broken(0x1) and both.clear == 0


def test_a_present_looking_spte_without_bit_11_is_called_so():
    """From 5.13 every SPTE KVM makes present has SPTE_MMU_PRESENT_MASK (bit 11, arch/x86/kvm/mmu/spte.h):
    P and a pfn without it is a not-present SPTE the kernel never writes, and the reading says why."""
    p = profile("6.19", "shadow")
    why = "present to hardware and pointing at memory"
    assert any(why in r for r in p.read(0x1234001, 1).reasons)
    assert not any(why in r for r in p.read(0x1234000, 1).reasons) and p.read(0x1234000, 1).plausible is False
    assert not any(why in r for r in p.read(0x1, 1).reasons)
