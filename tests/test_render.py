"""Renderers: the table-composed one-line/JSON decoder against the entry objects, the
owner-aware line, and the C/JSON exports of tag layouts (compiled and run)."""

from __future__ import annotations

import json
import shutil
import subprocess

import pytest
from hypothesis import given
from hypothesis import strategies as st

from spte import Platform, decode, entry_class
from spte.entry import CLASSES
from spte.metadata import TagSpec, allocate
from spte.render.c_header import tag_layout_header
from spte.render.fast import FastDecoder
from spte.render.json import dumps, tag_layout_record
from tests.strategies import u64

SHADOW_PRESENT = TagSpec("shadow_present", 1, bits=(11,), states=("present_leaf", "present_nonleaf"))


@pytest.mark.parametrize(("fmt", "level"), [(f, lv) for f, levels in CLASSES.items() for lv in levels])
@given(values=st.lists(u64, min_size=1, max_size=20), maxphyaddr=st.sampled_from([36, 46, 52]))
def test_fast_paths_match_the_entry_objects(fmt, level, values, maxphyaddr):
    platform = Platform(maxphyaddr=maxphyaddr, c_bit=maxphyaddr - 1 if fmt == "npt" and maxphyaddr < 52 else None)
    width = entry_class(fmt, level).WIDTH
    fd = FastDecoder(fmt, level, platform)
    for v in values + values:  # twice: the second pass hits the pattern cache
        v &= (1 << width) - 1
        e = decode(v, fmt, level, platform)
        doc = json.loads(fd.json(v))
        assert doc["fields"] == e.fields() and doc["class"] == type(e).__name__
        assert doc["present"] == e.present and int(doc["pfn"], 16) == e.pfn
        assert [p["kind"] for p in doc["problems"]] == [p.kind for p in e.problems()]
        line = fd.line(v).split()
        assert int(line[0], 16) == v and line[1] == f"pfn={e.pfn:#x}" and line[2] == type(e).__name__
        if not e.present:  # only the bits hardware reads then, and the rest raw
            rest = v & ~(e.layout(platform).present_mask | e.layout(platform).not_present_read_mask)
            assert line[-2:] == ["(not", "present)"] and (f"ignored={rest:#x}" in line) == bool(rest)
        problems = [w for w in line if w.startswith("!")]
        assert ",".join(problems).replace("!", "").split(",") == [p.kind for p in e.problems()] or \
            (not problems and not e.problems())


# --- export -----------------------------------------------------------------------------------
def test_json_export():
    layout = allocate("ept", {"async_pf_invalid": 1, "gen": {"width": 4, "bits": [52, 53, 60, 61]}})
    doc = tag_layout_record(layout)
    assert json.loads(dumps(doc)) == doc
    assert doc["format"] == "ept" and doc["states"] == ["not_present"]
    tags = {t["name"]: t for t in doc["tags"]}
    assert tags["async_pf_invalid"]["mask"] == "0x0000000000000008" and tags["async_pf_invalid"]["shift"] == 3
    assert tags["gen"]["shift"] is None and [r["bit"] for r in tags["gen"]["runs"]] == [52, 60]
    assert doc["hardware_owned"]["not_present"]["1"] == "0x8000000000000007"


C_PROGRAM = r"""
#include <stdio.h>
#include "tags.h"
int main(void) {
    uint64_t s = 0x8000000000000000ULL;
%s
    printf("%%llx\n", (unsigned long long)s);
%s
    return 0;
}
"""


def test_c_header_compiles_and_agrees(tmp_path):
    cc = shutil.which("gcc") or shutil.which("cc")
    if cc is None:
        pytest.skip("no C compiler")
    layout = allocate("ept", {"async_pf_invalid": 1, "gen": {"width": 12, "split": True},
                              "mid": {"width": 3, "bits": [55, 56, 57]}},
                      states=["not_present"])
    layout = allocate("ept", [SHADOW_PRESENT, *(TagSpec(t.name, t.width, bits=t.bits) for t in layout.tags)])
    values = {"async_pf_invalid": 1, "gen": 0xABC, "mid": 5, "shadow_present": 1}
    (tmp_path / "tags.h").write_text(tag_layout_header(layout))
    sets = "\n".join(f"    s = {n}_set(s, {v:#x}ULL);" for n, v in values.items())
    # The checked setter refuses a value wider than the tag (8 does not fit 3 bits) and leaves s alone.
    sets += "\n    if (mid_set_checked(&s, 8) || !mid_set_checked(&s, 5)) return 1;"
    gets = "\n".join(f'    printf("{n}=%llx\\n", (unsigned long long){n}_get(s));' for n in values)
    (tmp_path / "t.c").write_text(C_PROGRAM % (sets, gets))
    subprocess.run([cc, "-std=c11", "-Wall", "-Werror", "-o", str(tmp_path / "t"), str(tmp_path / "t.c")],
                   check=True, cwd=tmp_path)
    out = subprocess.run([str(tmp_path / "t")], capture_output=True, text=True, check=True).stdout.split()
    assert int(out[0], 16) == layout.encode(1 << 63, **values)
    assert dict(line.split("=") for line in out[1:]) == {n: f"{v:x}" for n, v in values.items()}


def test_c_header_static_asserts_catch_a_forged_overlap(tmp_path):
    """The _Static_asserts restate the proof: a hand-edited overlapping mask fails to compile."""
    cc = shutil.which("gcc") or shutil.which("cc")
    if cc is None:
        pytest.skip("no C compiler")
    layout = allocate("x86-64", {"a": 1, "b": 1})
    forged = tag_layout_header(layout).replace("#define B_MASK 0x0000000000000004ULL",
                                               "#define B_MASK 0x0000000000000002ULL")
    assert forged != tag_layout_header(layout)
    (tmp_path / "t.c").write_text(forged + "\nint main(void) { return 0; }\n")
    r = subprocess.run([cc, "-std=c11", "-Wall", "-Werror", "-c", "-o", "/dev/null", str(tmp_path / "t.c")],
                       capture_output=True, text=True)
    assert r.returncode != 0 and "a and b overlap" in r.stderr




def test_owner_bits_render_once_under_the_owner():
    """KVM 6.19's host/MMU-writable bits 57/58 and MMU-present bit 11 (spte.h) are ignored by
    hardware: with the owner's bits hidden, the hardware words name none of them."""
    v = 0x8600000001234B77
    plain = FastDecoder("ept", 1).line(v)
    owned = FastDecoder("ept", 1, hide=1 << 57 | 1 << 58 | 1 << 11).line(v)
    assert plain.endswith("R|W|X|IPAT|A|D|SVE MT=WB ignored_10_11=0x2 ignored_52_62=0x60")
    assert owned.endswith("R|W|X|IPAT|A|D|SVE MT=WB")


@pytest.mark.parametrize(("fmt", "value", "expected"), [
    # A not-present PTE (P=0, SDM 4.5.4): only P is read; the rest is one raw value.
    ("x86-64", 0x608, "0x0000000000000608 pfn=0x0 Pte - ignored=0x608 (not present)"),
    # KVM 6.11+'s FROZEN_SPTE: SUPPRESS_VE is read even when not present (SDM 29.3.3.2).
    ("ept", 0x80000000000005A0, "0x80000000000005a0 pfn=0x0 EptPte SVE ignored=0x5a0 (not present)"),
    ("ept", 0, "0x0000000000000000 pfn=0x0 EptPte - (not present)"),
])
def test_not_present_entries_show_no_live_flags(fmt, value, expected):
    assert FastDecoder(fmt, 1).line(value) == expected


def test_json_says_span_and_page_size():
    table = json.loads(FastDecoder("x86-64", 4).json(0x1))
    leaf = json.loads(FastDecoder("x86-64", 2).json(0xE3))
    assert (table["span"], table["page_size"]) == (1 << 39, None)  # a PML4E maps no page itself
    assert (leaf["span"], leaf["page_size"]) == (1 << 21, 1 << 21)
