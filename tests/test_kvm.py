"""KVM profiles against the kernel's own numbers.

Golden data (``tests/data/README.md``): ``kvm-vectors/`` -- masks and helper results computed by the
SPTE code of Linux v5.8.18 (``arch/x86/kvm/mmu/mmu.c``), v6.1.119 and v6.19
(``arch/x86/kvm/mmu/spte.{h,c}``) compiled in userspace -- and real kvmmmu traces from a
Linux 6.18 host (``traces/``).
"""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from spte import kvm
from spte.kvm import KvmPreconditionError
from spte.metadata import TagCollision
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
RENAMED = {"kvm_host.maxphyaddr": "shadow_phys_bits", "PT64_BASE_ADDR_MASK": "SPTE_BASE_ADDR_MASK",
           "kvm_ad_enabled()": "kvm_ad_enabled", "kvm->arch.shadow_mmio_value": "shadow_mmio_value"}


def profile_for(version: str, config: str) -> kvm.KvmProfile:
    args = dict(CONFIGS[config])
    return kvm.profile(version, args.pop("flavour"), **args)


def mask_tables() -> list[tuple[str, str, str, int]]:
    """(version, config, name, value) rows from kvm-vectors/README.md section 3."""
    rows = []
    version = None
    for line in golden_text("kvm-vectors/README.md").splitlines():
        if m := re.match(r"### v(\d+\.\d+)", line):
            version = m[1]
        elif line.startswith("## "):
            version = None  # only section 3 holds mask tables
        elif version and line.startswith("| `") and "(input)" not in line:
            cells = [c.strip() for c in line.strip("|").split("|")]
            name = RENAMED.get(cells[0].strip("`"), cells[0].strip("`"))
            for config, cell in zip(CONFIGS, cells[1:], strict=True):
                value = {"true": 1, "false": 0}.get(cell) if cell in ("true", "false") else int(cell.strip("`"), 16)
                rows.append((version, config, name, value))
    return rows


def test_every_mask_matches_the_kernel():
    rows = mask_tables()
    compared = set()
    for version, config, name, value in rows:
        p = profile_for(version, config)
        if name in p.masks:
            assert p.masks[name] == value, (version, config, name, hex(p.masks[name]), hex(value))
            compared.add(name)
    # Everything the kernel computes is compared except knobs we do not model.
    assert len(compared) >= 20, compared


NAMED_CONSTANTS = {  # "Same in every config" lines of the README
    "6.19": {"SHADOW_NONPRESENT_VALUE": 0x8000000000000000, "FROZEN_SPTE": 0x80000000000005A0},
    "6.1": {"REMOVED_SPTE": 0x5A0},
}


def test_named_constants():
    for version, consts in NAMED_CONSTANTS.items():
        p = kvm.profile(version, "ept-ad")
        if "SHADOW_NONPRESENT_VALUE" in consts:
            assert p.SHADOW_NONPRESENT_VALUE == consts["SHADOW_NONPRESENT_VALUE"]
        assert p.frozen_value == consts.get("FROZEN_SPTE", consts.get("REMOVED_SPTE"))
    assert kvm.profile("5.8", "ept-ad").frozen_value is None


VECTOR_FILES = [("v6.19-ept-ad.jsonl.gz", "6.19", "ept-ad"), ("v5.8.18-shadow.jsonl.gz", "5.8", "shadow")]
SKIP = {"kernel_warned", "kernel_warned_mark", "kernel_warned_restore", "config"}


def as_value(x):
    return int(x, 16) if isinstance(x, str) else x


@pytest.mark.parametrize(("name", "version", "config"), VECTOR_FILES)
def test_kernel_vectors(name, version, config):
    p = profile_for(version, config)
    counts: dict[str, int] = {}
    for rec in vectors(name):
        kind, inp, out = rec["kind"], rec["inputs"], rec["outputs"]
        if kind == "config":
            continue
        if kind == "predicates":
            spte = as_value(inp["spte"])
            got = {k: getattr(p, k)(spte) for k in out}
        elif kind == "make_mmio":
            spte = p.make_mmio_spte(as_value(inp["gfn"]), as_value(inp["access"]), as_value(inp["gen"]))
            got = {"make_mmio_spte": spte}
            got.update({k: getattr(p, k)(spte) for k in out if k not in SKIP and k != "make_mmio_spte"})
        elif kind == "nonleaf":
            fn = inp["function"]
            spte = getattr(p, fn)(as_value(inp["child_pt_phys"]), inp["ad_disabled"])
            got = {fn: spte}
            got.update({k: getattr(p, k)(spte) for k in out if k not in SKIP and k != fn})
        elif kind == "access_track":
            spte = as_value(inp["spte"])
            marked = p.mark_spte_for_access_track(spte)
            holds = p.is_access_track_spte(marked)
            precondition = (p.is_shadow_present_pte(marked) if p.spec.mmu_present
                            else not p.is_mmio_spte(marked))
            got = {"mark_spte_for_access_track": marked, "marked_ad_precondition": precondition,
                   "is_access_track_spte(marked)": holds if out["is_access_track_spte(marked)"] is not None
                   else None,
                   "restore_acc_track_spte": p.restore_acc_track_spte(marked),
                   "restore_precondition_holds": holds}
        else:
            raise AssertionError(kind)
        want = {k: as_value(v) for k, v in out.items() if k not in SKIP}
        got = {k: (v if isinstance(v, bool) or v is None else int(v)) for k, v in got.items() if k in want}
        assert got == want, (kind, inp)
        counts[kind] = counts.get(kind, 0) + 1
    assert counts["predicates"] > 3000 and counts["make_mmio"] == 1000 and counts["nonleaf"] == 200


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


def test_helpers_exist_only_where_the_kernel_has_them():
    names = {v: set(dir(kvm.profile(v, "ept-ad"))) for v in kvm.VERSIONS}
    assert "spte_can_locklessly_be_made_writable" in names["5.8"] & names["5.13"]
    assert "is_mmu_writable_spte" not in names["5.13"] and "is_mmu_writable_spte" in names["6.1"]
    assert "is_removed_spte" in names["6.6"] and "is_removed_spte" not in names["6.19"]
    assert "is_frozen_spte" in names["6.19"] and "is_frozen_spte" not in names["6.1"]
    assert "is_removed_spte" not in names["5.8"]
    assert "is_dirty_spte" in names["6.6"] and "is_dirty_spte" not in names["6.19"]
    assert "is_ept_ve_possible" in names["6.19"] and "is_ept_ve_possible" not in names["6.6"]
    assert "link_shadow_page" in names["5.8"] and "link_shadow_page" not in names["6.1"]


def test_preconditions_raise_only_when_strict():
    p = kvm.profile("6.19", "ept-ad")
    assert p.spte_ad_enabled(0) is True  # the kernel's answer (it would WARN)
    with pytest.raises(KvmPreconditionError, match="requires a shadow-present SPTE"):
        p.spte_ad_enabled(0, strict=True)
    old = kvm.profile("5.8", "shadow")
    with pytest.raises(KvmPreconditionError, match="non-MMIO"):
        old.is_dirty_spte(0x0030000000000000, strict=True)


def test_bad_profile_arguments():
    with pytest.raises(ValueError, match=r"unknown kernel version '4\.19'"):
        kvm.profile("4.19", "ept-ad")
    with pytest.raises(ValueError, match="unknown MMU flavour"):
        kvm.profile("6.19", "tdx")
    assert kvm.profile("latest", "npt") is kvm.profile("6.19", "npt")


ALL_PROFILES = [(v, f) for v in kvm.VERSIONS for f in kvm.FLAVOURS]


@pytest.mark.parametrize(("version", "flavour"), ALL_PROFILES)
@given(gfn=st.integers(0, 2**34 - 1), access=st.integers(0, 7), gen=st.integers(0, 2**19 - 1), l1tf=st.booleans())
def test_mmio_frozen_nonpresent_never_shadow_present(version, flavour, gfn, access, gen, l1tf):
    p = kvm.profile(version, flavour, l1tf=l1tf)
    if p.enable_mmio_caching:
        spte = p.make_mmio_spte(gfn, access, gen)
        assert p.is_mmio_spte(spte) and not p.is_shadow_present_pte(spte)
        assert p.classify(spte, 1).kind == "mmio"
        assert p.get_mmio_spte_gfn(spte) == gfn
        assert p.get_mmio_spte_access(spte) == access & p.shadow_mmio_access_mask
        # 5.8 round-trips the generation exactly where its bug lets it: gen < 2^9.
        kept = gen & (0x3FFFF if version == "5.8" else 0x7FFFF)  # MMIO_SPTE_GEN_MASK
        assert (p.get_mmio_spte_generation(spte) == kept) == (version != "5.8" or kept < 0x200)
    for special in (p.frozen_value, p.SHADOW_NONPRESENT_VALUE):
        if special is not None:
            assert not p.is_shadow_present_pte(special) or (version == "5.8" and special != 0)
            assert not p.is_mmio_spte(special)


@pytest.mark.parametrize(("version", "flavour"), ALL_PROFILES)
def test_profile_layout_passes_the_metadata_proof(version, flavour):
    p = kvm.profile(version, flavour)
    assert p.layout.proof.facts
    names = {t.name for t in p.layout.tags}
    assert ("mmu_present" in names) == (version != "5.8")
    assert {"host_writable", "mmu_writable"} <= names


def test_free_bits_under_a_kernel():
    """hardware-formats.md: 60 free bits in a not-present EPT SPTE; 6.19 leaves far fewer."""
    p = kvm.profile("6.19", "ept-ad", l1tf=False)
    free = p.free_not_present_bits()
    # Not bit 11 (shadow-present), not PFN bits 12-51 (L1TF), not 63 (SHADOW_NONPRESENT_VALUE),
    # not 5/7/8/10 (a tag value could recreate FROZEN_SPTE), not R/W/X.
    assert free == sum(1 << b for b in (3, 4, 6, 9, *range(52, 63)))
    layout = p.allocate({"async_pf_invalid": 1})
    assert layout.mask("async_pf_invalid") == 1 << 3
    tagged = layout.encode(p.SHADOW_NONPRESENT_VALUE, async_pf_invalid=1)
    assert p.classify(tagged, 1).kind == "not-present" and not p.is_shadow_present_pte(tagged)
    with pytest.raises(TagCollision, match=r"bit 11 is owned in not_present by kvm-6.19:ept-ad: SPTE_MMU_PRESENT"):
        p.allocate({"bad": {"width": 1, "bits": [11]}})
    with pytest.raises(TagCollision, match=r"is_frozen_spte: the SPTE must never equal"):
        p.allocate({"bad": {"width": 1, "bits": [5]}})
    with pytest.raises(TagCollision, match="any non-zero non-MMIO SPTE is shadow-present"):
        kvm.profile("5.8", "ept-ad").allocate({"x": 1})
    # 6.1 legacy: bits 63:1 minus bit 11, PFN bits 51:12 and FROZEN bits 5, 7, 8, 10 (no not-present value).
    assert kvm.profile("6.1", "shadow").free_not_present_bits().bit_count() == 63 - 1 - 40 - 4


@given(spte=u64)
def test_classification_is_total_and_consistent(spte):
    for version in kvm.VERSIONS:
        p = kvm.profile(version, "ept-ad")
        c = p.classify(spte, 1)
        assert c.kind in {"not-present", "frozen", "mmio", "present-leaf", "present-nonleaf", "access-tracked"}
        if c.kind in ("present-leaf", "access-tracked"):
            assert p.is_shadow_present_pte(spte)
        d = p.describe(spte, 2)
        assert d.hardware.value == spte and d.text()


TRACE_LINE = re.compile(r"kvm_mmu_set_spte: gfn (\w+) spte (\w+) \((.)(.)(.)(.)\) level (\d)"
                        r"|kvm_mmu_spte_requested: gfn (\w+) pfn (\w+) level (\d)")


def test_real_trace_sptes_agree_with_the_kernel():
    """6.18 legacy shadow paging host, MAXPHYADDR 48, mmio_caching=N, no L1TF (traces/README.md)."""
    p = kvm.profile("6.19", "shadow", maxphyaddr=48, l1tf=False, mmio_caching=False)
    n = 0
    for path in ("traces/long4k.trace", "traces/fault_nx.trace"):
        requested: dict[tuple[str, str], int] = {}
        for m in TRACE_LINE.finditer(golden_text(path + ".gz")):
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
            assert p.classify(spte, int(level)).kind == "present-leaf"
            assert p.is_mmu_writable_spte(spte) or not p.is_writable_pte(spte)  # writable invariant
            assert p.describe(spte, int(level)).software["host_writable"] == 1
            n += 1
    assert n > 800
