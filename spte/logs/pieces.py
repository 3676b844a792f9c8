"""A log annotation composed from bounded pieces of the value's own bits.

The annotation of one entry (``[kind] pfn=0x.. Class FLAGS words sw:names !problems``) is a
function of the value; random values (no two alike) must not each build an entry object and
ask the owner for a full reading.  Per entry class the text is composed from:

- bits 11:0: flags and words (4096 slots, filled on first use) and, from the full value,
  the problems other than reserved bits (the EPT misconfiguration rules read only R/W/X/XU
  and the memory type, all in bits 11:0: checked when the table is built);
- bits 63:52: flags and words (4096 slots);
- the non-address bits in between: one piece per pattern (bounded by their bit count);
- the address, formatted per value;
- reserved bits: one mask test (``!reserved_bits``, always the last problem);
- the owner's part: its kind and the names of its non-zero software fields, joined once per
  pattern (:func:`spte.metadata.owner.pattern_reader` for KVM; other owners' full reading,
  memoised by value); an MMIO SPTE's text is the owner's summary,
  composed per value (:func:`spte.metadata.owner.summary_reader`: no full reading).

Whole texts are memoised by value up to :data:`MEMO` values, first come (never cleared, so
input that never repeats costs one failed lookup, and may fill this memo; the fast log paths'
memos of event texts and printed values, in front of it for walk steps and SPTEs, admit a
key on its second reading, :class:`spte.memo.Memo`, so such input cannot fill those).

The JSON record of an entry (:func:`json_tailer`) is composed the same way: the entry's part
from tables of bits 11:0 and 63:52 and the fields between (:class:`ClassJson`), the owner's
from its reading in parts (:func:`spte.metadata.owner.parts_reader`: what its pattern keys
determine escaped once per key, the pfn and the reasons that name many bits per value); and
values that differ only in address bits share one ``%`` template.  ``tests/test_logs_fast.py``
and ``tests/test_logs_values.py`` compare every text with the entry objects and the owner's
full reading.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from json.encoder import encode_basestring_ascii as json_str  # what json.dumps writes for a str
from typing import Any

from spte.bits import HIGH_SHIFT, LOW_BITS, LOW_MASK, MID_TABLE_BITS, FieldInfo, Layout, field_pieces, split_fields
from spte.entry import CLASSES, Entry, EptEntry, Problem
from spte.logs.context import Context, owned_ignored_mask, read_owner
from spte.memo import Memo
from spte.metadata import owner as owner_api
from spte.metadata.owner import Patterns, pfn_slots
from spte.metadata.ranges import ranges_text
from spte.platform import Platform

MEMO = 1 << 15  # whole texts kept per (format, level, owner)
TEMPLATES = 1 << 12  # templates kept per (format, level, owner) (a JSON one is ~1 KiB); real traces have few
CAP = 1 << 14  # pieces kept per table that is not bounded by construction (never cleared)
# (kind, text)
Text = tuple[str, str]


def low_rules(cls: type[Entry], layout: Layout) -> bool:
    """Whether presence and the problems other than reserved bits of ``cls`` entries are functions
    of bits 11:0 (else they are found per value): Entry.problems reads only presence and reserved
    bits; EPT's rules read the fields they name (SDM "EPT Misconfigurations")."""
    rule_bits = 0
    if issubclass(cls, EptEntry) and cls.problems is EptEntry.problems:
        rule_bits = cls.misconfiguration_bits(layout)
    elif cls.problems is not Entry.problems:
        rule_bits = -1
    return rule_bits >= 0 and not (rule_bits | layout.present_mask) & ~LOW_MASK


def _word_head(f: FieldInfo, enums: dict[str, dict[int, str]]) -> str | None:
    """`` name=`` if every value ``x`` of the (wide, word-valued) field reads as `` name={x:#x}`` in
    :func:`spte.bits.field_pieces` (checked on its ends and a few values between), else None."""
    samples = {1, f.max, f.max >> 1, 0x5A5A5A5A5A5A5A5A & f.max, 0x1234 & f.max} - {0}
    for head in (f" {f.label}=", f" {f.name}="):
        if all(field_pieces((f,), x << f.lo, enums) == ("", f"{head}{x:#x}") for x in samples):
            return head
    return None


class ClassPieces:
    """The hardware part of the annotation of one entry class (bits an owner names hidden)."""

    def __init__(self, cls: type[Entry], ctx: Context, owner: str, hide: int) -> None:
        platform = ctx.platform_for(owner)
        layout = cls.layout(platform)
        self.cls, self.platform = cls, platform
        self.name = cls.__name__
        self.enums = cls.enum_names()
        self.present_mask = layout.present_mask
        self.reserved_mask = layout.reserved_mask
        self.address_mask = layout.address_mask
        width = (1 << cls.WIDTH) - 1
        self.keep = width & ~self.address_mask & ~hide
        fields = [f for f in layout.fields if f.mask & self.keep]
        self.low, self.mid, self.high = split_fields(fields)
        self.mid_mask = sum(f.mask for f in self.mid) & self.keep
        self.mid_table = self.mid_mask.bit_count() <= MID_TABLE_BITS
        self.high_shift = HIGH_SHIFT if cls.WIDTH > HIGH_SHIFT else cls.WIDTH
        self.low_words: list[tuple[str, str] | None] = [None] * (1 << LOW_BITS)
        self.low_problems: list[str | None] = [None] * (1 << LOW_BITS)
        self.high_words: list[tuple[str, str] | None] = [None] * (1 << max(cls.WIDTH - HIGH_SHIFT, 0))
        self.mid_words: dict[int, tuple[str, str]] = {0: ("", "")}
        # Per field of the middle, a table of its pieces if it is narrow enough (else per value).
        self.mid_fields: list[tuple[FieldInfo, dict[int, tuple[str, str]] | None, str | None]] = [
            (f, {}, None) if f.width <= LOW_BITS else (f, None, _word_head(f, self.enums)) for f in self.mid]
        self.low_rules = low_rules(cls, layout)

    def low_piece(self, lo: int) -> tuple[str, str]:
        piece = self.low_words[lo]
        if piece is None:
            piece = self.low_words[lo] = field_pieces(self.low, lo, self.enums)
        return piece

    def high_piece(self, hi: int) -> tuple[str, str]:
        piece = self.high_words[hi]
        if piece is None:
            piece = self.high_words[hi] = field_pieces(self.high, hi << HIGH_SHIFT, self.enums)
        return piece

    def mid_piece(self, m: int) -> tuple[str, str]:
        piece = self.mid_words.get(m)
        if piece is None:
            if self.mid_table:
                piece = self.mid_words[m] = field_pieces(self.mid, m, self.enums)
            else:  # too many bits for one table: a table per field (a field's words are its own bits')
                flags, words = "", ""
                for f, table, word in self.mid_fields:
                    x = (m >> f.lo) & f.max
                    if x:
                        if word is not None:  # a wide field's word: its name and value
                            words += f"{word}{x:#x}"
                            continue
                        own = table.get(x) if table is not None else None
                        if own is None:
                            own = field_pieces((f,), x << f.lo, self.enums)
                            if table is not None:  # bounded: 2 ** LOW_BITS slots at most
                                table[x] = own
                        flags += own[0]
                        words += own[1]
                piece = (flags, words)
        return piece

    def problems(self, v: int) -> str:
        """`` !kind`` for each problem of the present entry ``v``, in :meth:`Entry.problems` order."""
        if not self.low_rules:
            return "".join(f" !{p.kind}" for p in self.cls(v, self.platform).problems())
        text = self.low_problem_text(v & LOW_MASK)
        return text + " !reserved_bits" if v & self.reserved_mask else text

    def low_problem_text(self, lo: int) -> str:
        """`` !kind`` for each problem other than reserved bits of a present entry whose bits
        11:0 are ``lo`` (only where :attr:`low_rules`)."""
        text = self.low_problems[lo]
        if text is None:
            probe = self.cls(lo, self.platform)
            text = self.low_problems[lo] = "".join(f" !{p.kind}" for p in probe.problems()
                                                   if p.kind != "reserved_bits")
        return text

    def flags(self, v: int) -> str:
        """``R|W|X MT=WB ...``: the flags and words of the shown bits, as ``field_words`` joins them."""
        s = v & self.keep
        lf, lw = self.low_piece(s & LOW_MASK)
        mf, mw = self.mid_piece(s & self.mid_mask) if s & self.mid_mask else ("", "")
        hf, hw = self.high_piece(s >> HIGH_SHIFT) if self.high and s >> HIGH_SHIFT else ("", "")
        flags = lf + mf + hf
        words = lw + mw + hw
        return flags[1:] + words if flags else words[1:]


def _pattern_texter(patterns: Patterns, summary: Callable[[int], str], small: ClassPieces, large: ClassPieces,
                    ps: int, level: int) -> Callable[[int], Text]:
    """:func:`value_texter` for an owner with :class:`~spte.metadata.owner.Patterns` (KVM): the
    owner's kind, ``[kind] `` and `` sw:names`` joined once per pattern (a bounded memo).  A
    present value whose owner's reading is keyed by its pattern (not an exact value, not MMIO)
    has a text that only its pfn ties to its address bits: the rest is a template, kept by the
    other bits (up to :data:`TEMPLATES`, admitted on their second use), so SPTEs that differ only in
    their address (most of a trace's new values) cost a lookup and a ``%``."""
    def piece(kind: str, fields: dict[str, int], plausible: bool | None) -> tuple[str, str, str]:
        # (no verdict in the text: the bits the verdict tests need not be template bits)
        return kind, f"[{kind}] ", " sw:" + ",".join(fields) if fields else ""

    # The values KVM reads on their own are MMIO SPTEs, shown by their summary alone.
    mmio = (lambda v: ("mmio", "", "")) if patterns.value_kind == "mmio" else None
    found = owner_api.pattern_lookup(patterns, piece, mmio)
    owner_mask, keyed, read = found if found is not None else (0, None, owner_api.pattern_reader(patterns, piece, mmio))
    memo: dict[int, Text] = {}
    templates: Memo[int, tuple[str, str]] = Memo(TEMPLATES)  # template bits -> (kind, text with %s for the pfn)
    mid = f"L{level} not present, bits "

    def bind(c: ClassPieces) -> tuple[Any, ...]:
        """What a present line of class ``c`` reads, bound once: the hot path below makes no calls
        for its pieces.  Its bits-11:0 table joins the flags and words of ``lo & keep`` and the
        problems of ``lo`` (other than reserved bits), filled on first use.  Its template bits are
        all but the address's, and the owner's key."""
        table: list[tuple[str, str, str] | None] = [None] * (1 << LOW_BITS)

        def low(lo: int) -> tuple[str, str, str]:
            lf, lw = c.low_piece(lo & c.keep)
            piece = table[lo] = (lf, lw, c.low_problem_text(lo) if c.low_rules else "")
            return piece

        template_mask = ((1 << c.cls.WIDTH) - 1) & ~c.address_mask | owner_mask
        return (c, c.keep, c.mid_mask, c.address_mask, f" {c.name} ", table, low, c.high_words, c.present_mask,
                c.reserved_mask, c.low_rules, template_mask)

    small_b, large_b = bind(small), bind(large)

    def text(v: int) -> Text:
        hit = memo.get(v)
        if hit is not None:
            return hit
        cp, keep, mid_mask, address_mask, name, table, low, high_words, present, reserved, by_table, tmask = (
            large_b if v & ps else small_b)
        template = None if v & reserved else templates.get(v & tmask)  # (none has reserved bits set)
        if template is not None:
            out = (template[0], template[1] % hex((v & address_mask) >> 12))
        else:
            kind, head, sw = read(v)
            if kind == "mmio":  # the kernel's reading of gfn, generation and access is what matters
                out = (kind, f"[mmio] {summary(v)}")
            elif v & present:
                lf, lw, problems = table[v & LOW_MASK] or low(v & LOW_MASK)
                s = v & keep
                if s & mid_mask:
                    mf, mw = cp.mid_piece(s & mid_mask)
                    lf += mf
                    lw += mw
                if s >> HIGH_SHIFT:
                    hf, hw = high_words[s >> HIGH_SHIFT] or cp.high_piece(s >> HIGH_SHIFT)
                    lf += hf
                    lw += hw
                if not by_table:
                    problems = cp.problems(v)
                elif v & reserved:
                    problems += " !reserved_bits"
                words = lf[1:] + lw if lf else lw[1:]
                out = (kind, f"{head}pfn={(v & address_mask) >> 12:#x}{name}{words}{sw}{problems}")
                # (values with reserved bits set are not what KVM writes: random words, corrupt
                # dumps, whose templates would never be used again: not offered)
                if (by_table and not v & reserved and keyed is not None and keyed(v & owner_mask) is not None
                        and templates.offer(v & tmask)):
                    templates[v & tmask] = (kind, f"{head}pfn=".replace("%", "%%") + "%s"
                                            + f"{name}{words}{sw}{problems}".replace("%", "%%"))
            else:
                out = (kind, f"{head}{mid}{v:#x}{sw}")
        if len(memo) < MEMO:  # first come: see the module's docstring
            memo[v] = out
        return out

    return text


def value_texter(ctx: Context, fmt: str, level: int, owner: str) -> Callable[[int], Text]:
    """``v`` -> (kind, annotation text) of an entry of ``fmt`` at ``level`` printed by ``owner``."""
    table_cls, large_cls = CLASSES[fmt][level]
    obj = ctx.owner_object(owner, fmt)
    platform = ctx.platform_for(owner)
    ps = table_cls.layout(platform).page_size_mask if large_cls else 0

    def pieces(cls: type[Entry]) -> ClassPieces:
        hide = owned_ignored_mask(obj, cls, platform) if obj is not None else 0
        return ClassPieces(cls, ctx, owner, hide)

    small = pieces(table_cls)
    large = pieces(large_cls) if large_cls is not None else small
    memo: dict[int, Text] = {}
    patterns = owner_api.patterns_of(obj, level) if obj is not None and obj is ctx.kvm else None
    if obj is not None and patterns is not None:  # KVM: the owner's part per pattern, pre-joined
        return _pattern_texter(patterns, owner_api.summary_reader(obj, level), small, large, ps, level)

    def text(v: int) -> Text:  # no owner, or one without patterns (Linux, Xen): its full reading
        hit = memo.get(v)
        if hit is not None:
            return hit
        cp = large if v & ps else small
        if obj is None:
            kind, head, sw = ("present" if v & cp.present_mask else "not_present"), "", ""
        else:
            view = read_owner(obj, v, level)
            kind, names = view.kind, tuple(k for k, x in view.software.items() if x)
            if view.mmio:
                return kind, f"[{kind}] {view.summary}"
            if view.software and not names:
                names = ("",)
            head = f"[{kind}] "
            sw = " sw:" + ",".join(names) if names else ""
        if not v & cp.present_mask:
            out = (kind, f"{head}L{level} not present, bits {v:#x}{sw}")
        else:
            out = (kind, f"{head}pfn={(v & cp.address_mask) >> 12:#x} {cp.name} {cp.flags(v)}{sw}{cp.problems(v)}")
        if len(memo) < MEMO:  # first come: see the module's docstring
            memo[v] = out
        return out

    return text


# -- JSON ------------------------------------------------------------------------------------------
JsonTail = tuple["str | None", str]  # (the owner's kind or None, the JSON object's text after "entry")


def _problem_json(p: Problem) -> str:
    return json.dumps({"kind": p.kind, "bits": f"{p.bits:#x}", "message": p.message})


def _pct(text: str) -> str:
    """``text`` as a part of a ``%`` template."""
    return text.replace("%", "%%")


def reserved_shape(cls: type[Entry], platform: Platform) -> tuple[str, str, str] | None:
    """The reserved-bits problem of ``cls`` entries as JSON pieces around the ranges of the
    reserved bits: (the kind's JSON, the message's JSON up to the ranges, after them), from the
    class's own :attr:`~spte.entry.Entry.RESERVED_MESSAGE`; None when it has no reserved bits."""
    if not cls.layout(platform).reserved_mask:
        return None
    before, after = cls.RESERVED_MESSAGE.split("{}")
    return json_str("reserved_bits"), json_str(before)[:-1], json_str(after)[1:]


class ClassJson:
    """The entry part of a log record's JSON (``"decoded_level"`` to ``"problems"``) for one
    entry class, as :meth:`spte.logs.render.Renderer.record_dict` and ``json.dumps`` write it:
    bits 11:0 and 63:52 from tables (fields, presence, the problems other than reserved bits),
    the fields between as ``mid % mid_args(v)``, the reserved-bits problem per pattern of
    reserved bits (bounded) or from the entry object.  :meth:`parts` gives the text around the
    fields between; ``pfn_bits`` are the bits that change nothing else (address bits that are
    not reserved)."""

    def __init__(self, cls: type[Entry], ctx: Context, owner: str, level: int) -> None:
        platform = ctx.platform_for(owner)
        layout = cls.layout(platform)
        self.cls, self.platform = cls, platform
        self.present_mask, self.reserved_mask = layout.present_mask, layout.reserved_mask
        fields = layout.fields
        self.low, mid, self.high = split_fields(fields)
        # fields() is in layout order, low then middle then high: the pieces concatenate, each
        # ending ", " but the last part of the object (its fields are always written, zero or not).
        assert [f.name for f in fields] == [f.name for f in self.low + mid + self.high]
        self.mid_shifts = tuple((f.lo, f.max) for f in mid)
        mid_fmt = "".join(f"{_pct(json_str(f.name))}: %d, " for f in mid)
        self.mid_fmt = mid_fmt[:-2] if mid and not self.high else mid_fmt
        self.trim_low = not mid and not self.high
        self.head = f', "decoded_level": {level}, "class": {json_str(cls.__name__)}, "present": '
        self.leaf = f', "leaf": {"true" if cls.LEAF else "false"}, "fields": {{'
        self.low_json: list[tuple[str, str] | None] = [None] * (1 << LOW_BITS)
        self.high_json: list[str | None] = [None] * (1 << max(cls.WIDTH - HIGH_SHIFT, 0))
        self.reserved_json: dict[int, str] = {}
        self.reserved_shape = reserved_shape(cls, self.platform)  # None: the class has no reserved bits
        self.reserved_ranges = ranges_text(layout.reserved_mask)
        self.by_tables = low_rules(cls, layout)
        self.pfn_bits = layout.address_mask & ~layout.reserved_mask & ~LOW_MASK & ~(-1 << HIGH_SHIFT)

    def low_piece(self, lo: int) -> tuple[str, str]:
        """Bits 11:0: the text from the head to the low fields, the problems other than reserved bits."""
        piece = self.low_json[lo]
        if piece is None:
            e = self.cls(lo, self.platform)
            fields = "".join(f"{json_str(f.name)}: {(lo >> f.lo) & f.max}, " for f in self.low)
            problems = ", ".join(_problem_json(p) for p in e.problems() if p.kind != "reserved_bits")
            piece = self.low_json[lo] = (f"{self.head}{json.dumps(e.present)}{self.leaf}"
                                         f"{fields[:-2] if self.trim_low else fields}", problems)
        return piece

    def high_piece(self, hi: int) -> str:
        piece = self.high_json[hi]
        if piece is None:
            piece = self.high_json[hi] = ", ".join(f"{json_str(f.name)}: {((hi << HIGH_SHIFT) >> f.lo) & f.max}"
                                                   for f in self.high)
        return piece

    def reserved_piece(self, r: int) -> str:
        """The reserved-bits problem of a present value whose reserved bits are ``r`` (not 0),
        composed from the class's message around the ranges of ``r`` (memoised per ``r``, bounded)."""
        piece = self.reserved_json.get(r)
        if piece is None:
            assert self.reserved_shape is not None
            kind, before, after = self.reserved_shape
            piece = f'{{"kind": {kind}, "bits": "{r:#x}", "message": {before}{self.reserved_ranges(r)}{after}}}'
            if len(self.reserved_json) < CAP:
                self.reserved_json[r] = piece
        return piece

    def parts(self, v: int) -> tuple[str, str]:
        """The text before and after ``mid % mid_args(v)`` (the tables' classes only)."""
        lo = v & LOW_MASK
        pre, problems = self.low_json[lo] or self.low_piece(lo)
        high = (self.high_json[v >> HIGH_SHIFT] or self.high_piece(v >> HIGH_SHIFT)) if self.high else ""
        if v & self.reserved_mask and v & self.present_mask:
            reserved = self.reserved_piece(v & self.reserved_mask)
            problems = f"{problems}, {reserved}" if problems else reserved
        return pre, f'{high}}}, "problems": [{problems}]'

    def mid_args(self, v: int) -> list[int]:
        return [(v >> s) & m for s, m in self.mid_shifts]

    def text(self, v: int) -> str:
        """``, "decoded_level": ... "problems": [...]`` of the entry ``v``."""
        if not self.by_tables:  # from the entry object
            e = self.cls(v, self.platform)
            fields = ", ".join(f"{json_str(k)}: {x}" for k, x in e.fields().items())
            problems = ", ".join(_problem_json(p) for p in e.problems())
            return f'{self.head}{json.dumps(e.present)}{self.leaf}{fields}}}, "problems": [{problems}]'
        pre, post = self.parts(v)
        return f"{pre}{self.mid_fmt % tuple(self.mid_args(v))}{post}"


def json_tailer(ctx: Context, fmt: str, level: int, owner: str,
                wide: Callable[[int], JsonTail]) -> Callable[[int], JsonTail]:
    """``v`` -> (the owner's kind or None, the text of :meth:`spte.logs.render.Renderer.record_dict`'s
    JSON after ``entry``) of an entry of ``fmt`` at ``level`` printed by ``owner`` with no notes of
    its own, composed from :class:`ClassJson` and the owner's reading in parts.

    Values that differ only in bits that are, for the entry, address bits and, for the owner,
    only the summary's pfn (:func:`spte.metadata.owner.pfn_slots`) share one ``%`` template,
    memoised by the other bits (up to :data:`TEMPLATES`, never cleared): a trace of similar SPTEs
    costs a lookup and a ``%`` per value.  Values wider than the format go to ``wide``."""
    table_cls, large_cls = CLASSES[fmt][level]
    ps = table_cls.layout(ctx.platform_for(owner)).page_size_mask if large_cls else 0
    small = ClassJson(table_cls, ctx, owner, level)
    large = ClassJson(large_cls, ctx, owner, level) if large_cls is not None else small
    obj = ctx.owner_object(owner, fmt)
    width = table_cls.WIDTH
    if obj is None:
        def entry_only(v: int) -> JsonTail:
            if v >> width:
                return wide(v)
            return None, (large if v & ps else small).text(v) + ', "notes": []}'

        return entry_only
    parts = owner_api.parts_reader(obj, level)
    slots = pfn_slots(obj, level)
    key_mask, (mm, mv), pfn_only, base, exact = (
        (slots[0], slots[1] or (0, 1), slots[2], slots[3], slots[4]) if slots else (0, (0, 1), None, 0, frozenset()))
    free: dict[int, int] = {}  # key | PS << 65 -> the bits only the pfn reads (bounded by the key's bits)
    memo: Memo[int, tuple[str, str, int | None, ClassJson]] = Memo(TEMPLATES)  # v & ~free -> kind, template, ...
    # The owner's reading as JSON: what its keys determine escaped once per key (bounded); the
    # numbers and the per-value reasons per value.  (JSON escapes no '%' and no hex digit: the
    # escaped summary template takes the numbers.)
    fields_memo: dict[int, tuple[str, str, str]] = {}
    reasons_memo: dict[int, str] = {}
    templates: dict[str, str] = {}

    def fields_json(kind: str, software: dict[str, int], notes: tuple[str, ...]) -> tuple[str, str, str]:
        return (f', "kind": {json_str(kind)}, "summary": ',
                f', "software": {{{", ".join([f"{json_str(k)}: {x}" for k, x in software.items()])}}}, '
                '"plausible": ', ", ".join([json_str(n) for n in notes]))

    def compose(v: int, cj: ClassJson, bits: int) -> JsonTail:
        kind, template, args, shift, fkey, software, notes, plausible, rkey, reasons, more = parts(v)
        if fkey is None:
            before, software_json, notes_json = fields_json(kind, software, notes)
        else:
            known = fields_memo.get(fkey)
            if known is None:
                known = fields_json(kind, software, notes)
                if len(fields_memo) < CAP:
                    fields_memo[fkey] = known
            before, software_json, notes_json = known
        why = reasons_memo.get(rkey) if rkey is not None else None
        if why is None:
            why = ", ".join([json_str(r) for r in reasons])
            if rkey is not None and len(reasons_memo) < CAP:
                reasons_memo[rkey] = why
        if more:
            extra = ", ".join([json_str(r) for r in more])
            why = f"{why}, {extra}" if why else extra
        summary = templates.get(template)
        if summary is None:
            summary = json_str(template)
            if len(templates) < CAP:
                templates[template] = summary
        verdict = "null" if plausible is None else "true" if plausible else "false"
        if not cj.by_tables:
            return kind, (f'{cj.text(v)}{before}{summary % args}{software_json}{verdict}, "reasons": [{why}], '
                          f'"notes": [{notes_json}]}}')
        pre, post = cj.parts(v)
        if bits and fkey is not None and rkey is not None and (shift is not None or not args) and memo.offer(v & ~bits):
            after = f'{software_json}{verdict}, "reasons": [{why}], "notes": [{notes_json}]}}'
            memo[v & ~bits] = (kind, f"{_pct(pre)}{cj.mid_fmt}{_pct(post + before)}{summary}{_pct(after)}",
                               shift, cj)
        return kind, (f'{pre}{cj.mid_fmt % tuple([(v >> s) & m for s, m in cj.mid_shifts])}{post}{before}'
                      f'{summary % args}{software_json}{verdict}, "reasons": [{why}], "notes": [{notes_json}]}}')

    def tail(v: int) -> JsonTail:
        if v >> width:
            return wide(v)
        cj = large if v & ps else small
        if pfn_only is None or v in exact:
            return compose(v, cj, 0)
        key = v & key_mask | (v & mm == mv) << 64
        bits = free.get(key | (v & ps) << 65)
        if bits is None:
            bits = free[key | (v & ps) << 65] = pfn_only(key) & cj.pfn_bits
        if bits:
            hit = memo.get(v & ~bits)
            if hit is not None:
                kind, template, shift, hcj = hit
                args = hcj.mid_args(v)
                if shift is not None:
                    args.append(((v & base) >> 12) << shift)
                return kind, template % tuple(args)
        return compose(v, cj, bits)

    return tail
