"""The hot path of the log reader: the commonest kvmmmu tracepoint lines straight to text.

A tracefs (or ``trace-cmd report``) line is ``<comm>-<pid> [cpu] flags timestamp: event: args``.
One compiled pattern finds, in a single pass over a chunk, the lines of the events that
dominate real traces -- ``kvm_mmu_set_spte``, ``kvm_mmu_paging_element``,
``kvm_tdp_mmu_spte_changed``, ``kvm_mmu_pagetable_walk`` -- and the value-less
``kvm_mmu_spte_requested`` / ``kvm_mmu_set_{accessed,dirty}_bit`` lines (matched to their
end, so they are known to carry nothing).  Every other line (the gaps between matches) is
read by :class:`~spte.logs.reader.LogReader` exactly as before, and only where a needle of
the grammar occurs in it.

The pattern is stricter than the declarations of :mod:`spte.logs.grammar` (single blanks,
values of at most 16 hex digits, the whole tracefs prefix), so a line it takes is one the
general reader would read the same way; anything unusual (a trimmed line, a 17-digit value,
a level the format lacks, a task name that holds a needle, a chunk with a reserved-bits line
that annotates an earlier line) goes to the general reader.  ``tests/test_logs_fast.py``
compares both paths.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any, Literal

from spte.entry import CLASSES
from spte.logs.context import Context
from spte.logs.grammar import BY_NAME, NEEDLES, PRINTOUTS, Shape
from spte.logs.reader import PAST_LEAF, PAST_NOT_PRESENT, LogReader, RecordFields, Walk
from spte.logs.records import LineResult, Record
from spte.logs.render import Renderer

HEX = rb"[0-9a-fA-F]"
VALUE = HEX + rb"{1,16}"  # at most 64 bits; a longer value takes the general path (and its error)
# <comm>-<pid> [(tgid)] [cpu] [flags] timestamp:  (comm is at most 15 characters, TASK_COMM_LEN).
PREFIX = (rb"\n[ \t]*(?P<comm>[^\n\[]{1,16}?)-\d+ +(?:\( *[\d-]+\) +)?\[\d+\] +(?:[.a-zA-Z][.a-zA-Z0-9]{3,4} +)?"
          rb"\d+\.\d+: ")
# One alternative per event; the empty group that ends it names the event (``Match.lastgroup``).
ALTERNATIVES = {
    "kvm_mmu_paging_element": rb"kvm_mmu_paging_element: pte (?P<pte>" + VALUE + rb") level (?P<plevel>\d+)[^\n]*",
    "kvm_mmu_set_spte": (rb"kvm_mmu_set_spte: gfn (?P<gfn>" + HEX + rb"+) spte (?P<spte>" + VALUE
                         + rb") \((?P<r>[r-])(?P<w>[w-])(?P<x>[x-])(?P<u>[u-]?)\) level (?P<slevel>\d+) at "
                         rb"(?P<sptep>" + HEX + rb"+)[^\n]*"),
    "kvm_tdp_mmu_spte_changed": (rb"kvm_tdp_mmu_spte_changed: as id (?P<as_id>-?\d+) gfn (?P<tgfn>" + HEX
                                 + rb"+) level (?P<tlevel>\d+) old_spte (?P<old>" + VALUE + rb") new_spte (?P<new>"
                                 + VALUE + rb")(?!" + HEX + rb")[^\n]*"),
    "kvm_mmu_pagetable_walk": rb"kvm_mmu_pagetable_walk: addr (?P<addr>" + VALUE + rb")(?!" + HEX + rb")[^\n]*",
    # Value-less events, matched to the line's end: nothing else is on their lines.
    "none": (rb"(?:kvm_mmu_spte_requested: gfn " + HEX + rb"+ pfn " + HEX + rb"+ level -?\d+|kvm_mmu_set_"
             rb"(?:accessed|dirty)_bit: gpa " + HEX + rb"+)\r?(?=\n|\Z)"),
}
TAGS = {name: f"E{i}" for i, name in enumerate(ALTERNATIVES)}
PATTERN = re.compile(PREFIX + rb"(?:" + rb"|".join(alt + b"(?P<" + TAGS[name].encode() + b">)"
                                                   for name, alt in ALTERNATIVES.items()) + rb")")
EVENT_OF_TAG = {tag: name for name, tag in TAGS.items()}
# Needles the general reader looks for (value-less printouts are not looked for).
SEARCHED = [n for n, ps in NEEDLES.items() if any(p.shape is not Shape.NONE for p in ps)]
ANY_NEEDLE = re.compile(b"|".join(re.escape(n) for n in sorted(SEARCHED, key=len, reverse=True)))
# A reserved-bits line annotates the entry printed before it (reader.py, Shape.RSVD_SET): a
# chunk that has one is read whole by the general reader, which renders after reading.
# Such a line has its needle and the first word its format prints after the needle.
RSVD_MARKS = tuple({(p.needle_bytes, p.fmt[len(p.needle):].split()[0].encode())
                    for p in PRINTOUTS if p.shape is Shape.RSVD_SET})


MEMO = 1 << 15
Key = tuple[Any, ...]  # the printed value and level (Match.group's bytes)
# (level, value, what a walk is past after it, kind, annotation) of a guest walk step
StepHit = tuple[int, int, "str | None", str, bytes, RecordFields]
SpteHit = tuple[int, int, str, bytes]  # (level, value, kind, annotation)
PAST_NOTES = {PAST_LEAF: b"  ## " + PAST_LEAF.encode(), PAST_NOT_PRESENT: b"  ## " + PAST_NOT_PRESENT.encode()}


class FastLog:
    """Annotates (or turns into JSON) chunks of whole lines; the general reader does the rest.

    ``mode`` is ``"whole"`` (every line, annotated), ``"only"`` (annotated lines only),
    ``"json"`` or ``"summary"`` (counts only).
    """

    def __init__(self, reader: LogReader, render: Renderer, mode: str, fast: bool = True) -> None:
        self.reader, self.render, self.mode = reader, render, mode
        self.fast = fast  # False: every line through the general reader (the reference the tests compare with)
        self._comm_ok: dict[bytes, bool] = {}
        self._last = 0  # whole mode: data[:_last] is written
        # Printed (value, level) -> the line's reading, for as many lines as MEMO (then per line).
        self._step_memo: dict[Key, StepHit | Literal[False]] = {}
        self._spte_memo: dict[Key, SpteHit | Literal[False]] = {}

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
        """(output pieces, error results in order) of ``blob`` (whole lines, the first numbered ``first_line``)."""
        out: list[bytes] = []
        errors: list[LineResult] = []
        data = b"\n" + blob  # every line starts after a newline
        self._last = 1
        mode = self.mode
        if not self.fast or any(n in blob and word in blob for n, word in RSVD_MARKS):
            self._general(data, 1, len(data), first_line, out, errors)
        else:
            self._fast(data, first_line, out, errors)
        if mode == "whole":
            out.append(data[self._last:])
        return out, errors

    def _fast(self, data: bytes, first_line: int, out: list[bytes], errors: list[LineResult]) -> None:
        reader, render, mode = self.reader, self.render, self.mode
        ctx = reader.ctx
        count = render.count
        events, levels, kinds = render.counts["event"], render.levels, render.counts["kind"]
        comm_ok = self._comm_ok
        kvm_fmt, guest_fmt = ctx.table_format("host"), ctx.table_format("guest")
        kvm_levels, guest_levels = frozenset(CLASSES[kvm_fmt]), frozenset(CLASSES[guest_fmt])
        kvm_text = {lv: render.texter(kvm_fmt, lv, "kvm") for lv in kvm_levels}
        guest_text = {lv: render.texter(guest_fmt, lv, "guest") for lv in guest_levels}
        guest_past = {lv: past_verdict(ctx, guest_fmt, lv, "guest") for lv in guest_levels}
        ranges = render.ranges
        json_tail = render.entry_json_tail
        step_memo, spte_memo = self._step_memo, self._spte_memo
        json_mode = mode == "json"

        def step_entry(key: Key) -> StepHit | Literal[False]:
            pte, lv = key
            level = int(lv) if len(lv) <= 3 else 0
            if level not in guest_levels:
                return False
            v = int(pte, 16)
            if json_mode:  # the JSON object after its line number, and the owner's kind (if any)
                jkind, tail = json_tail(guest_fmt, level, "guest", v)
                kind = jkind or ""
                note_b = (f', "value": "{v:#x}", "format": "{guest_fmt}", "level": {level}, "owner": "guest", '
                          f'"event": "kvm_mmu_paging_element", "entry": true{tail}\n').encode()
            else:
                kind, text = guest_text[level](v)
                note_b = b"  ## " + text.encode()
            hit = (level, v, guest_past[level](v), kind, note_b, ("kvm_mmu_paging_element", "guest", v, guest_fmt,
                                                                  level))
            if len(step_memo) < MEMO:
                step_memo[key] = hit
            return hit

        def spte_entry(key: Key) -> SpteHit | Literal[False]:
            spte, lv = key
            level = int(lv) if len(lv) <= 3 else 0
            if level not in kvm_levels:
                return False
            v = int(spte, 16)
            if json_mode:  # the JSON object's tail (and the owner's kind, counted per record)
                jkind, tail = json_tail(kvm_fmt, level, "kvm", v)
                kind, note_b = jkind or "", tail.encode() + b"\n"
            else:
                kind, text = kvm_text[level](v)
                note_b = b"  ## " + text.encode()
            hit = (level, v, kind, note_b)
            if len(spte_memo) < MEMO:
                spte_memo[key] = hit
            return hit

        kvm_fmt_b = kvm_fmt.encode()
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
                    append(b'{"line": %d, "value": "%#x", "format": "%s", "level": %d, "owner": "kvm", '
                           b'"event": "kvm_mmu_set_spte", "entry": true, "args": {"gfn": "%s", "r": "%s", "w": "%s", '
                           b'"x": "%s", "u": "%s", "sptep": "%s"}%s'
                           % (lineno, v, kvm_fmt_b, level, gfn, r, w_, x, u, sptep, note_b))
                    continue
                if count:
                    events["kvm_mmu_set_spte"] += 1
                    levels[level] += 1
                    kinds[kind] += 1
            elif tag == "E2":  # kvm_tdp_mmu_spte_changed: old -> new
                lv = m.group("tlevel")
                level = int(lv) if len(lv) <= 3 else 0
                if level not in kvm_levels:
                    general(s + 1, e, lineno)
                    continue
                old, new = int(m.group("old"), 16), int(m.group("new"), 16)
                if json_mode:
                    events["kvm_tdp_mmu_spte_changed"] += 1
                    as_id, gfn = m.group(G_AS_ID, G_TGFN)
                    for value, role in ((old, b"old"), (new, b"new")):
                        jkind, tail = json_tail(kvm_fmt, level, "kvm", value)
                        if jkind is not None:
                            kinds[jkind] += 1
                        levels[level] += 1
                        append(b'{"line": %d, "value": "%#x", "format": "%s", "level": %d, "owner": "kvm", '
                               b'"event": "kvm_tdp_mmu_spte_changed", "entry": true, "role": "%s", "args": '
                               b'{"as_id": "%s", "gfn": "%s"}%s\n'
                               % (lineno, value, kvm_fmt_b, level, role, as_id, gfn, tail.encode()))
                    continue
                if count:
                    events["kvm_tdp_mmu_spte_changed"] += 1
                text = kvm_text[level]
                levels[level] += 1
                kind, old_text = text(old)
                if count:
                    kinds[kind] += 1
                levels[level] += 1
                kind, new_text = text(new)
                if count:
                    kinds[kind] += 1
                note = f"  ## old {old_text} -> new {new_text}"
                if old != new:
                    note += f"; bits changed {ranges(old ^ new)}"
                note_b = note.encode()
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
