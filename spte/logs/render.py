"""Renderers: records -> an annotation appended to the line, or one JSON object per value.

Each value is rendered with its own class and level (an old -> new pair too); a
not-present entry is shown as not present with its bits as a raw value, never as flags.
Work that depends only on an entry's non-address bits is cached, so a long trace of
similar SPTEs costs one dictionary lookup and one ``%`` per value.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable
from functools import partial
from typing import Any

from spte.bits import field_words, format_ranges
from spte.logs.context import Context, OwnerView, owned_ignored_mask, read_owner
from spte.logs.pieces import json_tailer, value_texter
from spte.logs.reader import rsvd_text
from spte.logs.records import LineResult, Record
from spte.logs.registers import FORMAT_NAMES, decode_register

REGISTER_KINDS = {name: kind for kind, name in FORMAT_NAMES.items()}


class Renderer:
    """Text and JSON for records; counts events, levels and kinds for ``--summary``."""

    def __init__(self, ctx: Context, count: bool = True) -> None:
        self.ctx = ctx
        self.count = count  # keep counts for summary() (off: a little faster)
        self.counts: dict[str, Counter[str]] = {"event": Counter(), "level": Counter(), "kind": Counter()}
        self._events, self._kinds = self.counts["event"], self.counts["kind"]
        self.levels: Counter[int] = Counter()  # by level number (summary() names them)
        self._texters: dict[tuple[str, int, str], Callable[[int], tuple[str, str]]] = {}
        self._json_tailers: dict[tuple[str, int, str], Callable[[int], tuple[str | None, str]]] = {}
        self._owned: dict[tuple[str, int, str, int], int] = {}
        self._range_cache: dict[int, str] = {}

    def summary(self) -> dict[str, dict[str, int]]:
        """Counts by event, level and kind."""
        self.counts["level"] = Counter({str(k): n for k, n in self.levels.items()})
        return {k: dict(v) for k, v in self.counts.items()}

    # -- text ----------------------------------------------------------------------------
    def line_note(self, result: LineResult) -> str:
        """The annotation of one recognised line (without the leading ``  ## ``)."""
        recs = result.records
        if self.count:
            self._events[result.event] += 1
        if len(recs) == 1 and result.note is None:
            rec = recs[0]
            if rec.label is None and rec.entry and not rec.notes and rec.rsvd is None and rec.level:
                if self.count:
                    self.levels[rec.level] += 1  # the hot path: one entry at a printed level
                return self._entry_text(rec)
        parts = []
        if len(recs) == 2 and recs[0].role == "old":
            old, new = recs
            text = f"old {self.value_text(old)} -> new {self.value_text(new)}"
            if old.value != new.value:
                text += f"; bits changed {self.ranges(old.value ^ new.value)}"
            parts.append(text + _level_note(new))
        else:
            for rec in recs:
                text = self.value_text(rec)
                if rec.label:
                    lvl = f"L{rec.level}" if rec.level else "-"
                    text = f"{rec.label}({lvl}) {text}"
                parts.append(text + _level_note(rec))
        if result.note:
            parts.append(result.note)
        return " | ".join(parts)

    def value_text(self, rec: Record) -> str:
        if rec.level is not None:
            self.levels[rec.level] += 1
        if not rec.entry:
            return rec.notes[0]
        extra = "".join(f"; {n}" for n in rec.notes if not n.startswith("level not printed")) if rec.notes else ""
        if rec.rsvd is not None:
            extra += "; " + rsvd_text(rec)
        kind = REGISTER_KINDS.get(rec.format)
        if kind is not None:
            return decode_register(kind, rec.value, self.ctx.platform_for(rec.owner).maxphyaddr).text() + extra
        return self._entry_text(rec) + extra

    def ranges(self, mask: int) -> str:
        text = self._range_cache.get(mask)
        if text is None:
            if len(self._range_cache) > 1 << 14:
                self._range_cache.clear()
            text = self._range_cache[mask] = format_ranges(mask)
        return text

    def _entry_text(self, rec: Record) -> str:
        kind, text = self.texter(rec.format, rec.decode_level or 1, rec.owner)(rec.value)
        if self.count:
            self._kinds[kind] += 1
        return text

    def texter(self, fmt: str, level: int, owner: str) -> Callable[[int], tuple[str, str]]:
        """``v`` -> (kind, annotation) for entries of ``fmt`` at ``level`` printed by ``owner``."""
        key = (fmt, level, owner)
        t = self._texters.get(key)
        if t is None:
            t = self._texters[key] = value_texter(self.ctx, fmt, level, owner)
        return t

    def reference_text(self, rec: Record) -> tuple[str, str]:
        """(kind, annotation) from the entry objects and the owner's full reading: what
        :meth:`texter` composes from tables (the tests compare the two)."""
        level = rec.decode_level or 1
        am = self.ctx.address_mask(rec.format, level, rec.value, rec.owner)
        kind, template = self._template(rec, level, am)
        return kind, template % ((rec.value & am) >> 12) if "%#x" in template else template.replace("%%", "%")

    def _template(self, rec: Record, level: int, am: int) -> tuple[str, str]:
        """(kind, text with ``%#x`` for the pfn where it shows one)."""
        ctx, v = self.ctx, rec.value
        e = ctx.entry(v, rec.format, level, rec.owner)
        owner = ctx.owner_object(rec.owner, rec.format)
        view: OwnerView | None = read_owner(owner, v, level) if owner is not None else None
        kind = view.kind if view is not None else ("present" if e.present else "not_present")
        head = f"[{kind}] " if view is not None else ""
        sw = ""
        if view is not None and view.software:
            sw = " sw:" + ",".join(k for k, x in view.software.items() if x)
        if view is not None and view.mmio:  # the kernel's reading of gfn, generation, access is what matters
            return kind, f"{head}{view.summary}".replace("%", "%%")
        if not e.present:
            return kind, f"{head}L{level} not present, bits {v:#x}{sw}"
        owned = 0
        if owner is not None:
            okey = (rec.format, level, rec.owner, type(e).LEAF)
            owned = self._owned.get(okey, -1)
            if owned == -1:
                owned = self._owned[okey] = owned_ignored_mask(owner, type(e), ctx.platform_for(rec.owner))
        shown = ctx.entry(v & ~am & ~owned, rec.format, level, rec.owner)
        words = field_words(shown.layout(shown.platform).fields, shown.value, type(shown).enum_names())
        flags = " ".join(filter(None, ["|".join(words[0]), *words[1]]))
        problems = "".join(f" !{p.kind}" for p in e.problems())
        body = f"{type(e).__name__} {flags}{sw}{problems}".replace("%", "%%")
        return kind, f"{head}pfn=%#x {body}"

    # -- JSON ----------------------------------------------------------------------------
    def json_record(self, rec: Record) -> str:
        return json.dumps(self.record_dict(rec))

    def record_dict(self, rec: Record) -> dict[str, Any]:
        obj: dict[str, Any] = {"line": rec.line, "value": f"{rec.value:#x}", "format": rec.format,
                               "level": rec.level, "owner": rec.owner, "event": rec.event, "entry": rec.entry}
        if rec.label:
            obj["label"] = rec.label
        if rec.role:
            obj["role"] = rec.role
        if rec.args:
            obj["args"] = rec.args
        notes = list(rec.notes)
        kind = REGISTER_KINDS.get(rec.format)
        if kind is not None:
            r = decode_register(kind, rec.value, self.ctx.platform_for(rec.owner).maxphyaddr)
            obj["fields"] = r.fields
            obj["problems"] = [{"kind": "register", "message": p} for p in r.problems]
        elif rec.entry:
            level = rec.decode_level or 1
            e = self.ctx.entry(rec.value, rec.format, level, rec.owner)
            obj.update({"decoded_level": level, "class": type(e).__name__, "present": e.present, "leaf": e.is_leaf,
                        "fields": e.fields(),
                        "problems": [{"kind": p.kind, "bits": f"{p.bits:#x}", "message": p.message}
                                     for p in e.problems()]})
            owner = self.ctx.owner_object(rec.owner, rec.format)
            if owner is not None:
                view = read_owner(owner, rec.value, level)
                obj.update({"kind": view.kind, "summary": view.summary, "software": view.software,
                            "plausible": view.plausible, "reasons": list(view.reasons)})
                notes += view.notes
                self.counts["kind"][view.kind] += 1
        if rec.rsvd is not None:
            obj["rsvd"] = rec.rsvd
        obj["notes"] = notes
        if rec.level is not None:
            self.levels[rec.level] += 1
        return obj

    def entry_json_tail(self, fmt: str, level: int, owner: str, value: int) -> tuple[str | None, str]:
        """(the owner's kind or None, ``, "decoded_level": ... "notes": [...]}``): the part of
        :meth:`record_dict`'s JSON after ``entry``/``role``/``args`` of an entry at a printed
        level with no notes of its own (the fast path's records), composed from tables
        (:func:`spte.logs.pieces.json_tailer`); :meth:`reference_json_tail` is the object path."""
        tail = self._json_tailers.get((fmt, level, owner))
        if tail is None:  # (a value wider than the format: the object path says what is wrong with it)
            tail = self._json_tailers[fmt, level, owner] = json_tailer(
                self.ctx, fmt, level, owner, partial(self.reference_json_tail, fmt, level, owner))
        return tail(value)

    def reference_json_tail(self, fmt: str, level: int, owner: str, value: int) -> tuple[str | None, str]:
        """:meth:`entry_json_tail` from :meth:`record_dict`: the entry object and the owner's full
        reading (what the tests compare the composed text with)."""
        rec = Record(0, "", owner, value, fmt, level)
        counts, levels = self.counts, self.levels
        self.counts = {"event": Counter(), "level": Counter(), "kind": Counter()}
        self.levels = Counter()
        try:
            obj = self.record_dict(rec)
            kinds = list(self.counts["kind"])
        finally:
            self.counts, self.levels = counts, levels
        for k in ("line", "value", "format", "level", "owner", "event", "entry"):
            del obj[k]
        return kinds[0] if kinds else None, ", " + json.dumps(obj)[1:]


def _level_note(rec: Record) -> str:
    return " (level not printed: decoded at level 1)" if rec.level is None and rec.decode_level else ""
