"""``spte decode``: raw SPTE values (arguments or stdin) to fields, one line, or JSON."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Iterable, Iterator

from spte.cli.common import Reporter, add_level_option, add_platform_options, check_level, quote, resolve, use_colour
from spte.kvm import KvmProfile
from spte.render.fast import FastDecoder
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


def renderer(args: argparse.Namespace, fast: FastDecoder, prof: KvmProfile | None) -> Callable[[int, str], str]:
    level = args.level
    if args.json:
        if prof is None:
            return lambda v, src: fast.json(v, src)
        return lambda v, src: fast.json(v, src)[:-1] + f',"kvm":{_kvm_json(prof, v, level)}}}'
    if args.line:
        if prof is None:
            return lambda v, src: fast.line(v)
        return lambda v, src: fast.line(v) + _kvm_suffix(prof, v, level)
    colour = use_colour(args.color, sys.stdout)

    def view(v: int, src: str) -> str:
        entry = fast.entry(v)
        software = None
        text = ""
        if prof is not None:
            d = prof.describe(v, level)
            software = {b: t.name for t in prof.layout.tags for b in t.bits if t.name in d.software}
            text = "\n" + d.text()
        return entry_view(entry, colour, software) + text + "\n"

    return view


def _tokens_from_args(values: list[str]) -> Iterator[tuple[list[bytes], str]]:
    for i, v in enumerate(values, 1):
        yield [v.encode("utf-8", "surrogateescape")], f"argument {i}"


def run(args: argparse.Namespace) -> int:
    fmt, platform, prof = resolve(args)
    check_level(fmt, args.level)
    fast = FastDecoder(fmt, args.level, platform)
    render = renderer(args, fast, prof)
    report = Reporter(args.strict)
    out = sys.stdout
    if args.values:
        for tokens, where in _tokens_from_args(args.values):
            out.write("\n".join(decode_tokens(tokens, where, fast.max, fast.width, args.decimal, render, report)))
            out.write("\n")
        return report.status
    for batch in _stdin_batches():
        out.write(decode_batch(batch, fast.max, fast.width, args.decimal, render, report))
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


def decode_tokens(tokens: Iterable[bytes], where: str, maxv: int, width: int, decimal: bool,
                  render: Callable[[int, str], str], report: Reporter) -> list[str]:
    out = []
    for tok in tokens:
        v = parse_token(tok, decimal)
        if v is None or v < 0:
            report.error(where, f"cannot parse {quote(tok)} as a {width}-bit value")
        elif v > maxv:
            report.error(where, f"{quote(tok)} does not fit in {width} bits")
        else:
            out.append(render(v, tok.decode("ascii")))
    return out


def parse_token(tok: bytes, decimal: bool) -> int | None:
    try:
        if decimal and not tok[:2].lower() == b"0x":
            return int(tok, 10)
        return int(tok, 16)
    except ValueError:
        return None


def decode_batch(batch: tuple[int, list[bytes]], maxv: int, width: int, decimal: bool,
                 render: Callable[[int, str], str], report: Reporter) -> str:
    """The hot loop of ``spte decode``: a batch of stdin lines to output text."""
    first, lines = batch
    out: list[str] = []
    append = out.append
    base = 10 if decimal else 16
    for i, line in enumerate(lines):
        if b"," in line:
            line = line.replace(b",", b" ")
        for tok in line.split():
            try:
                v = int(tok, base) if not decimal or tok[:2].lower() != b"0x" else int(tok, 16)
            except ValueError:
                report.error(f"line {first + i}", f"cannot parse {quote(tok)} as a {width}-bit value")
                continue
            if v < 0:
                report.error(f"line {first + i}", f"cannot parse {quote(tok)} as a {width}-bit value")
            elif v > maxv:
                report.error(f"line {first + i}", f"{quote(tok)} does not fit in {width} bits")
            else:
                append(render(v, tok.decode("ascii")))
    return "\n".join(out) + "\n" if out else ""
