"""Types at the library's edges (issue 15, point 2): exact conversion or refusal, and values
that pickle and compare as values (platforms, entries, layouts, tag layouts, KVM profiles)."""

from __future__ import annotations

import pickle

import pytest
from hypothesis import given

from spte import Platform
from spte.entry import CLASSES, EptPte, Pte, decode
from spte.metadata import TagSpec, allocate
from spte.platform import MAXPHYADDR_MAX, MAXPHYADDR_MIN
from tests.strategies import platforms, u64


class Int64Like:
    """numpy.int64's protocol without numpy: exact through __index__, not an int subclass, and
    arithmetic that wraps at 64 bits as numpy's does (the cause of the negative values in issue 15)."""

    def __init__(self, v: int) -> None:
        self.v = v

    def __index__(self) -> int:
        return self.v

    def __lshift__(self, n: int) -> Int64Like:
        r = (self.v << n) & (2**64 - 1)
        return Int64Like(r - 2**64 if r >> 63 else r)


BOOL_FIELDS = list(Platform().controls())


@pytest.mark.parametrize("name", BOOL_FIELDS)
@pytest.mark.parametrize("bad", ["no", "off", 0, 1, None, 1.0])
def test_switches_take_only_bools(name, bad):
    """Platform(nx='no') meant NX on (a non-empty string is true)."""
    with pytest.raises(TypeError, match=name):
        Platform(**{name: bad})
    with pytest.raises(TypeError, match=name):
        Platform().replace(**{name: bad})


def test_every_switch_is_a_control():
    assert sorted(Platform().controls()) == sorted(BOOL_FIELDS)
    assert {"nx", "gbpages", "la57", "pke", "pks", "hlat", "pse", "ept_ad", "ept_execute_only", "ept_2m", "ept_1g",
            "ept_mbec", "ept_ve", "ept_verify_guest_paging", "ept_paging_write", "ept_supervisor_shadow_stack",
            "ept_sub_page"} <= set(BOOL_FIELDS)


@pytest.mark.parametrize("bad", [46.0, "46", True, None, 46 + 0j])
def test_maxphyaddr_is_an_exact_int(bad):
    with pytest.raises(TypeError, match="maxphyaddr"):
        Platform(maxphyaddr=bad)


def test_numpy_like_ints_are_converted_exactly():
    p = Platform(maxphyaddr=Int64Like(46), c_bit=Int64Like(45))  # type: ignore[arg-type]
    assert type(p.maxphyaddr) is int and type(p.c_bit) is int
    assert p == Platform(maxphyaddr=46, c_bit=45) and hash(p) == hash(Platform(maxphyaddr=46, c_bit=45))
    e = EptPte(pfn=Int64Like(2**39), platform=Platform())  # type: ignore[arg-type]
    assert e.value == 2**51 and e.pfn == 2**39 and type(e.value) is int
    hash(e)


def test_real_numpy_integers():
    np = pytest.importorskip("numpy")
    e = EptPte(read=np.uint64(1), pfn=np.int64(2**39), memory_type=np.int8(6))
    assert e.value == 2**51 | 0x30 | 1 and type(e.value) is int
    assert EptPte(np.uint64(2**63)).value == 2**63
    with pytest.raises(ValueError, match="does not fit"):
        EptPte(np.int64(-1))
    assert Platform(maxphyaddr=np.int32(40)).maxphyaddr == 40


@pytest.mark.parametrize("m", [MAXPHYADDR_MIN, 36, 46, MAXPHYADDR_MAX])
def test_maxphyaddr_bounds(m):
    """SDM Vol. 1 §3.3.6 / CPUID 80000008H: 36..52 in practice; the project allows 32..52."""
    assert Platform(maxphyaddr=m).maxphyaddr == m
    for bad in (MAXPHYADDR_MIN - 1, MAXPHYADDR_MAX + 1):
        with pytest.raises(ValueError, match=f"maxphyaddr={bad}"):
            Platform(maxphyaddr=bad)


def test_c_bit_bounds():
    """The C-bit is a physical-address bit (AMD APM Vol. 2 §7.10.1): above the 4 KiB offset,
    below MAXPHYADDR."""
    assert Platform(maxphyaddr=46, c_bit=12).c_bit == 12
    assert Platform(maxphyaddr=46, c_bit=45).c_bit == 45
    for bad in (11, 46, 63, -1):
        with pytest.raises(ValueError, match=rf"c_bit={bad} must be an address bit, 12\.\.45$"):
            Platform(maxphyaddr=46, c_bit=bad)
    with pytest.raises(TypeError, match="c_bit"):
        Platform(c_bit=47.0)  # type: ignore[arg-type]


def test_vendor():
    assert Platform(vendor="amd").amd and not Platform().amd
    for bad in ("AMD", "", "arm"):
        with pytest.raises(ValueError, match="vendor"):
            Platform(vendor=bad)  # type: ignore[arg-type]


def test_for_npt_is_what_kvm_init_shadow_npt_mmu_walks():
    """Linux arch/x86/kvm/mmu/mmu.c kvm_init_shadow_npt_mmu: AMD, CR4.PKE cleared; no HLAT, no PKS."""
    p = Platform(pke=True, pks=True, hlat=True, maxphyaddr=48).for_npt()
    assert (p.vendor, p.pke, p.pks, p.hlat, p.maxphyaddr) == ("amd", False, False, False, 48)


def test_pkeys():
    assert not Platform().pkeys and Platform(pke=True).pkeys and Platform(pks=True).pkeys


# --- values: pickle and compare -------------------------------------------------------------

@given(platforms)
def test_platform_pickles_as_a_value(p):
    q = pickle.loads(pickle.dumps(p))
    assert q == p and hash(q) == hash(p) and q.controls() == p.controls()


@given(platforms, u64)
def test_entries_of_every_class_pickle_as_values(p, v):
    for fmt, levels in CLASSES.items():
        for level in levels:
            e = decode(v & ((1 << 32) - 1) if fmt == "x86-32" else v, fmt, level, p)
            q = pickle.loads(pickle.dumps(e))
            assert q == e and hash(q) == hash(e) and type(q) is type(e) and q.platform == e.platform


def test_entries_differ_by_platform_and_class():
    assert EptPte(7) != EptPte(7, Platform(maxphyaddr=46)) and EptPte(7) != Pte(7)


def test_layouts_pickle_as_values():
    for cls in (EptPte, Pte):
        layout = cls.layout(Platform(maxphyaddr=46, c_bit=40, vendor="amd"))
        q = pickle.loads(pickle.dumps(layout))
        assert q == layout and hash(q) == hash(layout)
        assert q.fields == layout.fields


def test_tag_layouts_pickle_as_values():
    t = allocate("ept", [TagSpec("a", 2), TagSpec("b", 1, bits=(62,))], states=("not_present",))
    q = pickle.loads(pickle.dumps(t))
    assert q == t and [x.mask for x in q.tags] == [x.mask for x in t.tags]
    assert q.proof.facts == t.proof.facts


def test_kvm_profiles_pickle_as_values():
    from spte.kvm import profile

    p = profile("6.19", "ept-ad")
    q = pickle.loads(pickle.dumps(p))
    assert q == p and hash(q) == hash(p)


def test_kvm_phys_addr_reduction_is_bounded():
    from spte.kvm import profile

    with pytest.raises(ValueError, match="phys_addr_reduction"):
        profile("6.19", "npt", me_bit=47, maxphyaddr=48, phys_addr_reduction=40)


def test_kvm_version_text_is_exact():
    from spte.kvm import profile

    with pytest.raises(ValueError, match=r"vvv6\.19"):
        profile("vvv6.19", "ept-ad")


def test_a_bool_sets_only_a_one_bit_field():
    assert EptPte(read=True).value == 1
    with pytest.raises(TypeError):
        EptPte(memory_type=True)


def test_library_refuses_inexact_values():
    for bad in (1.0, True, None, [1]):
        with pytest.raises(TypeError):
            EptPte(bad)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        EptPte(read=1.0)  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        EptPte(read="1")


def test_named_tuple_copies_are_checked_too():
    with pytest.raises(ValueError, match="maxphyaddr=99"):
        Platform()._replace(maxphyaddr=99)
    with pytest.raises(TypeError, match="expected True or False"):
        Platform._make([52, "intel", "no"])
