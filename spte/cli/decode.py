"""``spte decode``: raw SPTE values (arguments or stdin) to fields, one line, or JSON."""

from __future__ import annotations

import io
import sys
from collections.abc import Callable, Iterator
from types import SimpleNamespace
from typing import TYPE_CHECKING, BinaryIO, cast

from spte.cli.common import (
    Reporter,
    add_level_option,
    add_platform_options,
    assumed_host,
    check_level,
    collector_frozen,
    quote,
    resolve,
    use_colour,
    warn,
)
from spte.render.fast import FastDecoder
from spte.tokens import stream_words

if TYPE_CHECKING:
    import argparse

    from spte.metadata.owner import Owner, PatternLookup

CHUNK = 1 << 14  # bytes of stdin per block: its lines stay in the CPU's cache while they are written
WRITE_LINES = 256
Words = tuple[list[int], list[str] | None]  # a block of values, and their tokens in the common shape


def _hidden(owner: Owner | None) -> int:
    """The bits ``owner`` names (none without one); the owner renderers load only when used."""
    if owner is None:
        return 0
    from spte.render.owner import named_bits

    return named_bits(owner)


def _owner_suffix(owner: Owner, level: int) -> Callable[[int], str]:
    from spte.render.owner import owner_suffix

    return owner_suffix(owner, level)


def _owner_suffix_lookup(owner: Owner, level: int) -> tuple[Callable[[int], str], PatternLookup[str] | None]:
    from spte.render.owner import owner_suffix_lookup

    return owner_suffix_lookup(owner, level)


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


# What register()'s parser makes of ``decode VALUE...`` without options (tests compare the two).
PLAIN = {"command": "decode", "format": None, "maxphyaddr": None, "vendor": None, "c_bit": None, "kvm": None,
         "l1tf": "auto", "phys_addr_reduction": None, "cache_bits": None, "level": 1, "line": False, "json": False,
         "decimal": False, "strict": False, "color": "auto"}


def plain_args(values: list[str]) -> argparse.Namespace:
    """The arguments of ``spte decode VALUE...`` with no options, without building the parser."""
    return cast("argparse.Namespace", SimpleNamespace(**PLAIN, values=values, set=[], owner=[], func=run))


def renderer(args: argparse.Namespace, fast: FastDecoder, owner: Owner | None) -> Callable[[int], str]:
    """The rendering of one value: one line, JSON, or the readable view; with an owner, its reading."""
    level = args.level
    if args.json:
        if owner is None:
            return fast.json
        import json

        from spte.render.owner import reading_record

        return lambda v: fast.json(v)[:-1] + f',"owner":{json.dumps(reading_record(owner.read(v, level)))}}}'
    if args.line:
        if owner is None:
            return fast.line
        line, suffix = fast.line, _owner_suffix(owner, level)
        return lambda v: line(v) + suffix(v)
    from spte.render.text import entry_view  # only the readable view needs it

    colour = use_colour(args.color, sys.stdout)
    if owner is not None:
        from spte.render.owner import reading_text
    note = assumed_host(args, owner)
    if note:  # the readable view is read by a person: say what was assumed about the host
        warn(note)

    def view(v: int) -> str:
        entry = fast.entry(v)
        software = None
        text = ""
        if owner is not None:
            r = owner.read(v, level)
            software = {b: f.name for f in owner.fields(r.state) for b in f.bits if f.name in r.software}
            text = "\n" + reading_text(r)
        return entry_view(entry, colour, software) + text + "\n"

    return view


def auto_kvm(args: argparse.Namespace, blocks: list[Words]) -> str:
    """``--kvm auto``: the newest release of the first kernel whose SPTE code builds every value
    (at ``--level``), said on stderr; ``latest`` with a warning when none does."""
    from spte.kvm import identify

    values = [(v, args.level) for block, _ in blocks for v in block]
    host = {"maxphyaddr": args.maxphyaddr} if args.maxphyaddr is not None else {}
    flavours = {"flavours": [args.kvm_flavour]} if args.kvm_flavour else {}
    candidates = identify(values, (), **host, **flavours) if values else []
    if not candidates:
        warn(f"spte: --kvm auto: no release from 5.4 to 7.1 builds every one of the {len(values)} values; "
             "decoding as latest")
        return "latest" + (f":{args.kvm_flavour}" if args.kvm_flavour else "")
    c = candidates[0]
    warn(f"spte: --kvm auto: {c.kvm} (Linux {c.releases[0]} to {c.releases[1]} {c.flavour}, the first of "
         f"{len(candidates)} candidates; spte identify lists them with evidence)")
    return c.kvm


def run(args: argparse.Namespace) -> int:
    auto = args.kvm is not None and args.kvm.partition(":")[0] == "auto"
    if auto:  # the values decide the kernel: read them all first (with the grammar below)
        args.kvm_flavour = args.kvm.partition(":")[2] or None
        args.kvm = "latest" + (f":{args.kvm_flavour}" if args.kvm_flavour else "")
    fmt, platform, prof = resolve(args)
    check_level(fmt, args.level)
    # Bits the owner names render once, under its names: the hardware view leaves them out.
    fast = FastDecoder(fmt, args.level, platform, hide=_hidden(prof))
    report = Reporter(args.strict)
    width = fast.width

    def bad(where: str, tok: bytes, reason: str) -> None:
        if reason == "range":
            report.error(where, f"{quote(tok)} does not fit in {width} bits")
        else:
            report.error(where, f"cannot parse {quote(tok)} as a {width}-bit value")

    # One token grammar (spte.tokens) for arguments and stdin, read a block at a time: memory
    # stays bounded on any line, and values before a bad token are written before it is reported.
    # Arguments are named by their position, stdin by its line.
    sources: list[tuple[BinaryIO, str | None]] = (
        [(io.BytesIO(v.encode("utf-8", "surrogateescape")), f"argument {i}") for i, v in enumerate(args.values, 1)]
        if args.values else [(sys.stdin.buffer, None)])
    def read(stream: BinaryIO, name: str | None) -> Iterator[Words]:
        def bad_at(n: int, tok: bytes, why: str) -> None:
            bad(name or f"line {n}", tok, why)

        return stream_words(stream, bad_at, decimal=args.decimal, width=width, chunk=CHUNK)

    if auto:
        blocks = [block for stream, name in sources for block in read(stream, name)]
        args.kvm = auto_kvm(args, blocks)
        fmt, platform, prof = resolve(args)
        fast = FastDecoder(fmt, args.level, platform, hide=_hidden(prof))
        return _write(args, fast, prof, iter(blocks), report)
    return _write(args, fast, prof, (block for stream, name in sources for block in read(stream, name)), report)


def _write(args: argparse.Namespace, fast: FastDecoder, owner: Owner | None, blocks: Iterator[Words],
           report: Reporter) -> int:
    """Render every block of values (with their tokens, where the reader has them) in the chosen
    style and write it."""
    if args.line:  # the hot loops: whole-line templates
        render = fast.line_block(*_owner_suffix_lookup(owner, args.level)) if owner else fast.line_block()
    elif args.json and owner is None:
        render = fast.json_block()
    else:
        one = renderer(args, fast, owner)

        def render(values: list[int], texts: list[str] | None = None) -> list[str]:
            return [one(v) for v in values]

    out = sys.stdout
    with collector_frozen():
        for values, texts in blocks:
            lines = render(values, texts)
            # Written a few hundred lines at a time: a block of JSON is megabytes, and its copies
            # (joined, encoded) cost more than the writes once they no longer fit in the cache.
            # One write per slice: an unbuffered stdout (PYTHONUNBUFFERED) makes each a system call.
            for start in range(0, len(lines), WRITE_LINES):
                out.write("\n".join([*lines[start:start + WRITE_LINES], ""]))
    return report.status
