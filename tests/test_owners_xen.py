"""Xen as an owner: ept_entry_t fields and p2m names compared with what Xen's own
definitions give (tests/data/xen/README.md), a real EPT walk printout, PV guest bits, and
the allocator's answer for EPT entries under Xen."""

from __future__ import annotations

import json

import pytest

import spte.owners
from spte.bits import bit_list
from spte.metadata import STATES, TagCollision, allocate
from spte.metadata.owner import Owner, names_by_bit
from spte.owners.xen import EPT_RELEASES, P2M_TYPES, XenEptOwner
from tests.conftest import golden_text


def load(version: str) -> tuple[dict[str, dict[str, int]], list[dict[str, object]]]:
    lines = [json.loads(line) for line in golden_text(f"xen/xen-{version}-ept.jsonl.gz").splitlines()]
    return lines[0], lines[1:]


@pytest.mark.parametrize("version", list(EPT_RELEASES))
def test_p2m_names_match_xen(version):
    header, _ = load(version)
    assert header["p2m_type_t"] == {n: i for i, n in enumerate(P2M_TYPES)}
    assert header["p2m_access_t"] == {n: i for i, n in enumerate(EPT_RELEASES[version].access_names)}


@pytest.mark.parametrize("version", list(EPT_RELEASES))
def test_fields_match_ept_entry_t(version):
    _, records = load(version)
    o = XenEptOwner(EPT_RELEASES[version])
    fields = {f.name: f for f in o.fields("present_leaf")}
    assert len(records) == 200
    for rec in records:
        v = int(str(rec["epte"]), 16)
        for name, f in fields.items():
            assert f.get(v) == rec[name], (name, rec)
        assert (v >> 12) & ((1 << 40) - 1) == int(str(rec["mfn"]), 16)
        # the fields we do not name are the hardware ones or bit 62 (_rsvd, 4.16-4.19)
        for hw in ("r", "w", "x", "emt", "ipat", "sp", "a", "d", "suppress_ve"):
            assert hw not in fields
        if "_rsvd" in rec:
            assert not o.owned_bits("present_leaf") >> 62 & 1


def test_access_bits_are_named_as_xen_names_them():
    # The complaint: bits 58-60 printed as paging_write/ignored_59/supervisor_shadow_stack.
    for version, want in (("4.19", {58: "access", 59: "access", 60: "access", 61: "access", 62: None}),
                          ("4.14", {58: "access", 61: "access", 62: "tm"}),
                          ("4.20", {58: "pw", 59: "access", 62: "access"})):
        names = names_by_bit(spte.owners.resolve(f"xen:{version}:ept"), "present_leaf")
        for bit, name in want.items():
            assert names.get(bit) == name, (version, bit)
        assert names[10] == "recalc" and names[11] == "snp" and names[52] == "sa_p2mt"


def test_release_ranges_follow_xen_history():
    assert spte.owners.resolve("xen:4.17").release.version == "4.19"
    assert spte.owners.resolve("xen:4.15").release.version == "4.14"
    assert spte.owners.resolve("xen:4.22").release.version == "4.20"
    with pytest.raises(ValueError, match=r"carried are 4\.10-4\.22"):
        spte.owners.resolve("xen:4.9")


def test_real_ept_walk_from_a_xen_4_17_rc_crash():
    # xen-devel, 18 Nov 2022, osstest flight 174809 (Xen-4.17-rc debug=y): "EPT violation 0x19c
    # (--x/rw-) gpa 0x0000007ed373a1 mfn 0x33ed37 type 0", then "Walking EPT tables for GFN 7ed37".
    x = spte.owners.resolve("xen:4.17:ept")
    top = x.read(0x9C0000047EBA3107, 4)
    assert top.kind == "present_nonleaf" and "mfn 0x47eba3" in top.summary and "p2m_access_rwx" in top.summary
    leaf = x.read(0x9C000003000003F3, 3)
    assert leaf.kind == "present_leaf"
    assert leaf.summary == "p2m_ram_rw p2m_access_rwx mfn 0x300000"  # type 0 as the violation line says
    assert leaf.software == {"access": 7}
    e = spte.decode(0x9C000003000003F3, "ept", 3)
    assert e.execute == 0 and e.read == 1 and e.write == 1  # the --x violation on a rw- 1 GiB entry


def test_recalc_and_not_present_entries():
    x = spte.owners.resolve("xen:4.19")
    r = x.read((4 << 52) | (7 << 58), 1)  # p2m_mmio_dm, rwx access, no permissions
    assert r.kind == "not_present" and r.summary.startswith("p2m_mmio_dm p2m_access_rwx")
    r = x.read(0x7 | (7 << 3) | (1 << 10), 1)
    assert r.kind == "recalc" and r.state == "fault" and r.software["recalc"] == 1
    assert x.read(0x7 | (31 << 52), 1).plausible is False


def test_one_more_ept_bit_under_xen():
    # 4.16-4.19 leave bit 62 (_rsvd); 4.10-4.15 (tm) and 4.20+ (access moved up) leave nothing.
    layout = allocate("ept", {"mine": 1}, states=["present_leaf"], owner=spte.owners.resolve("xen:4.19"))
    assert layout.tag("mine").bits == (62,)
    for v in ("4.14", "4.20"):
        with pytest.raises(TagCollision, match="no room"):
            allocate("ept", {"mine": 1}, states=["present_leaf"], owner=spte.owners.resolve(f"xen:{v}"))
    with pytest.raises(TagCollision, match="sa_p2mt"):
        allocate("ept", {"mine": {"width": 1, "bits": [53]}}, states=["present_leaf"],
                 owner=spte.owners.resolve("xen:4.19"))


def test_pv_guest_kernel_bit():
    pv = spte.owners.resolve("xen:4.19:pv")
    assert isinstance(pv, Owner)
    assert "_PAGE_GUEST_KERNEL" in (pv.owner_of(52, "present_leaf") or "")
    assert pv.read(0x0010000012345067, 1).software == {"_PAGE_GUEST_KERNEL": 1}
    assert pv.owned_bits("not_present") == 0
    # Linux's lowest free present-PTE bit (52) is the one Xen sets in a PV guest's kernel PTEs.
    layout = allocate("x86-64", {"mine": 1}, states=["present_leaf"], owner=spte.owners.resolve("linux:6.12"))
    assert layout.tag("mine").bits == (52,)
    with pytest.raises(TagCollision, match="_PAGE_GUEST_KERNEL"):
        allocate("x86-64", {"mine": {"width": 1, "bits": [52]}}, states=["present_leaf"], owner=pv)


def test_protocol():
    for spec in ("xen:4.14", "xen:4.19:ept", "xen:4.21", "xen:4.19:pv"):
        o = spte.owners.resolve(spec)
        assert isinstance(o, Owner)
        for s in STATES:
            for b in bit_list(o.owned_bits(s)):
                assert o.owner_of(b, s), (spec, s, b)
    with pytest.raises(ValueError, match="not ept or pv"):
        spte.owners.resolve("xen:4.19:hvm")


def test_a_pv_linux_guest_is_both_owners():
    both = spte.owners.resolve("linux:6.12,xen:4.19:pv")
    assert isinstance(both, Owner) and both.name == "linux-6.12+xen-4.19:pv"
    layout = allocate("x86-64", {"mine": 1}, states=["present_leaf"], owner=both)
    assert layout.tag("mine").bits == (53,)
    r = both.read(0x0010000012345267, 1)
    assert r.software == {"_PAGE_SPECIAL": 1, "_PAGE_GUEST_KERNEL": 1}
    with pytest.raises(ValueError, match="different formats"):
        spte.owners.resolve("linux:6.12,xen:4.19:ept")


@pytest.mark.parametrize("version", list(EPT_RELEASES))
def test_pv_bits_are_xens_flags_put_back_into_a_pte(version):
    header, _ = load(version)
    k = {n: int(v, 16) for n, v in header["pv_pte_bits"].items()}
    pv = spte.owners.resolve(f"xen:{version}:pv")
    assert {f.name: f.mask for f in pv.fields("present_leaf")} == {
        "_PAGE_GUEST_KERNEL": k["_PAGE_GUEST_KERNEL"], "_PAGE_GNTTAB": k["_PAGE_GNTTAB"]}
    # both live in the guest-available high bits; _PAGE_NX_BIT is the hardware XD bit
    assert pv.owned_bits("present_leaf") & ~k["_PAGE_AVAIL_HIGH"] == 0
    assert k["_PAGE_NX_BIT"] == spte.entry.Pte.layout().by_name["execute_disable"].mask
