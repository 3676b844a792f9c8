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

Blocks of values (``line_block``/``json_block``, the CLI's loops) build the bits-11:0 and
63:52 tables whole, field by field from each field's own words (the words of a field depend
on its bits only).  A line is then one f-string of the value's digits (the token's own text
when the reader has it, :func:`spte.tokens.stream_words`), the pfn (a slice of those digits
where it seldom has leading zeros, ``hex()`` where it often has: each is the cheaper there),
and table pieces; every memo is bounded and never cleared, and a sample of each block picks
the loop (values that recur, patterns that recur, neither), so input that never repeats costs
no failed lookups.  An owner's suffix (``decode --kvm``) is looked up in the owner's own
bounded memo in the loop, and kept in the pattern memo's text when it reads no address bit.
On a 2-CPU machine this runs at about 1.0-1.45x a script that only parses each hex value and
prints it back (bench/cli.py), 1.3-3.3x with KVM's readings: one ``%x`` of the value is most
of that script, and a line needs the value and its pfn.

Bits an owner names (``hide``) are left out of the hardware's *ignored* fields, so a bit
renders once, under the owner's name.  A not-present entry shows the bits hardware still
reads (EPT SUPPRESS_VE) and the rest as one raw ``ignored=`` value: its other bits mean
nothing to hardware, so no live-looking flags are shown for them.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cached_property
from sys import intern
from typing import TYPE_CHECKING, Any

from spte.bits import (
    HIGH_SHIFT,
    LOW_BITS,
    LOW_MASK,
    MID_TABLE_BITS,
    FieldInfo,
    Role,
    field_pieces,
    field_words,
    split_fields,
)
from spte.entry import CLASSES, Entry, Problem, canonical_format
from spte.platform import DEFAULT_PLATFORM, Platform

if TYPE_CHECKING:  # (the decode path does not import the owners' module)
    from spte.metadata.owner import PatternLookup

PATTERNS = 1 << 14  # memoised line endings per class (present values' non-address bits)
BLOCK_TABLES = 512  # this many values build a class's whole tables (a few ms) for the block loops
Render = Callable[[int], str]
Block = Callable[..., list[str]]  # (values, their tokens or None) -> lines
SAMPLE = 32  # values of a block that pick its loop: whole lines by value, the pattern memo, or the tables
# Line pieces.  Flags carry a leading bar ("|R|W|X") so low, middle and high flags join by
# concatenation; the line drops the first bar.
LowLine = tuple[str, int, str, str, str, bool]  # name+flags, high-flags form, words, suffix, reserved suffix, present
HighLine = tuple[str, str, str]  # flags after low flags ("|SVE"), flags alone ("SVE" or "-"), words
LowJson = tuple[str, bool, str]  # fields, present, problems


_PROBLEM_LISTS: dict[tuple[Problem, ...], str] = {}  # bits 11:0's problem lists: a few per layout


def _problem_list(problems: list[Problem] | tuple[Problem, ...]) -> str:
    key = tuple(problems)
    text = _PROBLEM_LISTS.get(key)
    if text is None:
        import json  # only the JSON renderer's tables need it, built on first use

        text = json.dumps([{"kind": p.kind, "bits": f"{p.bits:#x}", "message": p.message} for p in problems],
                          separators=(",", ":"))
        if len(_PROBLEM_LISTS) < PATTERNS:  # reserved-bit lists hold the value's bits: bounded, never cleared
            _PROBLEM_LISTS[key] = text
    return text


def _product_table(fields: list[FieldInfo], shift: int, bits: int, pieces: list[list[str]]) -> list[str]:
    """Every value of the ``bits``-bit window at ``shift`` to the concatenation, over the fields
    inside it in layout order, of ``pieces[i][x]`` (field i's text when its bits are x).  The text
    of a field depends on its own bits only, so the table is built field by field: a few thousand
    joins, not a formatter call per value."""
    table = [""]  # while the fields so far cover bits 0..n-1 of the window, in order: a list by value
    acc: dict[int, str] | None = None
    covered = 0
    for f, own in zip(fields, pieces, strict=True):
        at = f.lo - shift
        if acc is None and 1 << at == len(table):
            table = [a + p for p in own for a in table]  # index x << at | k
        else:
            if acc is None:
                acc = dict(enumerate(table))
            acc = {k | x << at: a + p for k, a in acc.items() for x, p in enumerate(own)}
        covered |= f.max << at
    if acc is None:
        return table if len(table) == 1 << bits else [table[i & covered] for i in range(1 << bits)]
    return [acc[i & covered] for i in range(1 << bits)]


def _text_table(fields: list[FieldInfo], shift: int, bits: int, keep: int,
                enums: dict[str, dict[int, str]] | None) -> tuple[list[str], list[str]]:
    """``_text`` (flags, words) of every value of a window, its bits shown through ``keep``."""
    flags: list[list[str]] = []
    words: list[list[str]] = []
    for f in fields:
        # One field has at most one flag or word: ``_text`` of it, without the joins.
        own = [field_words((f,), (x << f.lo) & keep, enums) for x in range(f.max + 1)]
        flags.append(["|" + fl[0] if fl else "" for fl, _ in own])
        words.append([" " + wd[0] if wd else "" for _, wd in own])
    return _product_table(fields, shift, bits, flags), _product_table(fields, shift, bits, words)


def _json_fields(fields: list[FieldInfo], value: int) -> str:
    return "".join(f'"{f.name}":{(value >> f.lo) & f.max},' for f in fields)


def _json_pieces(f: FieldInfo) -> list[str]:
    """``_json_fields`` of one field, by its value."""
    return [_json_fields([f], x << f.lo) for x in range(f.max + 1)]


class ClassRenderer:
    """Line and JSON text for one entry class on one platform: ``line(v)`` and ``json(v)``."""

    line: Render
    json_single: FieldInfo | None  # the middle's one address field, when that is all it holds

    def __init__(self, cls: type[Entry], platform: Platform, hide: int = 0) -> None:
        self.cls, self.platform = cls, platform
        layout = cls.layout(platform)
        self.layout = layout
        self.enums = cls.enum_names()
        self.width_mask = width_mask = (1 << cls.WIDTH) - 1
        self.low, self.mid, self.high = split_fields(layout.fields)
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
        # Whole-line %-templates by bits 11:0 (``line_templates``), for the values whose other
        # non-address bits are only those of bits 63:52: built when a block first needs them.
        self.templated = layout.address_is_mask and layout.present_mask <= LOW_MASK
        self.template_slow = self.mid_words_mask | (self.reserved_mask & ~LOW_MASK)
        self.low_texts: tuple[list[str], list[str]] | None = None
        self.low_jsons: list[str] | None = None
        self.findings: dict[int, tuple[bool, tuple[Problem, ...]]] = {}
        self.findings_mask = ~layout.ignored_mask & width_mask
        self.high_texts: tuple[list[str], list[str], list[str]] | None = None
        self.high_jsons: list[str] | None = None
        self.line = self._line_renderer()
        self.json_single = self.mid[0] if len(self.mid) == 1 and self.mid[0].role is Role.ADDRESS else None

    # The JSON renderer is made on first use: a single decode's readable view never loads json.
    @cached_property
    def json(self) -> Render:
        return self._json_renderer()

    @cached_property
    def json_head(self) -> str:
        """The class's constant members of a JSON object, without braces."""
        import json

        cls = self.cls
        return json.dumps({"format": cls.FORMAT, "level": cls.LEVEL, "class": cls.__name__, "leaf": cls.LEAF,
                           "page_size": (1 << cls.SPAN_SHIFT) if cls.LEAF else None, "span": 1 << cls.SPAN_SHIFT},
                          separators=(",", ":"))[1:-1]

    # -- pieces (pure functions of their key) ------------------------------------------------
    def low_line_piece(self, lo: int) -> LowLine:
        """Bits 11:0 of a (shown) value: the class name and flags, which form of the high flags
        follows them, words, suffix, suffix if reserved bits are set, present."""
        piece = self.low_line[lo]
        if piece is None:
            flags, words = (self.low_texts[0][lo], self.low_texts[1][lo]) if self.low_texts else field_pieces(
                self.low, lo, self.enums)
            # Reserved bits are checked per value (most lie outside bits 11:0).
            present, problems = self.low_findings(lo)
            kinds = ",!".join(p.kind for p in problems)
            if present:
                suffix = " !" + kinds if kinds else ""
                reserved = suffix + (",!" if kinds else " !") + "reserved_bits"
            else:
                suffix = reserved = " (not present)"
            # Interned: 4096 slots hold tens to hundreds of distinct texts, and random words reach
            # every slot; one shared object per text stays in the CPU's cache (a third fewer misses).
            self.low_bars[lo] = intern(flags)
            piece = self.low_line[lo] = (intern(self.head + flags[1:]), 0 if flags else 1, intern(words),
                                         intern(suffix), intern(reserved), present)
        return piece

    def high_line_piece(self, hi: int) -> HighLine:
        """Bits 63:52 of a (shown) value: flags after low flags, flags alone, words."""
        piece = self.high_line[hi]
        if piece is None:
            flags, words = field_pieces(self.high, hi << HIGH_SHIFT, self.enums)
            # (words not interned: bits 63:52 hold a wide ignored field, nearly a word per value)
            piece = self.high_line[hi] = (intern(flags), intern(flags[1:] or "-"), words)
        return piece

    def mid_line_piece(self, m: int) -> tuple[str, str]:
        """The non-address bits between 12 and 51 (``m`` already masked): flags, words."""
        piece = self.mid_line.get(m)
        if piece is None:
            piece = field_pieces(self.mid_words, m, self.enums)
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
            present, problems = self.low_findings(lo)
            fields = self.low_jsons[lo] if self.low_jsons else _json_fields(self.low, lo)
            piece = self.low_json[lo] = (fields, present, _problem_list(problems))
        return piece

    def low_findings(self, lo: int) -> tuple[bool, tuple[Problem, ...]]:
        """Whether a value of bits 11:0 ``lo`` is present and its problems other than reserved
        bits, from the object path.  Bits the hardware ignores make no finding, so values that
        differ only there share one answer (a table of 4096 needs a few hundred entries)."""
        key = lo & self.findings_mask
        found = self.findings.get(key)
        if found is None:
            entry = self.cls(key, self.platform)
            found = self.findings[key] = (entry.present,
                                          tuple(p for p in entry.problems() if p.kind != "reserved_bits"))
        return found

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

    # -- whole-line templates (the block loops) ------------------------------------------------
    def build_tables(self) -> None:
        """Every piece of bits 11:0 and 63:52 at once, from the fields' own words (a few ms):
        worth it for a block of values, not for one."""
        if self.high_texts is None:
            self.low_texts = _text_table(self.low, 0, LOW_BITS, self.keep, self.enums)
            flags, words = _text_table(self.high, HIGH_SHIFT, self.high_bits, self.keep, self.enums)
            self.high_texts = ([*map(intern, flags)], [intern(f[1:] or "-") for f in flags], words)

    def build_json_tables(self) -> None:
        if self.high_jsons is None:
            self.low_jsons = _product_table(self.low, 0, LOW_BITS, [_json_pieces(f) for f in self.low])
            high = _product_table(self.high, HIGH_SHIFT, self.high_bits, [_json_pieces(f) for f in self.high])
            self.high_jsons = ["," + h[:-1] if h else "" for h in high]

    def line_pieces(self, lo: int) -> tuple[str, int, str, str] | None:
        """The pieces of the text after the pfn of a present value whose raw bits 11:0 are ``lo``
        and whose bits 51:12 are only its address: the class and low flags, which form of the
        high flags follows (0: after low flags, 1: alone), the low words, the end (problems); the
        high words come between the last two.  None where such values take another path."""
        if not self.templated:
            return None
        name_flags, form, words, suffix, reserved, present = self.low_line_piece(lo & self.keep)
        if not present:
            return None
        return name_flags, form, words, reserved if lo & self.reserved_mask else suffix

    def json_pieces(self, lo: int) -> tuple[str, str] | None:
        """The JSON of a value whose raw bits 11:0 are ``lo``, whose middle is one address field
        and whose reserved bits all lie in bits 11:0, around its per-value parts: the low fields
        (before the address field) and the tail after the high fields.  None where there is none."""
        if self.json_single is None or not self.layout.address_is_mask:
            return None
        fields, present, problems = self.low_json_piece(lo)
        reserved = lo & self.reserved_mask
        if reserved and present:
            problems = f"{problems[:-1]}{',' if len(problems) > 2 else ''}{self.reserved_problem(reserved)}]"
        return fields, (f'}},"present":{"true" if present else "false"},"reserved_bits":"{reserved:#x}",'
                        f'"problems":{problems}}}')

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
        self.patterns = patterns  # (its bound is tested)
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

        return line

    def _json_renderer(self) -> Render:
        mid, reserved_mask = self.mid, self.reserved_mask
        address, json_head, hex_format = self.address, self.json_head, f"#0{self.digits}x"
        low_table, high_table = self.low_json, self.high_json
        low_piece, high_piece, reserved_problem = self.low_json_piece, self.high_json_piece, self.reserved_problem
        # The usual middle is one address field: its JSON is one number.
        single = self.json_single
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

    @cached_property
    def json(self) -> Render:
        """One value -> its JSON object (made on first use)."""
        return self._pick("json")

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

    def _digits_plan(self, slow: int) -> tuple[int, int, int, int] | None:
        """How the block loops print a value and its pfn from the value's hex digits: (digits,
        first and last pfn digit, the bits that send a value to the per-value path), or None
        when the table form's address is not bits 12 and up of the value."""
        table = self.table
        amask = table.address_mask
        if not table.layout.address_is_mask or amask & -amask != 1 << 12 or amask >> HIGH_SHIFT:
            return None
        digits = table.digits - 2
        # Bits 51:12 outside the address would show in the pfn's digits: such values go the long way.
        between = ((1 << min(self.width, HIGH_SHIFT)) - 1) & ~LOW_MASK & ~self.table.address_mask
        return digits, max(digits - 13, 0), digits - 3, slow | self.page_size_mask | between

    def line_block(self, suffix: Render | None = None, lookup: PatternLookup[str] | None = None) -> Block:
        """``line`` (plus ``suffix(v)``, an owner's words) over a block of values and, where the
        token reader has them, their tokens (:func:`spte.tokens.stream_words`).  ``lookup``
        (:func:`spte.render.owner.owner_suffix_lookup`) is the owner's memo of its suffixes,
        ``(mask, get, suffix)``: looked up in the loops, not called per value.

        Once ``BLOCK_TABLES`` values have come, the class's whole tables are built.  A
        present value whose bits 51:12 are only its address is then one f-string: the value's
        digits, its pfn, and the pieces of its bits 11:0 and 63:52; one whose bits 51:12 also
        hold reserved bits (MAXPHYADDR < 52) adds their words.  When most patterns repeat (real
        SPTEs: judged per block from a sample), the text after the pfn comes whole from a bounded
        memo by the non-address bits, the owner's suffix included when it is a function of them
        (never for a reading of address bits, such as an MMIO SPTE's gfn); when most values
        recur (real traces), whole lines come from a bounded memo by value.  A not-present value
        is composed here too; the rest (the large-page form, flags among bits 51:12) take
        ``line``."""
        if lookup is not None:
            suffix = lookup[2]
        elif suffix is not None:  # no memo to look the owner's words up in: after each line, joined in C
            plain = self.line_block()
            return lambda values, texts=None: list(map(str.__add__, plain(values, texts), map(suffix, values)))
        line, table = self.line, self.table
        plan = self._digits_plan(table.template_slow)
        if not table.templated or plan is None:
            if suffix is None:
                return lambda values, texts=None: [line(v) for v in values]
            each = suffix
            return lambda values, texts=None: [line(v) + each(v) for v in values]
        digits, first, last, slow = plan
        # The pfn: formatted (hex()) where it has leading zeros (KVM's SPTEs); a slice of the
        # value's digits where it seldom has (random words): each is the cheaper there.
        pfn_digits = slice(first, last)
        value_format = f"%0{digits}x"
        # Bits 11:0 -> (class and low flags, the high-flags table that follows them, low words,
        # end); False: no pieces (see ``absent``); None: not looked at yet.
        pieces: list[Any] = [None] * (1 << LOW_BITS)  # (one type for all three: the loops test truth)
        absent = [False] * (1 << LOW_BITS)  # bits 11:0 of a not-present value
        seen = [0]  # values rendered before the tables are built
        memo: dict[int, str] = {}  # non-address bits -> the text after the pfn (bounded, never cleared)
        amask = table.address_mask
        get, pattern_of = memo.get, table.width_mask & ~amask
        heads: dict[int, str] = {}  # a not-present value's class and flags, by the bits hardware still reads
        absent_lines: dict[int, str] = {}  # not-present value -> its line (bounded, never cleared)
        whole: dict[int, str] = {}  # value -> its line, for input whose values recur (bounded, never cleared)
        seen_values: set[int] = set()  # the samples' values and patterns (bounded)
        seen_patterns: set[int] = set()
        np_read, np_ignored, keep = table.not_present_read_mask, table.not_present_ignored, table.keep
        mid_mask, reserved_mask = table.mid_words_mask, table.reserved_mask
        slow_not_mid = slow & ~mid_mask  # a value with only these slow bits clear is composed in `other`
        ps_mask = self.page_size_mask
        mid_get, mid_piece = table.mid_line.get, table.mid_line_piece
        ends = [("", "")] * (1 << LOW_BITS)  # bits 11:0 -> the end without and with reserved bits set
        # The owner's suffix: ``e = sget(v & smask)`` answers most values (see owner_suffix_lookup);
        # it may join the pattern memo's text when neither its key nor its clear bits are address bits.
        no_lookup: dict[int, tuple[int, str, str]] = {}
        smask, sget = (lookup[0], lookup[1]) if lookup is not None else (0, no_lookup.get)
        owner: Render = suffix if suffix is not None else (lambda v: "")
        joins = lookup is not None and not smask & amask

        def fill(lo: int) -> Any:
            assert table.high_texts is not None
            found = table.line_pieces(lo)
            piece = pieces[lo] = False if found is None else (
                found[0], table.high_texts[found[1]], found[2], found[3])
            low = table.low_line_piece(lo & keep)
            absent[lo], ends[lo] = not low[5], (low[3], low[4])
            return piece

        def other(v: int, d: str) -> str:
            """The line of a value without pieces yet, or none: a not-present value (the class,
            the flags hardware still reads, the rest as one raw value), else ``line``."""
            lo = v & LOW_MASK
            piece = pieces[lo]
            if piece is None:
                piece = fill(lo)
            d = d.zfill(digits)
            if not piece and absent[lo] and not v & ps_mask:
                return absent_line(v, d)
            if v & slow:
                if piece and not v & slow_not_mid:  # reserved address bits (MAXPHYADDR < 52): words only
                    mid = mid_get(v & mid_mask) or mid_piece(v & mid_mask)
                    if not mid[0]:  # no flags among them
                        hi = v >> HIGH_SHIFT
                        words = table.high_texts[2] if table.high_texts else []
                        return (f"0x{d} pfn={hex((v & amask) >> 12)} {piece[0]}{piece[1][hi]}{piece[2]}{mid[1]}"
                                f"{words[hi]}{ends[lo][1] if v & reserved_mask else ends[lo][0]}")
                return line(v)
            if piece:
                hi = v >> HIGH_SHIFT
                words = table.high_texts[2] if table.high_texts else []
                return (f"0x{d} pfn={hex((v & amask) >> 12)} {piece[0]}{piece[1][hi]}{piece[2]}"
                        f"{words[hi]}{piece[3]}")
            return line(v)

        def absent_line(v: int, d: str) -> str:
            """A not-present value's line (``d``: its digits, zero-filled): only the page size bit
            picks another class, and bits 51:12 beyond the address only change how its pfn is found."""
            ignored = v & np_ignored
            return (f"0x{d} pfn={hex((v & amask) >> 12)} {heads.get(v & np_read) or head_of(v & np_read)}"
                    f"{' ignored=' + hex(ignored) if ignored else ''} (not present)")

        def suffix_of(v: int) -> tuple[str, bool]:
            """The owner's suffix of ``v``, and whether every value with v's non-address bits has it."""
            e = sget(v & smask)
            if e is None:
                text = owner(v)  # fills the owner's memo where it can
                e = sget(v & smask)
                if e is None:
                    return text, False
            return e[2] if v & e[0] else e[1], joins and not e[0] & amask

        def compose(v: int, d: str) -> str:
            """The line of one value by the pattern memo or the pieces, with the owner's suffix;
            the pattern memo filled where it can."""
            r = get(v & pattern_of)
            if r is None:
                piece = pieces[v & LOW_MASK]
                if not piece or v & slow:
                    r = absent_lines.get(v)
                    if r is not None:
                        return r
                    r = other(v, d) + owner(v)
                    # Not present: its raw ignored= value holds the address bits, so the line is
                    # memoised whole, by the value, when they are clear (KVM's empty SPTEs repeat;
                    # values with an address seldom do).
                    if absent[v & LOW_MASK] and not v & (slow | amask) and len(absent_lines) < PATTERNS:
                        absent_lines[v] = r
                    return r
                hi = v >> HIGH_SHIFT
                words = table.high_texts[2] if table.high_texts else []
                r = f"{piece[0]}{piece[1][hi]}{piece[2]}{words[hi]}{piece[3]}"
                if suffix is not None:
                    text, keyed = suffix_of(v)
                    if not keyed:  # the owner read more than the pattern: this value's own line
                        d = d.zfill(digits)
                        return f"0x{d} pfn={hex((v & amask) >> 12)} {r}{text}"
                    r += text
                if len(memo) < PATTERNS:
                    memo[v & pattern_of] = r
            d = d.zfill(digits)
            return f"0x{d} pfn={hex((v & amask) >> 12)} {r}"

        slow_words: dict[int, tuple[str, bool | None]] = {}  # slow bits of a present value -> slow_piece

        def slow_piece(sv: int) -> tuple[str, bool | None]:
            """What a present value whose slow bits are ``sv`` adds to its line when they are all
            among bits 51:12 and hold no flags: their words, and whether some are reserved (then
            the line ends with the reserved-bits problem); ("", None) where ``line`` composes it."""
            mid = mid_piece(sv & mid_mask)
            piece = ("", None) if sv & slow_not_mid or mid[0] else (mid[1], bool(sv & reserved_mask))
            if len(slow_words) < PATTERNS:  # bounded: slow bits are a few reserved bits in most layouts
                slow_words[sv] = piece
            return piece

        def head_of(r: int) -> str:
            head = heads[r] = table.head + table.not_present_piece(r)
            return head

        def block(values: list[int], texts: list[str] | None = None) -> list[str]:
            if table.high_texts is None:
                seen[0] += len(values)
                if seen[0] < BLOCK_TABLES:
                    return [line(v) for v in values] if suffix is None else [line(v) + owner(v) for v in values]
            table.build_tables()
            assert table.high_texts is not None
            words = table.high_texts[2]
            if texts is None:
                texts = [value_format % v for v in values]
            out: list[str] = []
            append = out.append
            # A sample decides the loop: values that recur, patterns that recur, or neither.
            hits = repeats = 0
            for v in values[:SAMPLE]:
                if v in seen_values:
                    repeats += 1
                elif len(seen_values) < PATTERNS:
                    seen_values.add(v)
                if v & pattern_of in seen_patterns:
                    hits += 1
                elif len(seen_patterns) < PATTERNS:
                    seen_patterns.add(v & pattern_of)
            if repeats * 2 >= SAMPLE:  # values recur (a trace logs the same SPTEs again and again)
                whole_get = whole.get
                for v, d in zip(values, texts, strict=True):
                    r = whole_get(v)
                    if r is None:
                        r = compose(v, d)
                        if len(whole) < PATTERNS:
                            whole[v] = r
                    append(r)
            elif hits * 2 >= SAMPLE:  # patterns recur: the memo's text after the pfn
                for v, d in zip(values, texts, strict=True):
                    r = get(v & pattern_of)
                    if r is None:
                        r = absent_lines.get(v)  # (see compose)
                        if r is None:
                            if absent[v & LOW_MASK] and v & amask and not (slow and v & slow):
                                r = absent_line(v, d.zfill(digits)) + owner(v)  # (an address: not memoised)
                            else:
                                r = compose(v, d)
                        append(r)
                        continue
                    d = d.zfill(digits)
                    append(f"0x{d} pfn={hex((v & amask) >> 12)} {r}")
            elif suffix is None:  # neither: every line from the pieces
                for v, d in zip(values, texts, strict=True):
                    lo = v & LOW_MASK
                    piece = pieces[lo]
                    if piece and not (slow and v & slow):  # (slow is often 0)
                        name_flags, high, low_words, end = piece
                        hi = v >> HIGH_SHIFT
                        d = d.zfill(digits)
                        append(f"0x{d} pfn=0x{d[pfn_digits].lstrip('0') or '0'} "
                               f"{name_flags}{high[hi]}{low_words}{words[hi]}{end}")
                    elif absent[lo] and not v & ps_mask:  # not present
                        append(absent_line(v, d.zfill(digits)))
                    else:
                        append(other(v, d))
            else:  # the same, with the owner's suffix looked up in its memo
                for v, d in zip(values, texts, strict=True):
                    e = sget(v & smask)
                    s = owner(v) if e is None else e[2] if v & e[0] else e[1]
                    lo = v & LOW_MASK
                    piece = pieces[lo]
                    if piece and not (slow and (sv := v & slow)):  # (slow is often 0)
                        name_flags, high, low_words, end = piece
                        hi = v >> HIGH_SHIFT
                        d = d.zfill(digits)
                        append(f"0x{d} pfn=0x{d[pfn_digits].lstrip('0') or '0'} "
                               f"{name_flags}{high[hi]}{low_words}{words[hi]}{end}{s}")
                    elif piece and (m := slow_words.get(sv) or slow_piece(sv))[1] is not None:
                        # Reserved address bits (MAXPHYADDR < 52, most random words on a KVM host).
                        name_flags, high, low_words, end = piece
                        hi = v >> HIGH_SHIFT
                        append(f"0x{d.zfill(digits)} pfn={hex((v & amask) >> 12)} {name_flags}{high[hi]}{low_words}"
                               f"{m[0]}{words[hi]}{ends[lo][1] if m[1] else end}{s}")
                    elif absent[lo] and not v & ps_mask:  # not present
                        append(absent_line(v, d.zfill(digits)) + s)
                    else:
                        append(other(v, d) + s)
            return out

        return block

    def json_block(self) -> Block:
        """``json`` over a block of values (and their tokens), by bits-11:0 pieces as
        :meth:`line_block`: the value's digits, the address and pfn (slices of them), the address
        field's number and the bits-63:52 fields between them."""
        json, table = self.json, self.table
        single = table.json_single
        plan = self._digits_plan(table.reserved_mask & ~LOW_MASK)
        if single is None or plan is None:
            return lambda values, texts=None: [json(v) for v in values]
        digits, first, last, slow = plan
        value_format = f"%0{digits}x"
        pieces: list[Any] = [None] * (1 << LOW_BITS)  # bits 11:0 -> (low fields, tail), False, None
        at, fmax = single.lo, single.max
        seen = [0]
        start, head, pfn_key = '{"value":"0x', f'",{table.json_head},"address":"0x', '","pfn":"0x'
        fields_key = '","fields":{'
        name = f'"{single.name}":'

        def block(values: list[int], texts: list[str] | None = None) -> list[str]:
            if table.high_jsons is None:
                seen[0] += len(values)
                if seen[0] < BLOCK_TABLES:
                    return [json(v) for v in values]
            table.build_json_tables()
            assert table.high_jsons is not None
            high = table.high_jsons
            if texts is None:
                texts = [value_format % v for v in values]
            out: list[str] = []
            append = out.append
            for v, d in zip(values, texts, strict=True):
                piece = pieces[v & LOW_MASK]
                if piece and not v & slow:
                    fields, tail = piece
                    d = d.zfill(digits)
                    pfn = d[first:last].lstrip("0") or "0"
                    append(f'{start}{d}{head}{pfn}{"000" if pfn != "0" else ""}{pfn_key}{pfn}{fields_key}'
                           f'{fields}{name}{(v >> at) & fmax}{high[v >> HIGH_SHIFT]}{tail}')
                else:
                    if piece is None:
                        pieces[v & LOW_MASK] = table.json_pieces(v & LOW_MASK) or False
                    append(json(v))
            return out

        return block
