"""Columnar decoding: many raw entries of one format/level at once, field by field.

Walkers and dump tooling read whole 512-entry tables; building an object per entry is the
wrong shape for that.  :func:`decode_many` returns one column per field of the entry's
field tables (the same :class:`~spte.bits.Layout` rows every other view derives from) plus
``present``, ``large``, ``address``, ``pfn`` and ``reserved_bits``.  With numpy installed
(the optional ``numpy`` extra) the columns are ``uint64``/``bool`` arrays computed with
vectorised masks; without it, or with ``numpy=False``, they are lists of ints/bools.

At a level with a large-page form, the page-size bit picks each value's form, as
:func:`spte.decode` does; a field's column holds the field of the form that applies, and 0
where that form has no such field.

>>> cols = decode_many([0x8600000001234B77, 0x0], "ept", 1, numpy=False)
>>> cols["read"], cols["memory_type"], [hex(p) for p in cols["pfn"]], cols["present"]
([1, 0], [6, 0], ['0x1234', '0x0'], [True, False])
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Sequence
from typing import Any

from spte.bits import FieldInfo, Layout, Role
from spte.entry import CLASSES, canonical_format
from spte.platform import DEFAULT_PLATFORM, Platform

TABLE_ENTRIES = 512  # entries of one 4 KiB paging structure (64-bit entries)


def _numpy() -> Any:
    """numpy if installed (imported on first use), else None."""
    try:
        import numpy
    except ImportError:
        return None
    return numpy


def _address_terms(layout: Layout) -> list[tuple[int, int, int]]:
    """(lo, max, pa_lo) per address field: the address is the OR of ``((v >> lo) & max) << pa_lo``."""
    return [(f.lo, f.max, f.lo if f.pa_lo is None else f.pa_lo) for f in layout.fields if f.role is Role.ADDRESS]


def _fields_in_order(table: Layout, large: Layout | None) -> list[str]:
    names = [f.name for f in table.fields]
    if large is not None:
        names += [f.name for f in large.fields if f.name not in table.by_name]
    return names


def decode_many(values: Iterable[int] | bytes | Any, format: str, level: int, platform: Platform | None = None,
                *, numpy: bool | None = None) -> dict[str, Any]:
    """Columns of ``values`` decoded as ``format`` entries at ``level``.

    ``values``: ints, a numpy integer array, or raw little-endian bytes as the table sits in
    memory (``8 * 512`` bytes for one 64-bit table).  ``numpy``: None uses numpy when it is
    installed; True requires it (ImportError naming the ``numpy`` extra otherwise); False
    never uses it.  Values wider than the format raise ValueError.
    """
    fmt = canonical_format(format)
    levels = CLASSES[fmt]
    if level not in levels:
        raise ValueError(f"format {format!r} has no level {level}: levels are "
                         f"{', '.join(map(str, sorted(levels)))}")
    platform = platform or DEFAULT_PLATFORM
    table_cls, large_cls = levels[level]
    table = table_cls.layout(platform)
    large = large_cls.layout(platform) if large_cls is not None and table.page_size_mask else None
    np = _numpy() if numpy is not False else None
    if numpy and np is None:
        raise ImportError("decode_many(numpy=True) needs numpy: pip install 'spte-toolkit[numpy]'")
    width = table_cls.WIDTH
    if np is not None:
        return _columns_numpy(np, values, width, table, large)
    return _columns_python(_ints(values, width), width, table, large)


def _ints(values: Iterable[int] | bytes | Any, width: int) -> list[int]:
    if isinstance(values, (bytes, bytearray, memoryview)):
        data = bytes(values)
        n = width // 8
        if len(data) % n:
            raise ValueError(f"{len(data)} bytes is not a whole number of {n}-byte entries")
        return [int.from_bytes(data[i:i + n], "little") for i in range(0, len(data), n)]
    out = [int(v) for v in values]
    top = (1 << width) - 1
    for v in out:
        if not 0 <= v <= top:
            raise ValueError(f"{v:#x} does not fit in {width} bits")
    return out


def _python_field(vs: Sequence[int], f: FieldInfo) -> list[int]:
    lo, m = f.lo, f.max
    return [(v >> lo) & m for v in vs]


def _columns_python(vs: list[int], width: int, table: Layout, large: Layout | None) -> dict[str, Any]:
    ps = large is not None and table.page_size_mask
    is_large = [bool(v & ps) for v in vs] if ps else [False] * len(vs)
    out: dict[str, Any] = {"value": vs, "large": is_large}
    for name in _fields_in_order(table, large):
        t, g = table.by_name.get(name), large.by_name.get(name) if large else None
        if not ps or (t is not None and g is not None and (t.lo, t.width) == (g.lo, g.width)):
            assert t is not None
            out[name] = _python_field(vs, t)
            continue
        zeros = [0] * len(vs)
        tcol, gcol = (_python_field(vs, t) if t else zeros), (_python_field(vs, g) if g else zeros)
        out[name] = [y if big else x for x, y, big in zip(tcol, gcol, is_large, strict=True)]

    def per_form(fn_table: Any, fn_large: Any) -> list[Any]:
        if not ps:
            return [fn_table(v) for v in vs]
        return [fn_large(v) if big else fn_table(v) for v, big in zip(vs, is_large, strict=True)]

    def address_of(layout: Layout) -> Any:
        if layout.address_is_mask:
            m = layout.address_mask
            return lambda v: v & m
        terms = _address_terms(layout)
        return lambda v: sum(((v >> lo) & mx) << pa for lo, mx, pa in terms)

    lay_l = large or table
    out["present"] = per_form(lambda v: bool(v & table.present_mask), lambda v: bool(v & lay_l.present_mask))
    out["address"] = per_form(address_of(table), address_of(lay_l))
    out["pfn"] = [a >> 12 for a in out["address"]]
    out["reserved_bits"] = per_form(lambda v: v & table.reserved_mask, lambda v: v & lay_l.reserved_mask)
    return out


def _columns_numpy(np: Any, values: Any, width: int, table: Layout, large: Layout | None) -> dict[str, Any]:
    dtype = np.uint64  # also for 32-bit entries: a PSE-36 address is wider than the entry
    if isinstance(values, (bytes, bytearray, memoryview)):
        n = width // 8
        if len(values) % n:
            raise ValueError(f"{len(values)} bytes is not a whole number of {n}-byte entries")
        raw = np.uint64 if width == 64 else np.uint32
        vs = np.frombuffer(values, dtype=np.dtype(raw).newbyteorder("<")).astype(dtype)
    elif isinstance(values, np.ndarray):
        if values.dtype.kind == "i" and values.size and values.min() < 0:
            raise ValueError(f"{int(values.min()):#x} does not fit in {width} bits")
        if values.dtype.itemsize * 8 > width and values.size and int(values.max()) >> width:
            raise ValueError(f"{int(values.max()):#x} does not fit in {width} bits")
        vs = values.astype(dtype)
    else:
        vs = np.array(_ints(values, width), dtype=dtype)

    plan = _numpy_plan(np, table, large)
    is_large = (vs & plan.ps) != 0 if plan.ps is not None else np.zeros(vs.shape, dtype=bool)
    small = ~is_large
    out: dict[str, Any] = {"value": vs, "large": is_large}
    zero = np.zeros(vs.shape, dtype=dtype)
    for name, tf, gf in plan.fields:  # (shift, max) of the table form / large form, None where absent
        tcol = (vs >> tf[0]) & tf[1] if tf is not None else zero
        if gf is None:
            out[name] = tcol if large is None else tcol * small
        elif gf == tf:
            out[name] = tcol
        else:
            out[name] = np.where(is_large, (vs >> gf[0]) & gf[1], tcol)

    def address(terms: tuple[Any, ...] | Any) -> Any:
        if not isinstance(terms, tuple):
            return vs & terms
        acc = zero.copy()
        for lo, mx, pa in terms:
            acc |= ((vs >> lo) & mx) << pa
        return acc

    forms = plan.forms
    if large is None:
        present_mask, address_terms, reserved_mask = forms[0]
        out["present"] = (vs & present_mask) != 0
        out["address"] = address(address_terms)
        out["reserved_bits"] = vs & reserved_mask
    else:
        (tp, ta, tr), (gp, ga, gr) = forms
        out["present"] = np.where(is_large, (vs & gp) != 0, (vs & tp) != 0)
        out["address"] = np.where(is_large, address(ga), address(ta))
        out["reserved_bits"] = np.where(is_large, vs & gr, vs & tr)
    out["pfn"] = out["address"] >> plan.twelve
    return out


class _Plan:
    """numpy constants for one (table form, large form) pair, made once."""

    def __init__(self, np: Any, table: Layout, large: Layout | None) -> None:
        u = np.uint64
        self.ps = u(table.page_size_mask) if large is not None else None
        self.twelve = u(12)
        self.fields: list[tuple[str, tuple[Any, Any] | None, tuple[Any, Any] | None]] = []
        for name in _fields_in_order(table, large):
            t, g = table.by_name.get(name), large.by_name.get(name) if large else None
            tf = (u(t.lo), u(t.max)) if t is not None else None
            gf = (u(g.lo), u(g.max)) if g is not None else None
            if large is not None and t is not None and g is not None and (t.lo, t.width) == (g.lo, g.width):
                gf = tf
            self.fields.append((name, tf, gf if large is not None else None))
        # Fields only the large form has: no table-form column.
        self.fields = [(n, tf, gf) if tf is not None or gf is None else (n, None, gf) for n, tf, gf in self.fields]

        def form(lay: Layout) -> tuple[Any, Any, Any]:
            terms = (u(lay.address_mask) if lay.address_is_mask
                     else tuple((u(lo), u(mx), u(pa)) for lo, mx, pa in _address_terms(lay)))
            return u(lay.present_mask), terms, u(lay.reserved_mask)

        self.forms = [form(table)] + ([form(large)] if large is not None else [])


_PLANS: dict[tuple[int, int], _Plan] = {}  # by the ids of the (long-lived, per-class cached) layouts


def _numpy_plan(np: Any, table: Layout, large: Layout | None) -> _Plan:
    key = (id(table), id(large))
    plan = _PLANS.get(key)
    if plan is None:
        plan = _PLANS[key] = _Plan(np, table, large)
    return plan


def numpy_available() -> bool:
    """Whether :func:`decode_many` will use numpy by default (without importing it twice)."""
    return "numpy" in sys.modules or _numpy() is not None
