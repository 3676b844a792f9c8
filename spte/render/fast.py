"""Precomputed per-(format, level, platform) renderers for the hot paths of the CLI.

``spte decode --line`` and ``--json`` over millions of values cannot afford per-value
objects.  A :class:`FastDecoder` turns the field tables into lookup tables (flag text for
bits 0-11 and 52-63) and generated code (a JSON f-string per class), and finds problems
the way KVM does: a 64-entry bitmap over bits 5:0 for EPT memory-type/XWR
misconfigurations (``bad_mt_xwr``) plus the reserved mask.  Everything is derived from
the same tables as :class:`~spte.entry.Entry`; tests check the fast output against the
slow path for random values.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from spte.bits import FieldInfo, Layout, Role
from spte.entry import CLASSES, PS_BIT, Entry, canonical_format
from spte.platform import DEFAULT_PLATFORM, Platform

LOW_BITS, HIGH_SHIFT = 12, 52


def _fragment(fields: list[FieldInfo], value: int, enums: dict[str, dict[int, str]]) -> list[str]:
    parts = []
    for f in fields:
        v = (value >> f.lo) & f.max
        if not v:
            continue
        label = f.label if f.role.is_hardware else f.name  # an inactive field shows its full name
        if f.width == 1 and f.role.is_hardware:
            parts.append(label)
        elif f.name in enums and v in enums[f.name]:
            parts.append(f"{label}={enums[f.name][v]}")
        else:
            parts.append(f"{label}={v:#x}")
    return parts


class _ClassTables:
    """Lookup tables for one entry class on one platform."""

    def __init__(self, cls: type[Entry], platform: Platform) -> None:
        self.cls = cls
        layout: Layout = cls.layout(platform)
        self.layout = layout
        enums = {k: {code: name for name, code in v.items()} for k, v in cls.ENUMS.items()}
        low = [f for f in layout.fields if f.hi < LOW_BITS]
        high = [f for f in layout.fields if f.lo >= HIGH_SHIFT]
        self.mid = [(f.label if f.role.is_hardware else f.name, f.mask, f.role is Role.RESERVED)
                    for f in layout.fields
                    if f.lo >= LOW_BITS and f.hi < HIGH_SHIFT and f.role is not Role.ADDRESS]
        # Flags first, then name=value fields, like the kernel's trace flags.
        self.low = [_fragment(low, v, enums) for v in range(1 << LOW_BITS)]
        self.high = [_fragment(high, v << HIGH_SHIFT, enums) for v in range(1 << (cls.WIDTH - HIGH_SHIFT))] \
            if cls.WIDTH > HIGH_SHIFT else [[]]
        self.address_mask = layout.address_mask
        self.reserved_mask = layout.reserved_mask
        self.present_mask = cls.present_mask(platform)
        # KVM-style bitmap over bits 5:0: which low patterns are EPT misconfigurations.
        self.bad_low = 0
        if cls.FORMAT == "ept":
            for i in range(64):
                if any(p.kind != "reserved_bits" for p in cls(i, platform).problems()):
                    self.bad_low |= 1 << i
        self.mbec_present = cls.FORMAT == "ept" and platform.ept_mbec
        self.name = cls.__name__
        self.json = _json_function(cls, layout)

    def has_problem(self, v: int) -> bool:
        if not v & self.present_mask:
            return False
        return bool(v & self.reserved_mask or (self.bad_low >> (v & 0x3F)) & 1 or
                    (self.mbec_present and v & 0x400 and not v & 3))


def _json_function(cls: type[Entry], layout: Layout) -> Callable[[int, str], str]:
    """A generated function: value -> the constant part of the JSON object (no problems/input)."""
    head = json.dumps({"format": cls.FORMAT, "level": cls.LEVEL, "class": cls.__name__,
                       "leaf": cls.LEAF, "page_size": 1 << cls.SPAN_SHIFT})[1:-1]
    fields = ",".join(f'"{f.name}":{{(v >> {f.lo}) & {f.max:#x}}}' for f in layout.fields)
    am = layout.address_mask
    src = (f"def render(v, present):\n"
           f"    return f'{{{{\"value\":\"{{v:#0{cls.WIDTH // 4 + 2}x}}\",{head.replace('{', '{{').replace('}', '}}')},"
           f"\"present\":{{present}},\"address\":\"{{v & {am:#x}:#x}}\",\"pfn\":\"{{(v & {am:#x}) >> 12:#x}}\","
           f"\"fields\":{{{{{fields}}}}}'\n")
    ns: dict[str, Any] = {}
    exec(src, ns)  # generated from the field table
    fn: Callable[[int, str], str] = ns["render"]
    return fn


class FastDecoder:
    """Decode raw values of one format/level/platform to one line or one JSON object."""

    def __init__(self, format: str, level: int, platform: Platform | None = None) -> None:
        fmt = canonical_format(format)
        self.platform = platform or DEFAULT_PLATFORM
        table_cls, large_cls = CLASSES[fmt][level]
        self.width = table_cls.WIDTH
        self.max = (1 << self.width) - 1
        self.table = _ClassTables(table_cls, self.platform)
        self.large = _ClassTables(large_cls, self.platform) if large_cls is not None else None
        if fmt == "x86-32" and not self.platform.pse:
            self.large = None  # CR4.PSE=0: PS is ignored

    def tables(self, v: int) -> _ClassTables:
        if self.large is not None and v >> PS_BIT & 1:
            return self.large
        return self.table

    def entry(self, v: int) -> Entry:
        return self.tables(v).cls(v, self.platform)

    def line(self, v: int) -> str:
        t = self.large if self.large is not None and v >> PS_BIT & 1 else self.table
        parts = t.low[v & 0xFFF] + t.high[v >> HIGH_SHIFT]
        flags = "|".join(p for p in parts if "=" not in p)
        rest = [p for p in parts if "=" in p]
        for label, mask, _ in t.mid:
            if v & mask:
                rest.append(label if mask & (mask - 1) == 0 else f"{label}={v & mask:#x}")
        out = f"{v:#0{self.width // 4 + 2}x} {t.name} {flags or '-'}"
        if rest:
            out += " " + " ".join(rest)
        out += f" pfn={(v & t.address_mask) >> 12:#x}"
        if not v & t.present_mask:
            out += " (not present)"
        elif t.has_problem(v):
            out += " !" + ",!".join(p.kind for p in t.cls(v, self.platform).problems())
        return out

    def json(self, v: int, source: str | None = None) -> str:
        t = self.large if self.large is not None and v >> PS_BIT & 1 else self.table
        present = bool(v & t.present_mask)
        body = t.json(v, "true" if present else "false")
        problems = "[]"
        if present and t.has_problem(v):
            problems = json.dumps([{"kind": p.kind, "bits": f"{p.bits:#x}", "message": p.message}
                                   for p in t.cls(v, self.platform).problems()])
        tail = f',"reserved_bits":"{v & t.reserved_mask:#x}","problems":{problems}'
        if source is not None:
            tail += f',"input":{json.dumps(source)}'
        return body + tail + "}"
