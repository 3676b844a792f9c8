"""``spte.kvm.identify`` and ``spte identify``: which kernels could have made these values?

Golden data: the real kvmmmu traces of a Linux 6.18 shadow-paging host (``traces/``, MAXPHYADDR 48,
see tests/data/README.md) and values built by the kernels' own code (``kvm-vectors/``).
"""

from __future__ import annotations

import io
import json
import sys

import pytest

from spte import kvm
from spte.cli import build_parser
from spte.cli import identify as identify_cli
from spte.cli.common import InputError, UsageError
from tests.conftest import golden_text, vectors


def run(argv: list[str], stdin: str = "") -> tuple[int, str, str]:
    """``spte ARGV`` as spte.cli.main runs it (the identify subcommand registered if need be)."""
    parser = build_parser()
    sub = next(a for a in parser._actions if a.__class__.__name__ == "_SubParsersAction")
    if "identify" not in sub.choices:
        identify_cli.register(sub)
    out, err = io.StringIO(), io.StringIO()
    old = sys.stdin, sys.stdout, sys.stderr
    sys.stdin = io.TextIOWrapper(io.BytesIO(stdin.encode()))
    sys.stdout, sys.stderr = out, err
    try:
        try:
            args = parser.parse_args(argv)
            status = args.func(args)
        except UsageError as e:
            err.write(f"spte: {e}\n")
            status = 2
        except InputError:
            status = 1
        except SystemExit as e:
            status = int(e.code or 0)
    finally:
        sys.stdin, sys.stdout, sys.stderr = old
    return status, out.getvalue(), err.getvalue()


def test_a_6_19_ept_leaf_is_6_10_or_later():
    """Bit 63 (SHADOW_NONPRESENT_VALUE/SUPPRESS_VE in shadow_present_mask) came with 6.10."""
    first = kvm.identify([(0x8600000001234B77, 1)])[0]
    assert (first.releases, first.flavour) == (("6.10", "7.1"), "ept-ad")
    assert first.kvm == "7.1:ept-ad"
    assert any(e.startswith("not 5.13-6.9 (ept-ad)") and "bit 63" in e for e in first.evidence), first.evidence


def test_host_writable_at_bit_9_means_5_13_or_later():
    """kvm-vectors: a 6.13.2 NPT leaf (host-writable bit 9) cannot come from 5.4-5.12 (bits 10/11)."""
    rec = next(r for r in vectors("v6.13.2-npt-sme.jsonl.gz") if r["kind"] == "access_track"
               and int(r["inputs"]["spte"], 16) >> 9 & 1 and r["inputs"]["origin"].startswith("synth_leaf"))
    spte = int(rec["inputs"]["spte"], 16)
    found = kvm.identify([(spte, 1)], maxphyaddr=48, me_bit=47, phys_addr_reduction=5, flavours=("npt",))
    assert found and all(c.releases[0] == "5.13" and c.releases[1] == "7.1" for c in found)
    assert any("4.18-5.12" in e and "bit" in e for e in found[0].evidence), found[0].evidence


def test_kernel_built_mmio_spte_of_5_8():
    """A 5.8.18 MMIO SPTE whose generation has bit 8 set: the buggy encoding puts it in SPTE bits 11
    and 62.  Bit 62 is outside 5.4.0's generation (52-61); bit 11 is SPTE_MMU_PRESENT_MASK from 5.13,
    which an MMIO SPTE never has.  Everything between builds the same bits."""
    rec = next(r for r in vectors("v5.8.18-shadow.jsonl.gz") if r["kind"] == "make_mmio"
               and r["inputs"]["gfn_within_phys_bits"] and int(r["inputs"]["gen"], 16) & 0x100)
    spte = int(rec["outputs"]["make_mmio_spte"], 16)
    assert spte >> 62 & 1 and spte >> 11 & 1
    found = kvm.identify([(spte, 1)], flavours=("shadow",), l1tf=True)
    # 4.19 builds it too: there bit 62 (gen bit 8 here) is SPTE_SPECIAL_MASK, its MMIO marker.
    assert [c.releases for c in found] == [("5.6", "5.12"), ("5.4.85", "5.4.y"), ("5.4.49", "5.4.84"),
                                           ("5.4.19", "5.4.48"), ("4.18", "4.19")]
    assert any(e.startswith("not 5.13-7.1 (shadow)") and "SPTE_MMU_PRESENT_MASK" in e for e in found[0].evidence)
    assert any(e.startswith("not 5.4-5.5 (shadow)") and "bit 62" in e for e in found[0].evidence), found[0].evidence


def test_trace_events_bound_the_release():
    line = "qemu-1 [001] .... 1.0: kvm_tdp_mmu_spte_changed: as id 0 gfn 1234 level 1 old_spte 8000000000000000 " \
           "new_spte 8600000001234b77"
    status, out, _ = run(["identify", "--json"], line + "\n")
    assert status == 0
    rows = [json.loads(x) for x in out.splitlines()]
    assert rows and all(r["flavour"] != "shadow" for r in rows)
    # The event exists from 5.11 and only in TDP-MMU flavours: shadow is excluded by it.
    status, out, _ = run(["identify", "--all", "--flavour", "shadow"], line + "\n")
    assert "kvm_tdp_mmu_spte_changed" in out and "not emitted by the shadow MMU" in out


def test_real_trace_is_a_5_13_or_later_shadow_or_npt_host():
    # The trace is stored gzipped: its text goes in on stdin.
    status, out, err = run(["identify", "--json", "-M", "48"], golden_text("traces/long4k.trace.gz"))
    assert status == 0, err
    rows = [json.loads(x) for x in out.splitlines()]
    assert [(r["releases"], r["flavour"]) for r in rows] == [(["5.13", "7.1"], "shadow"), (["5.13", "7.1"], "npt")]
    for r in rows:
        assert isinstance(r["evidence"], list) and any("bit 9" in e for e in r["evidence"])
        assert set(r) >= {"releases", "flavour", "evidence"}


def test_text_output_and_all():
    status, out, _ = run(["identify"], "0x8600000001234b77\n")
    assert status == 0
    assert out.splitlines()[0] == "1 value: 1 consistent candidate"
    assert "Linux 6.10 to 7.1 ept-ad (profiles 6.10, 6.11, 6.13; --kvm 7.1:ept-ad)" in out
    status, out, _ = run(["identify", "--all"], "0x8600000001234b77@1\n")
    assert "excluded: Linux 5.13 to 6.9 ept-ad" in out


def test_garbage_finds_no_kernel():
    status, out, _ = run(["identify", "--flavour", "shadow"], "0x8000030e@3\n")
    assert status == 0 and "no release from 5.4 to 7.1 builds every one of these values" in out


@pytest.mark.parametrize(("stdin", "message"), [
    ("0x8600000001234b77\n0xzz\n", "<stdin>:2: cannot parse '0xzz'"),
    ("0x8600000001234b77 0x1ffffffffffffffff\n", "<stdin>:1: '0x1ffffffffffffffff' does not fit in 64 bits"),
    ("0x8600000001234b77@9 0x8600000001234b77\n", "<stdin>:1: '0x8600000001234b77@9': level 9 is not 1..5"),
])
def test_bad_values_are_reported_and_the_rest_used(stdin, message):
    status, out, err = run(["identify"], stdin)
    assert status == 1 and message in err
    assert "Linux 6.10 to 7.1 ept-ad" in out


def test_bad_inputs(tmp_path):
    junk = tmp_path / "junk.bin"
    junk.write_bytes(b"\x00\x01\x02garbage")
    status, _, err = run(["identify", str(junk)])
    assert status == 1 and "binary data" in err
    status, _, err = run(["identify", str(tmp_path / "missing")])
    assert status == 1 and "cannot read" in err
    status, _, err = run(["identify", "-M", "60"], "0x1\n")
    assert status == 2 and "outside 32..52" in err
    status, _, err = run(["identify"], "\n")
    assert status == 1 and "no SPTE values" in err


def test_auto_profile_uses_the_newest_consistent_release():
    prof, found = kvm.auto_profile([(0x8600000001234B77, 1)])
    assert prof is kvm.profile("7.1", "ept-ad") and found[0].flavour == "ept-ad"
    assert kvm.auto_profile([(0x8000030E, 3)], flavours=("shadow",)) == (None, [])


def test_a_present_spte_without_bit_11_is_before_5_13():
    """5.10.13 kernel vectors: a synthesized shadow leaf (host-writable is bit 10 there, no MMU-present bit)."""
    rec = next(r for r in vectors("v5.10.13-shadow.jsonl.gz") if r["kind"] == "access_track"
               and r["inputs"]["origin"].startswith("synth_leaf") and int(r["inputs"]["spte"], 16) >> 10 & 1)
    spte = int(rec["inputs"]["spte"], 16)
    found = kvm.identify([(spte, 1)], flavours=("shadow",), l1tf=True)
    assert found[0].releases == ("4.18", "5.12")
    assert any(e.startswith("not 5.13-7.1 (shadow)") and "without SPTE_MMU_PRESENT_MASK (bit 11)" in e
               for e in found[0].evidence), found[0].evidence
