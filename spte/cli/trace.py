"""``spte trace``: annotate the SPTEs in kvmmmu trace text (tracefs or trace-cmd report)."""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from collections.abc import Callable, Iterator
from typing import IO, Any

from spte.bits import Role
from spte.cli.common import Reporter, UsageError, add_platform_options, resolve
from spte.kvm import KvmProfile
from spte.render.fast import FastDecoder
from spte.trace import EVENTS, TraceEvent, parse_event, scan

CHUNK = 1 << 18  # bytes of trace per scan
MAPS = {level: f" at level {level} ({4 << (9 * (level - 1))} KiB)" for level in range(1, 6)}
MAPS_B = {level: text.encode() for level, text in MAPS.items()}


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("trace", help="annotate SPTEs in kvmmmu trace logs",
                       description="Read kvmmmu tracepoint text (tracefs 'trace' or 'trace-cmd report') and "
                                   "annotate every SPTE of " + ", ".join(EVENTS) + ". Other lines pass through.")
    p.add_argument("files", nargs="*", metavar="FILE", help="trace files (default: stdin; '-' is stdin)")
    add_platform_options(p)
    p.set_defaults(kvm="latest:ept-ad")
    p.add_argument("--json", action="store_true", help="JSON Lines: one object per event")
    p.add_argument("--summary", action="store_true",
                   help="only counts by event, level and SPTE kind (one JSON object with --json)")
    p.add_argument("--only-spte", action="store_true", help="drop lines that are not SPTE events")
    p.add_argument("--strict", action="store_true", help="stop at the first malformed event")
    p.set_defaults(func=run)


class Annotator:
    """Annotates trace events; work that depends only on an SPTE's non-address bits is cached."""

    def __init__(self, prof: KvmProfile, fast_by_level: dict[int, FastDecoder]) -> None:
        self.prof = prof
        self.fast = fast_by_level
        self.counts: dict[str, Counter[str]] = {"event": Counter(), "level": Counter(), "kind": Counter()}
        # Hardware-ignored fields that the kernel uses entirely as software bits are shown
        # by their software names instead.
        tag_bits = prof.layout.owned_mask
        self.covered = {level: {f.name for f in fd.table.layout.fields + (fd.large.layout.fields if fd.large else ())
                                if f.role is Role.IGNORED and f.mask & ~tag_bits == 0}
                        for level, fd in fast_by_level.items()}
        self._templates: dict[tuple[int, int, bool], tuple[str, str]] = {}
        self._notes: dict[int, bytes] = {}

    def kind_and_software(self, spte: int, level: int) -> tuple[str, str]:
        """(classification, ``' sw:a,b'``) as the profile reads the SPTE."""
        d = self.prof.describe(spte, level)
        tags = ",".join(k for k, v in d.software.items() if v)
        return d.kind, f" sw:{tags}" if tags else ""

    def _template(self, spte: int, level: int, am: int) -> tuple[str, str]:
        """(kind, annotation with a ``%#x`` for the pfn) for the SPTE's non-address bits."""
        key = (level, spte & ~am, bool(spte & am))
        template = self._templates.get(key)
        if template is None:
            kind, sw = self.kind_and_software(spte, level)
            if kind == "mmio":  # what matters is the kernel's reading of gfn, generation, access
                summary = self.prof.classify(spte, level).summary.replace("%", "%%")
                return kind, f"[mmio] {summary} (pfn field %#x)"
            words = self.fast[level].line(spte).split(" ")[2:]  # drop the value (the trace shows it) and pfn
            covered = self.covered[level]
            rest = " ".join(w for w in words if w.partition("=")[0] not in covered)
            template = (kind, f"[{kind}] pfn=%#x {rest.replace('%', '%%')}{sw}")
            if kind != "mmio":  # an MMIO SPTE's gfn lives in the address bits
                if len(self._templates) > 1 << 16:
                    self._templates.clear()
                self._templates[key] = template
        return template

    def one(self, spte: int, level: int) -> str:
        am = self.fast[level].renderer(spte).address_mask
        kind, template = self._template(spte, level, am)
        self.counts["kind"][kind] += 1
        return template % ((spte & am) >> 12)

    def note(self, spte: int, level: int) -> bytes:
        """``one`` for the hot path: bytes, no counting, the template cached as bytes too."""
        am = self.fast[level].renderer(spte).address_mask
        key = (spte & ~am) << 4 | level << 1 | bool(spte & am)
        template = self._notes.get(key)
        if template is None:
            kind, text = self._template(spte, level, am)
            template = ("  ## " + text).encode()
            if kind != "mmio":
                if len(self._notes) > 1 << 16:
                    self._notes.clear()
                self._notes[key] = template
        return template % ((spte & am) >> 12)

    def diff(self, old: int, new: int, level: int) -> str:
        changed = old ^ new
        changes = []
        for f in self.fast[level].renderer(new).layout.fields:
            if changed & f.mask and f.name not in self.covered[level]:
                a, b = (old >> f.lo) & f.max, (new >> f.lo) & f.max
                changes.append(("+" if b else "-") + f.name if f.width == 1 else f"{f.name}:{a:#x}->{b:#x}")
        so, sn = self.prof.describe(old, level).software, self.prof.describe(new, level).software
        for name in dict.fromkeys([*so, *sn]):
            if so.get(name, 0) != sn.get(name, 0):
                changes.append(f"sw:{name}:{so.get(name, 0):#x}->{sn.get(name, 0):#x}")
        return " ".join(changes) or "no change"

    def annotate(self, ev: TraceEvent) -> str:
        level = ev.level or 1
        self.counts["event"][ev.event] += 1
        if ev.level is not None:
            self.counts["level"][str(ev.level)] += 1
        if ev.event == "kvm_mmu_spte_requested":
            return f"## maps pfn {ev.int_arg('pfn'):#x}{MAPS[level]}"
        if ev.event == "mark_mmio_spte":
            return f"## MMIO gfn {ev.int_arg('gfn'):#x} gen {ev.int_arg('gen'):#x} spte&7={ev.int_arg('access'):#x}"
        assert ev.spte is not None
        lvl = "" if ev.level is not None else " (level not traced: decoded as level 1)"
        if ev.old is None:
            return f"## {self.one(ev.spte, level)}{lvl}"
        return f"## old {self.one(ev.old, level)} -> new {self.one(ev.spte, level)}: " \
               f"{self.diff(ev.old, ev.spte, level)}{lvl}"

    def fast_handlers(self) -> dict[str, Callable[[bytes, int, int], bytes | None]]:
        """Annotators for the two commonest events, straight from the line's words.

        They return None for anything unusual (other spacing, a value over 64 bits, an
        unknown level); the general path then parses the line with the full grammar.
        """
        note, levels = self.note, self.fast

        def set_spte(blob: bytes, pos: int, end: int) -> bytes | None:
            w = blob[pos:end].split()  # gfn G spte S (rwxu) level L at P
            if len(w) != 9 or w[0] != b"gfn" or w[2] != b"spte" or w[5] != b"level":
                return None
            try:
                spte, level = int(w[3], 16), int(w[6])
            except ValueError:
                return None
            if spte >> 64 or level not in levels:
                return None
            return note(spte, level)

        def spte_requested(blob: bytes, pos: int, end: int) -> bytes | None:
            w = blob[pos:end].split()  # gfn G pfn P level L
            if len(w) != 6 or w[0] != b"gfn" or w[2] != b"pfn" or w[4] != b"level":
                return None
            try:
                pfn, level = int(w[3], 16), int(w[5])
            except ValueError:
                return None
            if level not in MAPS:
                return None
            return b"  ## maps pfn %#x%s" % (pfn, MAPS_B[level])

        return {"kvm_mmu_set_spte": set_spte, "kvm_mmu_spte_requested": spte_requested}

    def as_json(self, ev: TraceEvent, lineno: int, source: str) -> str:
        level = ev.level or 1
        obj: dict[str, Any] = {"file": source, "line": lineno, "event": ev.event, "args": dict(ev.args),
                               "annotation": self.annotate(ev)[3:]}
        for key, val in (("spte", ev.spte), ("old", ev.old)):
            if val is not None and ev.event not in ("kvm_mmu_spte_requested", "mark_mmio_spte"):
                d = self.prof.describe(val, level)
                obj[key] = {"value": f"{val:#018x}", "kind": d.kind, "summary": d.summary,
                            "fields": d.hardware.fields(), "software": d.software, "mmio": d.mmio}
        return json.dumps(obj)


def _open(name: str, report: Reporter) -> IO[bytes] | None:
    if name == "-":
        return sys.stdin.buffer
    try:
        return open(name, "rb")
    except OSError as e:
        report.error(name, f"cannot read ({e.strerror or e})")
        return None


def _batches(stream: IO[bytes]) -> Iterator[list[bytes]]:
    while True:
        lines = stream.readlines(CHUNK)
        if not lines:
            return
        yield lines


def run(args: argparse.Namespace) -> int:
    fmt, platform, prof = resolve(args)
    if prof is None:
        raise UsageError("spte trace needs --kvm VERSION[:FLAVOUR]")
    from spte.entry import CLASSES

    fast = {level: FastDecoder(fmt, level, platform) for level in CLASSES[fmt]}
    ann = Annotator(prof, fast)
    report = Reporter(args.strict)
    out = sys.stdout.buffer
    for name in args.files or ["-"]:
        stream = _open(name, report)
        if stream is None:
            continue
        source = "<stdin>" if name == "-" else name
        try:
            _process(stream, source, args, ann, report, out)
        except BrokenPipeError:
            raise
        except OSError as e:
            report.error(source, f"cannot read ({e.strerror or e})")
        finally:
            if stream is not sys.stdin.buffer:
                stream.close()
    if args.summary:
        if args.json:
            out.write(json.dumps({k: dict(v) for k, v in ann.counts.items()}).encode() + b"\n")
        else:
            text = []
            for what, counter in ann.counts.items():
                text.append(f"by {what}:")
                text += [f"  {n:>8}  {k}" for k, n in counter.most_common()]
            out.write(("\n".join(text) + "\n").encode())
    return report.status


def _process(stream: IO[bytes], source: str, args: argparse.Namespace, ann: Annotator, report: Reporter,
             out: IO[bytes]) -> None:
    """Scan the trace a chunk at a time: bytes.find skips the lines with no SPTE event."""
    first_line = 1
    whole = not (args.only_spte or args.json or args.summary)
    fast = ann.fast_handlers() if whole else {}
    for lines in _batches(stream):
        blob = b"".join(lines)
        pieces: list[bytes] = []
        last = 0
        for start, end, name, pos in scan(blob):
            handler = fast.get(name)
            if handler is not None:  # the hot path: set_spte and spte_requested lines
                note = handler(blob, pos, end)
                if note is not None:
                    pieces.append(blob[last:end])
                    pieces.append(note)
                    last = end
                    continue
            ev = parse_event(name, blob, pos, end)
            if ev is None or _too_wide(ev):
                lineno = first_line + blob.count(b"\n", 0, start)
                report.error(f"{source}: line {lineno}", "malformed SPTE event: "
                             + ("value does not fit in 64 bits" if ev else "arguments do not match the format"))
                continue
            if whole:
                pieces.append(blob[last:end])
                pieces.append(b"  " + ann.annotate(ev).encode())
                last = end
            elif args.summary:
                ann.annotate(ev)
            elif args.json:
                lineno = first_line + blob.count(b"\n", 0, start)
                pieces.append(ann.as_json(ev, lineno, source).encode() + b"\n")
            else:  # --only-spte: the whole line, annotated
                line_start = blob.rfind(b"\n", 0, start) + 1
                pieces.append(blob[line_start:end] + b"  " + ann.annotate(ev).encode() + b"\n")
        if whole:
            pieces.append(blob[last:])
        if pieces:
            out.write(b"".join(pieces))
        first_line += len(lines)


def _too_wide(ev: TraceEvent) -> bool:
    return bool((ev.spte or 0) >> 64 or (ev.old or 0) >> 64)
