"""``spte encode``: build an entry from field=value pairs and print its value."""

from __future__ import annotations

import argparse
import sys

from spte.cli.common import UsageError, add_level_option, add_platform_options, quote, resolve
from spte.cli.layout import select
from spte.render.fast import FastDecoder


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("encode", help="build an entry from field=value pairs",
                       description="Build an entry from field=value pairs (fields as in 'spte layout'; "
                                   "also pfn= and address=; memory_type=UC|WC|WT|WP|WB).")
    p.add_argument("assignments", nargs="+", metavar="FIELD=VALUE")
    add_platform_options(p)
    add_level_option(p)
    p.add_argument("--large", action="store_true", help="the large-page leaf at this level (sets page_size)")
    p.add_argument("--value-only", action="store_true", help="print only the value")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    fmt, platform, _ = resolve(args)
    cls = select(fmt, args.level, args.large, None)
    fields: dict[str, int | str] = {"page_size": 1} if args.large else {}
    for a in args.assignments:
        name, sep, text = a.partition("=")
        if not sep or not name:
            raise UsageError(f"{quote(a)}: expected FIELD=VALUE")
        try:
            fields[name] = int(text, 0)
        except ValueError:
            fields[name] = text  # e.g. memory_type=WB; the entry checks it
    try:
        entry = cls(0, platform, **fields)
    except ValueError as e:
        sys.stderr.write(f"spte: encode: {e}\n")
        return 1
    if args.value_only:
        sys.stdout.write(entry.to_hex() + "\n")
    else:
        sys.stdout.write(FastDecoder(fmt, args.level, platform).line(entry.value) + "\n")
    return 0
