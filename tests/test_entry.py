"""Entry models: lossless decode/encode, construction, conversions, value semantics."""

from __future__ import annotations

import pytest
from bitstring import Bits
from hypothesis import given
from hypothesis import strategies as st

from spte import EptPde2M, EptPte, Pde4M, Platform, Pte, Pte32, decode, entry_class
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


BAD = [
    ("value over 64 bits", lambda: EptPte(1 << 64), ValueError, "does not fit in 64 bits"),
    ("value over 32 bits", lambda: Pte32(1 << 32), ValueError, "does not fit in 32 bits"),
    ("malformed hex", lambda: decode("0xzz", "ept", 1), ValueError, "cannot parse"),
    ("unknown format", lambda: decode(0, "arm", 1), ValueError, "unknown format 'arm'"),
    ("unknown level", lambda: decode(0, "pae", 4), ValueError, "has no level 4"),
    ("short bytes", lambda: EptPte.from_bytes(b"\x00"), ValueError, "expected 8 little-endian bytes"),
    ("unknown field", lambda: EptPte(color=1), ValueError, "no field 'color'"),
    ("unknown memory type", lambda: EptPte(memory_type="XX"), ValueError, "memory_type='XX'"),
    ("unaligned 2 MiB frame", lambda: EptPde2M(pfn=1), ValueError, "pfn=0x1 does not fit the address bits"),
    ("a bool is no value", lambda: EptPte(True), TypeError, "bool"),
    ("a float is no field value", lambda: EptPte(read=1.0), TypeError, "read: expected an integer, got float"),
    ("immutable", lambda: setattr(EptPte(0), "value", 1), AttributeError, "has no setter"),
]


@pytest.mark.parametrize(("case", "make", "error", "match"), BAD, ids=[b[0] for b in BAD])
def test_bad_values_are_refused_clearly(case, make, error, match):
    with pytest.raises(error, match=match):
        make()


# Bit 7 is PAT in a 4 KiB PTE and PS in a PDE (SDM Tables 4-18/4-20), ignored in an EPT PTE
# (Table 29-6); with CR4.PSE=0 a 32-bit PDE ignores it (SDM 4.3).
BIT7 = [
    ("x86-64", 1, 0x80, {}, "Pte", "pat"),
    ("x86-64", 2, 0x80, {}, "Pde2M", "page_size"),
    ("x86-64", 2, 0x1080, {}, "Pde2M", "pat"),
    ("x86-64", 2, 0x00, {}, "Pde", None),
    ("ept", 1, 0x80, {}, "EptPte", "ignored_7"),
    ("ept", 2, 0x80, {}, "EptPde2M", "page_size"),
    ("x86-32", 2, 0x80, {}, "Pde4M", "page_size"),
    ("x86-32", 2, 0x80, {"pse": False}, "Pde32", "ignored_6_11"),
    ("ept", 4, 0x80, {}, "EptPml4e", "reserved_3_7"),
]


@pytest.mark.parametrize(("fmt", "level", "value", "kw", "cls", "field"), BIT7,
                         ids=[f"{f}-{lv}-{v:#x}-{k}" for f, lv, v, k, *_ in BIT7])
def test_level_decides_bit7(fmt, level, value, kw, cls, field):
    e = decode(value, fmt, level, Platform(**kw))
    assert type(e).__name__ == cls
    if field is not None:
        assert getattr(e, field) != 0


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


def test_npt_classes_without_a_platform_use_their_own_default_layout():
    """AMD APM vol. 2 (long-mode PML4E): bit 8 is MBZ on AMD, ignored on Intel.  An NPT class built
    without a platform is the AMD one, exactly as with the default platform (review finding: a
    parent class's Intel layout leaked to NptPml4e)."""
    from spte.entry import NptPml4e
    from spte.platform import DEFAULT_PLATFORM

    e = decode(0x1234107, format="npt", level=4)
    assert [p.kind for p in e.problems()] == ["reserved_bits"] and e.reserved_bits == 0x100
    assert NptPml4e(0x1234107) == NptPml4e(0x1234107, DEFAULT_PLATFORM)
