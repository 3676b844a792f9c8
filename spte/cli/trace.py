"""``spte trace``: annotate the SPTEs in kvmmmu trace text (tracefs or trace-cmd report)."""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections import Counter
from collections.abc import Iterator
from typing import IO, Any

from spte.bits import Role
from spte.cli.common import Reporter, UsageError, add_platform_options, resolve
from spte.kvm import KvmProfile
from spte.render.fast import FastDecoder
from spte.trace import EVENTS, TraceEvent, parse_line

# Cheap pre-filter on bytes: only lines naming an SPTE event are decoded as text.
_EVENT_BYTES = re.compile(rb"\b(?:" + b"|".join(e.encode() for e in EVENTS) + rb"):")
CHUNK = 1 << 16


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("trace", help="annotate SPTEs in kvmmmu trace logs",
                       description="Read kvmmmu tracepoint text (tracefs 'trace' or 'trace-cmd report') and "
                                   "annotate every SPTE of " + ", ".join(EVENTS) + ". Other lines pass through.")
    p.add_argument("files", nargs="*", metavar="FILE", help="trace files (default: stdin; '-' is stdin)")
    add_platform_options(p, format_default=None)
    p.set_defaults(kvm="latest:ept-ad")
    out = p.add_mutually_exclusive_group()
    out.add_argument("--json", action="store_true", help="JSON Lines: one object per event")
    out.add_argument("--summary", action="store_true", help="only counts by event, level and SPTE kind")
    p.add_argument("--only-spte", action="store_true", help="drop lines that are not SPTE events")
    p.add_argument("--strict", action="store_true", help="stop at the first malformed event")
    p.set_defaults(func=run)


class Annotator:
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

    def kind(self, spte: int, level: int) -> str:
        return self.prof.classify(spte, level).kind

    def one(self, spte: int, level: int) -> str:
        words = self.fast[level].line(spte).split(" ")[1:]  # drop the value: the trace shows it
        covered = self.covered[level]
        line = " ".join(w for w in words if w.partition("=")[0] not in covered)
        sw = self.prof.describe(spte, level).software
        tags = ",".join(k for k, v in sw.items() if v)
        return f"[{self.kind(spte, level)}] {line}" + (f" sw:{tags}" if tags else "")

    def diff(self, old: int, new: int, level: int) -> str:
        fo = self.fast[level].entry(old).fields()
        fn = self.fast[level].entry(new).fields()
        changes = []
        for name in dict.fromkeys([*fo, *fn]):
            a, b = fo.get(name, 0), fn.get(name, 0)
            if a != b and name not in self.covered[level]:
                changes.append(("+" if b else "-") + name if max(a, b) == 1 else f"{name}:{a:#x}->{b:#x}")
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
            return f"## maps pfn {ev.int_arg('pfn'):#x} at level {level} ({4 << (9 * (level - 1))} KiB)"
        if ev.event == "mark_mmio_spte":
            return f"## MMIO gfn {ev.int_arg('gfn'):#x} gen {ev.int_arg('gen'):#x} spte&7={ev.int_arg('access'):#x}"
        assert ev.spte is not None
        self.counts["kind"][self.kind(ev.spte, level)] += 1
        lvl = "" if ev.level is not None else " (level not traced: decoded as level 1)"
        if ev.old is None:
            return f"## {self.one(ev.spte, level)}{lvl}"
        return f"## old {self.one(ev.old, level)} -> new {self.one(ev.spte, level)}: " \
               f"{self.diff(ev.old, ev.spte, level)}{lvl}"

    def as_json(self, ev: TraceEvent, lineno: int, source: str) -> str:
        level = ev.level or 1
        obj: dict[str, Any] = {"file": source, "line": lineno, "event": ev.event, "args": ev.args,
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
    lineno = 0
    quiet = args.summary
    search = _EVENT_BYTES.search
    for lines in _batches(stream):
        chunk: list[bytes] = []
        for raw in lines:
            lineno += 1
            if not search(raw):
                if not (args.only_spte or args.json or quiet):
                    chunk.append(raw)
                continue
            text = raw.decode("utf-8", "replace").rstrip("\r\n")
            ev = parse_line(text)
            if ev is None or _too_wide(ev):
                report.error(f"{source}: line {lineno}", "malformed SPTE event: "
                             + ("value does not fit in 64 bits" if ev else "arguments do not match the format"))
                if not (args.only_spte or args.json or quiet):
                    chunk.append(raw)
                continue
            if args.json:
                chunk.append(ann.as_json(ev, lineno, source).encode() + b"\n")
            elif quiet:
                ann.annotate(ev)
            else:
                end = b"\r\n" if raw.endswith(b"\r\n") else b"\n"
                chunk.append(raw.rstrip(b"\r\n") + b"  " + ann.annotate(ev).encode() + end)
        if chunk:
            out.write(b"".join(chunk))


def _too_wide(ev: TraceEvent) -> bool:
    return any(v is not None and v >> 64 for v in (ev.spte, ev.old))
