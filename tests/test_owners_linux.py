"""Linux mm as an owner: every decode and every constant is compared with values the
release's own macros computed (tests/data/linux/README.md), and the allocator's answer to
"where could Linux put one more PTE software bit?" is checked against those headers."""

from __future__ import annotations

import hashlib
import json

import pytest

import spte
import spte.owners
from spte.bits import bit_list, format_ranges, union
from spte.metadata import TagCollision, allocate, free_bits
from spte.metadata.owner import Owner, names_by_bit
from spte.owners.linux import RELEASE_MAP, RELEASES, LinuxOwner, releases_of, resolve_release
from tests.conftest import golden_text

GOLDEN = [(v, f) for v, r in RELEASES.items() for f in r.formats]


def load(version: str, fmt: str) -> tuple[dict[str, dict[str, str]], list[dict[str, object]]]:
    lines = [json.loads(line) for line in golden_text(f"linux/{version}-{fmt}.jsonl.gz").splitlines()]
    return lines[0], lines[1:]


def h(text: object) -> int:
    return int(str(text), 16)


def test_every_carried_release_and_format_has_golden_data():
    assert len(GOLDEN) == 38  # 14 rows, 4.14 and 4.17 (before L1TF) for x86-64 only
    for v, f in GOLDEN:
        header, records = load(v, f)
        assert header["constants"] and len(records) > 400


@pytest.mark.parametrize(("version", "fmt"), GOLDEN)
def test_constants_match_the_kernel_headers(version, fmt):
    header, _ = load(version, fmt)
    k = {n: h(v) for n, v in header["constants"].items()}
    o = LinuxOwner(RELEASES[version], fmt)
    assert o.pte_pfn_mask == k["PTE_PFN_MASK"]
    assert o.knl_erratum_mask == k["_PAGE_KNL_ERRATUM_MASK"]
    assert {n: m for n, m in o.swp_flag_bits().items()} == {
        n: m for n, m in k.items() if n.startswith("_PAGE_SWP_") and m}
    leaf = {f.name: f.mask for f in o.fields("present_leaf")}
    # Every software bit we name in a present leaf is the kernel's constant of that name ...
    for name, mask in leaf.items():
        assert k[name] == mask, name
    # ... and every non-zero software constant of the kernel is named (DEVMAP only where
    # ZONE_DEVICE exists: ARCH_HAS_PTE_DEVMAP is x86-64 only; NOPTISHADOW is for root PGDs).
    software = ("_PAGE_SPECIAL", "_PAGE_CPA_TEST", "_PAGE_UFFD_WP", "_PAGE_SOFT_DIRTY", "_PAGE_SAVED_DIRTY",
                "_PAGE_KERNEL_4K", "_PAGE_PKEY_BIT0", "_PAGE_PKEY_BIT1", "_PAGE_PKEY_BIT2", "_PAGE_PKEY_BIT3")
    for name in software:
        if k.get(name):
            assert leaf.get(name) == k[name], name
    if fmt == "x86-64" and k.get("_PAGE_DEVMAP"):
        assert leaf["_PAGE_DEVMAP"] == k["_PAGE_DEVMAP"]
    if k.get("_PAGE_NOPTISHADOW"):
        assert {f.name: f.mask for f in o.fields("present_nonleaf")}["_PAGE_NOPTISHADOW"] == k["_PAGE_NOPTISHADOW"]
    assert {f.name: f.mask for f in o.fields("not_present")}["_PAGE_PROTNONE"] == k["_PAGE_PROTNONE"]


@pytest.mark.parametrize(("version", "fmt"), GOLDEN)
def test_special_swap_types_are_numbered_as_the_release_does(version, fmt):
    header, _ = load(version, fmt)
    kernel = {n: int(v) for n, v in header["swap_types"].items() if n != "MAX_SWAPFILES_SHIFT"}
    assert RELEASES[version].swap_types == kernel


@pytest.mark.parametrize(("version", "fmt"), GOLDEN)
def test_reads_match_pte_none_pte_present_pte_pfn_and_pte_to_swp_entry(version, fmt):
    _, records = load(version, fmt)
    o = LinuxOwner(RELEASES[version], fmt)
    decoded = 0
    for rec in records:
        if "none" not in rec:
            continue
        v = h(rec["pte"])
        r = o.read(v, 1)
        if rec["none"]:
            assert r.kind == "pte_none", rec
        elif rec["present"]:
            assert o.pte_pfn(v) == h(rec["pfn"]), rec
            assert r.kind == ("prot_none" if rec["protnone"] else r.kind)
            assert (r.kind == "prot_none") == bool(rec["protnone"]), rec
        else:
            e = o.decode_swap(v)
            assert (e.type, e.offset, e.val) == (rec["swp_type"], h(rec["swp_offset"]), h(rec["swp_val"])), rec
            assert union(o.swp_flag_bits()[n] for n in e.flags) == h(rec["swp_flags"]), rec
            assert r.software["swp_type"] == e.type and r.software["swp_offset"] == e.offset
            decoded += 1
    assert decoded > 100


@pytest.mark.parametrize(("version", "fmt"), GOLDEN)
def test_swap_entries_the_kernel_builds_stay_inside_the_swap_layout(version, fmt):
    _, records = load(version, fmt)
    swap = LinuxOwner(RELEASES[version], fmt).narrow("swap")
    owned = swap.owned_bits("not_present")
    built = [h(r["pte"]) for r in records if "encode" in r]
    assert len(built) == 63
    for v in built:
        assert v & ~owned == 0, f"{v:#x} uses {format_ranges(v & ~owned)}"


def test_the_real_bad_page_map_pte():
    # "BUG: Bad page map in process qemu-system-x86  pte:800000018f8a9027" (xen-devel, May 2025,
    # Linux 6.8 dom0; the kernel printed pfn:0x18f8a9 next to it).  pte_mkspecial() had been
    # removed for that experiment: _PAGE_SPECIAL is clear, which is why vm_normal_page() took it.
    for spec in ("linux:6.1", "linux:6.8", "linux:6.12", "linux:6.19"):
        o = spte.owners.resolve(spec)
        r = o.read(0x800000018F8A9027, 1)
        assert r.kind == "present_leaf" and o.pte_pfn(0x800000018F8A9027) == 0x18F8A9
        assert r.software == {}
        assert "_PAGE_SPECIAL" not in r.software
        assert o.read(0x800000018F8A9227, 1).software == {"_PAGE_SPECIAL": 1}


def test_0x608_is_a_swap_entry_in_every_release():
    expect = {  # from the golden files (the release's own macros)
        "4.14": (3, 0, None), "4.19": (0, 0x3FFFFFFFFFFFC, None), "6.12": (0, 0x3FFFFFFFFFFFC, "_PAGE_SWP_EXCLUSIVE")}
    for version, (t, off, flag) in expect.items():
        r = spte.owners.resolve(f"linux:{version}").read(0x608, 1)
        assert (r.kind, r.software["swp_type"], r.software["swp_offset"]) == ("swap", t, off)
        assert (flag in r.software) if flag else not any(k.startswith("_PAGE_SWP") for k in r.software)


def test_the_real_bad_swap_file_entry_next_to_its_pte():
    # syzbot "BUG: Bad page map (3)", linux-mm, 10 Sep 2018, Linux 4.19.0-rc2+: a kcov mapping
    # overwritten with kernel data.  The kernel printed, in this order:
    #   BUG: Bad page map in process syz-executor3  pte:ffffffff8901f947 pmd:18d73f067
    #   swap_info_get: Bad swap file entry 3ffffffffffff
    #   BUG: Bad page map in process syz-executor3  pte:00000008 pmd:18d73f067
    #   BUG: Bad page map in process syz-executor3  pte:ffff8801ce138140 pmd:18d73f067
    o = spte.owners.resolve("linux:4.19")
    assert o.read(0xFFFFFFFF8901F947, 1).kind == "present_leaf"  # vm_normal_page(): no such pfn
    r = o.read(0x8, 1)
    assert r.kind == "swap" and o.decode_swap(0x8).val == 0x3FFFFFFFFFFFF
    assert any("'Bad swap file entry 3ffffffffffff'" in n for n in r.notes)
    assert r.plausible is False and r.reasons == ("bit 3 is set but no swap entry of Linux 4.19 uses it",)
    r = o.read(0xFFFF8801CE138140, 1)  # bit 8 without P: PROT_NONE, so vm_normal_page() again
    assert r.kind == "prot_none" and o.pte_pfn(0xFFFF8801CE138140) == 0x77FE31EC7


def test_bad_swap_file_entry_3ffffffffffff():
    # mm/swapfile.c prints swp_entry_t.val: after L1TF a PTE whose bits 58:9 are clear
    # decodes to type 0 offset 0x3ffffffffffff (the offset is stored inverted).
    o = spte.owners.resolve("linux:6.12")
    r = o.read(0x2, 1)
    assert (r.software["swp_type"], r.software["swp_offset"]) == (0, 0x3FFFFFFFFFFFF)
    assert any("Bad swap file entry 3ffffffffffff" in n for n in r.notes)


def test_special_types_are_read_by_name():
    o = spte.owners.resolve("linux:6.12")
    types = o.release.swap_types
    for name, kind in (("SWP_MIGRATION_WRITE", "migration"), ("SWP_DEVICE_WRITE", "device_private"),
                       ("SWP_DEVICE_EXCLUSIVE_READ", "device_exclusive"), ("SWP_HWPOISON", "hwpoison"),
                       ("SWP_PTE_MARKER", "pte_marker")):
        t = types[name]
        # __swp_entry(type, offset): type in 63:59, ~offset << 9 (checked against the kernel above)
        v = (t << 59) | ((~0x1234 << 9) & ((1 << 59) - 1) & ~0x1FF)
        r = o.read(v, 1)
        assert r.kind == kind and name in r.summary and r.software["swp_offset"] == 0x1234
    marker = o.read((types["SWP_PTE_MARKER"] << 59) | ((~0x1 << 9) & ((1 << 59) - 1) & ~0x1FF), 1)
    assert marker.software.get("PTE_MARKER_UFFD_WP") == 1 and marker.plausible
    bogus = o.read((types["SWP_PTE_MARKER"] << 59) | ((~0x10 << 9) & ((1 << 59) - 1) & ~0x1FF), 1)
    assert bogus.plausible is False


def test_prot_none_pfn_is_uninverted():
    _, records = load("6.12", "x86-64")
    built = [r for r in records if "pfn_pte" in r and h(r["pfn_pte"][1]) & 1 == 0]
    assert built
    o = spte.owners.resolve("linux:6.12")
    for rec in built:
        r = o.read(h(rec["pte"]), 1)
        assert r.kind == "prot_none" and f"pfn {h(rec['pfn_pte'][0]):#x}" in r.summary


def test_shadow_stack_pte():
    o = spte.owners.resolve("linux:6.12")
    assert o.read(0x8000000123456065, 1).kind == "shadow_stack"  # P A D, W=0
    assert spte.owners.resolve("linux:6.1").read(0x8000000123456065, 1).kind == "present_leaf"


def test_owner_protocol_and_names():
    for spec in ("linux:6.12", "linux:4.19:pae", "linux:6.19:x86-32", "linux:6.12:swap"):
        o = spte.owners.resolve(spec)
        assert isinstance(o, Owner)
        for s in spte.metadata.STATES:
            for b in bit_list(o.owned_bits(s)):
                assert o.owner_of(b, s)
    o = spte.owners.resolve("linux:6.12")
    names = names_by_bit(o, "present_leaf")
    assert names[9] == "_PAGE_SPECIAL" and names[10] == "_PAGE_UFFD_WP" and names[11] == "_PAGE_SOFT_DIRTY"
    assert names[57] == "_PAGE_DEVMAP" and names[58] == "_PAGE_SAVED_DIRTY" and names[59] == "_PAGE_PKEY_BIT0"
    assert 57 not in names_by_bit(spte.owners.resolve("linux:6.19"), "present_leaf")
    assert names_by_bit(spte.owners.resolve("linux:5.4"), "present_leaf")[58] == "_PAGE_DEVMAP"


def kernel_named_bits(version: str, fmt: str = "x86-64") -> int:
    header, _ = load(version, fmt)
    return union(h(v) for n, v in header["constants"].items() if n != "PTE_PFN_MASK")


@pytest.mark.parametrize(("version", "bit", "free"), [
    # Before 5.7 SOFTW2 (bit 10) was free: it is the bit _PAGE_UFFD_WP took in 5.7.
    ("4.14", 10, [10, *range(52, 58)]), ("4.14.63", 10, [10, *range(52, 58)]), ("4.17", 10, [10, *range(52, 58)]),
    ("4.19", 10, [10, *range(52, 58)]),
    ("5.4", 10, [10, *range(52, 58)]), ("5.7", 52, range(52, 58)), ("5.14", 52, range(52, 58)),
    ("5.19", 52, range(52, 58)), ("6.1", 52, range(52, 58)), ("6.2", 52, range(52, 58)), ("6.3", 52, range(52, 58)),
    # 6.6 moved _PAGE_DEVMAP to 57 (SOFTW4) and gave 58 to _PAGE_SAVED_DIRTY; 6.19 has no _PAGE_DEVMAP.
    ("6.12", 52, range(52, 57)), ("6.13", 52, range(52, 57)), ("6.19", 52, range(52, 58))])
def test_one_more_present_pte_bit(version, bit, free):
    o = spte.owners.resolve(f"linux:{version}")
    layout = allocate("x86-64", {"new_sw": 1}, states=["present_leaf"], owner=o)
    assert layout.tag("new_sw").bits == (bit,)
    avail = free_bits("x86-64", 1, "present_leaf") & ~o.owned_bits("present_leaf")
    assert bit_list(avail) == list(free)
    # Checked against the headers: no _PAGE_* constant of the release and no PFN bit uses them
    # (6.19 still defines _PAGE_SOFTW4 = bit 57 but gives it no meaning).
    header, _ = load(version, "x86-64")
    pfn = h(header["constants"]["PTE_PFN_MASK"])
    named = kernel_named_bits(version) & ~(h(header["constants"].get("_PAGE_SOFTW4", "0")) if version == "6.19" else 0)
    assert avail & (named | pfn) == 0


@pytest.mark.parametrize(("version", "fmt", "bit"), [
    # x86-64: SD is bit 1 from the start, UFFD_WP takes 2 in 5.7, EXCLUSIVE takes 3 in 5.19.
    ("4.14", "x86-64", 2), ("4.14.63", "x86-64", 2), ("4.17", "x86-64", 2), ("4.19", "x86-64", 2),
    ("5.7", "x86-64", 3),
    ("5.14", "x86-64", 3), ("5.19", "x86-64", 4), ("6.1", "x86-64", 4), ("6.12", "x86-64", 4),
    ("6.19", "x86-64", 4), ("6.12", "pae", 1), ("6.12", "x86-32", 6), ("4.19", "x86-32", 6),
    # 32-bit: _PAGE_SWP_EXCLUSIVE takes bit 7 (_PAGE_PSE) in 6.3, which a new bit avoided anyway.
    ("6.2", "x86-32", 6), ("6.3", "x86-32", 6), ("6.2", "pae", 1), ("6.3", "pae", 1)])
def test_one_more_swap_entry_bit(version, fmt, bit):
    swap = spte.owners.resolve(f"linux:{version}:{fmt}:swap")
    layout = allocate(fmt, {"new_swp": 1}, states=["not_present"], owner=swap)
    assert layout.tag("new_swp").bits == (bit,)
    assert "every tagged not-present entry is still not present to hardware" in layout.proof.facts
    # Checked against the kernel: no _PAGE_SWP_* flag, no erratum bit, and every swap entry
    # the kernel built (__swp_entry_to_pte) leaves it clear; where the golden random values
    # set it, the kernel's decode equals the decode of the value without it.
    header, records = load(version, fmt)
    k = {n: h(v) for n, v in header["constants"].items()}
    assert not (k["_PAGE_SWP_SOFT_DIRTY"] | k.get("_PAGE_SWP_UFFD_WP", 0) | k.get("_PAGE_SWP_EXCLUSIVE", 0)
                | k["_PAGE_KNL_ERRATUM_MASK"] | k["_PAGE_PROTNONE"] | k["_PAGE_PRESENT"]) >> bit & 1
    assert all(not h(r["pte"]) >> bit & 1 for r in records if "encode" in r)
    o = spte.owners.resolve(f"linux:{version}:{fmt}")
    with_bit = [r for r in records if "swp_type" in r and h(r["pte"]) >> bit & 1]
    assert with_bit
    for r in with_bit:
        e = o.decode_swap(h(r["pte"]) & ~(1 << bit))
        assert (e.type, e.offset) == (r["swp_type"], h(r["swp_offset"]))


def test_a_whole_not_present_pte_has_no_room():
    # Swap entries and PROT_NONE entries together use every bit of a not-present x86-64 PTE.
    with pytest.raises(TagCollision, match="no room for tag 'x'"):
        allocate("x86-64", {"x": 1}, states=["not_present"], owner=spte.owners.resolve("linux:6.12"))


def test_a_collision_names_the_kernel_bit():
    with pytest.raises(TagCollision, match="_PAGE_SWP_EXCLUSIVE"):
        allocate("x86-64", {"x": {"width": 1, "bits": [3]}}, states=["not_present"],
                 owner=spte.owners.resolve("linux:6.12:swap"))
    with pytest.raises(TagCollision, match="_PAGE_SPECIAL"):
        allocate("x86-64", {"x": {"width": 1, "bits": [9]}}, states=["present_leaf"],
                 owner=spte.owners.resolve("linux:6.12"))


@pytest.mark.parametrize("bad", ["linux", "linux:9.9", "linux:6.12:amd", "linux:4.14:pae", "xen:5.1", "bsd:1"])
def test_resolve_errors_are_one_line_and_name_the_spec(bad):
    with pytest.raises(ValueError) as e:
        spte.owners.resolve(bad)
    msg = str(e.value)
    assert "\n" not in msg and repr(bad) in msg and "linux:<4.14|4.17-6.14|6.17-7.1" in msg


def test_read_refuses_values_and_levels_that_do_not_fit():
    with pytest.raises(ValueError, match="does not fit"):
        spte.owners.resolve("linux:6.12:x86-32").read(1 << 32, 1)
    with pytest.raises(ValueError, match="has no level 3"):
        spte.owners.resolve("linux:6.12:x86-32").read(0x1, 3)
    with pytest.raises(ValueError, match="has no level 0"):
        spte.owners.resolve("xen:4.19").read(0x1, 0)


def test_huge_page_pfn():
    o = spte.owners.resolve("linux:6.12")
    assert o.pte_pfn(0x80000001234010E7, 2) == 0x123400  # bit 12 is PAT in a 2 MiB PDE
    assert o.pte_pfn(0x80000000C00010E7, 3) == 0xC0000
    assert spte.owners.resolve("linux:6.12:x86-32").pte_pfn(0x12C010E7, 2) == 0x12C00


def test_one_more_prot_none_bit():
    # PAGE_NONE is _PAGE_PROTNONE | _PAGE_ACCESSED and pte_modify() keeps only _PAGE_CHG_MASK
    # (PFN, PWT, PCD, PAT, A, D and the software bits): RW, USER and NX stay clear.
    owner = spte.owners.resolve("linux:6.12:prot_none")
    layout = allocate("x86-64", {"mine": 1}, states=["not_present"], owner=owner)
    assert layout.tag("mine").bits == (1,)
    free = free_bits("x86-64", 1, "not_present") & ~owner.owned_bits("not_present")
    assert bit_list(free) == [1, 2, 52, 53, 54, 55, 56, 63]


@pytest.mark.parametrize(("version", "fmt", "bits"), [
    ("6.12", "pae", [11]), ("6.12", "x86-32", [11]), ("4.19", "pae", [10, 11]), ("6.19", "pae", [])])
def test_present_pte_room_on_32_bit_kernels(version, fmt, bits):
    # PAE reserves 62:52, so only SOFTW1-3 are left; soft-dirty and uffd-wp are 64-bit only,
    # _PAGE_SAVED_DIRTY takes SOFTW2 from 6.6 and _PAGE_KERNEL_4K takes SOFTW3 in 6.19.
    o = spte.owners.resolve(f"linux:{version}:{fmt}")
    free = free_bits(fmt, 1, "present_leaf") & ~o.owned_bits("present_leaf")
    assert bit_list(free) == bits
    assert free & kernel_named_bits(version, fmt) == 0


def test_describe_owner_names_sources_and_assumptions():
    text = spte.owners.resolve("linux:4.14").describe_owner()
    assert "v4.14.177" in text and "bcd11afa7ada" in text and "use linux:4.14.63" in text
    assert "USERFAULTFD_WP" not in text and "SWP_DEVICE_READ=31" in text
    assert "HAVE_ARCH_USERFAULTFD_WP" in spte.owners.resolve("linux:6.12").describe_owner()
    assert "layout of Xen 4.16-4.19" in spte.owners.resolve("xen:4.17").describe_owner()


# -- every release, not only the rows ------------------------------------------------------
# tests/data/linux/trees.json: for every kernel tree read, the SHA-256 of what the harness
# printed from that tree's headers.  A release maps to the right row exactly when that
# output is byte-identical to the row's golden file.

TREES = json.loads(golden_text("linux/trees.json"))


def row_digest(row: str, fmt: str) -> str:
    return hashlib.sha256(golden_text(f"linux/{row}-{fmt}.jsonl.gz").encode()).hexdigest()


def upstream(tree_release: str) -> str:
    """'5.10.44' -> '5.10', '6.1-rc7' -> '6.1' (the key of RELEASE_MAP)."""
    return ".".join(tree_release.split("-")[0].split(".")[:2])


@pytest.mark.parametrize(("tree", "fmt"), [(t, f) for t in TREES for f in ("x86-64", "pae", "x86-32") if f in t],
                         ids=[f"{t['release']}-{f}" for t in TREES for f in ("x86-64", "pae", "x86-32") if f in t])
def test_every_tree_read_gives_the_golden_output_of_the_row_its_release_maps_to(tree, fmt):
    r = resolve_release(tree["release"])
    assert set(r.row.formats) <= set(tree)  # every format the row carries was computed from this tree
    assert tree[fmt] == row_digest(r.row.version, fmt), f"{tree['release']} ({tree['tree']}) is not row {r.row.version}"
    assert tree["tree"].split(" @ ")[1] in r.row.source  # the row names the tree


def test_every_row_and_every_release_called_read_is_backed_by_a_tree():
    rows_read = {resolve_release(t["release"]).row.version for t in TREES}
    assert rows_read | {"4.14"} == set(RELEASES)  # 4.14.0: the swap macros of mainline v4.14-v4.18
    read = {upstream(t["release"]) for t in TREES}
    for release, (row, how) in RELEASE_MAP.items():
        assert row in RELEASES
        if how == "read":
            assert release in read, release
        else:
            assert release not in read, f"{release} was read: say so"


@pytest.mark.parametrize(("version", "release", "row", "caution"), [
    ("6.8", "6.8", "6.12", None),
    ("6.8.0-45-generic", "6.8", "6.12", "Ubuntu kernel"),
    ("6.1.0-57-amd64", "6.1", "6.1", "Debian kernel"),
    ("5.14.0-427.13.1.el9_4.x86_64", "5.14", "5.14", "RHEL/CentOS kernel"),
    ("5.15.0-105-generic", "5.15", "5.14", "Ubuntu kernel"),
    ("5.10", "5.10", "5.7", None), ("6.6", "6.6", "6.12", None), ("6.12.5", "6.12", "6.12", None),
    ("v6.19-rc3", "6.19", "6.19", "release candidate"), ("latest", "7.1", "6.19", None),
    ("7.0", "7.0", "6.19", None), ("5.1", "5.1", "5.4", None), ("4.20", "4.20", "5.4", None),
    ("4.14", "4.14", "4.14", "4.14 means 4.14.0"), ("4.14.62", "4.14.62", "4.14", None),
    ("4.14.63", "4.14.63", "4.14.63", None), ("4.14.355-271.569.amzn2.x86_64", "4.14.355", "4.14.63", "kernel"),
    ("4.17", "4.17", "4.17", "4.17 means 4.17.0"), ("4.17.14", "4.17.14", "4.17", None),
    ("4.18.0", "4.18.0", "4.17", None), ("4.18.5", "4.18.5", "4.19", "no 4.18.1+ tree was read"),
    ("4.17.19", "4.17.19", "4.19", "no 4.17.15+ tree was read"),
    ("4.18.0-147.el8.x86_64", "4.18", "4.19", "L1TF swap layout"), ("4.14.0-49-generic", "4.14", "4.14.63", "L1TF"),
    ("5.12", "5.12", "5.7", None), ("6.18.2", "6.18", "6.19", None), ("6.17", "6.17", "6.19", None),
    ("5.13", "5.13", "5.7", "no 5.13 tree was read"), ("5.18", "5.18", "5.14", "no 5.18 tree was read"),
    ("6.5", "6.5", "6.3", "no 6.5 tree was read"),
])
def test_any_version_string_resolves(version, release, row, caution):
    o = spte.owners.resolve(f"linux:{version}")
    assert (o.version, o.release.version, o.name) == (release, row, f"linux-{release}")
    if caution:
        assert any(caution in c for c in o.cautions) and all("\n" not in c for c in o.cautions)
        assert f"caution: {o.cautions[0]}" in o.describe_owner()
    else:
        assert o.cautions == ()
    assert f"layout: row {row}" in o.describe_owner()


@pytest.mark.parametrize(("version", "names"), [
    ("6.16", ("6.14", "6.17", "SWP_DEVICE_EXCLUSIVE", "_PAGE_DEVMAP")), ("6.15.3", ("6.14", "6.17")),
    ("4.16", ("4.14", "4.17", "PTE_PFN_MASK")), ("4.15.18", ("4.14", "4.17")), ("3.10", ("older than 4.14",)),
    ("8.1", ("newer than 7.1",)), ("6.25", ("there was no Linux 6.25",)), ("six", ("expected a release",)),
])
def test_releases_without_a_row_are_refused_naming_the_nearest(version, names):
    with pytest.raises(ValueError) as e:
        spte.owners.resolve(f"linux:{version}")
    assert "\n" not in str(e.value) and all(n in str(e.value) for n in names)


def test_4_14_point_releases_differ_where_the_kernel_does():
    # 0x608 in the golden files: type 3 offset 0 in 4.14.0 (type in 13:9); from 4.14.63 type 0
    # and the inverted offset, cut to SWP_TYPE_SHIFT (57, radix tree) bits.
    header, records = load("4.14.63", "x86-64")
    rec = next(r for r in records if r.get("pte") == "0x608")
    old = spte.owners.resolve("linux:4.14.62").read(0x608, 1)
    new = spte.owners.resolve("linux:4.14.63").read(0x608, 1)
    _, old_records = load("4.14", "x86-64")
    old_rec = next(r for r in old_records if r.get("pte") == "0x608")
    assert (old.software["swp_type"], old.software["swp_offset"]) == (old_rec["swp_type"], h(old_rec["swp_offset"]))
    assert (new.software["swp_type"], new.software["swp_offset"]) == (rec["swp_type"], h(rec["swp_offset"]))
    assert old_rec["swp_type"] != rec["swp_type"]
    # ... and unlike 4.19 it keeps 4.14's 46-bit PTE_PFN_MASK.
    assert spte.owners.resolve("linux:4.14.63").pte_pfn_mask == h(header["constants"]["PTE_PFN_MASK"])
    assert h(header["constants"]["PTE_PFN_MASK"]) != h(load("4.19", "x86-64")[0]["constants"]["PTE_PFN_MASK"])


def test_4_17_has_the_old_swap_layout_with_the_wide_pfn_mask():
    # 4.17.0 and 4.18.0: swap entries as 4.14 (same harness records), PTE_PFN_MASK as 4.19.
    h17, r17 = load("4.17", "x86-64")
    h14, r14 = load("4.14", "x86-64")
    swaps = lambda recs: [r for r in recs if "swp_type" in r]  # noqa: E731
    assert swaps(r17) == swaps(r14) and len(swaps(r17)) > 100
    assert h17["constants"]["PTE_PFN_MASK"] == load("4.19", "x86-64")[0]["constants"]["PTE_PFN_MASK"]
    assert h17["constants"]["PTE_PFN_MASK"] != h14["constants"]["PTE_PFN_MASK"]
    prot_none = 0x8000_F000_0000_0125  # physical bits 47:44 set: 4.14's pte_pfn() drops bits 47:46
    assert spte.owners.resolve("linux:4.17").pte_pfn(prot_none) == 0xF_0000_0000
    assert spte.owners.resolve("linux:4.14").pte_pfn(prot_none) == 0x3_0000_0000


@pytest.mark.parametrize(("version", "markers"), [
    # PTE_MARKER_* of include/linux/swapops.h, bit 0 first: 5.19 uffd-wp; 6.2 swapin error (was
    # the SWP_SWAPIN_ERROR type), renamed POISONED in 6.6.87; 6.13 guard.
    ("4.19", ()), ("5.14", ()), ("5.19", ("PTE_MARKER_UFFD_WP",)), ("6.1", ("PTE_MARKER_UFFD_WP",)),
    ("6.2", ("PTE_MARKER_UFFD_WP", "PTE_MARKER_SWAPIN_ERROR")),
    ("6.3", ("PTE_MARKER_UFFD_WP", "PTE_MARKER_SWAPIN_ERROR")),
    ("6.12", ("PTE_MARKER_UFFD_WP", "PTE_MARKER_POISONED")),
    ("6.13", ("PTE_MARKER_UFFD_WP", "PTE_MARKER_POISONED", "PTE_MARKER_GUARD")),
    ("6.19", ("PTE_MARKER_UFFD_WP", "PTE_MARKER_POISONED", "PTE_MARKER_GUARD"))])
def test_pte_markers_of_each_row(version, markers):
    o = spte.owners.resolve(f"linux:{version}")
    assert o.release.pte_markers == markers
    if not markers:
        return
    t = o.release.swap_types["SWP_PTE_MARKER"]
    top = 1 << (len(markers) - 1)
    r = o.read((t << 59) | ((~top << 9) & ((1 << 59) - 1) & ~0x1FF), 1)  # __swp_entry(SWP_PTE_MARKER, top)
    assert r.kind == "pte_marker" and r.software.get(markers[-1]) == 1 and r.plausible
    assert o.read((t << 59) | ((~(top << 1) << 9) & ((1 << 59) - 1) & ~0x1FF), 1).plausible is False


def test_releases_of_each_row():
    assert releases_of("6.12") == ["6.6", "6.7", "6.8", "6.9", "6.10", "6.11", "6.12"]
    assert releases_of("4.14") == ["4.14.0-4.14.62"] and releases_of("4.14.63") == ["4.14.63+"]
    assert releases_of("4.17") == ["4.17.0-4.17.14", "4.18.0"] and releases_of("4.19")[-2:] == ["4.17.15+", "4.18.1+"]
    covered = {".".join(r.split("-")[0].rstrip("+").split(".")[:2]) for row in RELEASES for r in releases_of(row)}
    assert sorted(covered, key=lambda v: tuple(map(int, v.split(".")))) == [
        "4.14", "4.17", "4.18", "4.19", "4.20", *(f"5.{n}" for n in range(20)), *(f"6.{n}" for n in range(15)),
        "6.17", "6.18", "6.19", "7.0", "7.1"]
