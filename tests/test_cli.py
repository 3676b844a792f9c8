"""The installed ``spte`` command, run as a user would (a subprocess), and its fast paths."""

from __future__ import annotations

import json
import random
import re
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET

from hypothesis import given, settings
from hypothesis import strategies as st

from spte import Platform, decode

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
    assert "present_leaf" in r.stdout and "host_writable" in r.stdout and "mmu_present" in r.stdout
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
                          (("decode", "--kvm", "4.14", "1"), "unknown kernel version"),
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


def test_layout_text_svg_json(tmp_path):
    r = run("layout", "-f", "ept", "-l", "1", "--state", "not_present", "--kvm", "6.19")
    marks = r.stdout.splitlines()[3].strip()
    assert len(marks) == 64 and marks.endswith("HHH") and "free: 9 bits" in r.stdout
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


def test_owner_option_names_linux_and_xen_bits_and_proves_tags():
    """--owner on decode, layout and alloc (docs/cli.md).  Bit 9 of a present PTE is _PAGE_SPECIAL and a
    not-present 0x608 with bit 0 clear is a swap entry (arch/x86/include/asm/pgtable_types.h, pgtable_64.h,
    6.12); Xen 4.19's ept_entry_t keeps p2m access in bits 61:58 (xen/arch/x86/include/asm/hvm/vmx/vmx.h)."""
    r = run("decode", "--line", "--owner", "linux:6.12", "0x800000018f8a9227", "0x608")
    special, swap = r.stdout.splitlines()
    assert "[linux-6.12 present_leaf] _PAGE_SPECIAL=0x1" in special and "[linux-6.12 swap]" in swap
    xen = run("decode", "--line", "--owner", "xen:4.19:ept", "-l", "3", "0x9c000003000003f3").stdout
    assert "[xen-4.19:ept present_leaf] access=0x7" in xen
    layout = run("layout", "--owner", "linux:6.12", "--state", "present_leaf").stdout
    assert "linux-6.12" in layout.splitlines()[0] and "_PAGE_SPECIAL" in layout
    alloc = run("alloc", "--owner", "linux:6.12", "--state", "present_leaf", "--tag", "new_bit:1")
    assert alloc.returncode == 0 and "every linux-6.12 bit" in alloc.stdout
    both = run("decode", "--kvm", "6.19", "--owner", "linux:6.12", "1")
    assert both.returncode == 2 and "give --kvm or --owner" in both.stderr
    bad = run("decode", "--owner", "linux:9.99", "1")
    assert bad.returncode == 2 and len(bad.stderr.splitlines()) == 1 and "linux:9.99" in bad.stderr


def test_decode_kvm_auto_names_the_kernel_it_picked():
    """0x8600000001234b77 has bit 63 (SHADOW_NONPRESENT_VALUE's SUPPRESS_VE, 6.10+) and host/MMU-writable
    in 57/58 (EPT, 5.13+) set in a present leaf: only 6.10-7.1 ept-ad builds it (spte.h of those releases)."""
    r = run("decode", "--line", "--kvm", "auto", "0x8600000001234b77")
    assert r.returncode == 0 and "[kvm-7.1:ept-ad present_leaf]" in r.stdout
    assert r.stderr.startswith("spte: --kvm auto: 7.1:ept-ad (Linux 6.10 to 7.1 ept-ad")


def test_decode_line_and_json_over_many_blocks_are_the_object_path_and_errors_name_their_line():
    """Enough plain-hex lines for the block loops (tables, tokens' own text, pattern memo), with
    a bad token, an upper-case and a 0x token, and a too-long zero-padded token deep inside:
    every valid value is decoded as the library's objects say, in order, and the error names its line."""
    from tests.test_perf_paths import reference_json, reference_line

    rng = random.Random(14)
    values = [rng.getrandbits(64) if i % 2 else 0x8600000000000B77 | rng.getrandbits(30) << 12 for i in range(40000)]
    lines = [f"{v:x}" for v in values]
    lines[25000] = "zz"
    lines[26000] = f"{values[26000]:X}"
    lines[27000] = f"0x{values[27000]:x}"
    lines[28000] = "0" * 20 + f"{values[28000]:x}"
    stdin = "\n".join(lines) + "\n"
    expected = [v for i, v in enumerate(values) if i != 25000]
    r = run("decode", "--line", stdin=stdin)
    assert r.returncode == 1 and r.stderr == "spte: line 25001: cannot parse 'zz' as a 64-bit value\n"
    got = r.stdout.splitlines()
    assert len(got) == len(expected)
    for i in range(0, len(expected), 97):  # a sample against the object path
        assert got[i] == reference_line(expected[i], "ept", 1, Platform()), i
    js = run("decode", "--json", stdin=stdin).stdout.splitlines()
    assert len(js) == len(expected)
    for i in range(0, len(expected), 97):
        assert js[i] == reference_json(expected[i], "ept", 1, Platform()), i


def test_decode_without_options_is_parsed_as_argparse_parses_it():
    """``spte decode VALUE...`` skips argparse (a tenth of a single decode): its arguments must be
    exactly those the decode parser makes, and anything with an option goes through the parser."""
    from spte.cli import build_parser, quick_parse

    for argv in (["decode"], ["decode", "0x8600000001234b77"], ["decode", "1", "zz", "0x1_2", "", "@x"]):
        quick = quick_parse(argv)
        assert quick is not None and vars(quick) == vars(build_parser("decode").parse_args(argv)), argv
    for argv in (["decode", "--line", "1"], ["decode", "1", "-l", "2"], ["decode", "-3"], ["decode", "--", "1"],
                 ["trace"], ["decode1"], []):
        assert quick_parse(argv) is None, argv
    code = "import sys; from spte.cli import main; main(); print('argparse' in sys.modules, file=sys.stderr)"
    p = subprocess.run([sys.executable, "-c", code, "decode", "0x7"], capture_output=True, text=True)
    assert p.returncode == 0 and p.stderr.split() == ["False"] and "EptPte" in p.stdout
