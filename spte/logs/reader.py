"""The recogniser: log bytes -> :class:`LineResult` s with their :class:`Record` s.

A chunk of whole lines is scanned with ``bytes.find`` for each printout's needle (C speed:
lines without one are never looked at), hits are taken in order, and only their lines are
parsed.  Line numbers are counted incrementally between hits, so a chunk costs one pass.
Walks span lines: the reader keeps the open walk between chunks.

>>> from spte.logs.context import Context
>>> r = LogReader(Context())
>>> [x.records[0].level for x in r.scan(b"kvm_mmu_set_spte: gfn 2 spte 8000000000000a27 (rw-) level 2\\n", 1)]
[2]
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from operator import itemgetter
from typing import Any

from spte.bits import format_ranges, genmask
from spte.entry import CLASSES, MAX_VALUE, Entry
from spte.logs.context import Context
from spte.logs.grammar import LABEL_LEVELS, NEEDLES, Printout, Shape, diagnose
from spte.logs.records import LineResult, Record
from spte.logs.registers import FORMAT_NAMES

_WORD = frozenset(b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_")
MAX64 = (1 << 64) - 1
PAST_LEAF = "not an entry: the printer read past a leaf"
PAST_NOT_PRESENT = "not an entry: the printer read past a not-present entry"
CLAIM_LINES = 8  # a verdict's transition line follows it within this many lines (its text wraps over 3-5)
Kind = tuple[str, int]  # (kind, pfn) of a value, for a claim


def _leaf_pfn_changed(old: Kind, new: Kind) -> tuple[str, bool]:
    # was_leaf && is_leaf && pfn_changed: is_last_spte() of two shadow-present SPTEs
    leaves = {"present_leaf", "access_tracked"}
    return (f"the kernel found a present leaf replaced by another mapping a different pfn "
            f"({old[1]:#x} -> {new[1]:#x})", old[0] in leaves and new[0] in leaves and old[1] != new[1])


def _nonpresent_changed(old: Kind, new: Kind) -> tuple[str, bool]:
    # !was_present && !is_present, neither is_mmio_spte(), and new is not the frozen/removed value
    absent = {"not_present", "mmio", "frozen"}
    return ("the kernel found a non-present SPTE replaced by a different non-present one, neither MMIO nor frozen",
            old[0] in absent and new[0] in absent and "mmio" not in (old[0], new[0]) and new[0] != "frozen")


# The checks behind handle_changed_spte()'s verdicts (grammar.Printout.claim): text and whether it holds.
CLAIMS = {"leaf_pfn_changed": _leaf_pfn_changed, "nonpresent_changed": _nonpresent_changed}


RecordFields = tuple[str, str, int, str, int]  # (event, owner, value, format, level) of a Record
StepTuple = tuple[int, RecordFields]  # a fast path step: its line and record fields


class Walk:
    """An open walk: its family, the address walked (if printed), where it stands."""

    __slots__ = ("family", "addr", "last_level", "past", "records", "format", "last_line")

    def __init__(self, family: str, addr: int | None = None) -> None:
        self.family = family
        self.addr = addr
        self.last_level: int | None = None
        self.past: str | None = None  # set once the walk passed a leaf or a not-present entry
        # Its entries so far; the fast path (fast.py) leaves (line, (event, owner, value, format,
        # level)) tuples, made records only when a reserved-bits line needs the last one.
        self.records: list[Record | StepTuple] = []
        self.format: str | None = None
        self.last_line = 0  # the line of its header or last step read by the general reader (0: unknown)

    def last_record(self) -> Record:
        rec = self.records[-1]
        if isinstance(rec, tuple):
            rec = self.records[-1] = Record(rec[0], *rec[1])
        return rec


FastHandler = Callable[[re.Match[bytes], int], "list[Record] | None"]
# Per needle: its printouts, and for a lone printout with a fast path: it (its regex is compiled on first use),
# its offset, handler and name.
_Spec = tuple[tuple[Printout, ...], Printout, int, "FastHandler | None", str]


class LogReader:
    """Recognises printouts in chunks of whole lines; keeps walks open across chunks."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.walk: Walk | None = None
        self.claim: tuple[int, Printout] | None = None  # the kernel's verdict, waiting for its transition line
        # Needles of printouts that carry no entry are not looked for: their lines pass through.
        self._needles = tuple((n, ps) for n, ps in NEEDLES.items() if any(p.shape is not Shape.NONE for p in ps))
        self._specs: list[tuple[bytes, _Spec]] = []
        for needle, printouts in self._needles:
            p = printouts[0]
            fast = self._fast_handler(p) if len(printouts) == 1 else None
            self._specs.append((needle, (printouts, p, p.offset, fast, p.name)))

    def _fast_handler(self, p: Printout) -> FastHandler | None:
        """The common lines' path: a value at a printed level, alone or as a step of a walk.

        Returns None for anything unusual (a value over 64 bits, a level the format lacks):
        the general path then reads the line and says what is wrong.
        """
        name, owner, info, family = p.name, p.owner, p.info_args, p.walk or p.name
        if p.shape is Shape.WALK_START and "addr" in p.args:
            def start(m: re.Match[bytes], lineno: int) -> list[Record] | None:
                addr = int(m["addr"], 16)
                if addr > MAX64:
                    return None
                self.walk = Walk(family, addr)
                self.walk.format, self.walk.last_line = walk_format(p, m), lineno
                return []

            return start
        if p.shape not in (Shape.ENTRY, Shape.STEP, Shape.TRANSITION) or "level" not in p.args \
                or "rsvd" in p.args or "index" in p.args:
            return None
        vn = "spte" if "spte" in p.args else "pte"
        fmt = self.ctx.formats.get(p.table, p.table)
        levels, top = frozenset(CLASSES[fmt]), MAX_VALUE[fmt]  # a wider value is an error line
        entry = self.ctx.entry

        def pair(m: re.Match[bytes], lineno: int) -> list[Record] | None:
            old, new, level = int(m["old"], 16), int(m["new"], 16), level_number(m["level"])
            if old > top or new > top or level not in levels or self.claim is not None:
                return None
            return [Record(lineno, name, owner, old, fmt, level, level, "old", None, m, info),
                    Record(lineno, name, owner, new, fmt, level, level, "new", None, m, info)]

        if p.shape is Shape.TRANSITION:
            return pair
        verdicts: dict[tuple[int, int], str | None] = {}  # (level, value) -> what a walk is past after it

        def one(m: re.Match[bytes], lineno: int) -> list[Record] | None:
            v, level = int(m[vn], 16), level_number(m["level"])
            if v > top or level not in levels:
                return None
            return [Record(lineno, name, owner, v, fmt, level, level, None, None, m, info)]

        def step(m: re.Match[bytes], lineno: int) -> list[Record] | None:
            v, level = int(m[vn], 16), level_number(m["level"])
            if v > top or level not in levels:
                return None
            w = self.walk
            if w is None or w.family != family or (w.last_level is not None and level >= w.last_level):
                w = self.walk = Walk(family)
            rec = Record(lineno, name, owner, v, fmt, level, level, None, None, m, info)
            w.last_level = level
            w.records.append(rec)
            if w.past is not None:
                rec.entry = False
                rec.notes.append(w.past)
            else:
                key = (level, v)
                if key in verdicts:
                    w.past = verdicts[key]
                else:
                    if len(verdicts) > 1 << 14:
                        verdicts.clear()
                    w.past = verdicts[key] = _past(entry(v, fmt, level, owner))
            return [rec]

        return one if p.shape is Shape.ENTRY else step

    # -- scanning ------------------------------------------------------------------------
    def scan(self, blob: bytes, first_line: int = 1) -> list[LineResult]:
        """Every recognised line of ``blob`` (whole lines), in order."""
        return self.scan_region(blob, 0, len(blob), first_line)

    def scan_region(self, blob: bytes, start: int, stop: int, first_line: int) -> list[LineResult]:
        """Every recognised line of ``blob[start:stop]`` (whole lines, the first numbered
        ``first_line``), in order; positions in the results are positions in ``blob``."""
        hits: list[tuple[int, _Spec]] = []
        find = blob.find
        word = _WORD
        for needle, spec in self._specs:
            i = find(needle, start, stop)
            step = len(needle)
            while i != -1:
                if i == 0 or blob[i - 1] not in word:
                    hits.append((i, spec))
                i = find(needle, i + step, stop)
        hits.sort(key=itemgetter(0))
        out: list[LineResult] = []
        append = out.append
        rfind, count, size = blob.rfind, blob.count, len(blob)
        lineno, counted = first_line, start
        line_start, line_end, end, done = -1, -1, -1, False
        pending: LineResult | None = None
        for pos, (printouts, first, offset, fast, name) in hits:
            if pos >= line_end:  # a new line
                if pending is not None:
                    append(pending)
                    pending = None
                line_start = rfind(b"\n", 0, pos) + 1
                lineno += count(b"\n", counted, line_start)
                counted = line_start
                line_end = find(b"\n", pos)
                if line_end == -1:
                    line_end = size
                end = line_end - 1 if blob[line_end - 1] == 13 else line_end  # a CR
                done = False
            elif done:
                continue  # the line has been read by an earlier needle
            if fast is not None:  # the common lines: one printout, a value at a printed level
                m = first.regex.match(blob, pos + offset, end)
                recs = fast(m, lineno) if m is not None else None
                if recs is not None:
                    if recs:  # a walk's header carries no value: nothing to hand on
                        append(LineResult(line_start, end, lineno, name, recs))
                    pending, done = None, True
                    continue
            result = self.read_line(blob, line_start, pos, end, lineno, printouts)
            if result is None:
                continue
            if result.error is None:
                append(result)
                pending, done = None, True
            elif pending is None:
                pending = result  # an error stands unless another needle reads the line
        if pending is not None:
            append(pending)
        return out

    def read_line(self, blob: bytes, line_start: int, pos: int, end: int, lineno: int,
                  printouts: Iterable[Printout]) -> LineResult | None:
        best: tuple[re.Match[bytes], Printout] | None = None
        first = None
        for p in printouts:
            if p.needs_walk and not self._next_step(p, lineno):
                continue
            first = first or p
            m = p.regex.match(blob, pos + p.offset, end)
            if m is not None and (best is None or m.end() > best[0].end()):
                best = (m, p)
        if best is None:
            if first is None or not first.strict:
                return None  # a common word in prose, not a printout
            return LineResult(line_start, end, lineno, first.name, [], diagnose(first, blob[pos + first.offset:end]))
        m, p = best
        try:
            records, note = self._records(m, p, lineno)
        except _BadValue as e:
            return LineResult(line_start, end, lineno, p.name, [], f"{p.name}: {e}")
        result = LineResult(line_start, end, lineno, p.name, records)
        result.note = note
        return result

    # -- records ---------------------------------------------------------------------------
    def _records(self, m: re.Match[bytes], p: Printout, lineno: int) -> tuple[list[Record], str | None]:
        shape = p.shape
        if shape is Shape.ENTRY:
            value_name = "spte" if "spte" in p.args else "pte"
            rec = self._entry_record(m, p, lineno, _hex(m, value_name), _level(m), value_name)
            if "rsvd" in p.args and m["rsvd"] is not None:
                self._check_rsvd(rec, _hex(m, "rsvd"), True)
            return [rec], None
        if shape is Shape.TRANSITION:
            level = _level(m)
            old = self._entry_record(m, p, lineno, _hex(m, "old"), level, "old", role="old")
            new = self._entry_record(m, p, lineno, _hex(m, "new"), level, "new", role="new")
            claim = self.claim
            if claim is not None and claim[1].name == p.name:  # the verdict's own values (not a tracepoint's)
                self.claim = None
                if 0 < lineno - claim[0] <= CLAIM_LINES:
                    new.notes.append(self._check_claim(claim, old, new))
            return [old, new], None
        if shape is Shape.CLAIM:
            self.claim = (lineno, p)
            return [], None
        if shape is Shape.NOTICE:
            return [], p.notice
        if shape is Shape.STEP:
            return [self._step(m, p, lineno)], None
        if shape is Shape.LABELS:
            return self._labels(m, p, lineno), None
        if shape is Shape.WALK_START:
            addr = _hex(m, "addr") if "addr" in p.args else None
            self.walk = Walk(p.walk or p.name, addr)
            self.walk.format, self.walk.last_line = walk_format(p, m), lineno
            return [], None
        if shape is Shape.WALK_END:
            self.walk = None
            return [], None
        if shape is Shape.RSVD_SET:
            w = self.walk
            if w is None or not w.records:
                return [], "reserved bits of an entry this log does not show"
            rec = w.last_record()
            self._check_rsvd(rec, _hex(m, "rsvd_set"), False)
            return [], f"for line {rec.line}: {rsvd_text(rec)}"
        if shape in (Shape.REGISTER, Shape.SWAP):
            name = p.args[0]
            rec = Record(lineno, p.name, p.owner, _hex(m, name), FORMAT_NAMES[p.table], None, None, match=m,
                         info=p.info_args)
            return [rec], None
        return [], None

    def _entry_record(self, m: re.Match[bytes], p: Printout, lineno: int, value: int, level: int | None,
                      value_name: str, role: str | None = None, fmt: str | None = None) -> Record:
        fmt = fmt or self.ctx.formats.get(p.table, p.table)
        decode_level = level
        if level is None:
            decode_level = 1
        elif not self.ctx.has_level(fmt, level):
            printed = m["level"].decode("ascii", "replace") if "level" in m.re.groupindex and m["level"] else level
            shown = f"{printed[:12]}..." if isinstance(printed, str) and len(printed) > 12 else printed
            raise _BadValue(f"level {shown} is not a level of {fmt} entries")
        top = MAX_VALUE.get(fmt, MAX64)
        if value > top:
            raise _BadValue(f"{value_name} {value:#x} does not fit in {top.bit_length()} bits ({fmt} entries)")
        rec = Record(lineno, p.name, p.owner, value, fmt, level, decode_level, role, None, m, p.info_args)
        if level is None:
            rec.notes.append("level not printed: decoded at level 1")
        return rec

    def _step(self, m: re.Match[bytes], p: Printout, lineno: int) -> Record:
        value_name = "spte" if "spte" in p.args else "pte"
        value = _hex(m, value_name)
        printed = _level(m) if "level" in p.args else None
        family = p.walk or p.name
        w = self.walk if self.walk is not None and self.walk.family == family else None
        if p.label_level:
            printed = p.first_level  # Xen's L4[..] .. L1[..]: the label is the level
        if printed is not None:
            level = printed
        elif w is not None and w.last_level is not None and w.last_level > 1:
            level = w.last_level - 1  # Xen's epte lines: the level is the position
        else:
            level, w = p.first_level or 1, None
        if w is not None and w.last_level is not None and level >= w.last_level:
            w = None  # a level at or above the last one starts another walk
        if w is None:
            w = self.walk = Walk(family)
        fmt = w.format
        if fmt == "pae" and w.last_level is None and level == 2 and len(m[value_name]) <= 8:
            fmt = w.format = "x86-32"  # a non-PAE 32-bit Xen: no L3, 32-bit entries
        rec = self._entry_record(m, p, lineno, value, level, value_name, fmt=fmt)
        if "index" in p.args and w.addr is not None:
            index = _hex(m, "index")
            bits = 10 if fmt == "x86-32" else 9
            expected = (w.addr >> (12 + bits * (level - 1))) & ((1 << bits) - 1)
            if index != expected:
                rec.notes.append(f"printed index {index:#x} is not that of address {w.addr:#x} at level {level} "
                                 f"({expected:#x})")
        self._advance(w, rec, level)
        if "rsvd" in p.args and m["rsvd"] is not None and rec.entry:
            self._check_rsvd(rec, _hex(m, "rsvd"), True)
        return rec

    def _next_step(self, p: Printout, lineno: int) -> bool:
        """Whether a ``needs_walk`` line can be the next step of the open walk: right below its
        header or last step, and below its level."""
        w = self.walk
        return (w is not None and w.family == p.walk and lineno - w.last_line == 1
                and (w.last_level is None or (p.first_level or 0) < w.last_level))

    def _advance(self, w: Walk, rec: Record, level: int) -> None:
        """Put ``rec`` on walk ``w``: past a leaf or a not-present entry nothing is an entry."""
        w.last_level, w.last_line = level, rec.line
        w.records.append(rec)
        if w.past is not None:
            rec.entry = False
            rec.notes.insert(0, w.past)
            return
        w.past = _past(self.ctx.entry(rec.value, rec.format, level, rec.owner))

    def _labels(self, m: re.Match[bytes], p: Printout, lineno: int) -> list[Record]:
        if "which" in p.args:
            pairs = [(m["which"].decode(), _hex(m, "value"))]
        else:
            pairs = [(name, _hex(m, name)) for name in p.args if name in LABEL_LEVELS and m[name] is not None]
        values = dict(pairs)
        family = p.walk or p.name
        fmt = self.ctx.table_format(p.table)
        w = self.walk
        if family == "linux32" and pairs[0][0] == "pte" and w is not None and w.family == family \
                and w.last_level == 2 and w.format is not None:
            fmt = w.format  # an old kernel's "*pte = " line continues the "*pde = " line above
        else:
            w = self.walk = Walk(family)
            if fmt == "x86-32" and any(v >> 32 for v in values.values()):
                fmt = "pae"  # %0*Lx printed 16 digits: a PAE kernel
            w.format = fmt
        p4d_label = "P4D" if "P4D" in values else "p4d"
        pgd_label = "PGD" if "PGD" in values else "pgd"
        unfolded = pgd_label in values and p4d_label in values and values[pgd_label] != values[p4d_label]
        records: dict[str, Record] = {}
        for label, value in pairs:
            level = LABEL_LEVELS[label] + (1 if label == pgd_label and unfolded else 0)
            rec = self._entry_record(m, p, lineno, value, level, label, fmt=fmt)
            rec.label = label
            records[label] = rec
        for label, rec in sorted(records.items(), key=lambda kv: -(kv[1].level or 0)):
            if label == p4d_label and pgd_label in values and not unfolded:
                rec.notes.append(f"folded (4-level paging): the same entry as the {pgd_label}")
                continue
            assert rec.level is not None
            if w.last_level is not None and rec.level >= w.last_level:
                rec.notes.append(f"{label} is not below the level before it")
            self._advance(w, rec, rec.level)
        return [records[label] for label, _ in pairs]

    def _check_claim(self, claim: tuple[int, Printout], old: Record, new: Record) -> str:
        """The kernel's verdict (printed on line ``claim[0]``) checked against the values as decoded."""
        line, p = claim
        assert p.claim is not None
        kinds = [self._kind(rec) for rec in (old, new)]
        what, holds = CLAIMS[p.claim](*kinds)
        verdict = "holds" if holds else "does not hold as decoded: check --format and --kvm (the host's paging mode)"
        return f"line {line}: {what}: {verdict} (old {kinds[0][0]}, new {kinds[1][0]})"

    def _kind(self, rec: Record) -> tuple[str, int]:
        """(the value's kind, its pfn): the KVM owner's kind where one is given, else the hardware's view."""
        level = rec.decode_level or 1
        e = self.ctx.entry(rec.value, rec.format, level, rec.owner)
        owner = self.ctx.owner_object(rec.owner, rec.format)
        if owner is not None:
            return owner.read(rec.value, level).kind, e.pfn
        if not e.present:
            return "not_present", e.pfn
        return ("present_leaf" if e.is_leaf else "present_nonleaf"), e.pfn

    def _check_rsvd(self, rec: Record, printed: int, is_mask: bool) -> None:
        e = self.ctx.entry(rec.value, rec.format, rec.decode_level or 1, rec.owner)
        rec.rsvd = compare_reserved(e, printed, is_mask, self.ctx.platform_for(rec.owner).maxphyaddr)


class _BadValue(ValueError):
    pass


def walk_format(p: Printout, m: re.Match[bytes]) -> str | None:
    """The entry format a walk's header implies, if any: Xen's ``Pagetable walk from %08lx:``
    is the 32-bit hypervisor's (xen/arch/x86/x86_32/traps.c, Xen 3.x-4.2), whose walk starts at
    the PAE L3 (a non-PAE build prints no L3: see :meth:`LogReader._step`); x86-64 prints 16 digits."""
    if p.walk == "xen" and "addr" in p.args and len(m["addr"]) <= 8:
        return "pae"
    return None


def _past(e: Entry) -> str | None:
    """What a walk that reached ``e`` has passed: a not-present entry, a leaf, or nothing."""
    if not e.present:
        return PAST_NOT_PRESENT
    return PAST_LEAF if e.is_leaf else None


def _hex(m: re.Match[bytes], name: str) -> int:
    text = m[name]
    v = int(text, 16)
    if v > MAX64:
        raise _BadValue(f"{name} {text.decode()[:40]} does not fit in 64 bits")
    return v


def level_number(text: bytes) -> int:
    """A printed level as a number; a runaway digit string is no level (0), not a 5000-digit int."""
    return int(text) if len(text) <= 3 else 0


def _level(m: re.Match[bytes]) -> int | None:
    if "level" not in m.re.groupindex or m["level"] is None:
        return None
    return level_number(m["level"])


def compare_reserved(e: Entry, printed: int, is_mask: bool, maxphyaddr: int) -> dict[str, Any]:
    """The kernel's reserved-bit finding for ``e`` against ours.

    ``is_mask``: the kernel printed its reserved *mask* for the level (get_rsvd_bits(), what
    ``rsvd bits = 0x..`` shows since 5.12); else the reserved bits it found *set*
    (``spte & ept_rsvd_mask()``, 3.x/4.x ``ept_misconfig_inspect_spte``).
    """
    layout = type(e).layout(e.platform)
    ours_mask = layout.reserved_mask
    kernel_set = e.value & printed if is_mask else printed
    named = [f.name for f in layout.fields if f.mask & printed]
    agree = kernel_set == e.reserved_bits and (not is_mask or printed == ours_mask)
    advice = None
    if not agree:
        theirs = printed if is_mask else kernel_set
        mine = ours_mask if is_mask else e.reserved_bits
        high = theirs & genmask(51, 32)
        implied = (high & -high).bit_length() - 1 if high else None
        if implied is not None and high == genmask(51, implied) and implied != maxphyaddr:
            advice = f"the kernel's MAXPHYADDR is {implied}: pass --maxphyaddr {implied}"
        else:
            advice = (f"bits {format_ranges(theirs ^ mine)} differ: check --format, --vendor and --set "
                      "(the host's paging features)")
    return {"printed": f"{printed:#x}", "printed_is": "mask" if is_mask else "set bits", "named": named,
            "ours_mask": f"{ours_mask:#x}", "kernel_set": f"{kernel_set:#x}", "ours_set": f"{e.reserved_bits:#x}",
            "agree": agree, "advice": advice}


def rsvd_text(rec: Record) -> str:
    r = rec.rsvd
    assert r is not None
    what = f"rsvd {r['printed_is']} {r['printed']}" + (f" ({','.join(r['named'])})" if r["named"] else "")
    if r["agree"]:
        return f"{what}: agrees with ours, set {r['ours_set']}"
    return f"{what}: ours {r['ours_mask'] if r['printed_is'] == 'mask' else r['ours_set']}: {r['advice']}"
