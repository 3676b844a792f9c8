"""Printouts read across lines: handle_changed_spte()'s verdict and its values, the page-table
check's value-less BUG, and the 32-bit Xen page walk.

Golden files and their sources: tests/data/logs/README.md.  Expected kinds and pfns come from
the SDM's EPT layout (bits 0-2 RWX, 7 PS, 12-51 address) and KVM's own predicates
(arch/x86/kvm/mmu/spte.h); expected levels and formats from the printers' code.
"""

from __future__ import annotations

import subprocess
import sys

from spte.kvm import profile
from spte.logs import Context, LogReader, Record, Renderer, read_text
from tests.conftest import golden, golden_text

HEADER = "Invalid SPTE change: cannot replace a present leaf\nSPTE with another present leaf SPTE mapping a\n" \
         "different PFN!\n"
UNEXPECTED = ("Unexpected SPTE change! Nonpresent SPTEs\nshould not be replaced with another,\n"
              "different nonpresent SPTE, unless one or both\nare MMIO SPTEs, or the new SPTE is\n"
              "a temporary removed SPTE.\n")


def kvm_context(release: str = "6.1", flavour: str = "ept-ad") -> Context:
    prof = profile(release, flavour)
    return Context(platform=prof.platform, kvm=prof)


def claim_note(rec: Record) -> str:
    (note,) = [n for n in rec.notes if n.startswith("line ")]
    return note


def test_invalid_spte_change_real_capture_is_checked() -> None:
    """LKML 2022-12-13 (Linux 6.1.0-rc4, kvm_intel, TDP MMU): the verdict on line 2 holds for the values on line 5:
    two 2 MiB leaves (bit 7) with RWX != 0 and SPTE_MMU_PRESENT_MASK (bit 11), pfn 0x112400 -> 0x112600."""
    recs = read_text(golden_text("logs/tdp_mmu_invalid_spte_change_6.1.txt"), kvm_context())
    old, new = [r for r in recs if r.event == "handle_changed_spte"]
    assert (old.line, old.level, old.role, new.role) == (5, 2, "old", "new")
    note = claim_note(new)
    assert note.startswith("line 2: the kernel found a present leaf replaced by another mapping a different pfn "
                           "(0x112400 -> 0x112600): holds")
    assert not [n for n in old.notes if n.startswith("line ")]


def test_invalid_spte_change_on_an_snp_host() -> None:
    """AMDESE/AMDSEV issue #235 (Linux 6.9.0-rc7 SNP host, NPT): ``kvm: `` prefix, indented continuation lines;
    two 4 KiB leaves (P, bit 11 SPTE_MMU_PRESENT_MASK) with pfns 0x68b805 and 0x1a9069."""
    prof = profile("6.9", "npt")
    ctx = Context(host_format="npt", platform=prof.platform, kvm=prof)
    old, new = read_text(golden_text("logs/tdp_mmu_invalid_spte_change_6.9.txt"), ctx)
    assert (old.line, old.level, old.format) == (4, 1, "npt")
    assert claim_note(new) == ("line 1: the kernel found a present leaf replaced by another mapping a different pfn "
                               "(0x68b805 -> 0x1a9069): holds (old present_leaf, new present_leaf)")


def test_invalid_spte_change_without_an_owner_uses_the_hardware_view() -> None:
    recs = read_text(HEADER + "as_id: 0 gfn: 100200 old_spte: 600000112400bf3 new_spte: 6000001126009f3 level: 2\n")
    assert "holds (old present_leaf, new present_leaf)" in claim_note(recs[1])


def test_a_verdict_the_values_contradict_says_so() -> None:
    """The same verdict over a non-leaf (PS clear at level 2) and an empty SPTE: the host format must be wrong."""
    recs = read_text(HEADER + "as_id: 0 gfn: 100200 old_spte: 8000000112400907 new_spte: 0 level: 2\n",
                     kvm_context())
    assert "does not hold as decoded" in claim_note(recs[1])
    assert "old present_nonleaf, new not_present" in claim_note(recs[1])


def test_unexpected_nonpresent_change() -> None:
    """5.13-6.9 text: a non-present SPTE (bit 11 clear, RWX = 0) replaced by another, neither MMIO nor 0x5a0."""
    text = UNEXPECTED + "as_id: 0 gfn: 1234 old_spte: 0 new_spte: 600 level: 1\n"
    recs = read_text(text, kvm_context("6.6"))
    assert "non-present SPTE replaced by a different non-present one" in claim_note(recs[1])
    assert claim_note(recs[1]).startswith("line 1:") and ": holds" in claim_note(recs[1])
    frozen = read_text(UNEXPECTED + "as_id: 0 gfn: 1234 old_spte: 0 new_spte: 5a0 level: 1\n", kvm_context("6.6"))
    assert "does not hold" in claim_note(frozen[1])  # REMOVED_SPTE is the one change the kernel allows


def test_a_verdict_expires() -> None:
    """A transition far below a verdict is not its subject: no note (test_logs_fast holds the fast path to this)."""
    text = HEADER + "unrelated\n" * 12 + "as_id: 0 gfn: 1 old_spte: 0 new_spte: 0 level: 1\n"
    recs = read_text(text)
    assert [r.line for r in recs] == [16, 16] and not recs[1].notes


def test_the_verdict_is_shown_on_the_transition_line() -> None:
    ctx = kvm_context()
    reader, render = LogReader(ctx), Renderer(ctx)
    results = reader.scan(golden("logs/tdp_mmu_invalid_spte_change_6.1.txt").read_bytes())
    (result,) = [r for r in results if r.records]
    text = render.line_note(result)
    assert text.startswith("old [present_leaf] pfn=0x112400 EptPde2M ")
    assert "line 2: the kernel found a present leaf" in text and "bits changed 21,9" in text


def test_page_table_check_bug_is_annotated_without_a_value() -> None:
    """LKML 2022-01-20 syzbot splat (Linux 5.16): the BUG line gets a note, no record (no value is printed)."""
    path = golden("logs/linux_page_table_check.txt")
    out = subprocess.run([sys.executable, "-m", "spte", "trace", str(path)], capture_output=True, text=True,
                         timeout=60)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    original = path.read_text().splitlines()
    assert lines[1].startswith(original[1] + "  ## page_table_check: ")
    assert "__page_table_check_zero (freeing a page that is still mapped)" in lines[1]
    for i in (5, 6):  # syzbot 6.11: the WARNs of page_table_check_pte_flags()
        assert lines[i].startswith(original[i] + "  ## page_table_check: a WARN in the page-table check")
    assert [ln for i, ln in enumerate(lines) if i not in (1, 5, 6)] == \
        [ln for i, ln in enumerate(original) if i not in (1, 5, 6)]
    js = subprocess.run([sys.executable, "-m", "spte", "trace", "--json", str(path)], capture_output=True,
                        text=True, timeout=60)
    assert js.returncode == 0 and js.stdout == ""


def test_xen_32_bit_walks() -> None:
    """Xen 3.x x86_32 show_page_walk(): an 8-digit address means the 32-bit hypervisor; with PAE the walk starts
    at the PDPT (L3, 64-bit entries), without it at a 32-bit PDE (PSE only, 10-bit indexes)."""
    recs = read_text(golden_text("logs/xen32_walks.txt"))
    assert [(r.format, r.level) for r in recs[:3]] == [("pae", 3), ("pae", 2), ("pae", 1)]
    assert [(r.format, r.level) for r in recs[3:5]] == [("x86-32", 2), ("x86-32", 1)]
    assert not any(r.notes for r in recs[:5])  # printed indexes are those of the printed address
    ctx = Context()
    assert type(ctx.entry(recs[0].value, "pae", 3, "xen")).__name__ == "PaePdpte"
    assert type(ctx.entry(recs[6].value, "pae", 2, "xen")).__name__ == "PaePde2M"
    assert [r.entry for r in recs[5:]] == [True, True, False]  # the L1 after a PSE leaf is not an entry
    wrong = read_text("(XEN) Pagetable walk from c0123456:\n(XEN)  L2[0x301] = 01234067 00001234\n")
    assert wrong[0].notes == ["printed index 0x301 is not that of address 0xc0123456 at level 2 (0x300)"]


def test_xen_3_0_walks_without_indexes() -> None:
    """Xen 3.0-3.1 x86_32 show_page_walk(): `` L3 = %"PRIpte" %08lx`` one blank deeper per level; such a line is
    a step only right below its walk (``L2 = 5`` in prose is not)."""
    text = ("(XEN) Pagetable walk from c0523456:\n(XEN)  L3 = 0000000001234001 00001234\n"
            "(XEN)   L2 = 00000000012000e3 00001200 (PSE)\n(XEN) CPU0 L2 = 5 is prose\n"
            "(XEN) Pagetable walk from c0123456:\n(XEN)   L2 = 01234067 00001234 \n(XEN)    L1 = 00abc063 00000abc\n"
            "L1 = 1234 here is prose too\n")
    recs = read_text(text)
    assert [(r.line, r.format, r.level) for r in recs] == [(2, "pae", 3), (3, "pae", 2), (6, "x86-32", 2),
                                                         (7, "x86-32", 1)]
    assert type(Context().entry(recs[1].value, "pae", 2, "xen")).__name__ == "PaePde2M"
