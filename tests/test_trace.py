"""``spte trace`` / ``spte log`` as a user runs it: real traces and printouts, errors, JSON, chunking."""

from __future__ import annotations

import argparse
import io
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from spte.cli.common import Reporter
from spte.cli.trace import process
from spte.kvm import profile
from spte.logs import Context, LogReader, Renderer
from tests.conftest import golden_text

SPTE = shutil.which("spte") or ""
TRACE = "traces/long4k.trace.gz"
PRESENT_LEAF = re.compile(r"\[present.leaf\]")  # the kind word, whichever separator the profile uses


def run(*args: str, stdin: bytes | str = b"") -> subprocess.CompletedProcess[str]:
    cmd = [SPTE, *args] if SPTE else [sys.executable, "-m", "spte", *args]
    data = stdin.encode() if isinstance(stdin, str) else stdin
    r = subprocess.run(cmd, input=data, capture_output=True, timeout=120)
    out = subprocess.CompletedProcess(r.args, r.returncode, r.stdout.decode("utf-8", "replace"),
                                      r.stderr.decode("utf-8", "replace"))
    assert "Traceback" not in out.stderr, out.stderr
    return out


@pytest.fixture
def trace_file(tmp_path: Path) -> Path:
    """The real long4k trace as a plain file, as a user passes it."""
    path = tmp_path / "long4k.trace"
    path.write_text(golden_text(TRACE))
    return path


def test_trace_annotates_and_passes_everything_else_through(trace_file: Path) -> None:
    original = trace_file.read_text().splitlines()
    r = run("trace", "--kvm", "6.19:shadow", "--maxphyaddr", "48", str(trace_file))
    assert r.returncode == 0
    out = r.stdout.splitlines()
    assert len(out) == len(original)
    for before, after in zip(original, out, strict=True):
        assert after.startswith(before)  # untouched, at most annotated at the end
        if "kvm_mmu_set_spte:" in before:
            spte = int(re.search(r"spte (\w+)", before)[1], 16)
            assert f"pfn={(spte & 0xFFFFFFFFFF000) >> 12:#x} Pte " in after and PRESENT_LEAF.search(after)
        elif "kvm_mmu_paging_element:" in before:  # the guest's own entry, at its level, no KVM reading
            level = int(before.rsplit(" ", 1)[1])
            names = {4: "Pml4e", 3: ("Pdpte", "Pdpte1G"), 2: ("Pde", "Pde2M"), 1: "Pte"}[level]
            cls = re.search(r"## (?:pfn=0x[0-9a-f]+ )?(\w+)", after)[1] if "not present" not in after else None
            assert cls is None or cls in names, after
            assert "[" not in after.partition("##")[2]
        else:
            assert after == before


def test_trace_summary_json_and_only_spte(trace_file: Path) -> None:
    path = str(trace_file)
    text = trace_file.read_text()
    n, g = text.count("kvm_mmu_set_spte:"), text.count("kvm_mmu_paging_element:")
    summary = json.loads(run("trace", "--kvm", "6.19:shadow", "--summary", "--json", path).stdout)
    assert summary["event"] == {"kvm_mmu_set_spte": n, "kvm_mmu_paging_element": g}
    assert list(summary["kind"].values()) == [n] and PRESENT_LEAF.match(f"[{next(iter(summary['kind']))}]")
    rows = [json.loads(x) for x in run("log", "--kvm", "6.19:shadow", "--json", path).stdout.splitlines()]
    assert len(rows) == n + g
    assert {r["owner"] for r in rows if r["event"] == "kvm_mmu_paging_element"} == {"guest"}
    first = next(r for r in rows if r["event"] == "kvm_mmu_set_spte")
    assert {"line", "value", "format", "level", "owner", "event", "entry"} <= set(first)
    assert text.splitlines()[first["line"] - 1].find(first["value"][2:]) > 0
    assert (first["format"], first["level"], first["owner"], first["entry"]) == ("x86-64", 1, "kvm", True)
    assert first["software"]["host_writable"] == 1
    only = run("trace", "--kvm", "6.19:shadow", "--only-spte", path).stdout.splitlines()
    assert len(only) == n + g


def test_trace_transitions_and_errors(tmp_path: Path) -> None:
    lines = [
        "  vcpu-1 [000] ...1. 1.0: kvm_tdp_mmu_spte_changed: as id 0 gfn 100 level 1 old_spte 8000000000000000 "
        "new_spte 8600000001234b77",
        "  vcpu-1 [000] ...1. 1.0: fast_page_fault: vcpu 0 gva 1000 error_code P|W sptep 0000000012345678 "
        "old 0x8600000001234b75 new 8600000001234b77 spurious 0 fixed 1",
        "  vcpu-1 [000] ...1. 1.0: kvm_mmu_set_spte: gfn zz",
        "  vcpu-1 [000] ...1. 1.0: check_mmio_spte: spte 12300000feb0022e kvm_gen 12345 spte-gen 12345 valid 1",
        # trace-cmd report pads the event name: "kvm_mmu_set_spte:     gfn ..."
        "  qemu-kvm-1234  [001]  1234.567890: kvm_mmu_set_spte:     gfn 20 spte 14fab8a25 (r-xu) level 1 at 15e8b4100",
        # trimmed by a user: no " at <sptep>" tail, still a value and a level
        "kvm_mmu_set_spte: gfn 2 spte 800000012d6a5a25 (r--u) level 1",
        # trimmed too far: no level
        "kvm_mmu_set_spte: gfn 2 spte 800000012d6a5a25 (r--u)",
    ]
    f = tmp_path / "t.trace"
    f.write_text("\n".join(lines) + "\n")
    r = run("trace", str(f), str(tmp_path / "missing.trace"))
    assert r.returncode == 1
    assert r.stderr.splitlines() == [
        f"spte: {f}:3: kvm_mmu_set_spte: no gfn after the event name",
        f"spte: {f}:7: kvm_mmu_set_spte: no level after the value",
        f"spte: {tmp_path / 'missing.trace'}: cannot read (No such file or directory)"]
    out = r.stdout.splitlines()
    assert "old [not" in out[0] and "-> new [present" in out[0] and "bits changed" in out[0]
    # the old side is not present: shown as its raw bits, never as flags
    assert "L1 not present, bits 0x8000000000000000" in out[0]
    assert out[1].endswith("(level not printed: decoded at level 1)")
    assert out[2] == lines[2] and out[6] == lines[6]  # kept, untouched
    assert "[mmio] MMIO SPTE: gfn 0xfeb00 gen 0x12345" in out[3]
    # 0xa25 as an EPT leaf: R, X (bits 0, 2), memory type 4 = WT (SDM), D (9), bit 11 = MMU-present.
    assert "pfn=0x14fab8 EptPte R|X|D MT=WT sw:mmu_present" in out[4]
    assert "pfn=0x12d6a5 EptPte" in out[5]


def test_unrecognised_lines_make_no_json_and_pass_through() -> None:
    text = "hello\nPGD 0 P4D 0 \nkvm_mmu_spte_requested: gfn 2 pfn 3 level 1\n"
    note = ("P4D 0   ## PGD(L4) [pte_none] L4 not present, bits 0x0 | P4D(L4) [pte_none] L4 not present, "
            "bits 0x0; folded (4-level paging): the same entry as the PGD\n")
    assert run("log", stdin=text).stdout == text.replace("P4D 0 \n", note)
    rows = [json.loads(x) for x in run("log", "--json", stdin=text).stdout.splitlines()]
    assert [(x["line"], x["label"], x["level"], x["owner"]) for x in rows] == [(2, "PGD", 4, "linux"),
                                                                              (2, "P4D", 4, "linux")]
    assert run("log", "--only-spte", stdin=text).stdout.count("\n") == 1


def _process(data: bytes, chunk: int, json_out: bool = False) -> tuple[bytes, str]:
    prof = profile("6.19", "shadow", maxphyaddr=48)
    ctx = Context(host_format="x86-64", platform=prof.platform, kvm=prof)
    args = argparse.Namespace(only_spte=False, json=json_out, summary=False)
    out, err = io.BytesIO(), io.StringIO()
    process(io.BytesIO(data), "t", args, LogReader(ctx), Renderer(ctx), Reporter(stream=err), out, chunk=chunk)
    return out.getvalue(), err.getvalue()


@pytest.mark.parametrize("chunk", [1, 7, 64, 100, 257, 1 << 16])
def test_lines_straddling_chunks(chunk: int) -> None:
    """readlines(chunk) hands over whole lines: a line across a chunk boundary is read once, numbered right."""
    text = golden_text(TRACE).splitlines(keepends=True)[:400]
    text.insert(50, "kvm_mmu_set_spte: gfn zz\n")
    text.append("(XEN) Pagetable walk from ffffffff82810888:\n(XEN)  L4[0x1ff] = 0000000332815067 0000000000002815\n")
    data = "".join(text).encode()
    whole, whole_err = _process(data, 1 << 20)
    out, err = _process(data, chunk)
    assert out == whole and err == whole_err == "spte: t:51: kvm_mmu_set_spte: no gfn after the event name\n"
    rows = [json.loads(x) for x in _process(data, chunk, True)[0].splitlines()]
    lines = data.decode().splitlines()
    assert all(r["value"][2:].lstrip("0") in lines[r["line"] - 1] for r in rows)
    assert rows[-1]["owner"] == "xen" and rows[-1]["level"] == 4


def test_binary_junk_and_huge_values() -> None:
    r = run("log", stdin=b"\xff\xfekvm_mmu_set_spte: gfn 1 spte 1ffffffffffffffffff (r--u) level 1\x00\n")
    assert r.returncode == 1 and "spte 1ffffffffffffffffff does not fit in 64 bits" in r.stderr
    r = run("log", stdin="kvm_mmu_set_spte: gfn 1 spte 7 (rwx) level 9 at 0\n")
    assert r.returncode == 1 and "level 9 is not a level of ept entries" in r.stderr


def test_compat_module() -> None:
    from spte.trace import parse_line

    ev = parse_line("kvm_tdp_mmu_spte_changed: as id 0 gfn 100 level 2 old_spte 0 new_spte 8005827")
    assert ev is not None and (ev.event, ev.old, ev.spte, ev.level) == ("kvm_tdp_mmu_spte_changed", 0, 0x8005827, 2)


@pytest.mark.parametrize("via", ["file", "stdin"])
def test_kvm_auto_picks_the_kernel_from_the_values(trace_file: Path, via: str) -> None:
    """The real 6.18 shadow-paging host (tests/data/README.md): host-writable in bit 9 and the MMU-present
    bit 11 place it at 5.13 or later, shadow or NPT; the newest shadow release decodes it."""
    args = ("trace", "--kvm", "auto", "-M", "48", *([str(trace_file)] if via == "file" else []))
    r = run(*args, stdin=trace_file.read_bytes() if via == "stdin" else b"")
    assert r.returncode == 0
    assert r.stderr.startswith("spte: --kvm auto: 7.1:shadow (Linux 5.13 to 7.1 shadow")
    annotated = [x for x in r.stdout.splitlines() if "kvm_mmu_set_spte:" in x]
    assert annotated and all(PRESENT_LEAF.search(x) for x in annotated)
    assert len(r.stdout.splitlines()) == len(trace_file.read_text().splitlines())  # stdin read twice, whole


def test_bad_levels_are_reported_and_the_chunk_kept(tmp_path: Path) -> None:
    """A level outside the format's levels (EPT has 1-5; 0 and 7 are none), or a runaway digit
    string, is a one-line error naming the line; the valid line after it is still decoded."""
    huge = "9" * 5000
    lines = [f"kvm_mmu_set_spte: gfn 2 spte 800000012d6a5a25 (r--u) level {lv} at 15e8b4010" for lv in (7, huge, 0)]
    good = "kvm_mmu_set_spte: gfn 2 spte 8600000001234b77 (rwxu) level 1 at 15e8b4010"
    r = run("trace", stdin="\n".join([*lines, good]) + "\n")
    assert r.returncode == 1
    assert r.stderr.splitlines() == [
        "spte: <stdin>:1: kvm_mmu_set_spte: level 7 is not a level of ept entries",
        "spte: <stdin>:2: kvm_mmu_set_spte: level 999999999999... is not a level of ept entries",
        "spte: <stdin>:3: kvm_mmu_set_spte: level 0 is not a level of ept entries"]
    out = r.stdout.splitlines()
    assert out[:3] == lines and out[3].startswith(good + "  ## ") and PRESENT_LEAF.search(out[3])


def test_a_full_disk_is_a_write_error_not_an_input_error(trace_file: Path) -> None:
    with open("/dev/full", "wb") as full:
        cmd = [SPTE, "trace", str(trace_file)] if SPTE else [sys.executable, "-m", "spte", "trace", str(trace_file)]
        r = subprocess.run(cmd, stdout=full, stderr=subprocess.PIPE, timeout=120)
    assert r.returncode == 3  # output lost (docs/cli.md, exit status), not bad input
    assert r.stderr.decode().splitlines() == [
        "spte: cannot write to stdout (No space left on device); output is incomplete"]


def test_trace_leaves_the_collector_as_it_found_it(trace_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """spte trace keeps its setup out of the cyclic collector's passes only while it runs: a
    caller that runs the command in its own process gets its garbage collected afterwards."""
    import gc

    from spte.cli import main

    before = gc.get_freeze_count()
    main(["trace", "--kvm", "6.19:shadow", str(trace_file)])
    assert gc.get_freeze_count() == before
    assert "kvm_mmu_set_spte" in capsys.readouterr().out
