"""The installed ``spte`` command, run as a user would (a subprocess), and its fast paths."""

from __future__ import annotations

import json
import random
import re
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from spte import decode
from tests.conftest import golden_text

SPTE = shutil.which("spte") or ""


def run(*args: str, stdin: bytes | str = b"", check_traceback: bool = True) -> subprocess.CompletedProcess[str]:
    cmd = [SPTE, *args] if SPTE else [sys.executable, "-m", "spte", *args]
    data = stdin.encode() if isinstance(stdin, str) else stdin
    r = subprocess.run(cmd, input=data, capture_output=True, timeout=120)
    out = subprocess.CompletedProcess(r.args, r.returncode, r.stdout.decode("utf-8", "replace"),
                                      r.stderr.decode("utf-8", "replace"))
    if check_traceback:
        assert "Traceback" not in out.stderr, out.stderr
    return out


def test_console_script_and_module_both_work():
    assert run("--version").stdout.startswith("spte ")
    r = subprocess.run([sys.executable, "-m", "spte", "decode", "--line", "0x7"], capture_output=True, text=True)
    assert r.returncode == 0 and "EptPte R|W|X" in r.stdout


def test_decode_readable_view_of_a_kvm_spte():
    """KVM 6.19 EPT leaf 0x8600000000000b77|pfn (kvm-spte-bits.md section 1c)."""
    r = run("decode", "0x8600000001234b77", "--kvm", "6.19:ept-ad", "--color", "never")
    assert r.returncode == 0
    assert re.search(r"5:3\s+memory_type\s+0x6", r.stdout)
    assert "present-leaf" in r.stdout and "host_writable" in r.stdout and "mmu_present" in r.stdout
    assert "\033[" not in r.stdout  # no colour when not a terminal
    forced = run("decode", "0x8600000001234b77", "--color", "always")
    assert "\033[" in forced.stdout
    assert "\033[" not in run("decode", "0x7", "--color", "auto").stdout


def test_decode_line_and_json_agree_with_the_library():
    r = run("decode", "--line", "-f", "x86-64", "-l", "2", "0x80000000002010e7", "0x2000e7")
    lines = r.stdout.splitlines()
    # Bit 12 is PAT in a 2 MiB leaf (SDM Table 4-17); bit 63 is XD.
    assert lines[0].split()[:4] == ["0x80000000002010e7", "pfn=0x200", "Pde2M", "P|W|U|A|D|PS|PAT|XD"]
    assert lines[1].split()[:4] == ["0x00000000002000e7", "pfn=0x200", "Pde2M", "P|W|U|A|D|PS"]
    j = [json.loads(x) for x in run("decode", "--json", "-f", "ept", "0x2", "0x8600000001234b77").stdout.splitlines()]
    assert j[0]["problems"][0]["kind"] == "write_without_read"
    assert j[1]["fields"] == decode(0x8600000001234B77, "ept", 1).fields()
    assert j[1]["pfn"] == "0x1234" and j[1]["present"] is True


def test_bad_tokens_are_reported_and_good_ones_still_decoded():
    r = run("decode", "--line", stdin="0x7\nzz 0x1\n0x1ffffffffffffffff\n-3\n\n0x2, 0x3\n")
    assert r.returncode == 1
    assert r.stderr.splitlines() == [
        "spte: line 2: cannot parse 'zz' as a 64-bit value",
        "spte: line 3: '0x1ffffffffffffffff' does not fit in 64 bits",
        "spte: line 4: cannot parse '-3' as a 64-bit value",
    ]
    assert [x.split()[0] for x in r.stdout.splitlines()] == ["0x0000000000000007", "0x0000000000000001",
                                                             "0x0000000000000002", "0x0000000000000003"]
    strict = run("decode", "--line", "--strict", stdin="0x7\nzz\n0x1\n")
    assert strict.returncode == 1 and "0x0000000000000001" not in strict.stdout
    assert run("decode", "--line", "--decimal", "10", "0x10").stdout.split("\n")[1].startswith("0x0000000000000010")
    assert run("decode", "--line", "-f", "x86-32", "0x100000000").stderr.strip() == \
        "spte: argument 1: '0x100000000' does not fit in 32 bits"


def test_empty_input_and_usage_errors():
    r = run("decode", stdin=b"")
    assert (r.returncode, r.stdout, r.stderr) == (0, "", "")
    for args, message in [(("decode", "-f", "arm", "1"), "unknown format 'arm'"),
                          (("decode", "-f", "pae", "-l", "4", "1"), "format pae has levels 1, 2, 3"),
                          (("decode", "--kvm", "4.19", "1"), "unknown kernel version"),
                          (("decode", "--set", "warp=on", "1"), "unknown switch"),
                          (("decode", "--maxphyaddr", "60", "1"), "maxphyaddr=60"),
                          (("frobnicate",), "invalid choice")]:
        r = run(*args)
        assert r.returncode == 2 and message in r.stderr and len(r.stderr.splitlines()) == 1, r.stderr


@settings(max_examples=15, deadline=None)
@given(junk=st.binary(max_size=2000))
def test_binary_junk_on_stdin_never_crashes(junk):
    for args in (("decode", "--line"), ("decode", "--json"), ("trace",)):
        r = run(*args, stdin=junk)
        assert r.returncode in (0, 1)
        assert all(line.startswith("spte: ") for line in r.stderr.splitlines())


def test_closed_stdout_is_quiet():
    values = "".join(f"{random.getrandbits(64):x}\n" for _ in range(50000))
    cmd = f"{SPTE or sys.executable + ' -m spte'} decode --line | head -1"
    r = subprocess.run(["bash", "-c", cmd], input=values, capture_output=True, text=True, timeout=60)
    assert len(r.stdout.splitlines()) == 1 and r.stderr == ""


TRACE = "traces/long4k.trace.gz"


@pytest.fixture
def trace_file(tmp_path: Path) -> Path:
    """The real long4k trace as a plain file, as a user passes it."""
    path = tmp_path / "long4k.trace"
    path.write_text(golden_text(TRACE))
    return path


def test_trace_annotates_and_passes_everything_else_through(trace_file):
    path = trace_file
    original = path.read_text().splitlines()
    r = run("trace", "--kvm", "6.19:shadow", "--maxphyaddr", "48", str(path))
    assert r.returncode == 0
    out = r.stdout.splitlines()
    assert len(out) == len(original)
    for before, after in zip(original, out, strict=True):
        assert after.startswith(before)  # untouched, at most annotated at the end
        if "kvm_mmu_set_spte:" in before:
            spte = int(re.search(r"spte (\w+)", before)[1], 16)
            assert f"pfn={(spte & 0xFFFFFFFFFF000) >> 12:#x} Pte" in after and "[present-leaf]" in after
        elif "kvm_mmu_spte_requested:" not in before:
            assert after == before


def test_trace_summary_json_and_only_spte(trace_file):
    path = str(trace_file)
    text = trace_file.read_text()
    summary = json.loads(run("trace", "--kvm", "6.19:shadow", "--summary", "--json", path).stdout)
    assert summary["event"] == {"kvm_mmu_set_spte": text.count("kvm_mmu_set_spte:"),
                                "kvm_mmu_spte_requested": text.count("kvm_mmu_spte_requested:")}
    assert summary["kind"] == {"present-leaf": text.count("kvm_mmu_set_spte:")}
    rows = [json.loads(x) for x in run("trace", "--kvm", "6.19:shadow", "--json", path).stdout.splitlines()]
    first = next(x for x in rows if x["event"] == "kvm_mmu_set_spte")
    assert first["spte"]["kind"] == "present-leaf" and first["spte"]["software"]["host_writable"] == 1
    only = run("trace", "--kvm", "6.19:shadow", "--only-spte", path).stdout.splitlines()
    assert len(only) == text.count("kvm_mmu_set_spte:") + text.count("kvm_mmu_spte_requested:")


def test_trace_transitions_and_errors(tmp_path):
    lines = [
        "  vcpu-1 [000] ...1. 1.0: kvm_tdp_mmu_spte_changed: as id 0 gfn 100 level 1 old_spte 8000000000000000 "
        "new_spte 8600000001234b77",
        "  vcpu-1 [000] ...1. 1.0: fast_page_fault: vcpu 0 gva 1000 error_code P|W sptep 0000000012345678 "
        "old 0x8600000001234b75 new 8600000001234b77 spurious 0 fixed 1",
        "  vcpu-1 [000] ...1. 1.0: kvm_mmu_set_spte: gfn zz",
        "  vcpu-1 [000] ...1. 1.0: check_mmio_spte: spte 12300000feb0022e kvm_gen 12345 spte-gen 12345 valid 1",
    ]
    # trace-cmd report pads the event name: "kvm_mmu_set_spte:     gfn ..."
    lines.append("  qemu-kvm-1234  [001]  1234.567890: kvm_mmu_set_spte:     gfn 20 spte 14fab8a25 (r-xu) "
                 "level 1 at 15e8b4100")
    f = tmp_path / "t.trace"
    f.write_text("\n".join(lines) + "\n")
    r = run("trace", str(f), str(tmp_path / "missing.trace"))
    assert r.returncode == 1
    assert r.stderr.splitlines() == [
        f"spte: {f}: line 3: malformed SPTE event: arguments do not match the format",
        f"spte: {tmp_path / 'missing.trace'}: cannot read (No such file or directory)"]
    out = r.stdout.splitlines()
    assert "[not-present]" in out[0] and "[present-leaf]" in out[0] and "+write" in out[0]
    assert out[1].endswith("+write (level not traced: decoded as level 1)")
    assert out[2] == lines[2]
    # check_mmio_spte printed spte-gen 12345: the profile reads the same generation.
    assert "[mmio] MMIO SPTE: gfn 0xfeb00 gen 0x12345" in out[3]
    # 0xa25 as an EPT leaf: R, X (bits 0, 2), memory type 4 = WT (SDM), D (9), bit 11 = MMU-present.
    assert out[4].endswith("## [present-leaf] pfn=0x14fab8 EptPte R|X|D MT=WT sw:mmu_present")


def test_layout_text_svg_json(tmp_path):
    r = run("layout", "-f", "ept", "-l", "1", "--state", "not_present", "--kvm", "6.19")
    marks = r.stdout.splitlines()[3].strip()
    assert len(marks) == 64 and marks.endswith("HHH") and "free: 15 bits" in r.stdout
    svg = tmp_path / "pte.svg"
    assert run("layout", "-f", "x86-64", "-l", "2", "--large", "--svg", str(svg)).returncode == 0
    root = ET.parse(svg).getroot()
    assert root.tag.endswith("svg") and "PDE that maps a 2-MByte page" in ET.tostring(root, encoding="unicode")
    doc = json.loads(run("layout", "-f", "pae", "-l", "3", "--json").stdout)
    assert sum(f["width"] for f in doc["fields"]) == 64
    assert run("layout", "-f", "ept", "-l", "4", "--large").returncode == 2


def test_alloc_and_encode():
    r = run("alloc", "-f", "ept", "--tag", "async_pf_invalid:1", "--kvm", "6.19")
    assert r.returncode == 0 and "at 3 " in r.stdout and "proof:" in r.stdout
    doc = json.loads(run("alloc", "-f", "x86-64", "--tag", "a:2@52,60", "--tag", "gen:12:split",
                         "--emit", "json").stdout)
    assert doc["tags"][0]["bits"] == [52, 60] and len(doc["tags"][1]["bits"]) == 12
    header = run("alloc", "-f", "ept", "--tag", "x:1", "--emit", "c", "--prefix", "my_").stdout
    assert "#define MY_X_MASK 0x0000000000000008ULL" in header and "_Static_assert" in header
    bad = run("alloc", "-f", "ept", "--tag", "x:1@0")
    assert bad.returncode == 1 and "EptPte.read" in bad.stderr and len(bad.stderr.splitlines()) == 1
    assert run("alloc", "--tag", "x").returncode == 2
    enc = run("encode", "-f", "ept", "read=1", "write=1", "memory_type=WB", "ignore_pat=1", "pfn=0x1234",
              "--value-only")
    assert enc.stdout.strip() == "0x0000000001234073"  # R|W, WB (6<<3), IPAT (1<<6), pfn<<12
    assert run("encode", "-f", "x86-64", "-l", "2", "--large", "present=1", "pat=1",
               "--value-only").stdout.strip() == "0x0000000000001081"
    bad = run("encode", "memory_type=7X")
    assert bad.returncode == 1 and "memory_type='7X'" in bad.stderr
    assert run("encode", "write=2").stderr.strip() == "spte: encode: write=0x2 does not fit in 1 bit (1)"
