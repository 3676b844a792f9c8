"""Entry models: lossless decode/encode, construction, conversions, value semantics."""

from __future__ import annotations

import pytest
from bitstring import Bits
from hypothesis import given
from hypothesis import strategies as st

from spte import EptPde2M, EptPte, Pde, Pde2M, Pde4M, Platform, Pte, Pte32, decode, entry_class
from spte.entry import ALL_CLASSES, CLASSES
from tests.strategies import platforms, u64

LEVELS = [(fmt, level) for fmt, levels in CLASSES.items() for level in levels]


@pytest.mark.parametrize(("fmt", "level"), LEVELS)
@given(value=u64, platform=platforms)
def test_decode_encode_is_lossless(fmt, level, value, platform):
    width = entry_class(fmt, level).WIDTH
    value &= (1 << width) - 1
    e = decode(value, fmt, level, platform)
    assert e.value == value
    fields = e.fields()
    layout = e.layout(e.platform)
    assert sum(fields[f.name] << f.lo for f in layout.fields) == value
    assert type(e)(**fields, platform=platform) == e  # encode from fields
    assert type(e).from_bytes(e.to_bytes(), platform) == e
    assert type(e).from_bits(e.to_bits(), platform) == e
    assert type(e).from_hex(e.to_hex(), platform) == e
    assert e.reserved_bits == value & layout.reserved_mask


@pytest.mark.parametrize("cls", ALL_CLASSES, ids=lambda c: c.__name__)
@given(data=st.data())
def test_field_round_trip_and_range_check(cls, data):
    layout = cls.layout()
    f = data.draw(st.sampled_from(layout.fields))
    v = data.draw(st.integers(0, f.max))
    e = cls(**{f.name: v})
    assert getattr(e, f.name) == v and e.value == v << f.lo
    with pytest.raises(ValueError, match=rf"{f.name}=.*does not fit in {f.width} bit"):
        cls(**{f.name: f.max + 1})


def test_bad_values_are_refused_clearly():
    with pytest.raises(ValueError, match="does not fit in 64 bits"):
        EptPte(1 << 64)
    with pytest.raises(ValueError, match="does not fit in 32 bits"):
        Pte32(1 << 32)
    with pytest.raises(ValueError, match="cannot parse"):
        decode("0xzz", "ept", 1)
    with pytest.raises(ValueError, match="unknown format 'arm'"):
        decode(0, "arm", 1)
    with pytest.raises(ValueError, match="has no level 4"):
        decode(0, "pae", 4)
    with pytest.raises(ValueError, match="expected 8 little-endian bytes"):
        EptPte.from_bytes(b"\x00")
    with pytest.raises(ValueError, match="no field 'color'"):
        EptPte(color=1)
    with pytest.raises(ValueError, match="memory_type='XX'"):
        EptPte(memory_type="XX")
    with pytest.raises(ValueError, match="pfn=0x1 does not fit the address bits"):
        EptPde2M(pfn=1)
    with pytest.raises(AttributeError):
        EptPte(0).value = 1  # type: ignore[misc]


def test_level_decides_bit7():
    """Bit 7 is PAT in a 4 KiB PTE, PS in a PDE, ignored in an EPT PTE."""
    assert type(decode(0x80, "x86-64", 1)) is Pte and decode(0x80, "x86-64", 1).pat == 1
    assert type(decode(0x80, "x86-64", 2)) is Pde2M and decode(0x80 | 1 << 12, "x86-64", 2).pat == 1
    assert type(decode(0x00, "x86-64", 2)) is Pde
    assert type(decode(0x80, "ept", 1)) is EptPte and decode(0x80, "ept", 1).ignored_7 == 1
    assert type(decode(0x80, "ept", 2)) is EptPde2M
    assert type(decode(0x80, "x86-32", 2)) is Pde4M
    assert type(decode(0x80, "x86-32", 2, Platform(pse=False))).__name__ == "Pde32"
    assert type(decode(0x80, "ept", 4)).__name__ == "EptPml4e"


def test_derived_facts():
    e = decode(0x8600000000000B77 | 0x1234 << 12, "ept", 1)
    assert e.present and e.is_leaf and e.page_size_bytes == 4096
    assert e.address == 0x1234000 and e.pfn == 0x1234 and e.memory_type_name == "WB"
    big = decode(0x80 | 1 | 0x40000000, "ept", 3)
    assert big.page_size_bytes == 1 << 30 and big.address == 0x40000000
    pml4e = decode(0x1, "x86-64", 4)  # a table entry covers 512 GiB and maps no page of its own
    assert pml4e.span_bytes == 1 << 39 and pml4e.page_size_bytes is None
    assert not decode(0xFFFFFFFFFFFFFFFE, "x86-64", 1).present
    assert not decode(0x8000000000000000, "ept", 1).present
    # 4 MiB PDE with PSE-36: bits 20:13 carry PA 39:32.
    pde = Pde4M(0x83 | 0x5 << 13 | 0x40 << 22, Platform(maxphyaddr=40))
    assert pde.address == (0x5 << 32) | (0x40 << 22)
    assert Pde4M(address=(0x5 << 32) | (0x40 << 22), platform=Platform(maxphyaddr=40)).frame_high == 5


def test_conversions_and_bitstring_lsb0():
    e = EptPte(0x0123456789ABCDEF)
    assert e.to_bytes() == bytes.fromhex("efcdab8967452301")
    assert e.to_bits() == Bits(uint=0x0123456789ABCDEF, length=64)
    assert e.to_bits()[-1] == bool(e.value & 1)  # our bit 0 is bitstring's last bit
    assert int(e) == e.value and hex(e) == "0x123456789abcdef"
    assert EptPte.from_hex("0123_4567_89ab_cdef") == e


def test_value_semantics():
    a, b = EptPte(0x7), EptPte(0x7)
    assert a == b and hash(a) == hash(b) and len({a, b}) == 1
    assert a != EptPte(0x7, Platform(maxphyaddr=46))
    assert a != Pte(0x7)
    c = a.replace(write=0, memory_type="WB")
    assert c.value == 0x35 and a.value == 0x7
    assert repr(EptPte(0x8000000000000801)) == "EptPte(0x8000000000000801: read|suppress_ve ignored_10_11=0x2)"


def test_reserved_bits_reported_not_raised():
    p = Platform(maxphyaddr=46)
    e = decode(0x0010000000000001 | 1 << 46, "x86-64", 1, p)
    assert e.reserved_bits == 1 << 46
    assert [x.kind for x in e.problems()] == ["reserved_bits"]
    assert decode(1 << 46, "x86-64", 1, p).problems() == []  # not present: not checked
    pdpte = decode(0x7, "pae", 3)
    assert pdpte.reserved_bits == 0x6 and "MOV CR3" in pdpte.problems()[0].message
