"""Allocator placement against the SDM's ignored bits (the free bits of a state).

Free bits: SDM Vol. 3A Table 4-20 (x86-64 PTE: 11:9 and 58:52 ignored; 62:59 ignored unless
CR4.PKE/PKS makes them a protection key; 63 XD with NXE) and Table 29-6 (a not-present EPT
entry, bits 2:0 = 0, has every other bit ignored except bit 63, suppress-#VE, when EPT-violation
#VE is on) (the tables behind spte/formats).  Placement policy
(spte/metadata/allocator.py): lowest free bits, contiguous when a run fits, split only if the
tag allows it and no run fits.
"""

from __future__ import annotations

import pytest

from spte import Platform
from spte.metadata import TagCollision, TagSpec, allocate


def placed(layout):
    return {t.name: t.bits for t in layout.tags}


def leaf(tags, **platform):
    return allocate("x86-64", tags, states=["present_leaf"], levels=(1,), platform=Platform(**platform))


def test_lowest_run_that_fits():
    assert placed(leaf({"a": 3})) == {"a": (9, 10, 11)}
    assert placed(leaf({"a": 1})) == {"a": (9,)}
    assert placed(leaf({"a": 4})) == {"a": tuple(range(52, 56))}  # 11:9 is only 3 bits
    assert placed(leaf({"a": 2, "b": 2})) == {"a": (9, 10), "b": (52, 53)}
    assert placed(leaf({"a": 11})) == {"a": tuple(range(52, 63))}  # 62:52 without PKE


def test_split_only_when_no_run_fits():
    assert placed(leaf([TagSpec("a", 4, split=True)])) == {"a": tuple(range(52, 56))}
    assert placed(leaf([TagSpec("a", 12, split=True)])) == {"a": (9, 10, 11, *range(52, 61))}
    assert placed(leaf([TagSpec("a", 14, split=True)])) == {"a": (9, 10, 11, *range(52, 63))}
    with pytest.raises(TagCollision, match="62:52,11:9"):
        leaf({"a": 12})
    with pytest.raises(TagCollision):
        leaf([TagSpec("a", 15, split=True)])  # 14 free bits in all


def test_protection_keys_take_62_59():
    assert placed(leaf({"a": 7}, pke=True)) == {"a": tuple(range(52, 59))}
    with pytest.raises(TagCollision):
        leaf({"a": 8}, pke=True)
    assert placed(leaf([TagSpec("a", 10, split=True)], pke=True)) == {"a": (9, 10, 11, *range(52, 59))}


@pytest.mark.parametrize("nx", [True, False])
def test_bit_63_is_never_free_in_a_present_leaf(nx):
    """Bit 63 is XD with NXE, and reserved without it (SDM Table 4-20): never software's."""
    assert placed(leaf({"a": 3, "b": 11}, nx=nx)) == {"a": (9, 10, 11), "b": tuple(range(52, 63))}
    with pytest.raises(TagCollision):
        leaf({"a": 3, "b": 11, "c": 1}, nx=nx)


def test_ept_not_present():
    assert placed(allocate("ept", {"a": 2}, states=["not_present"])) == {"a": (3, 4)}
    with_ve = allocate("ept", {"a": 1}, states=["not_present"], platform=Platform())
    assert 63 not in with_ve.tag("a").bits
    big = allocate("ept", {"a": 60}, states=["not_present"], platform=Platform(ept_ve=False))
    assert big.tag("a").bits == tuple(range(3, 63))
    with pytest.raises(TagCollision):
        allocate("ept", {"a": 61}, states=["not_present"], platform=Platform(ept_ve=True))
    assert allocate("ept", {"a": 61}, states=["not_present"],
                    platform=Platform(ept_ve=False)).tag("a").bits == tuple(range(3, 64))


def test_pinned_bits_are_honoured_and_checked():
    assert set(leaf([TagSpec("a", 2, bits=(58, 52))]).tag("a").bits) == {52, 58}
    with pytest.raises(TagCollision):
        leaf([TagSpec("a", 1, bits=(12,))])  # bit 12 is an address bit of a PTE
    with pytest.raises(TagCollision):
        leaf([TagSpec("a", 1, bits=(9,)), TagSpec("b", 1, bits=(9,))])


def test_c_header_masks_and_accessors(tmp_path):
    """The emitted C, compiled: a 3-bit tag at 11:9 and a split 12-bit tag at 11:9 + 60:52 of a
    PTE's ignored bits (placements above) read and write exactly those bits."""
    import shutil
    import subprocess

    from spte.render.c_header import tag_layout_header

    cc = shutil.which("gcc") or shutil.which("cc")
    if cc is None:
        pytest.skip("no C compiler")
    layout = leaf([TagSpec("gen", 12, split=True)])
    (tmp_path / "t.h").write_text(tag_layout_header(layout, prefix="x_"))
    (tmp_path / "t.c").write_text(
        '#include <stdio.h>\n#include "t.h"\n'
        "int main(void) {\n"
        '  printf("%llx %llx %llx %llx\\n", (unsigned long long)X_GEN_MASK,\n'
        "         (unsigned long long)x_gen_set(0, 0xfff), (unsigned long long)x_gen_set(~0ULL, 0),\n"
        "         (unsigned long long)x_gen_get(0x0e00 | (1ULL << 52)));\n"
        "  return 0;\n}\n")
    subprocess.run([cc, "-std=c99", "-Wall", "-Werror", "-o", str(tmp_path / "t"), str(tmp_path / "t.c")],
                   check=True)
    out = subprocess.run([str(tmp_path / "t")], capture_output=True, text=True, check=True).stdout.split()
    mask = 0x0E00 | ((1 << 61) - (1 << 52))  # 11:9 and 60:52
    assert out == [f"{mask:x}", f"{mask:x}", f"{(2**64 - 1) & ~mask:x}", f"{0xF:x}"]
