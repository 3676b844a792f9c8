"""Table-driven one-line and JSON renderers for the hot paths (``decode --line/--json``).

Millions of values cannot afford an object per value.  A line is composed from pieces
looked up by the value's own bits, so no input shape is slow: bits 11:0 (flags, memory
type, presence and the EPT misconfigurations, which all live there) and bits 63:52 each
index a memo of at most 4096 pieces, built from the field tables on first use; the bits
between (the address, reserved physical-address bits, PAT and alignment bits of large
pages, the C-bit) are formatted per value.  Reserved-bit problems take the object path
(:meth:`Entry.problems`), so their text has one source.  Tests compare every output with
the object path.

Bits an owner names (``hide``) are left out of the hardware's *ignored* fields, so a bit
renders once, under the owner's name.  A not-present entry shows the bits hardware still
reads (EPT SUPPRESS_VE) and the rest as one raw ``ignored=`` value: its other bits mean
nothing to hardware, so no live-looking flags are shown for them.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator

from spte.bits import FieldInfo, Role, field_words
from spte.entry import CLASSES, Entry, canonical_format
from spte.platform import DEFAULT_PLATFORM, Platform

LOW_BITS, HIGH_SHIFT = 12, 52
LOW_MASK = (1 << LOW_BITS) - 1
Bad = Callable[[int, bytes, str], None]
Batch = Callable[[list[bytes], int, Bad], list[str]]


def _problems_json(entry: Entry) -> str:
    return json.dumps([{"kind": p.kind, "bits": f"{p.bits:#x}", "message": p.message} for p in entry.problems()],
                      separators=(",", ":"))


def _text(fields: list[FieldInfo], value: int, enums: dict[str, dict[int, str]]) -> tuple[str, str]:
    """(``'R|W|'`` flags with a trailing bar, ``' MT=WB ignored_11=0x1'``) for ``value``."""
    flags, words = field_words(fields, value, enums)
    return "".join(f + "|" for f in flags), "".join(" " + w for w in words)


class ClassRenderer:
    """Line and JSON text for one entry class on one platform."""

    def __init__(self, cls: type[Entry], platform: Platform, hide: int = 0) -> None:
        self.cls, self.platform = cls, platform
        layout = cls.layout(platform)
        self.layout = layout
        self.enums = cls.enum_names()
        self.low = [f for f in layout.fields if f.hi < LOW_BITS]
        self.high = [f for f in layout.fields if f.lo >= HIGH_SHIFT]
        self.mid = [f for f in layout.fields if f not in self.low and f not in self.high]
        # Ignored bits an owner names are dropped from the hardware's words.
        self.keep = ~(hide & layout.ignored_mask) & ((1 << cls.WIDTH) - 1)
        self.mid_words = [f for f in self.mid if f.role is not Role.ADDRESS]
        self.mid_words_mask = sum(f.mask for f in self.mid_words)
        self.reserved_mask = layout.reserved_mask
        # A not-present entry shows only what hardware still reads; the rest is one raw value.
        self.not_present_fields = [f for f in layout.fields if f.read_not_present]
        self.not_present_ignored = ~(layout.present_mask | layout.not_present_read_mask) & ((1 << cls.WIDTH) - 1)
        self.address_mask = layout.address_mask
        self.address: Callable[[int], int] = (
            (lambda v: v & layout.address_mask) if layout.address_is_mask else layout.address)
        self.digits = cls.WIDTH // 4 + 2
        self.head = f"{cls.__name__} "
        self.json_head = json.dumps({"format": cls.FORMAT, "level": cls.LEVEL, "class": cls.__name__,
                                     "leaf": cls.LEAF, "page_size": (1 << cls.SPAN_SHIFT) if cls.LEAF else None,
                                     "span": 1 << cls.SPAN_SHIFT}, separators=(",", ":"))[1:-1]
        self._low: dict[int, tuple[str, str, str, bool, bool, str, str]] = {}
        self._high: dict[int, tuple[str, str, str]] = {}

    def low_piece(self, lo: int) -> tuple[str, str, str, bool, bool, str, str]:
        """Bits 11:0: (flags, words, suffix, present, low problem, JSON fields, JSON problems)."""
        piece = self._low.get(lo)
        if piece is None:
            flags, words = _text(self.low, lo, self.enums)
            entry = self.cls(lo, self.platform)
            # Reserved bits are checked per value (they lie outside bits 11:0).
            kinds = ",!".join(p.kind for p in entry.problems() if p.kind != "reserved_bits")
            present = entry.present
            suffix = (" !" + kinds if kinds else "") if present else " (not present)"
            fields = "".join(f'"{f.name}":{(lo >> f.lo) & f.max},' for f in self.low)
            piece = self._low[lo] = (flags, words, suffix, present, bool(kinds), fields, _problems_json(entry))
        return piece

    def high_piece(self, hi: int) -> tuple[str, str, str]:
        """Bits 63:52: (flags, words, JSON fields)."""
        piece = self._high.get(hi)
        if piece is None:
            v = hi << HIGH_SHIFT
            flags, words = _text(self.high, v, self.enums)
            fields = "".join(f'"{f.name}":{(v >> f.lo) & f.max},' for f in self.high)
            piece = self._high[hi] = (flags, words, fields)
        return piece

    def line(self, v: int) -> str:
        shown = v & self.keep
        lf, lw, suffix, present, low_problem, _, _ = self.low_piece(shown & LOW_MASK)
        if not present:
            flags = field_words(self.not_present_fields, v)[0]
            rest = v & self.not_present_ignored
            return (f"{v:#0{self.digits}x} pfn={self.address(v) >> 12:#x} {self.head}{'|'.join(flags) or '-'}"
                    f"{f' ignored={rest:#x}' if rest else ''}{suffix}")
        hf, hw, _ = self.high_piece(shown >> HIGH_SHIFT)
        mid = ""
        if shown & self.mid_words_mask:
            flags, words = field_words(self.mid_words, shown)
            mid = "".join(" " + w for w in words)
            hf = "".join(f + "|" for f in flags) + hf
        if v & self.reserved_mask and present:
            suffix += (",!" if low_problem else " !") + "reserved_bits"
        return (f"{v:#0{self.digits}x} pfn={self.address(v) >> 12:#x} {self.head}"
                f"{(lf + hf)[:-1] or '-'}{lw}{mid}{hw}{suffix}")

    def json(self, v: int) -> str:
        _, _, _, present, _, fields, problems = self.low_piece(v & LOW_MASK)
        parts = [fields]
        for f in self.mid:
            parts.append(f'"{f.name}":{(v >> f.lo) & f.max},')
        parts.append(self.high_piece(v >> HIGH_SHIFT)[2])
        if v & self.reserved_mask and present:
            problems = _problems_json(self.cls(v, self.platform))
        address = self.address(v)
        return (f'{{"value":"{v:#0{self.digits}x}",{self.json_head},"address":"{address:#x}",'
                f'"pfn":"{address >> 12:#x}","fields":{{{"".join(parts).rstrip(",")}}},'
                f'"present":{"true" if present else "false"},"reserved_bits":"{v & self.reserved_mask:#x}",'
                f'"problems":{problems}}}')


class FastDecoder:
    """Decode raw values of one format/level/platform to one line or one JSON object.

    >>> FastDecoder("ept", 1).line(0x8600000001234b77).split()[:4]
    ['0x8600000001234b77', 'pfn=0x1234', 'EptPte', 'R|W|X|IPAT|A|D|SVE']
    """

    def __init__(self, format: str, level: int, platform: Platform | None = None, *, hide: int = 0) -> None:
        fmt = canonical_format(format)
        self.platform = platform or DEFAULT_PLATFORM
        table_cls, large_cls = CLASSES[fmt][level]
        self.width = table_cls.WIDTH
        self.max = (1 << self.width) - 1
        self.table = ClassRenderer(table_cls, self.platform, hide)
        # The table form's PS row selects the large form (none where the platform ignores PS).
        self.page_size_mask = table_cls.layout(self.platform).page_size_mask if large_cls else 0
        self.large = ClassRenderer(large_cls, self.platform, hide) if large_cls and self.page_size_mask else None

    def renderer(self, v: int) -> ClassRenderer:
        if self.large is not None and v & self.page_size_mask:
            return self.large
        return self.table

    def line(self, v: int) -> str:
        return self.renderer(v).line(v)

    def json(self, v: int) -> str:
        return self.renderer(v).json(v)

    def entry(self, v: int) -> Entry:
        return self.renderer(v).cls(v, self.platform)

    def batch(self, which: str, decimal: bool = False) -> Batch:
        """Lines of tokens -> rendered strings; bad tokens go to ``bad(lineno, token, reason)``."""
        return token_batch(self.line if which == "line" else self.json, self.max, decimal)


def parse_token(tok: bytes, decimal: bool) -> int:
    """One value token: hex (``0x`` optional), or decimal with ``decimal`` unless ``0x``-prefixed."""
    if decimal and tok[:2] not in (b"0x", b"0X"):
        return int(tok, 10)
    return int(tok, 16)


def tokens(line: bytes, lineno: int, maxv: int, decimal: bool, bad: Bad) -> Iterator[int]:
    """The values of one input line (comma or blank separated); bad tokens are reported."""
    for tok in line.replace(b",", b" ").split():
        try:
            v = parse_token(tok, decimal)
        except ValueError:
            bad(lineno, tok, "parse")
            continue
        if v < 0 or v > maxv:
            bad(lineno, tok, "parse" if v < 0 else "range")
            continue
        yield v


def token_batch(render: Callable[[int], str], maxv: int, decimal: bool) -> Batch:
    """The batch loop every decode style shares: one value per line is the fast case."""
    base = 10 if decimal else 16

    def batch(lines: list[bytes], first: int, bad: Bad) -> list[str]:
        out: list[str] = []
        append = out.append
        for i, line in enumerate(lines):
            try:
                v = int(line, base)  # int() ignores the surrounding whitespace
                if v < 0 or v > maxv:
                    raise ValueError
            except ValueError:
                out.extend(render(v) for v in tokens(line, first + i, maxv, decimal, bad))
                continue
            append(render(v))
        return out

    return batch
