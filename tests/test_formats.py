"""Field tables: coverage, reserved masks against the SDM and KVM, golden entries."""

from __future__ import annotations

import itertools
import re

import pytest
from hypothesis import given

from spte import Platform, Role, decode
from spte.bits import LayoutError, genmask
from spte.entry import ALL_CLASSES, CLASSES, Pde4M
from tests.conftest import golden_text
from tests.strategies import platforms


def rsvd_bits(s: int, e: int) -> int:
    """KVM's rsvd_bits(s, e) (arch/x86/kvm/mmu.h)."""
    return genmask(e, s)


@pytest.mark.parametrize("cls", ALL_CLASSES, ids=lambda c: c.__name__)
@given(platform=platforms)
def test_every_bit_described_exactly_once(cls, platform):
    layout = cls.layout(platform)
    masks = [f.mask for f in layout.fields]
    assert sum(f.width for f in layout.fields) == cls.WIDTH
    union = 0
    for m in masks:
        assert not union & m
        union |= m
    assert union == (1 << cls.WIDTH) - 1


def test_overlapping_table_is_rejected_at_resolve():
    from spte.bits import Field, resolve
    bad = (Field("a", (7, 0), Role.FLAG, "a"), Field("b", (63, 7), Role.IGNORED, "b"))
    with pytest.raises(LayoutError, match="overlaps bits 7"):
        resolve(bad, Platform())
    gap = (Field("a", (6, 0), Role.FLAG, "a"), Field("b", (63, 8), Role.IGNORED, "b"))
    with pytest.raises(LayoutError, match="bits 7 not described"):
        resolve(gap, Platform())


def kvm_rsvd_64(fmt: str, level: int, large: bool, p: Platform) -> int:
    """__reset_rsvds_bits_mask (arch/x86/kvm/mmu/mmu.c, 6.19) for 4/5-level and PAE."""
    m = p.maxphyaddr
    high = rsvd_bits(m, 62) if fmt == "pae" else rsvd_bits(m, 51)
    if not p.nx:
        high |= rsvd_bits(63, 63)
    bit8 = rsvd_bits(8, 8) if p.amd else 0
    gb = 0 if p.gbpages else rsvd_bits(7, 7)
    if fmt == "pae":
        return {(3, False): rsvd_bits(63, 63) | rsvd_bits(5, 8) | rsvd_bits(1, 2) | high,
                (2, False): high, (1, False): high,
                (2, True): high | rsvd_bits(13, 20)}[(level, large)]
    return {(5, False): bit8 | rsvd_bits(7, 7) | high, (4, False): bit8 | rsvd_bits(7, 7) | high,
            (3, False): gb | high, (2, False): high, (1, False): high,
            (3, True): gb | high | rsvd_bits(13, 29), (2, True): high | rsvd_bits(13, 20)}[(level, large)]


def kvm_rsvd_ept(level: int, large: bool, p: Platform) -> int:
    """__reset_rsvds_bits_mask_ept (arch/x86/kvm/mmu/mmu.c, 6.19)."""
    high = rsvd_bits(p.maxphyaddr, 51)
    l1g = 0 if p.ept_1g else rsvd_bits(7, 7)
    l2m = 0 if p.ept_2m else rsvd_bits(7, 7)
    return {(5, False): high | rsvd_bits(3, 7), (4, False): high | rsvd_bits(3, 7),
            (3, False): high | rsvd_bits(3, 6) | l1g, (2, False): high | rsvd_bits(3, 6) | l2m,
            (1, False): high, (3, True): high | rsvd_bits(12, 29) | l1g,
            (2, True): high | rsvd_bits(12, 20) | l2m}[(level, large)]


FEATURES = [dict(nx=nx, vendor=v, gbpages=gb, ept_1g=gb, ept_2m=not gb)
            for nx, v, gb in itertools.product([True, False], ["intel", "amd"], [True, False])]


@pytest.mark.parametrize("maxphyaddr", range(32, 53))
@pytest.mark.parametrize("features", FEATURES, ids=str)
def test_reserved_masks_agree_with_kvm(maxphyaddr, features):
    p = Platform(maxphyaddr=maxphyaddr, **features)
    for fmt in ("x86-64", "pae", "ept"):
        for level, (table_cls, large_cls) in CLASSES[fmt].items():
            for cls, large in ((table_cls, False), (large_cls, True)):
                if cls is None:
                    continue
                kvm = kvm_rsvd_ept(level, large, p) if fmt == "ept" else kvm_rsvd_64(fmt, level, large, p)
                ours = cls.layout(p).reserved_mask
                if not large and large_cls is not None:
                    # KVM indexes its table by bit 7; a table entry has PS=0 by definition.
                    kvm &= ~rsvd_bits(7, 7)
                assert ours == kvm, (fmt, cls.__name__, hex(ours), hex(kvm))


def test_reserved_masks_hardware_formats_examples():
    """hardware-formats.md section 2.2, worked example at MAXPHYADDR 46 with NXE=1."""
    intel, amd = Platform(maxphyaddr=46), Platform(maxphyaddr=46, vendor="amd")
    assert decode(0, "x86-64", 4, intel).layout(intel).reserved_mask == 0xFC00000000080
    assert decode(0, "x86-64", 4, amd).layout(amd).reserved_mask == 0xFC00000000180
    assert decode(0x80, "x86-64", 3, intel).layout(intel).reserved_mask == 0xFC0003FFFE000
    assert decode(0x80, "x86-64", 2, intel).layout(intel).reserved_mask == 0xFC000001FE000
    assert decode(0, "x86-64", 1, intel).layout(intel).reserved_mask == 0xFC00000000000


def test_32bit_pse36_reserved_matches_kvm_at_36_bits():
    """KVM reserves 21:17 in a 4 MiB PDE (is_cpuid_PSE36); the SDM agrees when M' = 36."""
    assert Pde4M.layout(Platform(maxphyaddr=36)).reserved_mask == rsvd_bits(17, 21)
    # SDM: M' = min(M, 40), so at 40+ bits only bit 21 stays reserved (sheet section 8.5).
    assert Pde4M.layout(Platform(maxphyaddr=46)).reserved_mask == rsvd_bits(21, 21)


# A bit whose feature is off is an ignored bit, named by its position and merged with the
# ignored bits beside it (SDM Tables 29-6, 4-19/4-20: what the figure says for that CPU).
CONDITIONAL = [
    ("EptPte", 8, {"ept_ad": True}, Role.FLAG, "accessed"),
    ("EptPte", 8, {"ept_ad": False}, Role.IGNORED, "ignored_7_11"),
    ("EptPte", 10, {"ept_mbec": True}, Role.PERMISSION, "execute_user"),
    ("EptPte", 10, {}, Role.IGNORED, "ignored_10_11"),
    ("EptPte", 61, {"ept_sub_page": True}, Role.FLAG, "sub_page_write"),
    ("EptPte", 61, {}, Role.IGNORED, "ignored_52_62"),
    ("EptPte", 57, {}, Role.IGNORED, "ignored_52_62"),
    ("EptPte", 63, {"ept_ve": False}, Role.IGNORED, "ignored_52_63"),
    ("EptPml4e", 63, {"ept_ve": True}, Role.IGNORED, "suppress_ve"),
    ("EptPml4e", 63, {"ept_ve": False}, Role.IGNORED, "ignored_52_63"),
    ("Pte", 59, {"pks": True}, Role.PROTECTION_KEY, "protection_key"),
    ("Pte", 59, {}, Role.IGNORED, "ignored_52_62"),
    ("Pte", 63, {"nx": False}, Role.RESERVED, "execute_disable"),
    ("Pte", 11, {"hlat": True}, Role.FLAG, "restart"),
    ("Pte", 11, {}, Role.IGNORED, "ignored_9_11"),
    ("NptPte", 11, {"hlat": True}, Role.IGNORED, "ignored_9_11"),  # AMD has no HLAT
    ("Pml4e", 8, {"vendor": "amd"}, Role.RESERVED, "reserved_8"),
    ("Pml4e", 8, {}, Role.IGNORED, "ignored_8_11"),
    ("Pde32", 7, {"pse": False}, Role.IGNORED, "ignored_6_11"),
]


@pytest.mark.parametrize(("cls", "bit", "kw", "role", "name"), CONDITIONAL,
                         ids=[f"{c}-{b}-{k}" for c, b, k, *_ in CONDITIONAL])
def test_conditional_roles_follow_the_platform(cls, bit, kw, role, name):
    import spte
    f = getattr(spte, cls).layout(Platform(**kw)).field_at(bit)
    assert (f.role, f.name) == (role, name)


def test_sme_c_bit_takes_an_address_bit_away():
    p = Platform(maxphyaddr=48, c_bit=47)
    e = decode(0x1_0000_1067 | 1 << 47, "npt", 1, p)
    assert e.c_bit == 1 and e.pfn == 0x100001  # C-bit masked out of the frame number
    assert e.fields()["c_bit"] == 1
    low = Platform(maxphyaddr=52, c_bit=40)
    f = decode((1 << 51) | (1 << 40) | 0x1001, "x86-64", 1, low)
    assert f.frame_high == 1 << 10 and f.pfn == (1 << 39) | 1


# Real SPTEs from a Linux 6.18 shadow-paging host (tests/data/traces/long4k.trace.gz,
# MAXPHYADDR 48, NX on): kvm_mmu_set_spte prints (rwxu) flags computed by the kernel.
SET_SPTE = re.compile(r"kvm_mmu_set_spte: gfn (\w+) spte (\w+) \((.)(.)(.)(.)\) level (\d)")
REQUESTED = re.compile(r"kvm_mmu_spte_requested: gfn (\w+) pfn (\w+) level (\d)")


def test_real_trace_sptes_decode_as_the_kernel_printed():
    platform = Platform(maxphyaddr=48)
    requested: dict[str, int] = {}
    checked = 0
    for line in golden_text("traces/long4k.trace.gz").splitlines():
        if m := REQUESTED.search(line):
            requested[m[1]] = int(m[2], 16)
        elif m := SET_SPTE.search(line):
            gfn, spte, r, w, x, u, level = m.groups()
            e = decode(spte, "x86-64", int(level), platform)
            assert e.present and r == "r"
            assert e.writable == (w == "w")
            assert (not e.execute_disable) == (x == "x")
            assert e.user == (u == "u")
            assert not e.reserved_bits and not e.problems()
            if gfn in requested:
                assert e.pfn == requested[gfn]
            checked += 1
    assert checked > 700


def test_guest_paging_elements_from_trace():
    """kvm_mmu_paging_element lines carry the guest's own long-mode entries."""
    text = golden_text("traces/long4k.trace.gz")
    elements = re.findall(r"kvm_mmu_paging_element: pte (\w+) level (\d)", text)
    assert elements
    for pte, level in elements:
        e = decode(pte, "x86-64", int(level))
        assert e.present and e.user  # the guest ran at CPL 3 with U=1 everywhere
    e = decode("101007", "x86-64", 4)
    assert (e.present, e.writable, e.user, e.pfn) == (1, 1, 1, 0x101)


def test_sdm_memory_types_and_misconfigurations():
    """SDM 'EPT Misconfigurations': XWR 010/110 always, 100 without exec-only, MT 2/3/7."""
    from spte import EptPte
    no_xo = Platform(ept_execute_only=False)
    kinds = lambda v, p=None: [x.kind for x in EptPte(v, p).problems()]  # noqa: E731
    assert kinds(0b010) == ["write_without_read"]
    assert kinds(0b110 | 6 << 3) == ["write_without_read"]
    assert kinds(0b100 | 6 << 3) == []
    assert kinds(0b100 | 6 << 3, no_xo) == ["execute_only_unsupported"]
    for mt in (2, 3, 7):
        assert kinds(0b001 | mt << 3) == ["reserved_memory_type"]
    for mt in (0, 1, 4, 5, 6):
        assert kinds(0b001 | mt << 3) == []
    assert kinds(0b000 | 2 << 3) == []  # not present: no misconfiguration
    mbec = Platform(ept_mbec=True, ept_execute_only=False)
    assert EptPte(0x400, mbec).present and kinds(0x400 | 6 << 3, mbec) == ["execute_only_unsupported"]
    assert not EptPte(0x400).present


def test_misconfiguration_rules_read_only_the_bits_they_name():
    """SDM 'EPT Misconfigurations' reads R/W/X (bits 2:0), user-execute (bit 10) under MBEC and,
    in a leaf only, the memory type (bits 5:3): the bits problems() memoises its findings by.
    Values that differ only in a bit the rules read are read apart (each after one that differs
    from it there, so a memo keyed by too few bits would answer with the other's findings); bits
    the rules do not read (IPAT, A, D, the address, SVE) change nothing."""
    from spte import EptPde, EptPte
    mbec = Platform(ept_mbec=True)
    assert EptPte.misconfiguration_bits(EptPte.layout()) == 0x3F
    assert EptPte.misconfiguration_bits(EptPte.layout(mbec)) == 0x43F
    assert EptPde.misconfiguration_bits(EptPde.layout()) == 0x7
    assert EptPde.misconfiguration_bits(EptPde.layout(mbec)) == 0x407
    sdm = [(0x1 | 6 << 3, []), (0x1 | 7 << 3, ["reserved_memory_type"]), (0x3 | 6 << 3, []),
           (0x2 | 6 << 3, ["write_without_read"]), (0x4 | 6 << 3, []), (0x4 | 2 << 3, ["reserved_memory_type"])]
    for other in (0, 1 << 6, 1 << 8, 1 << 9, 0xABCDE << 12, 1 << 63):
        for v, kinds in sdm:
            assert [p.kind for p in EptPte(v | other).problems()] == kinds, hex(v | other)
    # Under MBEC without execute-only, user-execute alone (bit 10) is an execute-only entry.
    no_xo = Platform(ept_mbec=True, ept_execute_only=False)
    assert [p.kind for p in EptPde(0x001, no_xo).problems()] == []
    assert [p.kind for p in EptPde(0x400, no_xo).problems()] == ["execute_only_unsupported"]
