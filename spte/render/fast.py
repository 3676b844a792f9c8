"""Precomputed per-(format, level, platform) renderers for the hot paths of the CLI.

``spte decode --line``/``--json`` over millions of values cannot afford per-value objects
or calls.  A :class:`FastDecoder` turns the field tables into lookup tables -- text for
every pattern of bits 11:0 and of bits 63:52 -- and generates code that formats the bits
in between; the CLI's whole batch loop (parse, range-check, format) is generated too.
Problems are found the way KVM finds them: a table over the low bits (EPT XWR and
memory-type misconfigurations, like KVM's ``bad_mt_xwr`` bitmap) plus the reserved mask.
Everything derives from the same tables as :class:`~spte.entry.Entry`; the texts come from
:meth:`Entry.problems`, and tests compare the fast output with the slow path.
"""

from __future__ import annotations

import json
import textwrap
from collections.abc import Callable
from typing import Any

from spte.bits import FieldInfo, Role
from spte.entry import CLASSES, PS_BIT, Entry, canonical_format
from spte.platform import DEFAULT_PLATFORM, Platform

LOW_BITS, HIGH_SHIFT = 12, 52
Batch = Callable[[list[bytes], int, Callable[[int, bytes, str], None]], list[str]]


def _words(fields: list[FieldInfo], value: int, enums: dict[str, dict[int, str]]) -> tuple[str, str]:
    """(``'R|W|'`` flags with a trailing bar, ``' MT=WB ignored_11=0x1'``) for ``value``."""
    flags, rest = [], []
    for f in fields:
        v = (value >> f.lo) & f.max
        if not v:
            continue
        label = f.label if f.role.is_hardware else f.name  # an inactive field shows its full name
        if f.width == 1 and f.role.is_hardware:
            flags.append(label + "|")
        elif f.name in enums and v in enums[f.name]:
            rest.append(f" {label}={enums[f.name][v]}")
        else:
            rest.append(f" {label}={v:#x}")
    return "".join(flags), "".join(rest)


def _problems_json(entry: Entry) -> str:
    return json.dumps([{"kind": p.kind, "bits": f"{p.bits:#x}", "message": p.message} for p in entry.problems()],
                      separators=(",", ":"))


class _ClassTables:
    """A cache and generated statements for one entry class on one platform.

    Everything but the address bits is cached per distinct pattern (``key = v & ~address``):
    real SPTEs repeat their flag patterns, so the hot path only formats the value and the
    address.  A cache miss is built from memoised text for bits 11:0 and 63:52.  The
    statements set ``s`` from ``v``; names carry ``prefix`` so two classes share a namespace.
    """

    def __init__(self, cls: type[Entry], platform: Platform, prefix: str) -> None:
        self.cls, self.platform = cls, platform
        layout = cls.layout(platform)
        self.layout = layout
        self.address_mask = layout.address_mask
        enums = {k: {code: name for name, code in v.items()} for k, v in cls.ENUMS.items()}
        low = [f for f in layout.fields if f.hi < LOW_BITS]
        high = [f for f in layout.fields if f.lo >= HIGH_SHIFT]
        mid = [f for f in layout.fields if f not in low and f not in high]
        pmask = cls.present_mask(platform)
        am, rsvd, name = layout.address_mask, layout.reserved_mask, cls.__name__
        mid_words = [(f, f.label if f.role.is_hardware else f.name) for f in mid if f.role is not Role.ADDRESS]
        low_memo: dict[int, tuple[str, str, str, bool, bool, str, str]] = {}
        high_memo: dict[int, tuple[str, str, str]] = {}

        def low_info(lo: int) -> tuple[str, str, str, bool, bool, str, str]:
            """Text for bits 11:0, memoised: (flags, fields, suffix, present, low problem, json, problems)."""
            info = low_memo.get(lo)
            if info is None:
                flags, rest = _words(low, lo, enums)
                entry = cls(lo, platform)
                # Reserved bits are checked per value (they may lie outside bits 11:0).
                kinds = ",!".join(p.kind for p in entry.problems() if p.kind != "reserved_bits")
                present = bool(lo & pmask)
                suffix = (" !" + kinds if kinds else "") if present else " (not present)"
                fields = "".join(f'"{f.name}":{(lo >> f.lo) & f.max},' for f in low)
                info = low_memo[lo] = (flags, rest, suffix, present, bool(kinds), fields, _problems_json(entry))
            return info

        def high_info(hi: int) -> tuple[str, str, str]:
            info = high_memo.get(hi)
            if info is None:
                flags, rest = _words(high, hi << HIGH_SHIFT, enums)
                fields = "".join(f'"{f.name}":{((hi << HIGH_SHIFT) >> f.lo) & f.max},' for f in high)
                info = high_memo[hi] = (flags, rest, fields)
            return info

        def line_miss(v: int) -> str:
            lf, lr, suffix, present, low_problem, _, _ = low_info(v & 0xFFF)
            hf, hr, _ = high_info(v >> HIGH_SHIFT)
            words = "".join((f" {label}" if f.width == 1 and f.role.is_hardware
                             else f" {label}={(v >> f.lo) & f.max:#x}") for f, label in mid_words if v & f.mask)
            p = f"{name} {(lf + hf)[:-1] or '-'}{lr}{words}{hr}{suffix}"
            if v & rsvd and present:
                p += (",!" if low_problem else " !") + "reserved_bits"
            return p

        def json_miss(v: int) -> tuple[str, ...]:
            _, _, _, present, _, cur, problems = low_info(v & 0xFFF)
            parts = []
            for f in mid:
                if f.role is Role.ADDRESS:
                    parts.append(f'{cur}"{f.name}":')
                    cur = ","
                else:
                    cur += f'"{f.name}":{(v >> f.lo) & f.max},'
            if v & rsvd and present:
                problems = _problems_json(cls(v, platform))
            parts.append(f'{(cur + high_info(v >> HIGH_SHIFT)[2]).rstrip(",")}}},"present":'
                         f'{"true" if present else "false"},"reserved_bits":"{v & rsvd:#x}","problems":{problems}}}')
            return tuple(parts)

        p = prefix
        self.ns: dict[str, Any] = {f"{p}C": {}, f"{p}J": {}, f"{p}line_miss": line_miss, f"{p}json_miss": json_miss}
        # The address is a mask of the entry, except where the class computes it (PSE-36).
        if cls.address is Entry.address:
            address = f"(v & {am:#x})"
        else:
            self.ns[f"{p}address"] = lambda v: cls(v, platform).address
            address = f"{p}address(v)"
        key = f"v & {~am & ((1 << cls.WIDTH) - 1):#x}"
        head = json.dumps({"format": cls.FORMAT, "level": cls.LEVEL, "class": name, "leaf": cls.LEAF,
                           "page_size": 1 << cls.SPAN_SHIFT}, separators=(",", ":"))[1:-1]
        digits = cls.WIDTH // 4 + 2
        self.line_stmts = [
            f"p = {p}C.get({key})",
            "if p is None:",
            f"    if len({p}C) > {CACHE_LIMIT}:",
            f"        {p}C.clear()",
            f"    p = {p}C[{key}] = {p}line_miss(v)",
            f"s = {'%#0' + str(digits) + 'x pfn=%#x %s'!r} % (v, {address} >> 12, p)",  # %: fastest here
        ]
        json_head = '{"value":"%#0' + str(digits) + 'x",' + head + ',"address":"%#x","pfn":"%#x","fields":{'
        stmt = f"s = {json_head!r} % (v, {address}, {address} >> 12)"
        for i, f in enumerate(f for f in mid if f.role is Role.ADDRESS):
            stmt += f" + j[{i}] + str((v >> {f.lo}) & {f.max:#x})"
        stmt += f" + j[{sum(f.role is Role.ADDRESS for f in mid)}]"
        self.json_stmts = [
            f"j = {p}J.get({key})",
            "if j is None:",
            f"    if len({p}J) > {CACHE_LIMIT}:",
            f"        {p}J.clear()",
            f"    j = {p}J[{key}] = {p}json_miss(v)",
            stmt,
        ]


CACHE_LIMIT = 1 << 16  # distinct non-address patterns kept per class


class FastDecoder:
    """Decode raw values of one format/level/platform to one line or one JSON object.

    >>> FastDecoder("ept", 1).line(0x8600000001234b77).split()[:4]
    ['0x8600000001234b77', 'pfn=0x1234', 'EptPte', 'R|W|X|IPAT|A|D|SVE']
    """

    def __init__(self, format: str, level: int, platform: Platform | None = None) -> None:
        fmt = canonical_format(format)
        self.platform = platform or DEFAULT_PLATFORM
        table_cls, large_cls = CLASSES[fmt][level]
        self.width = table_cls.WIDTH
        self.max = (1 << self.width) - 1
        self.table = _ClassTables(table_cls, self.platform, "t_")
        self.large = _ClassTables(large_cls, self.platform, "l_") if large_cls is not None else None
        if fmt == "x86-32" and not self.platform.pse:
            self.large = None  # CR4.PSE=0: PS is ignored
        self.ns: dict[str, Any] = {**self.table.ns, **(self.large.ns if self.large else {})}
        self.line: Callable[[int], str] = self._single("line_stmts")
        self.json: Callable[[int], str] = self._single("json_stmts")

    def _select(self, which: str, indent: str) -> list[str]:
        """Statements that set ``s`` for value ``v``, choosing the class by PS where needed."""
        table = getattr(self.table, which)
        if self.large is None:
            return [indent + s for s in table]
        large = getattr(self.large, which)
        return [f"{indent}if v & {1 << PS_BIT:#x}:", *[f"{indent}    {s}" for s in large],
                f"{indent}else:", *[f"{indent}    {s}" for s in table]]

    def _compile(self, src: str, name: str) -> Any:
        ns = dict(self.ns)
        exec(src, ns)  # generated from the field tables
        return ns[name]

    def _single(self, which: str) -> Callable[[int], str]:
        body = "\n".join(self._select(which, "    "))
        fn: Callable[[int], str] = self._compile(
            f"def one(v):\n{body}\n    return s\n", "one")
        return fn

    def batch(self, which: str, decimal: bool = False) -> Batch:
        """A generated loop: lines of tokens -> rendered strings; bad tokens go to ``bad``.

        ``bad(lineno, token, reason)`` is called with reason ``"parse"`` or ``"range"``.
        """
        parse = "int(tok, 16) if tok[:2] in (b'0x', b'0X') else int(tok, 10)" if decimal else "int(tok, 16)"
        fast_parse = "int(line, 10)" if decimal else "int(line, 16)"
        body = "\n".join(self._select(f"{which}_stmts", " " * 8))
        # The common case is one value per line: int() takes the whole line (it ignores the
        # surrounding whitespace); anything else falls back to splitting the line into tokens.
        src = f"""
def batch(lines, first, bad):
    out = []
    append = out.append
    for i, line in enumerate(lines):
        try:
            v = {fast_parse}
            if v < 0 or v > {self.max:#x}:
                raise ValueError
        except ValueError:
            for v in slow_tokens(line, first + i, bad):
{textwrap.indent(body, " " * 8)}
                append(s)
            continue
{body}
        append(s)
    return out


def slow_tokens(line, lineno, bad):
    for tok in line.replace(b",", b" ").split():
        try:
            v = {parse}
        except ValueError:
            bad(lineno, tok, "parse")
            continue
        if v < 0 or v > {self.max:#x}:
            bad(lineno, tok, "parse" if v < 0 else "range")
            continue
        yield v
"""
        fn: Batch = self._compile(src, "batch")
        return fn

    def tables(self, v: int) -> _ClassTables:
        if self.large is not None and v >> PS_BIT & 1:
            return self.large
        return self.table

    def entry(self, v: int) -> Entry:
        return self.tables(v).cls(v, self.platform)
