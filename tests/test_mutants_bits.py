"""The "every bit exactly once" check of spte/bits.py (the project's version of spte.h's
static_asserts) refuses each broken table with the reason, not only some error."""

from __future__ import annotations

import pytest

from spte import Platform
from spte.bits import Layout, LayoutError, genmask
from spte.entry import EptPte, Pte32


def test_genmask_is_the_kernels():
    """include/linux/bits.h GENMASK_ULL(h, l): bits h..l set."""
    assert genmask(63, 0) == 2**64 - 1 and genmask(51, 12) == 0x000F_FFFF_FFFF_F000 and genmask(0, 0) == 1
    assert genmask(62, 52) == 0x7FF0_0000_0000_0000


@pytest.mark.parametrize("cls,width", [(EptPte, 64), (Pte32, 32)])
def test_a_field_past_the_top_bit_is_refused(cls, width):
    fields = list(cls.layout().fields)
    top = max(fields, key=lambda f: f.lo + f.width)
    i = fields.index(top)
    fields[i] = top._replace(width=top.width + 1)  # now ends at bit `width`
    with pytest.raises(LayoutError, match=rf"outside 0\.\.{width - 1}"):
        Layout(tuple(fields), width, Platform())


def test_overlap_gap_and_duplicate_names_are_refused():
    fields = list(EptPte.layout().fields)
    read = next(i for i, f in enumerate(fields) if f.name == "read")
    write = next(i for i, f in enumerate(fields) if f.name == "write")
    overlapping = fields.copy()
    overlapping[write] = fields[write]._replace(lo=0)
    with pytest.raises(LayoutError, match="overlaps bits 0"):
        Layout(tuple(overlapping), 64, Platform())
    gap = fields.copy()
    del gap[write]
    with pytest.raises(LayoutError, match="bits 1 not described"):
        Layout(tuple(gap), 64, Platform())
    dup = fields.copy()
    dup[write] = fields[write]._replace(name="read")
    with pytest.raises(LayoutError, match="duplicate field names"):
        Layout(tuple(dup), 64, Platform())
    empty = fields.copy()
    empty[read] = fields[read]._replace(width=0)
    with pytest.raises(LayoutError, match="outside"):
        Layout(tuple(empty), 64, Platform())
