"""``spte decode``: raw SPTE values (arguments or stdin) to fields, one line, or JSON."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Iterator

from spte.cli.common import Reporter, add_level_option, add_platform_options, check_level, quote, resolve, use_colour
from spte.kvm import KvmProfile
from spte.render.fast import FastDecoder, token_batch
from spte.render.text import entry_view

CHUNK = 1 << 16  # bytes of stdin per batch


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("decode", help="decode raw entry values",
                       description="Decode SPTE/page-table entry values given as arguments, or one or more "
                                   "per line on stdin. Values are hex (0x... or bare) unless --decimal.")
    p.add_argument("values", nargs="*", metavar="VALUE")
    add_platform_options(p)
    add_level_option(p)
    style = p.add_mutually_exclusive_group()
    style.add_argument("--line", action="store_true", help="one compact line per value")
    style.add_argument("--json", action="store_true", help="one JSON object per value (JSON Lines)")
    p.add_argument("--decimal", action="store_true", help="bare tokens are decimal (0x... stays hex)")
    p.add_argument("--strict", action="store_true", help="stop at the first bad input")
    p.add_argument("--color", "--colour", choices=("auto", "always", "never"), default="auto")
    p.set_defaults(func=run)


def _kvm_suffix(prof: KvmProfile, v: int, level: int) -> str:
    d = prof.describe(v, level)
    sw = " ".join(f"{k}={x:#x}" for k, x in d.software.items() if x)
    return f" [{prof.name} {d.kind}]" + (f" {sw}" if sw else "")


def _kvm_json(prof: KvmProfile, v: int, level: int) -> str:
    d = prof.describe(v, level)
    return json.dumps({"profile": prof.name, "kind": d.kind, "summary": d.summary, "software": d.software,
                       "mmio": d.mmio, "notes": list(d.notes)})


def renderer(args: argparse.Namespace, fast: FastDecoder, prof: KvmProfile | None) -> Callable[[int], str]:
    """The rendering of one value: one line, JSON, or the readable view; with --kvm, the owner's reading."""
    level = args.level
    if args.json:
        if prof is None:
            return fast.json
        return lambda v: fast.json(v)[:-1] + f',"kvm":{_kvm_json(prof, v, level)}}}'
    if args.line:
        if prof is None:
            return fast.line
        return lambda v: fast.line(v) + _kvm_suffix(prof, v, level)
    colour = use_colour(args.color, sys.stdout)

    def view(v: int) -> str:
        entry = fast.entry(v)
        software = None
        text = ""
        if prof is not None:
            d = prof.describe(v, level)
            software = {b: t.name for t in prof.layout.tags for b in t.bits if t.name in d.software}
            text = "\n" + d.text()
        return entry_view(entry, colour, software) + text + "\n"

    return view


def run(args: argparse.Namespace) -> int:
    fmt, platform, prof = resolve(args)
    check_level(fmt, args.level)
    # Bits the owner names render once, under its names: the hardware view leaves them out.
    fast = FastDecoder(fmt, args.level, platform, hide=prof.layout.owned_mask if prof else 0)
    report = Reporter(args.strict)
    width = fast.width

    def bad(where: str, tok: bytes, reason: str) -> None:
        if reason == "range":
            report.error(where, f"{quote(tok)} does not fit in {width} bits")
        else:
            report.error(where, f"cannot parse {quote(tok)} as a {width}-bit value")

    batch = token_batch(renderer(args, fast, prof), fast.max, args.decimal)
    out = sys.stdout
    if args.values:
        for i, v in enumerate(args.values, 1):
            lines = batch([v.encode("utf-8", "surrogateescape")], i,
                          lambda n, tok, why: bad(f"argument {n}", tok, why))
            if lines:
                out.write("\n".join(lines) + "\n")
        return report.status
    for first, raw in _stdin_batches():
        rendered = batch(raw, first, lambda n, tok, why: bad(f"line {n}", tok, why))
        if rendered:
            out.write("\n".join(rendered) + "\n")
    return report.status


def _stdin_batches() -> Iterator[tuple[int, list[bytes]]]:
    """(first line number, lines) batches from stdin, read as bytes."""
    stream = sys.stdin.buffer
    lineno = 1
    while True:
        lines = stream.readlines(CHUNK)
        if not lines:
            return
        yield lineno, lines
        lineno += len(lines)
