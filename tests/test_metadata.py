"""Free-bit maps, the tag allocator, its proof, precise presence and C/JSON export."""

from __future__ import annotations

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from spte import Platform, decode
from spte.bits import genmask
from spte.entry import CLASSES
from spte.kvm import legacy_is_shadow_present_pte
from spte.metadata import (
    TagCollision,
    TagSpec,
    allocate,
    free_bits,
)
from tests.strategies import u64


def bits(*spec: int | tuple[int, int]) -> int:
    return sum(genmask(*s) if isinstance(s, tuple) else 1 << s for s in spec)


# --- not-present: hardware-formats.md section 5.1 and Sean Christopherson's 2020 numbers --
@pytest.mark.parametrize(("fmt", "expected"), [("x86-64", 63), ("npt", 63), ("pae", 63), ("x86-32", 31),
                                               ("ept", 60)])
def test_not_present_free_bits_at_every_level(fmt, expected):
    for level in CLASSES[fmt]:
        mask = free_bits(fmt, level, "not_present")
        assert mask.bit_count() == expected
        assert not mask & 1  # P / R stays with hardware
        if fmt == "ept":
            assert mask == bits((62, 3))


def test_not_present_ept_variants():
    assert free_bits("ept", 1, "not_present", Platform(ept_mbec=True)) == bits((62, 3)) & ~bits(10)
    # EPT-violation #VE never enabled: SUPPRESS_VE (63) is no longer read (SDM 29.3.3.2).
    assert free_bits("ept", 1, "not_present", Platform(ept_ve=False)).bit_count() == 61
    both = free_bits("ept", 4, "not_present", Platform(ept_mbec=True, ept_ve=False))
    assert both.bit_count() == 60


# --- present: hardware-formats.md section 5.2 ("baseline" = every optional feature off) ----
BASE = Platform(ept_ad=False, ept_ve=False)
ALL_EPT = Platform(ept_ad=True, ept_mbec=True, ept_ve=True, ept_verify_guest_paging=True,
                   ept_paging_write=True, ept_supervisor_shadow_stack=True, ept_sub_page=True)
PRESENT_MAPS = [
    # (format, level, state, platform, expected free bits)
    ("ept", 4, "present_nonleaf", BASE, bits(8, 9, 10, 11, (63, 52))),
    ("ept", 5, "present_nonleaf", BASE, bits(8, 9, 10, 11, (63, 52))),
    ("ept", 3, "present_nonleaf", Platform(ept_ad=True, ept_ve=False), bits(9, 10, 11, (63, 52))),
    ("ept", 2, "present_nonleaf", Platform(ept_ad=True, ept_mbec=True), bits(9, 11, (63, 52))),
    ("ept", 3, "present_leaf", BASE, bits(8, 9, 10, 11, (63, 52))),
    ("ept", 2, "present_leaf", Platform(ept_ad=True, ept_ve=False), bits(10, 11, (63, 52))),
    ("ept", 2, "present_leaf", ALL_EPT, bits(11, (56, 52), 59, 61, 62)),
    ("ept", 1, "present_leaf", BASE, bits(7, 8, 9, 10, 11, (63, 52))),
    ("ept", 1, "present_leaf", Platform(ept_ad=True, ept_ve=False), bits(7, 10, 11, (63, 52))),
    ("ept", 1, "present_leaf", ALL_EPT, bits(7, 11, (56, 52), 59, 62)),
    ("x86-64", 4, "present_nonleaf", Platform(), bits(6, 8, 9, 10, 11, (62, 52))),
    ("x86-64", 4, "present_nonleaf", Platform(hlat=True), bits(6, 8, 9, 10, (62, 52))),
    ("x86-64", 4, "present_nonleaf", Platform(vendor="amd"), bits(6, 9, 10, 11, (62, 52))),
    ("x86-64", 5, "present_nonleaf", Platform(vendor="amd"), bits(6, 9, 10, 11, (62, 52))),
    ("npt", 4, "present_nonleaf", Platform(), bits(6, 9, 10, 11, (62, 52))),
    ("x86-64", 3, "present_nonleaf", Platform(vendor="amd"), bits(6, 8, 9, 10, 11, (62, 52))),
    ("x86-64", 2, "present_nonleaf", Platform(hlat=True), bits(6, 8, 9, 10, (62, 52))),
    ("x86-64", 3, "present_leaf", Platform(), bits(9, 10, 11, (62, 52))),
    ("x86-64", 2, "present_leaf", Platform(pke=True), bits(9, 10, 11, (58, 52))),
    ("x86-64", 1, "present_leaf", Platform(pks=True, hlat=True), bits(9, 10, (58, 52))),
    ("npt", 1, "present_leaf", Platform(pke=True, hlat=True), bits(9, 10, 11, (62, 52))),  # KVM drops PKE
    ("pae", 3, "present_nonleaf", Platform(), bits(9, 10, 11)),
    ("pae", 2, "present_nonleaf", Platform(), bits(6, 8, 9, 10, 11)),
    ("pae", 2, "present_leaf", Platform(), bits(9, 10, 11)),
    ("pae", 1, "present_leaf", Platform(), bits(9, 10, 11)),
    ("x86-32", 2, "present_nonleaf", Platform(), bits(6, (11, 8))),
    ("x86-32", 2, "present_leaf", Platform(), bits(9, 10, 11)),
    ("x86-32", 1, "present_leaf", Platform(), bits(9, 10, 11)),
]


@pytest.mark.parametrize(("fmt", "level", "state", "platform", "expected"), PRESENT_MAPS)
def test_present_free_maps_match_the_sdm(fmt, level, state, platform, expected):
    assert free_bits(fmt, level, state, platform) == expected


def test_states_that_do_not_exist_are_refused():
    with pytest.raises(ValueError, match="never leaves"):
        free_bits("ept", 4, "present_leaf")
    with pytest.raises(ValueError, match="always leaves"):
        free_bits("x86-64", 1, "present_nonleaf")
    with pytest.raises(ValueError, match="unknown state"):
        free_bits("ept", 1, "absent")


def test_fault_state_free_bits():
    # EPT: W without R misconfigures at every level; hardware reads nothing else.
    assert free_bits("ept", 1, "fault") == bits((63, 2))
    # Legacy: P plus reserved PA bit 51 (KVM's MMIO SPTE trigger) when MAXPHYADDR < 52.
    assert free_bits("x86-64", 1, "fault", Platform(maxphyaddr=46)) == bits((63, 1)) & ~bits(51)
    assert free_bits("pae", 1, "fault", Platform(maxphyaddr=46)) == bits((63, 1)) & ~bits(62)
    # No reserved bit in a PTE at MAXPHYADDR 52 with NX on; NX off makes bit 63 reserved.
    with pytest.raises(ValueError, match="no reserved bit"):
        free_bits("x86-64", 1, "fault", Platform(maxphyaddr=52))
    assert free_bits("x86-64", 1, "fault", Platform(maxphyaddr=52, nx=False)) == bits((62, 1))
    # 32-bit: only a 4 MiB PDE has a reserved bit (21), so PS is part of the trigger.
    assert free_bits("x86-32", 2, "fault", Platform(maxphyaddr=40)) == bits((31, 1)) & ~bits(7, 21)


# --- the allocator ----------------------------------------------------------------------------
def test_async_pf_invalid_example():
    """The June 2020 idea: mark a not-present SPTE 'invalid for async #PF'."""
    ept = allocate("ept", {"async_pf_invalid": 1}, states=["not_present"])
    legacy = allocate("x86-64", {"async_pf_invalid": 1}, states=["not_present"])
    assert ept.mask("async_pf_invalid") == 1 << 3  # lowest bit above R/W/X
    assert legacy.mask("async_pf_invalid") == 1 << 1  # lowest bit above P
    for layout, fmt in ((ept, "ept"), (legacy, "x86-64")):
        tagged = layout.encode(0, async_pf_invalid=1)
        assert layout.decode(tagged) == {"async_pf_invalid": 1}
        for level in CLASSES[fmt]:
            assert not decode(tagged, fmt, level).present


def test_pinned_split_and_errors():
    layout = allocate("ept", {"a": {"width": 2, "bits": [52, 60]}, "b": 3, "gen": {"width": 10, "split": True}},
                      states=["not_present"], levels=[1])
    assert layout.tag("a").bits == (52, 60) and layout.runs("a") == ((52, 1, 0), (60, 1, 1))
    assert layout.tag("b").bits == (3, 4, 5)
    v = layout.encode(0, a=0b10, b=5, gen=0x3FF)
    assert layout.decode(v) == {"a": 2, "b": 5, "gen": 0x3FF}
    with pytest.raises(ValueError, match="split"):
        layout.shift("a")
    with pytest.raises(ValueError, match=r"b=0x8 does not fit in 3 bits"):
        layout.encode(0, b=8)


def test_colliding_layouts_are_rejected():
    with pytest.raises(TagCollision, match="tag 'b' bit 9 overlaps tag 'a' \\(both may be set when not_present\\)"):
        allocate("ept", {"a": {"width": 1, "bits": [9]}, "b": {"width": 1, "bits": [9]}})
    with pytest.raises(TagCollision, match=r"bit 0 is owned in not_present .* EptPte.read"):
        allocate("ept", {"a": {"width": 1, "bits": [0]}})
    with pytest.raises(TagCollision, match="suppress_ve"):
        allocate("ept", {"a": {"width": 1, "bits": [63]}})
    ok = allocate("ept", {"a": {"width": 1, "bits": [63]}}, platform=Platform(ept_ve=False))
    assert ok.mask("a") == 1 << 63
    with pytest.raises(TagCollision, match=r"bit 8 is owned in present_leaf .*accessed"):
        allocate("ept", {"a": {"width": 1, "bits": [8]}}, states=["present_leaf"])
    with pytest.raises(TagCollision, match="no room for tag 'big'"):
        allocate("ept", {"big": 20}, states=["present_leaf"], levels=[1])
    # A 32-bit entry has no bit 40 (SDM Table 4-6).
    with pytest.raises(TagCollision, match=r"a x86-32 entry has bits 31:0"):
        allocate("x86-32", {"a": {"width": 1, "bits": [40]}})
    with pytest.raises(ValueError, match="x86-32 entries have levels 1, 2"):
        allocate("x86-32", {"a": 1}, levels=[3])


SHADOW_PRESENT = TagSpec("shadow_present", 1, bits=(11,), states=("present_leaf", "present_nonleaf"))


def test_precise_presence_and_the_2020_predicate():
    layout = allocate("ept", [SHADOW_PRESENT, TagSpec("async_pf_invalid", 1)], states=["not_present"])
    tagged_not_present = layout.encode(0, async_pf_invalid=1)
    present = layout.encode(0x7 | 0x1000, shadow_present=1)
    mmio = 0x6  # W|X misconfiguration: KVM's EPT MMIO SPTE marker
    is_mmio = lambda s: s & 0x7 == 0x6  # noqa: E731
    # A dedicated bit tells them apart (KVM 5.13's SPTE_MMU_PRESENT_MASK is bit 11)...
    assert [layout.decode(v)["shadow_present"] for v in (present, tagged_not_present, mmio)] == [1, 0, 0]
    # ...where the pre-5.13 definition misreads the tagged not-present SPTE as present.
    assert legacy_is_shadow_present_pte(tagged_not_present, is_mmio)
    assert not legacy_is_shadow_present_pte(mmio, is_mmio)
    with pytest.raises(TagCollision, match=r"Pte.restart"):
        allocate("x86-64", [SHADOW_PRESENT], platform=Platform(hlat=True))


@st.composite
def random_layouts(draw):
    fmt = draw(st.sampled_from(["ept", "x86-64", "npt", "pae"]))
    states = draw(st.lists(st.sampled_from(["not_present", "present_leaf", "fault"]), min_size=1,
                           max_size=2, unique=True))
    specs = []
    for i in range(draw(st.integers(1, 5))):
        width = draw(st.integers(1, 8))
        pinned = draw(st.none() | st.lists(st.integers(0, 63), min_size=width, max_size=width, unique=True))
        specs.append(TagSpec(f"t{i}", width, bits=tuple(pinned) if pinned else None, split=draw(st.booleans())))
    return fmt, tuple(states), specs


@given(layout_spec=random_layouts(), entry=u64, data=st.data())
def test_random_layouts_keep_every_invariant(layout_spec, entry, data):
    fmt, states, specs = layout_spec
    platform = Platform(maxphyaddr=46)
    levels = [1] if "present_leaf" in states else list(CLASSES[fmt])
    # The brute-force reference: which bits may a tag use at all?
    allowed = (1 << 64) - 1
    for s in states:
        for lv in levels:
            allowed &= free_bits(fmt, lv, s, platform)
    pinned = [s for s in specs if s.bits]
    pinned_ok = all(sum(1 << b for b in s.bits) & ~allowed == 0 for s in pinned) and \
        sum(len(s.bits) for s in pinned) == len({b for s in pinned for b in s.bits})
    try:
        layout = allocate(fmt, specs, states=states, platform=platform, levels=levels)
    except TagCollision:
        if pinned_ok:  # then only automatic placement can have run out of room
            assume(False)
        return
    assert pinned_ok, "a colliding pinned layout was accepted"
    masks = [t.mask for t in layout.tags]
    assert sum(masks) == layout.owned_mask and all(m & ~allowed == 0 for m in masks)
    values = {t.name: data.draw(st.integers(0, (1 << t.width) - 1)) for t in layout.tags}
    tagged = layout.encode(entry, **values)
    assert layout.decode(tagged) == values
    assert tagged & ~layout.owned_mask == entry & ~layout.owned_mask  # hardware bits untouched
    for lv in levels:
        if "not_present" in states:
            base = entry & ~CLASSES[fmt][lv][0].present_mask(platform) & ~(1 << 63 if fmt == "ept" else 0)
            assert not decode(layout.encode(base, **values), fmt, lv, platform).present


# Every format, level and state on the default platform (NX, EPT A/D and #VE on, the rest
# off), from hardware-formats.md section 5: free = the ignored bits of that entry.
EPT_NONLEAF, EPT_LARGE, EPT_PTE = bits(9, 10, 11, (63, 52)), bits(10, 11, (62, 52)), bits(7, 10, 11, (62, 52))
X64_NONLEAF, X64_LEAF = bits(6, 8, 9, 10, 11, (62, 52)), bits(9, 10, 11, (62, 52))
EXPECTED_PRESENT = {
    "ept": {"present_nonleaf": {5: EPT_NONLEAF, 4: EPT_NONLEAF, 3: EPT_NONLEAF, 2: EPT_NONLEAF},
            "present_leaf": {3: EPT_LARGE, 2: EPT_LARGE, 1: EPT_PTE}},
    "x86-64": {"present_nonleaf": {5: X64_NONLEAF, 4: X64_NONLEAF, 3: X64_NONLEAF, 2: X64_NONLEAF},
               "present_leaf": {3: X64_LEAF, 2: X64_LEAF, 1: X64_LEAF}},
    "npt": {"present_nonleaf": {5: X64_NONLEAF & ~bits(8), 4: X64_NONLEAF & ~bits(8), 3: X64_NONLEAF,
                                2: X64_NONLEAF},
            "present_leaf": {3: X64_LEAF, 2: X64_LEAF, 1: X64_LEAF}},
    "pae": {"present_nonleaf": {3: bits(9, 10, 11), 2: bits(6, 8, 9, 10, 11)},
            "present_leaf": {2: bits(9, 10, 11), 1: bits(9, 10, 11)}},
    "x86-32": {"present_nonleaf": {2: bits(6, (11, 8))}, "present_leaf": {2: bits(9, 10, 11), 1: bits(9, 10, 11)}},
}
ALL_COMBOS = [(f, lv, s) for f, levels in CLASSES.items() for lv in levels
              for s in ("not_present", "present_leaf", "present_nonleaf", "fault")]


@pytest.mark.parametrize(("fmt", "level", "state"), ALL_COMBOS)
def test_every_format_level_state(fmt, level, state):
    platform = Platform(maxphyaddr=46)
    if state.startswith("present"):
        expected = EXPECTED_PRESENT[fmt][state].get(level)
        if expected is None:
            with pytest.raises(ValueError, match=r"never leaves|always leaves"):
                free_bits(fmt, level, state, platform)
            return
    elif state == "not_present":
        expected = bits((62, 3)) if fmt == "ept" else bits((31 if fmt == "x86-32" else 63, 1))
    elif fmt == "ept":
        expected = bits((63, 2))  # W without R (bits 1:0) misconfigures at every level
    elif fmt == "x86-32":  # only the 4 MiB PDE has a reserved bit (21); PS is part of the trigger
        if level == 1:
            with pytest.raises(ValueError, match="no reserved bit"):
                free_bits(fmt, level, state, platform)
            return
        expected = bits((31, 1)) & ~bits(7, 21)
    else:  # P plus the highest reserved bit: 51 (IA-32e, NPT) or 62 (PAE; 63 in a PAE PDPTE)
        top = 51 if fmt in ("x86-64", "npt") else (63 if level == 3 else 62)
        expected = bits((63, 1)) & ~bits(top)
    assert free_bits(fmt, level, state, platform) == expected
