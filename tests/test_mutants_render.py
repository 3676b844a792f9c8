"""Rendering facts a one-character mutant could break without a console snapshot: the page size
each leaf maps (SDM Vol. 3A Tables 4-9, 4-15, 4-17, 4-18 and 29-4/29-5: 4 KiB, 2 MiB, 4 MiB,
1 GiB), bit order in pictures (SDM figures put bit 63 leftmost, 32 bits a row), the legend,
and the allocator's refusals with their reasons.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

import pytest

from spte import Platform
from spte.entry import EptPte, Pte32, decode
from spte.kvm import profile
from spte.metadata import TagSpec, allocate
from spte.render.svg import layout_svg
from spte.render.text import entry_view


@pytest.mark.parametrize("fmt,level,value,size", [
    ("x86-64", 1, 0x1, "4 KiB"), ("x86-64", 2, 0x81, "2 MiB"), ("x86-64", 3, 0x81, "1 GiB"),
    ("ept", 1, 0x7, "4 KiB"), ("ept", 2, 0x87, "2 MiB"), ("ept", 3, 0x87, "1 GiB"),
    ("pae", 2, 0x81, "2 MiB"), ("x86-32", 2, 0x81, "4 MiB"), ("x86-32", 1, 0x1, "4 KiB"),
])
def test_each_leaf_maps_its_page_size(fmt, level, value, size):
    view = entry_view(decode(value, fmt, level), False, None)
    assert f"maps {size}," in view.splitlines()[1]


def _svg_texts(svg: str) -> list[str]:
    root = ET.fromstring(svg)
    return [t.text or "" for t in root.iter("{http://www.w3.org/2000/svg}text")]


@pytest.mark.parametrize("cls,width", [(EptPte, 64), (Pte32, 32)])
def test_svg_bits_run_from_the_top_bit_32_a_row(cls, width):
    texts = _svg_texts(layout_svg(cls.layout(), "t", None, {}, None))
    numbers = [int(t) for t in texts if re.fullmatch(r"\d+", t)]
    assert numbers == list(range(width - 1, -1, -1))


def test_svg_legend_shows_free_only_when_asked():
    layout = EptPte.layout()
    assert "free" not in _svg_texts(layout_svg(layout, "t", None, {}, None))
    assert "free" in _svg_texts(layout_svg(layout, "t", 0xFF0, {}, None))


def test_svg_labels_fit_or_end_in_an_ellipsis():
    layout = EptPte.layout(Platform())
    names = {f.name for f in layout.fields} | {f.short for f in layout.fields if f.short}
    for t in _svg_texts(layout_svg(layout, "t", None, {}, None)):
        assert t.isdigit() or t in names or t.endswith("…") or t in {"hardware", "reserved", "ignored", "software",
                                                                       "free", "t"}
    # "memory_type" (11 characters) in a 3-bit cell is cut; "write" in 1 bit too; "frame" in 40 bits is whole.
    texts = _svg_texts(layout_svg(layout, "t", None, {}, None))
    assert "frame" in texts and "memory_type" not in texts


def test_tag_refusals_say_why():
    with pytest.raises(ValueError, match="unknown state 'sleeping'"):
        TagSpec("a", 1, states=("sleeping",))
    layout = allocate("ept", {"a": 2, "b": 1}, states=["not_present"])
    with pytest.raises(ValueError, match=r"a=0x4 does not fit in 2 bits \(4:3\)"):
        layout.tag("a").put(0, 4)
    with pytest.raises(ValueError, match=r"b=0x2 does not fit in 1 bit \(5\)"):
        layout.tag("b").put(0, 2)


def test_kvm_l1tf_default_follows_the_vendor():
    """l1tf=None: X86_BUG_L1TF on Intel (the kernel sets it for affected Intel parts), never on AMD
    (cpu_vuln_whitelist: NO_L1TF) -- so at 46 cache bits the L1TF mask appears only on Intel:
    GENMASK_ULL(45, 41) by kvm_mmu_reset_all_pte_masks (Linux v6.19 arch/x86/kvm/mmu/spte.c)."""
    assert profile("6.19", "shadow", maxphyaddr=46).shadow_nonpresent_or_rsvd_mask == 0x3E00_0000_0000
    assert profile("6.19", "npt", maxphyaddr=46).shadow_nonpresent_or_rsvd_mask == 0
    assert profile("6.19", "shadow", maxphyaddr=48, me_bit=47).shadow_nonpresent_or_rsvd_mask == 0


def test_free_bits_marked_in_the_ruler():
    """A not-present EPT entry (SDM §29.3.2, Table 29-6 note): bits 2:0 must be 0 (hardware); every
    other bit is ignored, except bit 63 (suppress #VE) while EPT-violation #VE is enabled."""
    from tests.test_cli import run

    marks = run("layout", "-f", "ept", "-l", "1", "--state", "not_present").stdout.splitlines()[3].strip()
    assert marks == "H" + "_" * 60 + "HHH"
    marks = run("layout", "-f", "ept", "-l", "1", "--state", "not_present", "--set", "ept_ve=off")
    assert marks.stdout.splitlines()[3].strip() == "_" * 61 + "HHH"


def test_svg_three_letter_sdm_names_fit_one_cell():
    """SDM abbreviations (SVE, PWT, PCD) label their one-bit fields whole."""
    from spte.entry import Pml4e

    assert "SVE" in _svg_texts(layout_svg(EptPte.layout(), "t", None, {}, None))
    texts = _svg_texts(layout_svg(Pml4e.layout(), "t", None, {}, None))
    assert "PWT" in texts and "PCD" in texts
