"""spte.logs against real printouts from public reports and the kernel's own format strings.

Every golden file is in tests/data/logs/ with its source in tests/data/logs/README.md.
Expected values come from the SDM (EPTP, entry bits), the kernel's headers (swp_entry_t,
REMOVED_SPTE) and the printers' own code (which levels a walk prints, where it stops).
"""

from __future__ import annotations

import re

import pytest

from spte.kvm import profile
from spte.logs import BY_NAME, PAST_LEAF, PAST_NOT_PRESENT, PRINTOUTS, Context, LogReader, Record, Renderer, read_text
from spte.logs.grammar import Shape
from spte.owners import resolve as resolve_owner
from spte.platform import Platform
from tests.conftest import DATA, golden, golden_text


def records(path: str, ctx: Context | None = None) -> list[Record]:
    return read_text(golden_text(f"logs/{path}"), ctx or Context())


def by_line(recs: list[Record]) -> dict[int, list[Record]]:
    out: dict[int, list[Record]] = {}
    for r in recs:
        out.setdefault(r.line, []).append(r)
    return out


# -- the grammar is the kernel's own format strings ----------------------------------------
FORMAT_FILES = sorted(p.name for p in (DATA / "logs" / "tracefs_formats_6.1").glob("kvmmmu.*.format"))


@pytest.mark.parametrize("name", FORMAT_FILES)
def test_tracepoint_formats_are_the_kernels(name: str) -> None:
    """Linux 6.1 tracefs format files: the declared format is the TP_printk text, verbatim."""
    text = golden(f"logs/tracefs_formats_6.1/{name}").read_text()
    event = re.search(r"^name: (\S+)", text, re.M)[1]
    fmt = re.search(r'^print fmt: "(.*?)", REC', text, re.M | re.S)[1]
    assert event in BY_NAME, f"{event} is not declared"
    p = BY_NAME[event]
    if p.fmt.startswith("sp %s"):  # KVM_MMU_PAGE_PRINTK builds its text in a statement expression
        assert "sp gen %u gfn %llx" in text
    else:
        assert p.fmt == fmt


def test_every_printout_has_a_source_and_compiles() -> None:
    for p in PRINTOUTS:
        assert p.source and (p.regex.pattern.startswith(b"[ \t]*"))
        if p.shape in (Shape.ENTRY, Shape.STEP):
            assert {"spte", "pte"} & set(p.args), p


# -- KVM ---------------------------------------------------------------------------------
def test_mmio_walk_dump_of_a_sev_host_reads_as_one_npt_walk() -> None:
    """kvm list, 2021-03-08, Tom Lendacky (Linux 5.12-rc, SEV host, NPT): four levels, one walk.  The host is an
    EPYC with SME: C-bit 47, MAXPHYADDR 48, 5 bits of reduction (x86_phys_bits 43)."""
    kvm = profile("5.12", "npt", maxphyaddr=48, me_bit=47, phys_addr_reduction=5)
    ctx = Context(host_format="npt", platform=kvm.platform, kvm=kvm)
    recs = records("kvm_mmio_walk_sev_5.12.txt", ctx)
    assert [(r.line, r.level, r.format, r.owner, r.entry) for r in recs] == [
        (2, 4, "npt", "kvm", True), (3, 3, "npt", "kvm", True), (4, 2, "npt", "kvm", True), (5, 1, "npt", "kvm", True)]
    texts = [Renderer(ctx).value_text(r) for r in recs]
    assert texts[0].startswith("[present") and "NptPml4e" in texts[0]  # 0x827: P|W|U|A
    # 0xff800ffc12817 carries the SVM MMIO mask of bits 51:43 (svm_adjust_mmio_mask from x86_phys_bits 43) but
    # 5.12-rc's is_mmio_spte did not match it: the kernel found reserved bits (51:48) -- the bug reported.
    assert "!reserved_bits" in texts[3]


def test_mmio_walk_dump_with_an_unfilled_root_slot() -> None:
    """kvm list, 2020-11-27 (Linux 5.10-rc, Ice Lake): the level-5 value 0xb80a0 is not present to EPT (bits 2:0
    are 0), so by the walk the lines below it are not entries -- the bug was that level 5 was never walked."""
    recs = records("kvm_mmio_walk_icelake_5.10.txt")
    assert [r.level for r in recs] == [5, 4, 3, 2, 1]
    assert [r.entry for r in recs] == [True, False, False, False, False]
    assert recs[1].notes[0] == PAST_NOT_PRESENT


def test_ept_misconfig_inspect_spte_walk() -> None:
    """Linux 3.10 (CentOS 7) 'EPT: Misconfiguration' dump from a public ZStack troubleshooting note."""
    recs = records("ept_misconfig_3.10.txt")
    assert [(r.level, r.format, r.entry) for r in recs] == [(4, "ept", True), (3, "ept", True), (2, "ept", True),
                                                          (1, "ept", True)]
    leaf = Context().entry(recs[3].value, "ept", 1, "kvm")
    assert leaf.memory_type_name == "WB" and leaf.read and leaf.write and leaf.execute  # 0x...d77: XWR=7, MT=6


def test_reserved_mask_warn_is_checked_against_ours() -> None:
    """make_spte()'s WARN (Linux 5.11+ spte.c) prints get_rsvd_bits(): the mask for the level.  For a 4 KiB EPT
    SPTE that is rsvd_bits(shadow_phys_bits, 51) (__reset_rsvds_bits_mask_ept); MAXPHYADDR 46 -> bits 51:46."""
    prof = profile("6.19", "ept-ad")
    ctx = Context(platform=prof.platform, kvm=prof)
    good = read_text("WARNING: ... spte = 0x8600000001234b77, level = 1, rsvd bits = 0xfc00000000000\n", ctx)[0]
    assert good.rsvd is not None and good.rsvd["agree"] and good.rsvd["named"] == ["reserved_46_51"]
    bad = read_text("spte = 0x8600000001234b77, level = 1, rsvd bits = 0xfffc000000000\n", ctx)[0]
    assert bad.rsvd is not None and not bad.rsvd["agree"]
    assert bad.rsvd["advice"] == "the kernel's MAXPHYADDR is 38: pass --maxphyaddr 38"


def test_transition_sides_have_their_own_class() -> None:
    """Issue 11 point 6: a non-leaf replaced by REMOVED_SPTE 0x5a0 (arch/x86/kvm/mmu/spte.h, 5.13-6.9) at level 3."""
    prof = profile("6.6", "ept-ad")
    ctx = Context(platform=prof.platform, kvm=prof)
    reader, render = LogReader(ctx), Renderer(ctx)
    line = b"kvm_tdp_mmu_spte_changed: as id 0 gfn 100 level 3 old_spte 8000000001234907 new_spte 5a0\n"
    (result,) = reader.scan(line)
    old, new = result.records
    assert (old.role, new.role, old.level, new.level) == ("old", "new", 3, 3)
    text = render.line_note(result)
    old_text, new_text = text.split(" -> new ")
    assert "EptPdpte " in old_text and "1G" not in old_text
    assert new_text.startswith("[frozen] L3 not present, bits 0x5a0")  # no PS, no MT=WT, no memory_type diff
    assert "memory_type" not in new_text and "page_size" not in new_text


def test_real_npt_tdp_mmu_trace_each_side_at_its_level() -> None:
    """A Linux 6.1 NPT/TDP MMU host's tracefs trace (tests/data/logs/README.md): 2 records per change."""
    prof = profile("6.1", "npt", maxphyaddr=40)
    ctx = Context(host_format="npt", platform=prof.platform, kvm=prof)
    text = golden_text("logs/npt_tdp_mmu_6.1.trace")
    recs = read_text(text, ctx)
    changes = [ln for ln in text.splitlines() if "kvm_tdp_mmu_spte_changed:" in ln]
    pairs = [r for r in recs if r.event == "kvm_tdp_mmu_spte_changed"]
    assert len(pairs) == 2 * len(changes)
    for i, ln in enumerate(changes):
        m = re.search(r"level (\d) old_spte (\w+) new_spte (\w+)", ln)
        old, new = pairs[2 * i], pairs[2 * i + 1]
        assert (old.level, new.level) == (int(m[1]), int(m[1]))
        assert (old.value, new.value) == (int(m[2], 16), int(m[3], 16))
        e = ctx.entry(new.value, "npt", new.level, "kvm")
        # bit 7 of a level-2 SPTE selects the 2 MiB class (APM Vol. 2 5.3.4)
        assert (type(e).__name__ == "NptPde2M") == (new.level == 2 and bool(new.value & 0x80))


# -- Linux ---------------------------------------------------------------------------------
def test_linux_oops_walks() -> None:
    recs = by_line(records("linux_oops.txt"))
    # "PGD 0 P4D 0": 4-level paging folds the P4D into the PGD (arch/x86/mm/fault.c dump_pagetable)
    assert [(r.label, r.level) for r in recs[1]] == [("PGD", 4), ("P4D", 4)]
    assert "folded" in recs[1][1].notes[0]
    # "PGD 17b8a8067 P4D 0": different values -> 5-level paging, PGD is a PML5E (6.16-rc4, Hyper-V VM)
    assert [(r.label, r.level, r.format) for r in recs[2]] == [("PGD", 5, "x86-64"), ("P4D", 4, "x86-64")]
    # 32-bit PAE: *pdpt present, *pde 0
    assert [(r.label, r.level, r.format, r.entry) for r in recs[3]] == [("pdpt", 3, "pae", True),
                                                                       ("pde", 2, "pae", True)]
    # *pdpt not present: the "*pde" printed after it is the real-mode IVT (f000eef3 = F000:EEF3), not an entry
    for n in (4, 5):
        assert [r.entry for r in recs[n]] == [True, False] and recs[n][1].notes[0] == PAST_NOT_PRESENT
    # Bad page map: pte at level 1, pmd at level 2; the pmd (0x...067, PS=0) points at the PTE's table
    assert [(r.label, r.level, r.entry) for r in recs[6]] == [("pte", 1, True), ("pmd", 2, True)]
    assert all(r.owner == "linux" for rs in recs.values() for r in rs)


def test_bad_swap_file_entry_is_a_swp_entry() -> None:
    """include/linux/swapops.h: type = val >> SWP_TYPE_SHIFT (58), offset = the low 58 bits."""
    recs = by_line(records("linux_oops.txt"))
    ctx = Context()
    r = recs[8][0]
    assert (r.format, r.level, r.value) == ("swp_entry_t", None, 0x3FFFFFFFFFFFF)
    d = Renderer(ctx).record_dict(recs[9][0])
    assert d["fields"] == {"offset": 0x3803AD7A32EAB547 & ((1 << 58) - 1), "type": 14}


def test_oops_walk_stops_past_a_large_leaf() -> None:
    """arch/x86/mm/fault.c stops at pmd_large(); an old i386 kernel read *pte from a 4 MiB page (PS=1)."""
    recs = read_text("*pde = 1fc001e3 *pte = 61626364\n")
    assert [(r.format, r.level, r.entry) for r in recs] == [("x86-32", 2, True), ("x86-32", 1, False)]
    assert recs[1].notes[0] == PAST_LEAF


# -- Xen ---------------------------------------------------------------------------------
def test_xen_page_walks() -> None:
    """Xen show_page_walk(): XSA-243 advisory text, a Xen 4.14 dom0 boot crash and a 2 MiB (PSE) leaf."""
    recs = [r for r in records("xen_walks.txt") if r.event == "show_page_walk"]
    assert [r.level for r in recs] == [4, 3, 2, 1, 4, 3, 2, 1, 4, 3, 2]
    assert all(r.entry and r.owner == "xen" and r.format == "x86-64" for r in recs)
    assert not any(r.notes for r in recs)  # every printed index is that of the printed address
    ctx = Context()
    assert type(ctx.entry(recs[-1].value, "x86-64", 2, "xen")).__name__ == "Pde2M"
    wrong = read_text("Pagetable walk from ffff8140a0503880:\n L4[0x103] = 000000046c218063 ffffffffffffffff\n")
    assert wrong[0].notes == ["printed index 0x103 is not that of address 0xffff8140a0503880 at level 4 (0x102)"]


def test_xen_ept_walk() -> None:
    """xen-devel 2022-11-18 osstest report (Xen 4.17-rc): levels from ept.wl = 3 down; 0x3f3 has PS (1 GiB)."""
    recs = [r for r in records("xen_walks.txt") if r.event == "ept_walk_table"]
    assert [(r.level, r.format, r.entry) for r in recs] == [(4, "ept", True), (3, "ept", True)]
    assert type(Context().entry(recs[1].value, "ept", 3, "xen")).__name__ == "EptPdpte1G"


# -- registers ---------------------------------------------------------------------------
@pytest.mark.parametrize("line, ad, root", [(1, 0, 0x114FD6000), (2, 1, 0x11FFFC000), (3, 0, 0x172A0B000)])
def test_eptp_from_dump_vmcs(line: int, ad: int, root: int) -> None:
    """SDM 25.6.11: EPTP 2:0 memory type (6 = WB), 5:3 walk length - 1, 6 A/D enable, 51:12 root."""
    rec = by_line(records("vmcs_dumps.txt"))[line][0]
    d = Renderer(Context()).record_dict(rec)
    assert (d["format"], d["level"]) == ("eptp", None)
    assert d["fields"]["memory_type"] == "WB" and d["fields"]["walk_length"] == 4
    assert d["fields"]["accessed_dirty"] == ad and d["fields"]["root"] == root and d["problems"] == []


def test_svm_nested_cr3() -> None:
    """svm.c dump_vmcb(): "%-20s%016llx" with "nested_cr3:"; the 6.1 NPT image's root is 0x8008000."""
    (rec,) = read_text("kvm_amd: nested_cr3:         0000000008008000\n")
    d = Renderer(Context()).record_dict(rec)
    assert (d["format"], d["level"], d["fields"]["root"]) == ("ncr3", None, 0x8008000)


def test_eptp_root_beyond_maxphyaddr() -> None:
    ctx = Context(platform=Platform(maxphyaddr=36))
    (rec,) = read_text("EPT pointer = 0x000000f114fd601e\n", ctx)
    assert any("MAXPHYADDR 36" in p["message"] for p in Renderer(ctx).record_dict(rec)["problems"])


def test_bad_page_map_6_17_format() -> None:
    """Linux 6.17+ mm/memory.c print_bad_page_map(): "BUG: Bad page map in process %s  %s:%08llx" and
    __print_bad_page_map_pgtable()'s "pgd:%08llx p4d:%08llx pud:%08llx pmd:%08llx" (lines built from them)."""
    text = ("BUG: Bad page map in process a.out  pte:8000000071c00227\n"
            "pgd:74b2e067 p4d:74b2e067 pud:74b2f067 pmd:74b30067\n")
    recs = read_text(text)
    assert [(r.line, r.label, r.level, r.entry) for r in recs] == [
        (1, "pte", 1, True), (2, "pgd", 4, True), (2, "p4d", 4, True), (2, "pud", 3, True), (2, "pmd", 2, True)]
    assert "folded" in recs[2].notes[0]


def test_ept_misconfig_rsvd_bits_line_checks_the_entry_above() -> None:
    """Linux 3.x/4.x vmx.c ept_misconfig_inspect_spte(): "rsvd_bits = 0x%llx" is spte & ept_rsvd_mask(): the
    reserved bits set.  Bit 51 of a PTE is above MAXPHYADDR 46 (SDM 29.3.2: bits 51:M reserved)."""
    ctx = Context(platform=Platform(maxphyaddr=46))
    reader = LogReader(ctx)
    text = (b"ept_misconfig_inspect_spte: spte 0x8000001234077 level 1\n"
            b"ept_misconfig_inspect_spte: rsvd_bits = 0x8000000000000\n")
    first, second = reader.scan(text)
    assert first.records[0].rsvd is not None and first.records[0].rsvd["agree"]
    assert second.records == [] and second.note is not None and second.note.startswith("for line 1: rsvd set bits")
    assert "agrees with ours" in Renderer(ctx).line_note(second)


@pytest.mark.parametrize("line, values, level", [
    # 5.4 mmutrace.h: "vcpu %d gva %lx ... old %#llx new %llx": %#llx prints a bare 0 for zero
    ("fast_page_fault: vcpu 1 gva 7f0000001000 error_code P|W sptep 00000000a1b2c3d4 old 0 new 8000000001234b77 "
     "spurious 0 fixed 1", (0, 0x8000000001234B77), None),
    # 6.x with shadow_user_mask == 0 (EPT): "(%s%s%s%s)" prints three letters
    ("kvm_mmu_set_spte: gfn 1234 spte 8600000001234b77 (rwx) level 1 at 1f2e3d000", (0x8600000001234B77,), 1),
    # 6.0+ kvm_mmu_split_huge_page: "gfn %llx spte %llx level %d errno %d"
    ("kvm_mmu_split_huge_page: gfn 200 spte 86000000012000f7 level 2 errno 0", (0x86000000012000F7,), 2),
    # check_mmio_spte prints no level
    ("check_mmio_spte: spte 12300000feb0022e kvm_gen 12345 spte-gen 12345 valid 1", (0x12300000FEB0022E,), None),
])
def test_tracepoint_lines_of_several_releases(line: str, values: tuple[int, ...], level: int | None) -> None:
    recs = read_text(line + "\n")
    assert tuple(r.value for r in recs) == values and {r.level for r in recs} == {level}
    d = Renderer(Context()).record_dict(recs[-1])
    assert d["level"] == level and d["decoded_level"] == (level or 1) and d["format"] == "ept"
    if level is None:
        assert "level not printed: decoded at level 1" in d["notes"]


def test_xen_ept_walk_reads_with_the_xen_owner() -> None:
    """xen-devel 2022-11-18 (Xen 4.17-rc): the leaf epte 9c000003000003f3 holds ept_entry_t's access 7
    (bits 61:58: p2m_access_rwx) and sa_p2mt 0 (p2m_ram_rw) -- Xen 4.16-4.19 vmx.h / p2m.h."""
    ctx = Context(xen=resolve_owner("xen:4.19:ept"))
    leaf = next(r for r in records("xen_walks.txt", ctx) if r.value == 0x9C000003000003F3)
    doc = Renderer(ctx).record_dict(leaf)
    assert (doc["owner"], doc["format"], doc["level"], doc["class"]) == ("xen", "ept", 3, "EptPdpte1G")
    assert doc["software"]["access"] == 7 and doc["software"].get("sa_p2mt", 0) == 0


def test_bad_page_map_names_linux_software_bits() -> None:
    """print_bad_pte() prints the PTE; bit 9 is _PAGE_SPECIAL (arch/x86/include/asm/pgtable_types.h, every
    release): the reader names it with the Linux owner."""
    ctx = Context(linux=resolve_owner("linux:6.12"))
    rec = read_text("BUG: Bad page map in process a  pte:800000018f8a9227 pmd:1234067\n", ctx)[0]
    assert Renderer(ctx).record_dict(rec)["software"] == {"_PAGE_SPECIAL": 1}
