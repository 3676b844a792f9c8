"""KVM profiles against the kernel's own numbers.

Golden data (``tests/data/README.md``): ``kvm-vectors/`` -- masks and helper results computed by the
SPTE code of Linux v5.8.18, v5.10.13, v5.12.9, v6.12.0, v6.13.2 and v6.19 compiled in userspace, with
the masks of every release in its README (sections 3 and 7) -- and real kvmmmu traces from a
Linux 6.18 host (``traces/``).
"""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from spte import kvm
from spte.kvm import KvmPreconditionError
from spte.metadata import STATES, TagCollision
from tests.conftest import golden_text, vectors
from tests.strategies import u64

# The five host configurations of kvm-vectors/README.md section 2.
CONFIGS = {
    "ept-ad": dict(flavour="ept-ad", maxphyaddr=46, l1tf=False),
    "ept-noad": dict(flavour="ept-noad", maxphyaddr=46, l1tf=False),
    "shadow": dict(flavour="shadow", maxphyaddr=46, l1tf=True),
    "npt-sme": dict(flavour="npt", maxphyaddr=48, me_bit=47, phys_addr_reduction=5, l1tf=False),
    "ept-ad-l1tf": dict(flavour="ept-ad", maxphyaddr=46, l1tf=True),
}
# The kernel renamed some globals; the README records each release's own name.
RENAMED = {"kvm_host.maxphyaddr": "shadow_phys_bits", "PT64_BASE_ADDR_MASK": "SPTE_BASE_ADDR_MASK",
           "kvm_ad_enabled()": "kvm_ad_enabled", "kvm->arch.shadow_mmio_value": "shadow_mmio_value"}


def profile_for(version: str, config: str) -> kvm.KvmProfile:
    args = dict(CONFIGS[config])
    return kvm.profile(version, args.pop("flavour"), **args)


def mask_tables() -> list[tuple[str, str, str, int]]:
    """(release, config, name, value) rows of every mask table in kvm-vectors/README.md."""
    rows = []
    version = None
    for line in golden_text("kvm-vectors/README.md").splitlines():
        if m := re.match(r"### (?:7\.\d )?v(\d+\.\d+(?:\.\d+)?)", line):
            version = m[1]
        elif line.startswith("#"):
            version = None
        elif version and line.startswith("| `") and "input)" not in line:
            cells = [c.strip() for c in line.strip("|").split("|")]
            name = RENAMED.get(cells[0].strip("`"), cells[0].strip("`"))
            for config, cell in zip(CONFIGS, cells[1:], strict=True):
                value = {"true": 1, "false": 0}[cell] if cell in ("true", "false") else int(cell.strip("`"), 16)
                rows.append((version, config, name, value))
    return rows


MASK_ROWS = mask_tables()
MASK_CASES = sorted({(v, c) for v, c, _, _ in MASK_ROWS})


def test_the_mask_tables_cover_every_release_in_the_readme():
    assert {v for v, _ in MASK_CASES} == {"5.8.18", "6.1.119", "6.19", "5.10.13", "5.12.9", "5.15.100", "6.6.87",
                                         "6.12.0", "6.13.2", "7.1.5"}


@pytest.mark.parametrize(("version", "config"), MASK_CASES)
def test_every_mask_matches_the_kernel(version, config):
    p = profile_for(version, config)
    masks = p.masks.as_dict()
    want = {name: value for v, c, name, value in MASK_ROWS if (v, c) == (version, config) and name in masks}
    got = {name: masks[name] for name in want}
    assert got == want
    # Everything the kernel computes is compared except knobs we do not model (shadow_memtype_mask).
    assert len(want) >= 14


NAMED_CONSTANTS = [  # "Same in every config" lines of the README
    ("6.19", "SHADOW_NONPRESENT_VALUE", 0x8000000000000000), ("6.19", "FROZEN_SPTE", 0x80000000000005A0),
    ("6.12", "FROZEN_SPTE", 0x80000000000005A0), ("6.1", "REMOVED_SPTE", 0x5A0), ("5.15", "REMOVED_SPTE", 0x5A0),
    ("5.12", "REMOVED_SPTE", 0x800000000000000), ("5.10", None, None), ("5.8", None, None),
]


@pytest.mark.parametrize(("version", "name", "value"), NAMED_CONSTANTS)
def test_named_constants(version, name, value):
    p = kvm.profile(version, "ept-ad")
    if name == "SHADOW_NONPRESENT_VALUE":
        assert p.SHADOW_NONPRESENT_VALUE == value
    elif name is None:
        assert p.frozen_value is None and p.spec.frozen_name is None
    else:
        assert (p.spec.frozen_name, p.frozen_value) == (name, value)
        assert p.value_name("spte", value) == name


VECTOR_FILES = [("v5.8.18-shadow.jsonl.gz", "5.8.18", "shadow"), ("v5.10.13-shadow.jsonl.gz", "5.10.13", "shadow"),
                ("v5.12.9-ept-noad.jsonl.gz", "5.12.9", "ept-noad"), ("v6.12.0-ept-ad.jsonl.gz", "6.12", "ept-ad"),
                ("v6.13.2-npt-sme.jsonl.gz", "6.13.2", "npt-sme"), ("v6.19-ept-ad.jsonl.gz", "6.19", "ept-ad")]
SKIP = {"kernel_warned", "kernel_warned_mark", "kernel_warned_restore", "config"}


def as_value(x):
    return int(x, 16) if isinstance(x, str) else x


def kernel_record(p: kvm.KvmProfile, kind: str, inp: dict, out: dict) -> dict:
    """Our answers to one vector record, keyed as the kernel's outputs are."""
    if kind == "predicates":
        spte = as_value(inp["spte"])
        return {k: getattr(p, k)(spte) for k in out}
    if kind == "make_mmio":
        spte = p.make_mmio_spte(as_value(inp["gfn"]), as_value(inp["access"]), as_value(inp["gen"]))
        got = {"make_mmio_spte": spte}
        got.update({k: getattr(p, k)(spte) for k in out if k not in SKIP and k != "make_mmio_spte"})
        return got
    if kind == "nonleaf":
        fn = inp["function"]
        spte = getattr(p, fn)(as_value(inp["child_pt_phys"]), inp["ad_disabled"])
        got = {fn: spte}
        got.update({k: getattr(p, k)(spte) for k in out if k not in SKIP and k != fn})
        return got
    if kind == "access_track":
        marked = p.mark_spte_for_access_track(as_value(inp["spte"]))
        holds = p.is_access_track_spte(marked)
        return {"mark_spte_for_access_track": marked, "marked_ad_precondition": p.precondition_holds(marked),
                "is_access_track_spte(marked)": holds if out["is_access_track_spte(marked)"] is not None else None,
                "restore_acc_track_spte": p.restore_acc_track_spte(marked), "restore_precondition_holds": holds}
    raise AssertionError(kind)


@pytest.mark.parametrize(("name", "version", "config"), VECTOR_FILES, ids=[f[0] for f in VECTOR_FILES])
def test_kernel_vectors(name, version, config):
    p = profile_for(version, config)
    counts: dict[str, int] = {}
    wrong = []
    for rec in vectors(name):
        kind, inp, out = rec["kind"], rec["inputs"], rec["outputs"]
        if kind == "config":
            masks = p.masks.as_dict()
            want = {RENAMED.get(k, k): as_value(v) for k, v in out.items()
                    if isinstance(v, bool) or str(v).startswith("0x")}
            assert {k: masks[k] for k in want if k in masks} == {k: v for k, v in want.items() if k in masks}
            continue
        want = {k: as_value(v) for k, v in out.items() if k not in SKIP}
        got = kernel_record(p, kind, inp, out)
        got = {k: (v if isinstance(v, bool) or v is None else int(v)) for k, v in got.items() if k in want}
        if got != want:
            wrong.append((kind, inp.get("origin"), inp, {k: (got.get(k), v) for k, v in want.items()
                                                          if got.get(k) != v}))
        counts[kind] = counts.get(kind, 0) + 1
    assert not wrong, f"{len(wrong)} records differ, first: {wrong[:3]}"
    assert counts["predicates"] > 3000 and counts["make_mmio"] == 1000 and counts["nonleaf"] == 200
    assert counts["access_track"] == 500


def test_reference_examples():
    """Worked examples of kvm-spte-bits.md section 1c (computed from 6.19 spte.c)."""
    p = kvm.profile("6.19", "ept-ad", l1tf=False)
    assert p.make_mmio_spte(0xFEB00, 0, 0x12345) == 0x12300000FEB0022E
    assert p.make_nonleaf_spte(0, False) == 0x8000000000000907
    assert kvm.profile("6.19", "ept-noad", l1tf=False).make_nonleaf_spte(0, True) == 0x8010000000000807
    assert p.mark_spte_for_access_track(0x8610000000000B77) == 0x8750000000000A70
    s = kvm.profile("6.19", "shadow", l1tf=False)
    assert s.make_mmio_spte(0xFEB00, 0x6, 0x12345) == 0x12380000FEB0022F
    assert s.make_nonleaf_spte(0, False) == 0x827


def test_v5_8_generation_bug_is_reproduced_and_described():
    p = kvm.profile("5.8", "shadow", l1tf=True)
    assert p.get_mmio_spte_generation(p.make_mmio_spte(0x1000, 0, 0x3FE00)) == 0
    assert p.make_mmio_spte(0x1000, 0, 0x3FE00) == p.make_mmio_spte(0x1000, 0, 0)
    assert "34c0f6f2695a" in p.describe_profile()
    d = p.describe(p.make_mmio_spte(0x1000, 6, 0x1FF), 1)
    assert d.kind == "mmio" and any("34c0f6f2695a" in n for n in d.notes)
    # The generation is shown as the kernel decodes it, not as the raw split field.
    spte = p.make_mmio_spte(0x1000, 6, 0x3FFFF)
    assert p.describe(spte, 1).software["mmio_gen"] == 0x1FF == p.get_mmio_spte_generation(spte)


# 5.4.y: the gen encoding per point release, from the trees named in spte/kvm/releases.py
# (mmu.c MMIO_SPTE_GEN_* of 5.4.18, 5.4.31/38/49/59/84 and 5.4.85/286).
@pytest.mark.parametrize(("version", "gen", "kept"), [
    ("5.4.18", 0x7FFFF, None), ("5.4.31", 0x3FFFF, 0x1FF), ("5.4.84", 0x3FFFF, 0x1FF),
    ("5.4.85", 0x3FFFF, 0x3FFFF), ("5.4.286", 0x2AAAA, 0x2AAAA), ("5.10", 0x2AAAA, 0x2AAAA),
    ("5.13", 0x7FFFF, 0x7FFFF)])
def test_mmio_generation_per_point_release(version, gen, kept):
    p = kvm.profile(version, "ept-ad", l1tf=False)
    spte = p.make_mmio_spte(0x1000, 0, gen)
    if kept is not None:
        assert p.get_mmio_spte_generation(spte) == kept
    else:  # 5.4.0-5.4.18: bits 52-61 hold gen bits 0-9; 52-53 are overwritten by SPTE_MMIO_MASK
        assert spte & (0x3FF << 52) == 0x3FF << 52
        assert p.get_mmio_spte_generation(spte) == 0x3FF


def test_helpers_exist_only_where_the_kernel_has_them():
    names = {v: set(dir(kvm.profile(v, "ept-ad"))) for v in ("5.4", "5.8", "5.10", "5.12", "5.13", "5.19", "6.1",
                                                              "6.6", "6.10", "6.11", "6.13")}
    assert "spte_can_locklessly_be_made_writable" in names["5.8"] & names["5.13"]
    assert "is_mmu_writable_spte" not in names["5.13"] and "is_mmu_writable_spte" in names["5.19"] & names["6.1"]
    assert "spte_can_locklessly_be_made_writable" not in names["5.19"]
    assert "is_removed_spte" in names["6.6"] & names["5.12"] & names["6.10"]
    assert "is_removed_spte" not in names["6.11"] | names["5.10"]
    assert "is_frozen_spte" in names["6.11"] and "is_frozen_spte" not in names["6.10"]
    assert "is_dirty_spte" in names["6.11"] and "is_dirty_spte" not in names["6.13"]
    assert "is_ept_ve_possible" in names["6.10"] and "is_ept_ve_possible" not in names["6.6"]
    assert "link_shadow_page" in names["5.4"] & names["5.8"] and "link_shadow_page" not in names["5.10"]
    assert "make_nonleaf_spte" in names["5.10"] and "make_nonleaf_spte" not in names["5.8"]


def test_preconditions_raise_only_when_strict():
    p = kvm.profile("6.19", "ept-ad")
    assert p.spte_ad_enabled(0) is True  # the kernel's answer (it would WARN)
    with pytest.raises(KvmPreconditionError, match="requires a shadow-present SPTE"):
        p.spte_ad_enabled(0, strict=True)
    old = kvm.profile("5.8", "shadow")
    with pytest.raises(KvmPreconditionError, match="non-MMIO"):
        old.is_dirty_spte(0x0030000000000000, strict=True)


@pytest.mark.parametrize(("text", "release", "point", "caution"), [
    ("6.12", "6.12", "6.11", None), ("6.12.5", "6.12", "6.11", None),
    ("v6.19-rc3", "6.19", "6.13", "release candidate"),
    ("6.8.0-45-generic", "6.8", "6.3", "Ubuntu"), ("6.1.0-57-amd64", "6.1", "6.0", "Debian"),
    ("5.14.0-427.13.1.el9_4.x86_64", "5.14", "5.13", "RHEL"), ("latest", "7.1", "6.13", None),
    ("5.4", "5.4", "5.4", "5.4.31, 5.4.49 and 5.4.85"), ("5.4.84", "5.4.84", "5.4.49", None),
    ("5.4.85", "5.4.85", "5.4.85", None), ("5.4.25", "5.4.25", "5.4.31", "between 5.4.18 and 5.4.31"),
    ("5.10", "5.10", "5.10", None), ("5.11", "5.11", "5.10", None), ("6.10", "6.10", "6.10", None),
    ("6.13", "6.13", "6.13", None), ("7.0", "7.0", "6.13", None), ("5.18", "5.18", "5.13", "no 5.18 tree"),
    ("5.17", "5.17", "5.13", None), ("5.19", "5.19", "5.19", None), ("6.2.12", "6.2", "6.0", None),
    ("6.3", "6.3", "6.3", None), ("4.19.124", "4.19", "4.19", None),
    ("4.18.0-553.el8_10.x86_64", "4.18", "4.19", "RHEL"),
])
def test_any_version_string_resolves(text, release, point, caution):
    r = kvm.resolve(text)
    assert (r.release, r.spec.key) == (release, point)
    if caution:
        assert any(caution in c for c in r.cautions), r.cautions
    else:
        assert not r.cautions, r.cautions
    assert kvm.profile(text, "ept-ad").change_point == point


@pytest.mark.parametrize(("text", "message"), [
    ("4.14", "stops at 4.18"), ("5.2", "nearest supported: 4.19 and 5.4"), ("4.20.1", "not modelled"),
    ("7.2", "newest supported"),
    ("6.20", "6.x ended at 6.19"), ("5.21", "5.x ended at 5.19"), ("banana", "expected a release"), ("", "expected"),
])
def test_bad_versions_name_the_nearest_supported(text, message):
    with pytest.raises(ValueError, match=message):
        kvm.profile(text, "ept-ad")


def test_bad_profile_arguments():
    with pytest.raises(ValueError, match="unknown MMU flavour"):
        kvm.profile("6.19", "tdx")
    with pytest.raises(ValueError, match="me_bit"):
        kvm.profile("6.19", "ept-ad", me_bit=47)
    assert kvm.profile("latest", "npt") is kvm.profile("7.1", "npt")


EVERY_POINT = [(v, f) for v in kvm.CHANGE_POINTS for f in kvm.FLAVOURS]


@pytest.mark.parametrize(("version", "flavour"), EVERY_POINT)
@given(gfn=st.integers(0, 2**33 - 1), access=st.integers(0, 7), gen=st.integers(0, 2**19 - 1), l1tf=st.booleans())
def test_mmio_frozen_nonpresent_never_shadow_present(version, flavour, gfn, access, gen, l1tf):
    p = kvm.profile(version, flavour, l1tf=l1tf)
    if p.enable_mmio_caching:
        spte = p.make_mmio_spte(gfn, access, gen)
        assert p.is_mmio_spte(spte) and not p.is_shadow_present_pte(spte)
        d = p.describe(spte, 1)
        assert d.kind == "mmio"
        assert d.plausible == (gfn < 1 << (p.host.x86_phys_bits - 12)), d.reasons
        assert p.get_mmio_spte_gfn(spte) == gfn
        # The access bits that survive: 4.19 EPT ORs them into the misconfig value and loses them.
        assert p.get_mmio_spte_access(spte) == access & p.shadow_mmio_access_mask & ~p.shadow_mmio_mask
        kept = gen & p.gen.gen_mask
        if p.gen.high_shift in (44, 45):  # the fixed encodings round-trip
            assert p.get_mmio_spte_generation(spte) == kept
    for special in (p.frozen_value, p.SHADOW_NONPRESENT_VALUE):
        if special is not None:
            assert not p.is_shadow_present_pte(special) or (not p.spec.mmu_present and special != p.frozen_value
                                                            and special != 0)
            assert not p.is_mmio_spte(special)


@pytest.mark.parametrize(("version", "flavour"), EVERY_POINT)
def test_profile_layout_passes_the_metadata_proof(version, flavour):
    p = kvm.profile(version, flavour)
    assert p.layout.proof.facts
    names = {t.name for t in p.layout.tags}
    assert ("mmu_present" in names) == p.spec.mmu_present
    assert {"host_writable", "mmu_writable"} <= names
    for state in STATES:
        for f in p.fields(state):
            assert f.mask & p.owned_bits(state) == f.mask


@pytest.mark.parametrize(("version", "flavour"), EVERY_POINT)
def test_kernel_built_values_are_plausible(version, flavour):
    """What make_nonleaf_spte/make_mmio_spte/access tracking produce is never called garbage."""
    p = kvm.profile(version, flavour)
    # Without EPT A/D every MMU is A/D-disabled; shadow paging and NPT always use the A/D bits.
    for ad_disabled in {"ept-noad": (True,), "ept-ad": (False, True)}.get(flavour, (False,)):
        spte = getattr(p, p.spec.nonleaf_function)(0x1234000, ad_disabled)
        d = p.describe(spte, 2)
        assert d.kind == "present_nonleaf" and d.plausible, d.reasons
    leaf = getattr(p, p.spec.nonleaf_function)(0x5678000, flavour == "ept-noad") | 0x80  # a 2 MiB leaf
    assert p.describe(leaf, 2).kind in ("present_leaf", "access_tracked")
    assert p.describe(leaf, 2).plausible, p.describe(leaf, 2).reasons
    marked = p.mark_spte_for_access_track(leaf)
    assert p.describe(marked, 2).plausible, p.describe(marked, 2).reasons


GARBAGE = [  # (release, flavour, level, value, kernel's literal kind, reason)
    ("5.8", "shadow", 3, 0x8000030E, "present_nonleaf", "shadow_present_mask bit 0 clear"),
    ("5.8", "shadow-pae", 3, 0x8000030E, "present_nonleaf", "a PAE root without P"),
    ("5.8", "shadow-pae", 3, 0x8000030E, "present_nonleaf", "bits 9:8,3:1 set: a PAE root holds only"),
    ("6.19", "shadow-pae", 3, 0x8000030E, "not_present", "a PAE root without P"),
    ("5.8", "shadow", 5, 0xB80A0, "present_leaf", "bit 7 (page size) is reserved in a level-5 entry"),
    ("6.19", "shadow", 5, 0xB80A0, "not_present", "KVM never writes one"),
    ("6.19", "shadow", 1, 0xFFFFFC4465825, "present_leaf", "also matches the MMIO pattern"),
    ("6.19", "shadow", 1, 0xFFFFFC4465825, "present_leaf", "at or above x86_phys_bits 46"),
    ("6.19", "ept-ad", 1, 0x0600000001234B77, "present_leaf", "shadow_present_mask bit 63 clear"),
    ("6.6", "ept-ad", 4, 0x8B7, "present_leaf", "no leaf above level 3"),
    ("6.19", "ept-ad", 1, 0x5A0, "not_present", "other than SHADOW_NONPRESENT_VALUE or FROZEN_SPTE"),
]


@pytest.mark.parametrize(("version", "flavour", "level", "value", "kind", "reason"), GARBAGE)
def test_garbage_is_called_garbage(version, flavour, level, value, kind, reason):
    pae = flavour.endswith("-pae")
    p = kvm.profile(version, flavour.removesuffix("-pae"), format="pae" if pae else None)
    d = p.describe(value, level)
    assert d.kind == kind
    assert not d.plausible and any(reason in r for r in d.reasons), d.reasons
    assert "not a value this kernel builds" in d.text()
    r = p.read(value, level)
    assert r.plausible is False and r.reasons == d.reasons and r.kind == kind


def test_the_kernel_says_it_its_way():
    p = kvm.profile("6.19", "ept-noad")
    d = p.describe(0x8610000001234A77, 1)
    assert d.software["ad_type"] == 1 and "A/D type 1 = SPTE_TDP_AD_DISABLED" in d.notes
    assert kvm.profile("5.8", "ept-ad").value_name("spte_special", 1) == "SPTE_AD_DISABLED_MASK"
    assert kvm.profile("5.8", "ept-ad").value_name("spte_special", 3) == "SPTE_MMIO_MASK"
    assert kvm.profile("6.2", "ept-ad").value_name("ad_type", 2) == "SPTE_TDP_AD_WRPROT_ONLY_MASK"
    assert kvm.profile("6.3", "ept-ad").value_name("ad_type", 2) == "SPTE_TDP_AD_WRPROT_ONLY"
    assert "REMOVED_SPTE" in kvm.profile("6.10", "ept-ad").classify(0x80000000000005A0, 1).summary
    assert "FROZEN_SPTE" in kvm.profile("6.11", "ept-ad").classify(0x80000000000005A0, 1).summary


def test_free_bits_under_a_kernel():
    """hardware-formats.md: 60 free bits in a not-present EPT SPTE; 6.19 leaves far fewer."""
    p = kvm.profile("6.19", "ept-ad", l1tf=False)
    free = p.free_not_present_bits()
    # Not bit 11 (shadow-present), not PFN bits 12-51 (L1TF), not 63 (SHADOW_NONPRESENT_VALUE),
    # not 5/7/8/10 (a tag value could recreate FROZEN_SPTE), not R/W/X, and not what an access-tracked
    # SPTE (not present to hardware) carries: A/D type 52-53, saved R/X 54/56, host-/MMU-writable 57/58.
    assert free == sum(1 << b for b in (3, 4, 6, 9, 55, 59, 60, 61, 62))
    layout = p.allocate({"async_pf_invalid": 1})
    assert layout.mask("async_pf_invalid") == 1 << 3
    tagged = layout.encode(p.SHADOW_NONPRESENT_VALUE, async_pf_invalid=1)
    assert p.classify(tagged, 1).kind == "not_present" and not p.is_shadow_present_pte(tagged)
    with pytest.raises(TagCollision, match=r"bit 11 is owned in not_present by kvm-6.19:ept-ad: SPTE_MMU_PRESENT"):
        p.allocate({"bad": {"width": 1, "bits": [11]}})
    with pytest.raises(TagCollision, match=r"is_frozen_spte: the SPTE must never equal"):
        p.allocate({"bad": {"width": 1, "bits": [5]}})
    with pytest.raises(TagCollision, match="any non-zero non-MMIO SPTE is shadow-present"):
        kvm.profile("5.8", "ept-ad").allocate({"x": 1})
    # 6.1 legacy: bits 63:1 minus bit 11, PFN bits 51:12 and REMOVED bits 5, 7, 8, 10 (no not-present value,
    # no access tracking: a non-EPT SPTE is never both shadow-present and not present to hardware).
    assert kvm.profile("6.1", "shadow").free_not_present_bits().bit_count() == 63 - 1 - 40 - 4


@pytest.mark.parametrize("flavour", ["ept-ad", "ept-noad"])
def test_access_tracking_is_a_transition_the_allocator_knows(flavour):
    """Issue 10 point 7: mark_spte_for_access_track stores R/X into 54/56 of present EPT leaves."""
    p = kvm.profile("6.19", flavour)
    with pytest.raises(TagCollision, match=r"bit 54 is owned in present_leaf by .*mark_spte_for_access_track"):
        p.allocate({"t": {"width": 1, "bits": [54]}}, states=("present_leaf",))
    layout = p.allocate({"t": {"width": 1, "bits": [55]}}, states=("present_leaf",))
    leaf = layout.encode(0x8610000001234B77, t=1)
    marked = p.mark_spte_for_access_track(leaf)
    assert layout.decode(marked)["t"] == 1 and layout.decode(p.restore_acc_track_spte(marked))["t"] == 1
    assert any(t.function == "mark_spte_for_access_track" for t in p.transitions("present_leaf"))
    assert not any(t.function == "mark_spte_for_access_track" for t in kvm.profile("6.19", "shadow").transitions(
        "present_leaf"))


@given(spte=u64)
def test_classification_is_total_and_consistent(spte):
    for version in kvm.CHANGE_POINTS:
        p = kvm.profile(version, "ept-ad")
        c = p.classify(spte, 1)
        assert c.kind in kvm.KINDS
        if c.kind in ("present_leaf", "access_tracked"):
            assert p.is_shadow_present_pte(spte)
        d = p.describe(spte, 2)
        assert d.hardware.value == spte and d.text()
        assert d.state in STATES


TRACE_LINE = re.compile(r"kvm_mmu_set_spte: gfn (\w+) spte (\w+) \((.)(.)(.)(.)\) level (\d)"
                        r"|kvm_mmu_spte_requested: gfn (\w+) pfn (\w+) level (\d)")


@pytest.mark.parametrize("path", ["traces/long4k.trace.gz", "traces/fault_nx.trace.gz"])
def test_real_trace_sptes_agree_with_the_kernel(path):
    """6.18 legacy shadow paging host, MAXPHYADDR 48, mmio_caching=N, no L1TF (traces/README.md)."""
    p = kvm.profile("6.18", "shadow", maxphyaddr=48, l1tf=False, mmio_caching=False)
    n = 0
    requested: dict[tuple[str, str], int] = {}
    for m in TRACE_LINE.finditer(golden_text(path)):
        if m[8]:  # kvm_mmu_spte_requested: the pfn KVM is about to map for this gfn
            requested[(m[8], m[10])] = int(m[9], 16)
            continue
        gfn, spte_text, r, w, x, u, level = m.groups()[:7]
        spte = int(spte_text, 16)
        if (gfn, level) in requested:
            assert p.spte_to_pfn(spte) == requested[(gfn, level)]
        assert (r == "r") == (p.shadow_present_mask != 0 or bool(spte & 1))
        assert (w == "w") == p.is_writable_pte(spte)
        assert (x == "x") == p.is_executable_pte(spte)
        assert (u == "u") == bool(spte & p.shadow_user_mask)
        d = p.describe(spte, int(level))
        assert d.kind == "present_leaf" and d.plausible, (hex(spte), d.reasons)
        assert p.is_mmu_writable_spte(spte) or not p.is_writable_pte(spte)  # writable invariant
        assert d.software["host_writable"] == 1
        n += 1
    assert n > 20


@pytest.mark.parametrize("version", kvm.CHANGE_POINTS)
@pytest.mark.parametrize("flavour", ["shadow", "npt"])
def test_32_bit_hosts_use_pae_tables(version, flavour):
    """A 32-bit host keeps PAE-format tables, no SHADOW_NONPRESENT_VALUE (spte.h: x86-64 only) and,
    from 6.10, FROZEN_SPTE without bit 63."""
    p = kvm.profile(version, flavour, format="pae")
    assert p.format == "pae" and p.SHADOW_NONPRESENT_VALUE == 0
    if p.frozen_value is not None:
        assert p.frozen_value in (0x5A0, 1 << 59)
    root = 0x12345000 | 1 | p.spte_me_bits
    d = p.describe(root, 3)
    assert (d.kind, d.plausible) == ("present_nonleaf", True) and "PAE root" in d.summary
    assert p.describe(getattr(p, p.spec.nonleaf_function)(0x1234000, False), 2).plausible
    with pytest.raises(ValueError, match="format 'pae' needs flavour"):
        kvm.profile(version, "ept-ad", format="pae")


def test_sme_host_reserves_the_reduced_address_bits():
    """An SME host with MAXPHYADDR 48, C-bit 47 and PhysAddrReduction 5 (kvm-vectors npt-sme): page-table
    address bits 43-46 are reserved, the MMIO mask starts at bit 43 and the gfn stops at bit 42."""
    p = kvm.profile("6.13.2", "npt", maxphyaddr=48, me_bit=47, phys_addr_reduction=5)
    assert p.platform.maxphyaddr == 43
    assert p.shadow_mmio_value == 0xFF80000000001 and p.shadow_nonpresent_or_rsvd_lower_gfn_mask == 0x7FFFFFFF000
    leaf = 0x827 | 1 << 47 | 0x1234 << 12 | 1 << 45  # a C-bit leaf with reserved bit 45 set
    assert any("45" in r and "x86_phys_bits 43" in r for r in p.describe(leaf, 1).reasons)
    assert p.describe(0x827 | 1 << 47 | 0x1234 << 12, 1).plausible
    # An SEV guest's C-bit may lie at or above MAXPHYADDR: the profile accepts it.
    assert kvm.profile("6.13", "npt", maxphyaddr=48, me_bit=51).host.me_bit == 51


def test_4_19_formulas_from_its_source():
    """Linux 4.19.0 arch/x86/kvm/mmu.c, worked by hand: mark_mmio_spte() = generation_mmio_spte_mask(gen)
    [(gen & 0x3fe) << 2 | (gen >> 10) << 52] | shadow_mmio_value [bit 51 | P | SPTE_SPECIAL_MASK bit 62]
    | (access & (W|U)) | gpa | shadow_nonpresent_or_rsvd_mask [45:41 when x86_phys_bits 46 < 47]."""
    p = kvm.profile("4.19", "shadow")
    spte = p.make_mmio_spte(0xFEB00, 7, 0x12345)
    assert spte == (0xD10 | 0x48 << 52) | (1 << 51 | 1 | 1 << 62) | 6 | 0xFEB00000 | 0x3E0000000000
    assert (p.get_mmio_spte_generation(spte), p.get_mmio_spte_gfn(spte), p.get_mmio_spte_access(spte)) == (
        0x12344, 0xFEB00, 6)  # generation bit 0 is presumed zero
    e = kvm.profile("4.19", "ept-noad")
    # link_shadow_page(): __pa | shadow_present_mask (0) | W | shadow_user_mask (R) | shadow_x_mask
    # | shadow_acc_track_value (SPTE_SPECIAL_MASK) for an A/D-disabled page.
    assert e.link_shadow_page(0x1234000, True) == 0x4000000001234007
    # mark_spte_for_access_track(): R -> bit 52, X -> bit 54 (PT64_SECOND_AVAIL_BITS_SHIFT 52), RWX cleared.
    assert e.mark_spte_for_access_track(0x4000000001234C77) == 0x4050000001234C70
    assert e.is_access_track_spte(0x4050000001234C70) and e.restore_acc_track_spte(0x4050000001234C70) == (
        0x4000000001234C75)  # W is not restored
    assert not hasattr(e, "spte_ad_need_write_protect") and e.value_name("spte_special", 1) == "SPTE_SPECIAL_MASK"


def test_read_refuses_a_level_the_format_lacks():
    """A PAE host's SPTEs have levels 1-3 (review finding: read() at level 4 made up a reading)."""
    from spte.kvm import profile

    p = profile("4.19", "shadow", maxphyaddr=36, format="pae")
    for v in (0x800000000000, 0x33BFF15F28D127B6):
        with pytest.raises(ValueError, match="format 'pae' has no level 4"):
            p.read(v, 4)
