"""``spte.decode_many``: every column equals the object path value by value, with numpy and
without; whole tables from raw bytes; bad input refused.  Never timed."""

from __future__ import annotations

import importlib.util
import random
import sys

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import spte
from spte import Platform, decode, entry_class
from spte.entry import CLASSES
from tests.strategies import u64

LEVELS = [(f, lv) for f, levels in CLASSES.items() for lv in levels]
HAVE_NUMPY = importlib.util.find_spec("numpy") is not None
BACKENDS = [False, pytest.param(True, marks=pytest.mark.skipif(not HAVE_NUMPY, reason="no numpy (an optional extra)"))]


def check(cols: dict, values: list[int], fmt: str, level: int, platform: Platform) -> None:
    large_cls = CLASSES[fmt][level][1]
    assert [int(v) for v in cols["value"]] == values
    for i, v in enumerate(values):
        e = decode(v, fmt, level, platform)
        names = e.layout(platform).by_name
        for name, x in e.fields().items():
            assert int(cols[name][i]) == x, (hex(v), name)
        for name in cols.keys() - names.keys() - {"value", "large", "present", "address", "pfn", "reserved_bits"}:
            assert int(cols[name][i]) == 0, (hex(v), name)  # a field of the other form
        assert bool(cols["large"][i]) == (type(e) is large_cls)
        assert bool(cols["present"][i]) == bool(e.present)
        assert int(cols["address"][i]) == e.address and int(cols["pfn"][i]) == e.pfn
        assert int(cols["reserved_bits"][i]) == e.reserved_bits


@pytest.mark.parametrize("use_numpy", BACKENDS)
@pytest.mark.parametrize(("fmt", "level"), LEVELS)
@settings(max_examples=25)
@given(values=st.lists(u64, max_size=40), maxphyaddr=st.sampled_from([32, 36, 46, 52]))
def test_columns_are_the_entry_objects(use_numpy, fmt, level, values, maxphyaddr):
    width = entry_class(fmt, level).WIDTH
    values = [v & ((1 << width) - 1) for v in values]
    platform = Platform(maxphyaddr=maxphyaddr, c_bit=maxphyaddr - 1 if fmt == "npt" and maxphyaddr < 52 else None)
    check(spte.decode_many(values, fmt, level, platform, numpy=use_numpy), values, fmt, level, platform)


@pytest.mark.parametrize("use_numpy", BACKENDS)
@pytest.mark.parametrize(("fmt", "level"), [("ept", 2), ("x86-64", 1), ("x86-32", 2), ("pae", 2)])
def test_a_whole_table_from_its_bytes(use_numpy, fmt, level):
    """512 (or 1024 32-bit) entries as they sit in memory, little-endian (SDM 4.5: a paging
    structure is 4 KiB of entries)."""
    rng = random.Random(level)
    raw = bytes(rng.getrandbits(8) for _ in range(4096))
    n = entry_class(fmt, level).WIDTH // 8
    values = [int.from_bytes(raw[i:i + n], "little") for i in range(0, 4096, n)]
    cols = spte.decode_many(raw, fmt, level, numpy=use_numpy)
    assert len(cols["pfn"]) == 4096 // n
    check(cols, values, fmt, level, Platform())


def test_numpy_arrays_in_and_out():
    np = pytest.importorskip("numpy")
    values = np.array([0x8600000001234B77, 0, 0x80000000000000E7], dtype=np.uint64)
    cols = spte.decode_many(values, "x86-64", 2)
    assert cols["pfn"].dtype == np.uint64 and cols["present"].dtype == bool
    check(cols, [int(v) for v in values], "x86-64", 2, Platform())


@pytest.mark.parametrize("use_numpy", BACKENDS)
def test_bad_input_is_refused(use_numpy):
    with pytest.raises(ValueError, match="does not fit in 32 bits"):
        spte.decode_many([1 << 32], "x86-32", 1, numpy=use_numpy)
    with pytest.raises(ValueError, match="does not fit in 64 bits"):
        spte.decode_many([-1], "ept", 1, numpy=use_numpy)
    with pytest.raises(ValueError, match="whole number of 8-byte entries"):
        spte.decode_many(b"\0" * 12, "ept", 1, numpy=use_numpy)
    with pytest.raises(ValueError, match="levels are 1, 2, 3"):
        spte.decode_many([0], "pae", 4, numpy=use_numpy)


def test_without_numpy_it_says_which_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "numpy", None)  # import numpy now raises ImportError
    assert spte.decode_many([0x1], "ept", 1)["read"] == [1]  # plain Python
    with pytest.raises(ImportError, match=r"spte-toolkit\[numpy\]"):
        spte.decode_many([0x1], "ept", 1, numpy=True)
