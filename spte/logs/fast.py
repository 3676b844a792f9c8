"""The hot paths of the log reader: the commonest kvmmmu tracepoint lines straight to text.

A tracefs (or ``trace-cmd report``) line is ``<comm>-<pid> [cpu] flags timestamp: event: args``.
The events that dominate real traces -- ``kvm_mmu_paging_element``, ``kvm_mmu_set_spte``,
``kvm_tdp_mmu_spte_changed``, ``kvm_mmu_pagetable_walk`` -- are read in one of two ways:

- in bulk (:meth:`FastLog._bulk`): the chunk is split once by :func:`bulk_pattern`, each event's
  text is looked up in a memo of readings, and the output is joined from the split's
  parts: no Python step per line.  Only a chunk whose other text holds no needle of the
  grammar, whose events have the line path's forms, and whose guest walks stop at their
  leaf, is read so (a few lines of needles or other forms are cut out for the line path);
- line by line (:meth:`FastLog._fast`): :data:`PATTERN` finds the same events with their
  whole tracefs prefix (and the value-less ``kvm_mmu_spte_requested`` /
  ``kvm_mmu_set_{accessed,dirty}_bit`` lines); every other line is read by
  :class:`~spte.logs.reader.LogReader`, and only where a needle of the grammar occurs in it.

Both paths' forms are stricter than the declarations of :mod:`spte.logs.grammar` (single
blanks, values of at most 16 hex digits), so a line they take is one the general reader
would read the same way; anything unusual (a trimmed line, a 17-digit value, a level the
format lacks, a needle before the event, a chunk with a reserved-bits line that annotates an
earlier line) goes to the general reader.  ``tests/test_logs_fast.py`` compares the three.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable
from functools import cache
from itertools import accumulate, chain, compress, repeat
from operator import eq, itemgetter, mul
from typing import Any, Literal, NamedTuple

from spte.entry import CLASSES, MAX_VALUE
from spte.logs.context import Context
from spte.logs.grammar import BY_NAME, NEEDLES, PRINTOUTS, Shape
from spte.logs.reader import PAST_LEAF, PAST_NOT_PRESENT, LogReader, RecordFields, Walk, level_number
from spte.logs.records import LineResult, Record
from spte.logs.render import Renderer
from spte.memo import Memo

HEX = rb"[0-9a-fA-F]"
VALUE = HEX + rb"{1,16}"  # at most 64 bits; a longer value takes the general path (and its error)
# <comm>-<pid> [(tgid)] [cpu] [flags] timestamp:  (comm is at most 15 characters, TASK_COMM_LEN).
PREFIX = (rb"\n[ \t]*(?P<comm>[^\n\[]{1,16}?)-\d+ +(?:\( *[\d-]+\) +)?\[\d+\] +(?:[.a-zA-Z][.a-zA-Z0-9]{3,4} +)?"
          rb"\d+\.\d+: ")
# The arguments of the events with values, as arch/x86/kvm/mmu/mmutrace.h's TP_printk prints
# them, a named group per argument: the line path's PATTERN and the bulk path's EVENT_FORMS
# both take them from here.  (A 17th digit is not part of a value: such a line is the general
# reader's, which says why.)
EVENT_ARGS = {
    "kvm_mmu_paging_element": rb"pte (?P<pte>" + VALUE + rb") level (?P<plevel>\d+)",
    "kvm_mmu_set_spte": (rb"gfn (?P<gfn>" + HEX + rb"+) spte (?P<spte>" + VALUE
                         + rb") \((?P<r>[r-])(?P<w>[w-])(?P<x>[x-])(?P<u>[u-]?)\) level (?P<slevel>\d+) at "
                         rb"(?P<sptep>" + HEX + rb"+)"),
    "kvm_tdp_mmu_spte_changed": (rb"as id (?P<as_id>-?\d+) gfn (?P<tgfn>" + HEX + rb"+) level (?P<tlevel>\d+) "
                                 rb"old_spte (?P<old>" + VALUE + rb") new_spte (?P<new>" + VALUE + rb")(?!" + HEX
                                 + rb")"),
}
# One alternative per event; the empty group that ends it names the event (``Match.lastgroup``).
ALTERNATIVES = {
    **{name: name.encode() + b": " + args + rb"[^\n]*" for name, args in EVENT_ARGS.items()},
    "kvm_mmu_pagetable_walk": rb"kvm_mmu_pagetable_walk: addr (?P<addr>" + VALUE + rb")(?!" + HEX + rb")[^\n]*",
    # Value-less events, matched to the line's end: nothing else is on their lines.
    "none": (rb"(?:kvm_mmu_spte_requested: gfn " + HEX + rb"+ pfn " + HEX + rb"+ level -?\d+|kvm_mmu_set_"
             rb"(?:accessed|dirty)_bit: gpa " + HEX + rb"+)\r?(?=\n|\Z)"),
}
TAGS = {name: f"E{i}" for i, name in enumerate(ALTERNATIVES)}
PATTERN = re.compile(PREFIX + rb"(?:" + rb"|".join(alt + b"(?P<" + TAGS[name].encode() + b">)"
                                                   for name, alt in ALTERNATIVES.items()) + rb")")
# Needles the general reader looks for (value-less printouts are not looked for).
SEARCHED = [n for n, ps in NEEDLES.items() if any(p.shape is not Shape.NONE for p in ps)]
ANY_NEEDLE = re.compile(b"|".join(re.escape(n) for n in sorted(SEARCHED, key=len, reverse=True)))
# A reserved-bits line annotates the entry printed before it (reader.py, Shape.RSVD_SET): a
# chunk that has one is read whole by the general reader, which renders after reading.
# Such a line has its needle and the first word its format prints after the needle.
RSVD_MARKS = tuple({(p.needle_bytes, p.fmt[len(p.needle):].split()[0].encode())
                    for p in PRINTOUTS if p.shape is Shape.RSVD_SET})


# -- bulk chunks ------------------------------------------------------------------------------
# A chunk whose other lines hold no needle is composed without a Python step per line: one
# split at the events (each from ": event:" to its line's end: the literal start lets the scan
# skip the tracefs prefix), memo lookups mapped over the events' texts, and the parts joined; a
# chunk with a few needles between events is cut around them.  The needle-free check, not the
# prefix, makes a line safe: the general reader reads a line from its first needle (reader.py),
# so a line is the fast paths' exactly when no needle comes before its event.
#
# The split keeps one part per event, its text, which is also its memo key: a key cut out of it
# would cost a group per event (a fifth more split time).  An event's text holds what its
# reading depends on and the arguments printed beside (gfn, sptep, as_id): real traces print a
# new SPTE value on nearly every set_spte and spte_changed line, so those keys repeat about as
# often as their values would.  A walk header's text stops before its address, which changes
# on every walk and only the walk's replay reads (from the text after it).
#
# The split looks only for the event's name (an event's exact form costs the split a tenth
# more); a new text is checked against EVENT_FORMS, the line-by-line PATTERN's grammar
# (single blanks, values of at most 64 bits), each printed number ending at a blank or the
# line's end, and then read from that match's groups (FastLog._bulk_reader).  A text of any
# other form reads as OTHER_FORM: its line is cut out of the chunk for the line-by-line path.
NUMBER_END = rb"(?![^ \n\r])"
# (The last group of each form tells the event.)
EVENT_FORMS = {name.encode() + b":": args + NUMBER_END for name, args in EVENT_ARGS.items()}
EVENT_TEXT = re.compile(rb": (?:" + b"|".join(re.escape(event) + b" " + form for event, form in EVENT_FORMS.items())
                        + rb")[^\n\r]*\Z")
WALK_HEAD = b": kvm_mmu_pagetable_walk: addr"
WALK_ADDR = re.compile(rb" (" + VALUE + rb")(?!" + HEX + rb")")  # what follows a walk header's text


@cache
def bulk_pattern(cr: bool) -> re.Pattern[bytes]:
    """The bulk split of a chunk (``cr``: a chunk with CRs; made on first use).  An event's text
    runs to its line's end (before a CR that ends it; a chunk without CRs needs no such test,
    and a one-character class scans faster).  A walk header takes no colon after its address:
    a second event on its line is left to the line path, which reads the line as the header."""
    tail = rb"[^\n\r]*(?=\r?\n|\Z)" if cr else rb"[^\n]*"
    walk = WALK_HEAD[2:] + rb"(?= " + VALUE + rb"(?!" + HEX + rb")[^\n\r:]*\r?(?:\n|\Z))"
    events = [re.escape(event) + b" " + tail for event in EVENT_FORMS]
    return re.compile(rb"(: (?:" + b"|".join([*events, walk]) + rb"))")


# Needles as they look with every hex digit made a 0 (values and timestamps vary, the shape of
# a line does not): the text between events is checked once per distinct shape, and a gap
# whose shape may hold a needle is searched for the needles themselves.  Mapping characters
# keeps every needle a substring, so the check misses none; it may flag a shape that holds none.
SHAPE = bytes(0x30 if chr(c) in "0123456789abcdefABCDEF" else c for c in range(256))
SHAPE_MAX = 1024  # a longer shape is searched for the needles, never remembered (the memo stays small)
NEW_SHAPES = 64  # more new shapes than this in a chunk: search the needles themselves at once
CLEAN_SHAPES = 4096  # shapes remembered clean (a trace has a few dozen)
NEEDLE_SHAPES = re.compile(b"|".join({re.escape(n.translate(SHAPE)) for n in SEARCHED}))
# A walk step's code: its level as a digit while the walk goes on, a letter (A = level 1) when the
# walk is past a leaf or a not-present entry after it; "W" a walk's header.  A step that follows
# a letter of a higher level is read past the walk's end (reader.py ``_past``): such a chunk
# takes the line-by-line path.
PAST_CODE = b"ABCDE"
READ_PAST = re.compile(b"|".join(b"%c[1-%dA-%c]" % (PAST_CODE[lv - 1], lv - 1, PAST_CODE[lv - 2])
                                 for lv in range(2, 6)))
BULK_BACKOFF = 63  # after failed tries, at most this many chunks go line by line before the next try
BULK_CUTS = 32  # needle gaps or odd events a chunk is cut at (read in bulk around them); more: line by line


MEMO = 1 << 15
MEMO_BYTES = 16 << 20  # of readings' text in the bulk memo
Key = tuple[Any, ...]  # the printed value and level (Match.group's bytes)
# (level, value, what a walk is past after it, kind, annotation) of a guest walk step
StepHit = tuple[int, int, "str | None", str, bytes, RecordFields]
SpteHit = tuple[int, int, str, bytes]  # (level, value, kind, annotation)


class BulkHit(NamedTuple):
    """What the bulk path knows of one event's text (its memo key)."""

    # What replaces the event's text: the text and its annotation; JSON: its record after the
    # line number (each record starts with LINE % the line number, put in per line: a format
    # as long as the record would cost more than the record's own copy).
    text: bytes
    code: bytes  # the walk code (READ_PAST): b"" for events outside walks
    event: str | None  # counted per line (None: not counted, and no annotation)
    counted: tuple[tuple[int, str | None], ...]  # (level, owner's kind or None) counted per line
    step: tuple[int, int, str | None, RecordFields] | None  # a walk step's (level, value, verdict, fields)
    records: int  # JSON: the records of the line (a walk header has none, a transition two)
    more: bytes  # JSON: a transition's second record after its line number


LINE = b'{"line": %d'  # a JSON record's start

TEXT, CODE, EVENT, RECORDS, MORE = (itemgetter(BulkHit._fields.index(f)) for f in (
    "text", "code", "event", "records", "more"))
# An event's text the bulk path does not read (another form, a level the format lacks): its
# code marks the chunk for a cut.
OTHER_FORM = BulkHit(b"", b"?", None, (), None, 0, b"")
# % the access letters ("(r-xu)"), then % (gfn, sptep)
SET_SPTE_ARGS = b', "args": {"gfn": "%%s", "r": "%s", "w": "%s", "x": "%s", "u": "%s", "sptep": "%%s"}'
SPTE_CHANGED_ARGS = b', "args": {"as_id": "%s", "gfn": "%s"}'
PAST_NOTES = {PAST_LEAF: b"  ## " + PAST_LEAF.encode(), PAST_NOT_PRESENT: b"  ## " + PAST_NOT_PRESENT.encode()}


class Readings:
    """What the fast paths know of each printed (value, level): the annotation or the JSON text,
    the owner's kind and, for a walk step, what the walk is past after it.  Memoised by the
    printed bytes from a key's second reading on, for as many as :data:`MEMO` keys (then
    read per line)."""

    def __init__(self, render: Renderer, json_mode: bool) -> None:
        ctx = render.ctx
        self.render, self.json_mode = render, json_mode
        self.kvm_fmt, self.guest_fmt = kvm_fmt, guest_fmt = ctx.table_format("host"), ctx.table_format("guest")
        self.kvm_fmt_b = kvm_fmt.encode()
        self.kvm_levels, self.guest_levels = frozenset(CLASSES[kvm_fmt]), frozenset(CLASSES[guest_fmt])
        # A printed level as the kernel prints it -> the level (anything else: level_number's reading).
        self.kvm_level_of = {b"%d" % lv: lv for lv in self.kvm_levels}
        self.guest_level_of = {b"%d" % lv: lv for lv in self.guest_levels}
        self.kvm_top, self.guest_top = MAX_VALUE[kvm_fmt], MAX_VALUE[guest_fmt]  # wider: the general reader's error
        self.kvm_text = {lv: render.texter(kvm_fmt, lv, "kvm") for lv in self.kvm_levels}
        self.guest_text = {lv: render.texter(guest_fmt, lv, "guest") for lv in self.guest_levels}
        self.guest_past = {lv: past_verdict(ctx, guest_fmt, lv, "guest") for lv in self.guest_levels}
        self.step_memo: Memo[Key, StepHit | Literal[False]] = Memo(MEMO)
        self.spte_memo: Memo[Key, SpteHit | Literal[False]] = Memo(MEMO)

    def guest_reading(self, level: int, v: int) -> tuple[str, bytes]:
        """(kind, note) of a guest walk step: the annotation, or JSON's text after the line number."""
        if self.json_mode:
            jkind, tail = self.render.entry_json_tail(self.guest_fmt, level, "guest", v)
            return jkind or "", (f', "value": "{v:#x}", "format": "{self.guest_fmt}", "level": {level}, '
                                 f'"owner": "guest", "event": "kvm_mmu_paging_element", "entry": true{tail}\n').encode()
        kind, text = self.guest_text[level](v)
        return kind, b"  ## " + text.encode()

    def kvm_reading(self, level: int, v: int) -> tuple[str, bytes]:
        """(kind, note) of a host SPTE: the annotation, or JSON's text after the arguments."""
        if self.json_mode:
            jkind, tail = self.render.entry_json_tail(self.kvm_fmt, level, "kvm", v)
            return jkind or "", tail.encode() + b"\n"
        kind, text = self.kvm_text[level](v)
        return kind, b"  ## " + text.encode()

    def guest_value(self, pte: bytes, lv: bytes) -> tuple[int, int] | None:
        """(level, value) of a printed guest entry, or None if not for the fast paths (a level
        the format lacks, a value wider than its entries: the general reader says why)."""
        level = self.guest_level_of.get(lv) or level_number(lv)
        v = int(pte, 16)
        return (level, v) if level in self.guest_levels and v <= self.guest_top else None

    def kvm_level(self, lv: bytes) -> int | None:
        """A printed host SPTE level, or None if the host format lacks it."""
        level = self.kvm_level_of.get(lv) or level_number(lv)
        return level if level in self.kvm_levels else None

    def kvm_value(self, lv: bytes, spte: bytes) -> tuple[int, int] | None:
        """(level, value) of a printed host SPTE, or None as :meth:`guest_value`."""
        level, v = self.kvm_level(lv), int(spte, 16)
        return (level, v) if level is not None and v <= self.kvm_top else None

    def kvm_pair(self, lv: bytes, old: bytes, new: bytes) -> tuple[int, int, int] | None:
        """(level, old, new) of a printed old -> new pair of host SPTEs, or None as :meth:`guest_value`."""
        level, o, n = self.kvm_level(lv), int(old, 16), int(new, 16)
        return (level, o, n) if level is not None and o <= self.kvm_top and n <= self.kvm_top else None

    def kvm_head(self, v: int, level: int, event: bytes, role: bytes | None = None) -> bytes:
        """A host SPTE's JSON record from ``"value"`` to ``"entry"`` (and ``"role"``)."""
        head = (b', "value": "%#x", "format": "%s", "level": %d, "owner": "kvm", "event": "%s", "entry": true'
                % (v, self.kvm_fmt_b, level, event))
        return head if role is None else head + b', "role": "%s"' % role

    def transition(self, level: int, old: int, new: int) -> tuple[str, str, bytes]:
        """(old kind, new kind, annotation) of an old -> new pair of host SPTEs."""
        text = self.kvm_text[level]
        (old_kind, old_text), (new_kind, new_text) = text(old), text(new)
        note = f"  ## old {old_text} -> new {new_text}"
        if old != new:
            note += f"; bits changed {self.render.ranges(old ^ new)}"
        return old_kind, new_kind, note.encode()

    def step_entry(self, key: Key) -> StepHit | Literal[False]:
        """A guest walk step's reading (False: not for the fast paths), memoised."""
        found = self.guest_value(*key)
        if found is None:
            return False
        level, v = found
        kind, note_b = self.guest_reading(level, v)
        hit = (level, v, self.guest_past[level](v), kind, note_b,
               ("kvm_mmu_paging_element", "guest", v, self.guest_fmt, level))
        self.step_memo.keep(key, hit)
        return hit

    def spte_entry(self, key: Key) -> SpteHit | Literal[False]:
        """A host SPTE's reading (False: not for the fast paths), memoised."""
        spte, lv = key
        found = self.kvm_value(lv, spte)
        if found is None:
            return False
        level, v = found
        kind, note_b = self.kvm_reading(level, v)
        hit = (level, v, kind, note_b)
        self.spte_memo.keep(key, hit)
        return hit


class Cuts(NamedTuple):
    """Lines of a chunk for the line-by-line path, the rest of it for the bulk path."""

    spans: list[tuple[int, int]]  # (start, end) of each run of whole lines, in order
    read: bool  # the chunk's event texts were looked up (and offered to the memo) already


class BulkMemo(Memo[bytes, BulkHit]):
    """Event text -> reading, read on first use: kept from its second use on while the memo
    has room (MEMO keys and MEMO_BYTES of text: a JSON reading is long; never cleared), and
    for the chunk being composed (``overflow``, cleared per chunk)."""

    def __init__(self, read: Callable[[bytes], BulkHit]) -> None:
        super().__init__(MEMO)
        self.read = read
        self.overflow: dict[bytes, BulkHit] = {}
        self.room = MEMO_BYTES

    def __missing__(self, key: bytes) -> BulkHit:
        hit = self.overflow.get(key)
        if hit is None:
            hit = self.overflow[key] = self.read(key)
        if self.offer(key):  # (most keys of input that never repeats stop here)
            size = len(key) + len(TEXT(hit)) + len(MORE(hit))
            if size <= self.room:
                self[key] = hit
                self.room -= size
        return hit


class FastLog:
    """Annotates (or turns into JSON) chunks of whole lines; the general reader does the rest.

    ``mode`` is ``"whole"`` (every line, annotated), ``"only"`` (annotated lines only),
    ``"json"`` or ``"summary"`` (counts only).
    """

    def __init__(self, reader: LogReader, render: Renderer, mode: str, fast: bool = True) -> None:
        self.reader, self.render, self.mode = reader, render, mode
        self.fast = fast  # False: every line through the general reader (the reference the tests compare with)
        self._comm_ok: dict[bytes, bool] = {}
        self.newlines = 0  # line ends in the last chunk
        self._last = 0  # whole mode: data[:_last] is written
        self._tables: Readings | None = None
        self._bulk_memo = BulkMemo(self._first_read)
        self._clean_shapes: dict[bytes, int] = {}  # shapes without a needle -> line ends (bounded, never cleared)
        self._bulk_backoff = self._bulk_wait = 0  # chunks to read line by line before trying bulk again

    # -- the general reader over a region -------------------------------------------------------
    def _general(self, data: bytes, start: int, end: int, lineno: int, out: list[bytes],
                 errors: list[LineResult]) -> None:
        """Lines ``data[start:end]`` (whole lines, ``lineno`` the first) through the general reader."""
        if start >= end or ANY_NEEDLE.search(data, start, end) is None:
            return
        render, mode = self.render, self.mode
        for result in self.reader.scan_region(data, start, end, lineno):
            if result.error is not None:
                errors.append(result)
                continue
            if not result.records and result.note is None:
                continue
            if mode == "json":
                render.counts["event"][result.event] += 1
                out += [render.json_record(rec).encode() + b"\n" for rec in result.records]
            elif mode == "whole":
                out.append(data[self._last:result.end])
                out.append(b"  ## " + render.line_note(result).encode())
                self._last = result.end
            elif mode == "summary":
                render.line_note(result)
            else:
                out.append(data[result.start:result.end] + b"  ## " + render.line_note(result).encode() + b"\n")

    # -- chunks ------------------------------------------------------------------------------
    def chunk(self, blob: bytes, first_line: int) -> tuple[list[bytes], list[LineResult]]:
        """(output pieces, error results in order) of ``blob`` (whole lines, the first numbered
        ``first_line``); ``newlines`` is then its count of line ends."""
        out: list[bytes] = []
        errors: list[LineResult] = []
        general = not self.fast or any(n in blob and word in blob for n, word in RSVD_MARKS)
        if general or self._bulk_wait:
            if not general:  # waiting: the last tries failed (a log of other printouts)
                self._bulk_wait -= 1
            self.newlines = blob.count(b"\n")
            self._lines(blob, first_line, out, errors, general)
            return out, errors
        done = self._bulk(blob, first_line, out)
        if isinstance(done, Cuts):  # needles between events, or events of other forms: bulk around their lines
            pos, line = 0, first_line
            for head, dirty in [*done.spans, (len(blob), len(blob))]:
                if head > pos:
                    clean = blob[pos:head]
                    count = self._bulk(clean, line, out, done.read)
                    if not isinstance(count, int):
                        count = clean.count(b"\n")
                        self._lines(clean, line, out, errors, False)
                    line += count
                if dirty > head:
                    self._lines(blob[head:dirty], line, out, errors, False)
                    line += blob.count(b"\n", head, dirty)
                pos = dirty
            done = line - first_line
        if done is not None:
            self.newlines = done
            self._bulk_backoff = 0
            return out, errors
        self._bulk_backoff = min(2 * self._bulk_backoff + 1, BULK_BACKOFF)
        self._bulk_wait = self._bulk_backoff
        self.newlines = blob.count(b"\n")
        self._lines(blob, first_line, out, errors, False)
        return out, errors

    def _lines(self, blob: bytes, first_line: int, out: list[bytes], errors: list[LineResult], general: bool) -> None:
        """``blob`` line by line (the general reader alone if ``general``)."""
        data = b"\n" + blob  # every line starts after a newline
        self._last = 1
        if general:
            self._general(data, 1, len(data), first_line, out, errors)
        else:
            self._fast(data, first_line, out, errors)
        if self.mode == "whole":
            out.append(data[self._last:])

    def _readings(self) -> Readings:
        if self._tables is None:
            self._tables = Readings(self.render, self.mode == "json")
        return self._tables

    # -- bulk chunks -------------------------------------------------------------------------
    def _bulk(self, blob: bytes, first_line: int, out: list[bytes], read: bool = False) -> int | Cuts | None:
        """Compose ``blob`` (whole lines) without a Python step per line if no line but the
        events' holds a needle, every event has a form the bulk path reads and no walk is read
        past its end: its count of line ends.  Otherwise nothing is done: None, or the lines
        to cut out for the line-by-line path, where a few gaps between events hold needles or a
        few events have other forms.  ``read``: the texts were looked up in this chunk already
        (a part of a chunk cut for events of other forms): they are not offered to the memo
        again, which would admit texts seen once."""
        mode, reader = self.mode, self.reader
        parts = bulk_pattern(b"\r" in blob).split(blob)
        pres = parts[0::2]  # the text before each event (its line's prefix, other lines)
        texts = parts[1::2]  # each event's text (the memo's key)
        n = len(texts)
        dirty, ends = self._needle_between(pres)
        if dirty is not None:
            if not dirty or not n or len(dirty) > BULK_CUTS:  # prose, no event, needles everywhere
                return None
            return Cuts(self._cuts(blob, pres, texts, dirty), False)
        memo = self._bulk_memo
        if read:
            hits = [memo.get(text) or memo.overflow[text] for text in texts]
        else:
            memo.overflow.clear()
            hits = list(map(memo.__getitem__, texts))
        codes = b"".join(map(CODE, hits))
        if b"?" in codes:  # events of other forms: their lines take the line path
            odd = [i for i, hit in enumerate(hits) if hit is OTHER_FORM]
            return Cuts(self._cuts(blob, pres, texts, odd, events=True), True) if len(odd) <= BULK_CUTS else None
        w = reader.walk
        carried = (b"W" if w is None or w.family != "guest" or w.last_level is None
                   else b"%d" % w.last_level if w.past is None else PAST_CODE[w.last_level - 1:w.last_level])
        if READ_PAST.search(carried + codes):
            return None
        render = self.render
        if render.count:  # --summary (text or JSON)
            events, levels, kinds = render.counts["event"], render.levels, render.counts["kind"]
            hit_of = dict(zip(texts, hits, strict=True))  # (not memo[key]: that would offer each key again)
            for key, k in Counter(texts).items():
                hit = hit_of[key]
                if hit.event:
                    events[hit.event] += k
                for level, kind in hit.counted:
                    levels[level] += k
                    if kind is not None:
                        kinds[kind] += k
        newlines = sum(ends)
        self._replay_walk(hits, pres, ends, first_line + newlines)
        notes = list(map(TEXT, hits))
        if mode == "whole":  # the split's own parts, each event's text replaced by itself and its note
            parts[1::2] = notes
            out.append(b"".join(parts))
        elif mode == "only":
            noted = list(map(EVENT, hits))  # (a walk header has no note)
            starts = map(itemgetter(2), map(bytes.rpartition, compress(pres, noted), repeat(b"\n")))
            out.append(b"".join(chain.from_iterable(zip(starts, compress(notes, noted), repeat(b"\n")))))
        elif mode == "json":  # per event: its line number and record, again for a transition's second
            lines = accumulate(ends[:n], initial=first_line)
            next(lines)
            heads = list(map(LINE.__mod__, lines))
            records = list(map(RECORDS, hits))
            pieces = [b""] * (4 * n)
            pieces[0::4] = map(mul, heads, map(bool, records))  # (bytes * 1 is the bytes; * 0 is empty)
            pieces[1::4] = notes
            pieces[2::4] = map(mul, heads, map(eq, records, repeat(2)))
            pieces[3::4] = map(MORE, hits)
            out.append(b"".join(pieces))
        return newlines

    @staticmethod
    def _cuts(blob: bytes, pres: list[bytes], texts: list[bytes], gaps: list[int],
              events: bool = False) -> list[tuple[int, int]]:
        """``(head, end)`` per gap ``i`` of ``gaps`` (in order): ``blob[head:end]`` are its whole
        lines to the end of the line of event ``i`` (with ``events``, that line only); the text
        between cuts can be read in bulk."""
        lengths = map(len, chain.from_iterable(zip(pres[:-1], texts, strict=True)))
        offsets = list(accumulate(lengths, initial=0))[0::2]  # where each gap starts
        cuts: list[tuple[int, int]] = []
        for i in gaps:
            if events:  # the event's own line
                head = blob.rfind(b"\n", 0, offsets[i] + len(pres[i])) + 1
            elif i and texts[i - 1] == WALK_HEAD:  # the gap starts on the header's line: cut from its start
                head = blob.rfind(b"\n", 0, offsets[i]) + 1
            else:  # the gap starts with an event line's end
                head = blob.index(b"\n", offsets[i]) + 1 if i else 0
            end = blob.find(b"\n", offsets[i] + len(pres[i]) + len(texts[i])) if i < len(texts) else -1
            if cuts and head < cuts[-1][1]:  # the header's line ends the cut before: one cut
                head = cuts.pop()[0]
            cuts.append((head, len(blob) if end < 0 else end + 1))
        return cuts

    def _first_read(self, key: bytes) -> BulkHit:
        self._bulk_memo.read = read = self._bulk_reader()  # the context's tables, built on first use
        return read(key)

    def _needle_between(self, pres: list[bytes]) -> tuple[list[int] | None, list[int]]:
        """Where a needle of the grammar may be in the text between events (each followed by the
        ": " that starts its event: a needle may end in that colon, as "pgd:" does): None for
        nowhere, else the gaps that hold one (empty: somewhere); and where there is none, each
        gap's count of line ends (an event's text holds none).

        Shapes of that text already seen clean (bounded: CLEAN_SHAPES shapes of at most
        SHAPE_MAX bytes) cost a dict lookup, which also gives their line ends (so a chunk's
        bytes are not counted again); new short ones are checked as shapes; the text of a
        flagged or long one, or a chunk of mostly new shapes (prose between events), is
        searched for the needles themselves."""
        clean = self._clean_shapes
        shapes = list(map(bytes.translate, pres, repeat(SHAPE)))
        new = set(shapes).difference(clean)
        if len(new) > NEW_SHAPES:
            if ANY_NEEDLE.search(b": \n".join(pres)):
                return [], []
        elif new:
            # a long shape is searched in its own text: the shapes' pattern is slow on long text
            bad = {shape for shape in new if len(shape) > SHAPE_MAX or NEEDLE_SHAPES.search(shape + b": ")}
            dirty = [i for i in compress(range(len(pres)), map(bad.__contains__, shapes))
                     if ANY_NEEDLE.search(pres[i] + b": ")] if bad else []
            if len(clean) < CLEAN_SHAPES:
                clean.update((shape, shape.count(b"\n")) for shape in new.difference(bad))
            if dirty:
                return dirty, []
        try:  # (the translation keeps line ends)
            return None, list(map(clean.__getitem__, shapes))
        except KeyError:  # prose, a flagged or long shape without a needle, or the memo full
            return None, list(map(bytes.count, pres, repeat(b"\n")))

    def _bulk_reader(self) -> Callable[[bytes], BulkHit]:
        """An event's text -> its reading (OTHER_FORM: not for the bulk path), the same as
        :meth:`_fast` gives its line; a closure over the context's tables (it runs once per
        distinct text)."""
        t = self._readings()
        json_mode, guest_past = t.json_mode, t.guest_past
        kvm_level_of, kvm_top, kvm_text = t.kvm_level_of, t.kvm_top, t.kvm_text
        make = tuple.__new__  # (BulkHit's generated __new__ is a Python function)
        walk_head = make(BulkHit, (b"" if json_mode else WALK_HEAD, b"W", None, (), None, 0, b""))
        form = EVENT_TEXT.match

        def read(text: bytes) -> BulkHit:
            if text == WALK_HEAD:  # a walk's header: no record, the walk's replay reads the address
                return walk_head
            m = form(text)
            if m is None:
                return OTHER_FORM
            event = m.lastgroup  # the last argument of the event's form
            if event == "plevel":  # kvm_mmu_paging_element
                guest = t.guest_value(*m.group("pte", "plevel"))
                if guest is None:
                    return OTHER_FORM
                level, v = guest
                kind, note = t.guest_reading(level, v)
                verdict = guest_past[level](v)
                return make(BulkHit, (note if json_mode else text + note,
                                      b"%d" % level if verdict is None else PAST_CODE[level - 1:level],
                                      "kvm_mmu_paging_element", ((level, kind or None),),
                                      (level, v, verdict, ("kvm_mmu_paging_element", "guest", v, t.guest_fmt, level)),
                                      1, b""))
            if event == "sptep":  # kvm_mmu_set_spte
                spte, lv = m.group("spte", "slevel")
                known, v = kvm_level_of.get(lv), int(spte, 16)  # (Readings.kvm_value, inlined)
                if known is None or v > kvm_top:
                    host = t.kvm_value(lv, spte)
                    if host is None:
                        return OTHER_FORM
                    known, v = host
                level = known
                if not json_mode:  # (Readings.kvm_reading, inlined: most new texts are SPTEs')
                    kind, note_s = kvm_text[level](v)
                    return make(BulkHit, (text + b"  ## " + note_s.encode(), b"", "kvm_mmu_set_spte",
                                          ((level, kind),), None, 1, b""))
                kind, note = t.kvm_reading(level, v)
                # (u is empty on hosts whose kernel prints three letters)
                args = SET_SPTE_ARGS % m.group("r", "w", "x", "u") % m.group("gfn", "sptep")
                return make(BulkHit, (t.kvm_head(v, level, b"kvm_mmu_set_spte") + args + note, b"",
                                      "kvm_mmu_set_spte", ((level, kind or None),), None, 1, b""))
            pair = t.kvm_pair(*m.group("tlevel", "old", "new"))  # kvm_tdp_mmu_spte_changed
            if pair is None:
                return OTHER_FORM
            level, old, new = pair
            if not json_mode:
                old_kind, new_kind, note = t.transition(level, old, new)
                return make(BulkHit, (text + note, b"", "kvm_tdp_mmu_spte_changed",
                                      ((level, old_kind), (level, new_kind)), None, 2, b""))
            records, counted = [], []
            args = SPTE_CHANGED_ARGS % m.group("as_id", "tgfn")
            for value, role in ((old, b"old"), (new, b"new")):
                jkind, jtail = t.render.entry_json_tail(t.kvm_fmt, level, "kvm", value)
                counted.append((level, jkind))
                records.append(t.kvm_head(value, level, b"kvm_tdp_mmu_spte_changed", role) + args + jtail.encode()
                               + b"\n")
            return make(BulkHit, (records[0], b"", "kvm_tdp_mmu_spte_changed", tuple(counted), None, 2,
                                  records[1]))

        return read

    def _replay_walk(self, hits: list[BulkHit], pres: list[bytes], ends: list[int], last_line: int) -> None:
        """Leave the reader's walk as reading the chunk line by line would: replay the walk
        events from the last walk's start (at most 6 back: a header and one step per level).
        ``ends``: each gap's line ends (:meth:`_needle_between`)."""
        reader = self.reader
        steps: list[int] = []
        i = len(hits) - 1
        while i >= 0 and len(steps) < 6:
            if hits[i].code:
                steps.append(i)
            i -= 1
        if len(steps) == 6:
            reader.walk = None
        lines, after = {}, 0
        for j in range(len(pres) - 1, steps[-1] if steps else len(pres), -1):
            after += ends[j]
            lines[j - 1] = last_line - after
        for i in reversed(steps):
            step = hits[i].step
            if step is None:  # a walk's header
                m = WALK_ADDR.match(pres[i + 1])  # (the split took it)
                assert m is not None
                reader.walk = Walk("guest", int(m[1], 16))
                continue
            level, _, verdict, fields = step
            w = reader.walk
            if w is None or w.family != "guest" or (w.last_level is not None and level >= w.last_level):
                w = reader.walk = Walk("guest")
            w.last_level = level
            w.records.append((lines[i], fields))
            if w.past is None:
                w.past = verdict

    def _fast(self, data: bytes, first_line: int, out: list[bytes], errors: list[LineResult]) -> None:
        reader, render, mode = self.reader, self.render, self.mode
        count = render.count
        events, levels, kinds = render.counts["event"], render.levels, render.counts["kind"]
        comm_ok = self._comm_ok
        t = self._readings()
        kvm_fmt, guest_fmt, kvm_head, json_tail = t.kvm_fmt, t.guest_fmt, t.kvm_head, render.entry_json_tail
        step_memo, spte_memo = t.step_memo, t.spte_memo
        step_entry, spte_entry = t.step_entry, t.spte_entry
        json_mode = mode == "json"
        whole, only = mode == "whole", mode == "only"
        append = out.append
        last = self._last  # whole mode: data[:last] is written (self._last while the general reader runs)

        def general(start: int, end: int, lineno: int) -> None:
            nonlocal last
            self._last = last
            self._general(data, start, end, lineno, out, errors)
            last = self._last

        pos = 0  # data[pos] is the newline that ends the last line done (0: the one before the first line)
        lineno = first_line - 1  # the number of that line
        span = re.Match.span
        for m in PATTERN.finditer(data):
            s, e = span(m)
            if s == pos:
                lineno += 1
            else:
                general(pos + 1, s, lineno + 1)
                lineno += data.count(b"\n", pos, s + 1)
            pos = e
            tag = m.lastgroup
            comm = m.group(1)
            ok = comm_ok.get(comm)
            if ok is None:
                ok = ANY_NEEDLE.search(comm) is None
                if len(comm_ok) < MEMO:
                    comm_ok[comm] = ok
            if not ok:
                general(s + 1, e, lineno)
                continue
            if tag == "E0":  # kvm_mmu_paging_element: a step of a guest walk
                key = m.group(G_PTE, G_PLEVEL)
                hit = step_memo.get(key)
                if hit is None:
                    hit = step_entry(key)
                if hit is False:
                    general(s + 1, e, lineno)
                    continue
                level, v, verdict, kind, note_b, _ = hit
                w = reader.walk
                if w is None or w.family != "guest" or (w.last_level is not None and level >= w.last_level):
                    w = reader.walk = Walk("guest")
                w.last_level = level
                w.records.append((lineno, hit[5]))
                past = w.past
                if json_mode:
                    events["kvm_mmu_paging_element"] += 1
                    if past is not None:
                        rec = Record(lineno, "kvm_mmu_paging_element", "guest", v, guest_fmt, level, level, None,
                                     None, m, ())
                        rec.entry = False
                        rec.notes.append(past)
                        append(render.json_record(rec).encode() + b"\n")
                        continue
                    w.past = verdict
                    if kind:  # as Renderer.record_dict counts: the owner's kind, then the level
                        kinds[kind] += 1
                    levels[level] += 1
                    append(b'{"line": %d%s' % (lineno, note_b))
                    continue
                if count:
                    events["kvm_mmu_paging_element"] += 1
                if past is not None:
                    levels[level] += 1  # as Renderer.value_text counts
                    note_b = PAST_NOTES[past]
                else:
                    w.past = verdict
                    if count:  # as Renderer.line_note's one-entry path counts
                        levels[level] += 1
                        kinds[kind] += 1
            elif tag == "E1":  # kvm_mmu_set_spte: one SPTE at a printed level
                key = m.group(G_SPTE, G_SLEVEL)
                shit = spte_memo.get(key)
                if shit is None:
                    shit = spte_entry(key)
                if shit is False:
                    general(s + 1, e, lineno)
                    continue
                level, v, kind, note_b = shit
                if json_mode:
                    events["kvm_mmu_set_spte"] += 1
                    if kind:
                        kinds[kind] += 1
                    levels[level] += 1
                    gfn, r, w_, x, u, sptep = m.group(G_GFN, G_R, G_W, G_X, G_U, G_SPTEP)
                    append(LINE % lineno + kvm_head(v, level, b"kvm_mmu_set_spte")
                           + SET_SPTE_ARGS % (r, w_, x, u) % (gfn, sptep) + note_b)
                    continue
                if count:
                    events["kvm_mmu_set_spte"] += 1
                    levels[level] += 1
                    kinds[kind] += 1
            elif tag == "E2":  # kvm_tdp_mmu_spte_changed: old -> new
                pair = t.kvm_pair(m.group("tlevel"), m.group("old"), m.group("new"))
                if pair is None:
                    general(s + 1, e, lineno)
                    continue
                level, old, new = pair
                if json_mode:
                    events["kvm_tdp_mmu_spte_changed"] += 1
                    args = SPTE_CHANGED_ARGS % m.group(G_AS_ID, G_TGFN)
                    for value, role in ((old, b"old"), (new, b"new")):
                        jkind, tail = json_tail(kvm_fmt, level, "kvm", value)
                        if jkind is not None:
                            kinds[jkind] += 1
                        levels[level] += 1
                        append(LINE % lineno + kvm_head(value, level, b"kvm_tdp_mmu_spte_changed", role) + args
                               + tail.encode() + b"\n")
                    continue
                old_kind, new_kind, note_b = t.transition(level, old, new)
                levels[level] += 2
                if count:
                    events["kvm_tdp_mmu_spte_changed"] += 1
                    kinds[old_kind] += 1
                    kinds[new_kind] += 1
            elif tag == "E3":  # kvm_mmu_pagetable_walk: a guest walk starts
                reader.walk = Walk("guest", int(m.group("addr"), 16))
                continue
            else:  # a line that carries no entry
                continue
            if json_mode:
                continue
            end = e - 1 if data[e - 1] == 13 else e
            if whole:
                append(data[last:end])
                append(note_b)
                last = end
            elif only:
                append(data[s + 1:end] + note_b + b"\n")
        general(pos + 1, len(data), lineno + 1)
        self._last = last


G_PTE, G_PLEVEL = PATTERN.groupindex["pte"], PATTERN.groupindex["plevel"]
G_SPTE, G_SLEVEL = PATTERN.groupindex["spte"], PATTERN.groupindex["slevel"]
G_GFN, G_R, G_W, G_X, G_U, G_SPTEP = (PATTERN.groupindex[n] for n in ("gfn", "r", "w", "x", "u", "sptep"))
G_AS_ID, G_TGFN = PATTERN.groupindex["as_id"], PATTERN.groupindex["tgfn"]
assert PATTERN.groupindex["comm"] == 1


# The records the JSON text stands for print these arguments (grammar.py), in this order.
assert BY_NAME["kvm_mmu_set_spte"].info_args == ("gfn", "r", "w", "x", "u", "sptep")
assert BY_NAME["kvm_tdp_mmu_spte_changed"].info_args == ("as_id", "gfn")
assert TAGS == {"kvm_mmu_paging_element": "E0", "kvm_mmu_set_spte": "E1", "kvm_tdp_mmu_spte_changed": "E2",
                "kvm_mmu_pagetable_walk": "E3", "none": "E4"}


def past_verdict(ctx: Context, fmt: str, level: int, owner: str) -> Callable[[int], str | None]:
    """``v`` -> what a walk that reached ``v`` has passed (reader.py ``_past``), from masks."""
    table_cls, large_cls = CLASSES[fmt][level]
    platform = ctx.platform_for(owner)
    small = table_cls.layout(platform)
    ps = small.page_size_mask if large_cls else 0
    large = large_cls.layout(platform) if large_cls else small
    small_leaf, large_leaf = table_cls.LEAF, large_cls.LEAF if large_cls else table_cls.LEAF
    sp, lp = small.present_mask, large.present_mask

    def past(v: int) -> str | None:
        if v & ps:
            return (PAST_LEAF if large_leaf else None) if v & lp else PAST_NOT_PRESENT
        return (PAST_LEAF if small_leaf else None) if v & sp else PAST_NOT_PRESENT

    return past
