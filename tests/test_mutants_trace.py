"""Trace scanning edges: event names only at a word start, CRLF lines, line numbers past the
reader's chunks (spte/cli/trace.py CHUNK).  The event line is a real capture
(tests/data/traces/long4k.trace.gz, Linux 6.19); its reading comes from the SDM as in
tests/test_cli.py: 0xa25 as an EPT leaf is R and X (bits 0, 2), memory type 4 = WT, D (bit 9)
and bit 11 = KVM 6.19's SPTE_MMU_PRESENT_MASK.
"""

from __future__ import annotations

from spte.cli.trace import CHUNK as TRACE_CHUNK
from tests.test_cli import run

LINE = ("          kvmcap-9624    [001] ...1.  1286.855957: kvm_mmu_set_spte: gfn 20 spte 14fab8a25 (r-xu) "
        "level 1 at 15e8b4100")
READING = "## [present_leaf] pfn=0x14fab8 EptPte R|X|D MT=WT sw:mmu_present"


def test_crlf_lines_read_as_lf_lines(tmp_path):
    f = tmp_path / "t.trace"
    f.write_bytes((LINE + "\r\n").encode() * 3)
    r = run("trace", "--kvm", "6.19", str(f))
    assert r.returncode == 0
    assert [x.rstrip("\r").endswith(READING) for x in r.stdout.split("\n")[:3]] == [True] * 3


def test_event_names_only_at_a_word_start(tmp_path):
    f = tmp_path / "t.trace"
    # Not an event: the name is inside a longer word.  The last line starts the file with an event.
    f.write_text(LINE.replace("kvm_mmu_set_spte:", "xkvm_mmu_set_spte:") + "\n"
                 + LINE.replace("kvm_mmu_set_spte:", "my_kvm_mmu_set_spte:") + "\n")
    r = run("trace", "--kvm", "6.19", str(f))
    assert r.returncode == 0 and READING not in r.stdout and r.stderr == ""
    g = tmp_path / "first.trace"
    g.write_text("kvm_mmu_set_spte: gfn 20 spte 14fab8a25 (r-xu) level 1 at 15e8b4100\n")
    assert run("trace", "--kvm", "6.19", str(g)).stdout.rstrip("\n").endswith(READING)


def test_line_numbers_across_chunks(tmp_path):
    filler = "  <idle>-0 [000] 1.0: sched_switch: prev_comm=swapper\n"
    lines = [filler] * (3 * TRACE_CHUNK // len(filler))
    bad_at = [10, len(lines) // 2, len(lines) - 5]
    for n in bad_at:
        lines[n - 1] = "  vcpu-1 [000] ...1. 1.0: kvm_mmu_set_spte: gfn zz\n"
    lines.append(LINE + "\n")
    f = tmp_path / "t.trace"
    f.write_text("".join(lines))
    r = run("trace", "--kvm", "6.19", str(f))
    assert r.returncode == 1
    assert r.stderr.splitlines() == [f"spte: {f}:{n}: kvm_mmu_set_spte: no gfn after the event name"
                                     for n in bad_at]
    assert r.stdout.rstrip("\n").endswith(READING)
    assert r.stdout.count("\n") == len(lines)  # every line written once, none lost at a chunk edge


def test_only_spte_and_json_read_the_same_pfn(tmp_path):
    """The non-hot paths (--only-spte, --json) read the value as the annotated line does."""
    import json

    f = tmp_path / "t.trace"
    f.write_text("  <idle>-0 [000] 1.0: sched_switch: prev_comm=swapper\n" + LINE + "\n")
    only = run("trace", "--kvm", "6.19", "--only-spte", str(f)).stdout.splitlines()
    assert len(only) == 1 and only[0].endswith(READING)
    row = json.loads(run("trace", "--kvm", "6.19", "--json", str(f)).stdout)
    assert row["line"] == 2 and row["fields"]["frame"] == 0x14FAB8


def test_json_of_an_event_without_a_level_reads_a_level_1_leaf(tmp_path):
    """fast_page_fault carries no level: the SPTE is read as a PTE.  0x8600000001234b77 is KVM
    6.19's EPT leaf (kvm-spte-bits.md 1c): R, W, X (bits 2:0) and memory type 6 = WB (bits 5:3)."""
    import json

    f = tmp_path / "t.trace"
    f.write_text("  vcpu-1 [000] ...1. 1.0: fast_page_fault: vcpu 0 gva 1000 error_code P|W sptep 0000000012345678 "
                 "old 0x8600000001234b75 new 8600000001234b77 spurious 0 fixed 1\n")
    r = run("trace", "--kvm", "6.19", "--json", str(f))
    old, new = (json.loads(x) for x in r.stdout.splitlines())
    assert r.returncode == 0 and (old["role"], new["role"]) == ("old", "new")
    assert (new["level"], new["decoded_level"], new["kind"]) == (None, 1, "present_leaf")
    fields = new["fields"]
    assert (fields["read"], fields["write"], fields["execute"], fields["memory_type"]) == (1, 1, 1, 6)
    assert old["fields"]["write"] == 0  # 0x...b75: bit 1 clear
