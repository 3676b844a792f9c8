"""Table-driven one-line and JSON renderers for the hot paths (``decode --line/--json``).

Millions of values cannot afford an object per value, and no input shape may be slow.
A line is composed from pieces indexed by the value's own bits, each table bounded by
construction and filled on first use from the field tables (so one value costs one
piece, not a table):

- bits 11:0 (flags, memory type, presence and the EPT misconfigurations, which all live
  there): 4096 pieces, each with the line's flags, words and problem suffix;
- bits 63:52: 4096 pieces of flags and words;
- the non-address bits between (reserved physical-address bits, PAT and alignment bits of
  large pages, the C-bit): one piece per pattern when they are at most ``MID_TABLE_BITS``
  bits, else formatted per value;
- the address itself is formatted per value: it is the one part that never repeats.

Lookups are list indexing, never a cache that can be thrashed.  Reserved-bit problems in
JSON take the object path (:meth:`Entry.problems`), so their text has one source.  Tests
compare every output with the object path.

Bits an owner names (``hide``) are left out of the hardware's *ignored* fields, so a bit
renders once, under the owner's name.  A not-present entry shows the bits hardware still
reads (EPT SUPPRESS_VE) and the rest as one raw ``ignored=`` value: its other bits mean
nothing to hardware, so no live-looking flags are shown for them.
"""

from __future__ import annotations

from collections.abc import Callable

from spte.bits import FieldInfo, Role, field_words
from spte.entry import CLASSES, Entry, Problem, canonical_format
from spte.platform import DEFAULT_PLATFORM, Platform

LOW_BITS, HIGH_SHIFT = 12, 52
LOW_MASK = (1 << LOW_BITS) - 1
PATTERNS = 1 << 14  # memoised line endings per class (present values' non-address bits)
MID_TABLE_BITS = 16  # a middle pattern of at most this many bits gets a table (<= 64 Ki pieces)
Render = Callable[[int], str]
# Line pieces.  Flags carry a leading bar ("|R|W|X") so low, middle and high flags join by
# concatenation; the line drops the first bar.
LowLine = tuple[str, int, str, str, str, bool]  # name+flags, high-flags form, words, suffix, reserved suffix, present
HighLine = tuple[str, str, str]  # flags after low flags ("|SVE"), flags alone ("SVE" or "-"), words
LowJson = tuple[str, bool, str]  # fields, present, problems


def _problem_list(problems: list[Problem]) -> str:
    import json  # only the JSON renderer's tables need it, built on first use

    return json.dumps([{"kind": p.kind, "bits": f"{p.bits:#x}", "message": p.message} for p in problems],
                      separators=(",", ":"))


def _text(fields: list[FieldInfo], value: int, enums: dict[str, dict[int, str]] | None) -> tuple[str, str]:
    """(``'|R|W'`` flags, each with a leading bar; ``' MT=WB ignored_11=0x1'``) for ``value``."""
    flags, words = field_words(fields, value, enums)
    return "".join("|" + f for f in flags), "".join(" " + w for w in words)


def _json_fields(fields: list[FieldInfo], value: int) -> str:
    return "".join(f'"{f.name}":{(value >> f.lo) & f.max},' for f in fields)


class ClassRenderer:
    """Line and JSON text for one entry class on one platform: ``line(v)`` and ``json(v)``."""

    line: Render
    json: Render

    def __init__(self, cls: type[Entry], platform: Platform, hide: int = 0) -> None:
        self.cls, self.platform = cls, platform
        layout = cls.layout(platform)
        self.layout = layout
        self.enums = cls.enum_names()
        self.width_mask = width_mask = (1 << cls.WIDTH) - 1
        self.low = [f for f in layout.fields if f.hi < LOW_BITS]
        self.high = [f for f in layout.fields if f.lo >= HIGH_SHIFT]
        self.mid = [f for f in layout.fields if f not in self.low and f not in self.high]
        # Ignored bits an owner names are dropped from the hardware's words.
        self.keep = ~(hide & layout.ignored_mask) & width_mask
        self.mid_words = [f for f in self.mid if f.role is not Role.ADDRESS]
        self.mid_words_mask = sum(f.mask for f in self.mid_words)
        self.reserved_mask = layout.reserved_mask
        # A not-present entry shows only what hardware still reads; the rest is one raw value.
        self.not_present_fields = [f for f in layout.fields if f.read_not_present]
        self.not_present_read_mask = layout.not_present_read_mask
        self.not_present_ignored = ~(layout.present_mask | layout.not_present_read_mask) & width_mask
        self.address_mask = layout.address_mask
        self.address: Callable[[int], int] = (
            (lambda v: v & layout.address_mask) if layout.address_is_mask else layout.address)
        self.digits = cls.WIDTH // 4 + 2
        self.head = f"{cls.__name__} "
        import json

        self.json_head = json.dumps({"format": cls.FORMAT, "level": cls.LEVEL, "class": cls.__name__,
                                     "leaf": cls.LEAF, "page_size": (1 << cls.SPAN_SHIFT) if cls.LEAF else None,
                                     "span": 1 << cls.SPAN_SHIFT}, separators=(",", ":"))[1:-1]
        self.high_bits = max(cls.WIDTH - HIGH_SHIFT, 0)
        # The tables: list slots filled on first use, so their size is fixed by the layout.
        self.low_line: list[LowLine | None] = [None] * (1 << LOW_BITS)
        self.low_bars: list[str] = [""] * (1 << LOW_BITS)  # bits 11:0's flags with a leading bar ("|R|W")
        self.low_json: list[LowJson | None] = [None] * (1 << LOW_BITS)
        self.high_line: list[HighLine | None] = [None] * (1 << self.high_bits)
        self.high_json: list[str | None] = [None] * (1 << self.high_bits)
        self.not_present: dict[int, str] = {}  # by the bits hardware reads when not present (a few bits)
        # Middle pattern -> piece, keyed by ``v & mid_words_mask`` (bounded by its bit count).
        self.mid_table = 0 < self.mid_words_mask.bit_count() <= MID_TABLE_BITS
        self.mid_line: dict[int, tuple[str, str]] = {0: ("", "")}
        self.reserved_json: dict[int, str] = {}
        self.presence_bit = layout.present_mask & -layout.present_mask
        self.line = self._line_renderer()
        self.json = self._json_renderer()

    # -- pieces (pure functions of their key) ------------------------------------------------
    def low_line_piece(self, lo: int) -> LowLine:
        """Bits 11:0 of a (shown) value: the class name and flags, which form of the high flags
        follows them, words, suffix, suffix if reserved bits are set, present."""
        piece = self.low_line[lo]
        if piece is None:
            flags, words = _text(self.low, lo, self.enums)
            entry = self.cls(lo, self.platform)
            # Reserved bits are checked per value (most lie outside bits 11:0).
            kinds = ",!".join(p.kind for p in entry.problems() if p.kind != "reserved_bits")
            present = entry.present
            if present:
                suffix = " !" + kinds if kinds else ""
                reserved = suffix + (",!" if kinds else " !") + "reserved_bits"
            else:
                suffix = reserved = " (not present)"
            self.low_bars[lo] = flags
            piece = self.low_line[lo] = (self.head + flags[1:], 0 if flags else 1, words, suffix, reserved, present)
        return piece

    def high_line_piece(self, hi: int) -> HighLine:
        """Bits 63:52 of a (shown) value: flags after low flags, flags alone, words."""
        piece = self.high_line[hi]
        if piece is None:
            flags, words = _text(self.high, hi << HIGH_SHIFT, self.enums)
            piece = self.high_line[hi] = (flags, flags[1:] or "-", words)
        return piece

    def mid_line_piece(self, m: int) -> tuple[str, str]:
        """The non-address bits between 12 and 51 (``m`` already masked): flags, words."""
        piece = self.mid_line.get(m)
        if piece is None:
            piece = _text(self.mid_words, m, self.enums)
            if self.mid_table:
                self.mid_line[m] = piece
        return piece

    def not_present_piece(self, r: int) -> str:
        """A not-present entry's flags from the bits hardware still reads (``r`` already masked)."""
        piece = self.not_present.get(r)
        if piece is None:
            piece = self.not_present[r] = "|".join(field_words(self.not_present_fields, r)[0]) or "-"
        return piece

    def low_json_piece(self, lo: int) -> LowJson:
        """Bits 11:0: JSON fields, present, and the problems other than reserved bits (a JSON list)."""
        piece = self.low_json[lo]
        if piece is None:
            entry = self.cls(lo, self.platform)
            problems = [p for p in entry.problems() if p.kind != "reserved_bits"]
            piece = self.low_json[lo] = (_json_fields(self.low, lo), entry.present, _problem_list(problems))
        return piece

    def reserved_problem(self, r: int) -> str:
        """The reserved-bits problem of a present value whose reserved bits are ``r``, as JSON.

        Its text comes from the object path: an entry made of ``r`` and a presence bit.
        """
        piece = self.reserved_json.get(r)
        if piece is None:
            entry = self.cls(r | self.presence_bit, self.platform)
            piece = _problem_list([p for p in entry.problems() if p.kind == "reserved_bits"])[1:-1]
            if len(self.reserved_json) < PATTERNS:
                self.reserved_json[r] = piece
        return piece

    def high_json_piece(self, hi: int) -> str:
        piece = self.high_json[hi]
        if piece is None:
            piece = self.high_json[hi] = _json_fields(self.high, hi << HIGH_SHIFT)
        return piece

    # -- composition ---------------------------------------------------------------------------
    def _line_renderer(self) -> Render:
        keep, mid_mask, reserved_mask = self.keep, self.mid_words_mask, self.reserved_mask
        np_read, np_ignored, address = self.not_present_read_mask, self.not_present_ignored, self.address
        amask, by_mask = self.address_mask, self.layout.address_is_mask
        head = self.head
        low_table, high_table, np_table = self.low_line, self.high_line, self.not_present
        low_piece, high_piece, mid_piece, np_piece = (self.low_line_piece, self.high_line_piece,
                                                      self.mid_line_piece, self.not_present_piece)
        hex_format = f"#0{self.digits}x"

        # Present values whose non-address bits repeat (real SPTEs) reuse the whole text after
        # the pfn.  The memo stops growing at PATTERNS entries and is never cleared, so input that
        # never repeats (random words) costs one failed lookup, not a thrashed cache.
        patterns: dict[int, str] = {}
        pattern_of = self.width_mask & ~amask if by_mask else 0
        get = patterns.get
        self.patterns, self.pattern_of = patterns, pattern_of  # read by FastDecoder.line_batch
        self.compose: Render  # set below: line() without the memo lookup
        room = PATTERNS if by_mask else 0
        low_table_bars = self.low_bars

        def line(v: int) -> str:
            rest = get(v & pattern_of) if by_mask else None
            if rest is not None:
                return f"{v:{hex_format}} pfn={(v & amask) >> 12:#x} {rest}"
            return compose(v)

        def compose(v: int) -> str:
            """The line from the tables (the pattern memo missed)."""
            shown = v & keep
            lo = shown & LOW_MASK
            name_flags, form, lw, suffix, reserved, present = low_table[lo] or low_piece(lo)
            pfn = ((v & amask) if by_mask else address(v)) >> 12
            if not present:
                ignored = v & np_ignored
                r = v & np_read
                return (f"{v:{hex_format}} pfn={pfn:#x} {head}{np_table.get(r) or np_piece(r)}"
                        f"{f' ignored={ignored:#x}' if ignored else ''}{suffix}")
            hp = high_table[shown >> HIGH_SHIFT] or high_piece(shown >> HIGH_SHIFT)
            if shown & mid_mask:
                mf, mw = mid_piece(shown & mid_mask)
                flags = (low_table_bars[lo] + mf + hp[0])[1:] or "-"
                rest = f"{head}{flags}{lw}{mw}{hp[2]}{reserved if v & reserved_mask else suffix}"
            elif len(patterns) < room:
                rest = f"{name_flags}{hp[form]}{lw}{hp[2]}{reserved if v & reserved_mask else suffix}"
            else:  # the memo is full (input that does not repeat): no piece kept, one string built
                return (f"{v:{hex_format}} pfn={pfn:#x} {name_flags}{hp[form]}{lw}{hp[2]}"
                        f"{reserved if v & reserved_mask else suffix}")
            if len(patterns) < room:
                patterns[v & pattern_of] = rest
            return f"{v:{hex_format}} pfn={pfn:#x} {rest}"

        self.compose = compose
        return line

    def _json_renderer(self) -> Render:
        mid, reserved_mask = self.mid, self.reserved_mask
        address, json_head, hex_format = self.address, self.json_head, f"#0{self.digits}x"
        low_table, high_table = self.low_json, self.high_json
        low_piece, high_piece, reserved_problem = self.low_json_piece, self.high_json_piece, self.reserved_problem
        # The usual middle is one address field: its JSON is one number.
        single = mid[0] if len(mid) == 1 and mid[0].role is Role.ADDRESS else None
        name, lo_bit, fmax = (f'"{single.name}":', single.lo, single.max) if single else ("", 0, 0)

        # With one address field found by a mask, everything but the value, address, pfn and that
        # field is a function of the other bits: memoised per pattern like the line (bounded, never
        # cleared).  ``tail`` is the text after the address field's number.
        memo: dict[int, tuple[str, str]] = {}
        get = memo.get
        by_memo = single is not None and self.layout.address_is_mask
        pattern_of, amask = self.width_mask & ~self.address_mask, self.address_mask

        def json_line(v: int) -> str:
            if by_memo:
                hit = get(v & pattern_of)
                if hit is not None:
                    a = v & amask
                    return (f'{{"value":"{v:{hex_format}}",{json_head},"address":"{a:#x}","pfn":"{a >> 12:#x}",'
                            f'"fields":{{{hit[0]}{name}{(v >> lo_bit) & fmax}{hit[1]}')
            fields, present, problems = low_table[v & LOW_MASK] or low_piece(v & LOW_MASK)
            high = high_table[v >> HIGH_SHIFT] or high_piece(v >> HIGH_SHIFT)
            reserved = v & reserved_mask
            if reserved and present:
                # Misconfigurations live in bits 11:0, the reserved-bits problem comes last.
                problems = f"{problems[:-1]}{',' if len(problems) > 2 else ''}{reserved_problem(reserved)}]"
            tail = (f'{"," + high[:-1] if high else ""}}},"present":{"true" if present else "false"},'
                    f'"reserved_bits":"{reserved:#x}","problems":{problems}}}')
            if by_memo:
                if len(memo) < PATTERNS:
                    memo[v & pattern_of] = (fields, tail)
                middle = f"{name}{(v >> lo_bit) & fmax}"
            else:
                middle = "".join([f'"{f.name}":{(v >> f.lo) & f.max},' for f in mid])[:-1]
            a = address(v)
            return (f'{{"value":"{v:{hex_format}}",{json_head},"address":"{a:#x}","pfn":"{a >> 12:#x}",'
                    f'"fields":{{{fields}{middle}{tail}')

        return json_line


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

        self.line: Render = self._pick("line")
        self.json: Render = self._pick("json")

    def renderer(self, v: int) -> ClassRenderer:
        if self.large is not None and v & self.page_size_mask:
            return self.large
        return self.table

    def _pick(self, which: str) -> Render:
        """One value -> text: the table form's renderer, or a choice by the PS bit."""
        table: Render = getattr(self.table, which)
        if self.large is None:
            return table
        large: Render = getattr(self.large, which)
        ps = self.page_size_mask

        def pick(v: int) -> str:
            return large(v) if v & ps else table(v)

        return pick

    def entry(self, v: int) -> Entry:
        return self.renderer(v).cls(v, self.platform)

    def line_block(self, suffix: Render | None = None) -> Callable[[list[int]], list[str]]:
        """``line`` (plus ``suffix(v)``, an owner's words) over a block of values, with the common
        case inlined: a value whose pattern memo holds the text after the pfn."""
        line: Render = self.line if suffix is None else (lambda v: self.line(v) + suffix(v))
        table = self.table
        if not table.layout.address_is_mask:
            return lambda values: [line(v) for v in values]
        compose: Render = table.compose if suffix is None else (lambda v: table.compose(v) + suffix(v))
        ps, hex_format = self.page_size_mask, f"#0{table.digits}x"
        get, pattern_of, amask = table.patterns.get, table.pattern_of, table.address_mask
        own = suffix or (lambda v: "")

        def block(values: list[int]) -> list[str]:
            out: list[str] = []
            append = out.append
            for v in values:
                if v & ps:
                    append(line(v))
                    continue
                rest = get(v & pattern_of)
                if rest is None:
                    append(compose(v))
                elif suffix is None:
                    append(f"{v:{hex_format}} pfn={(v & amask) >> 12:#x} {rest}")
                else:
                    append(f"{v:{hex_format}} pfn={(v & amask) >> 12:#x} {rest}{own(v)}")
            return out

        return block
