"""``spte encode``: build an entry from field=value pairs and print its value."""

from __future__ import annotations

import argparse
import sys

from spte import tokens
from spte.cli.common import UsageError, add_level_option, add_platform_options, quote, resolve, warn
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
    names = {f.name for f in cls.layout(platform).fields} | {"pfn", "address"}
    fields: dict[str, int | str] = {"page_size": 1} if args.large else {}
    for a in args.assignments:
        name, sep, text = a.partition("=")
        if not sep or not name:
            raise UsageError(f"{quote(a)}: expected FIELD=VALUE")
        if name not in names:  # also keeps value= and platform= away from the constructor's own arguments
            raise UsageError(f"{quote(a)}: {cls.__name__} has no field {quote(name)} "
                             f"(fields: {', '.join(sorted(names))})")
        if name in fields and not (name == "page_size" and args.large):
            raise UsageError(f"{quote(a)}: {name} is given twice")
        try:
            fields[name] = tokens.parse(text, decimal=True)  # decimal, or hex with 0x
        except tokens.TokenError as e:
            if e.reason == "range" or not text.isascii() or not text.isalnum():
                raise UsageError(f"{quote(a)}: {quote(text)} is not a value (decimal, hex with 0x, "
                                 "or a name such as WB)") from None
            fields[name] = text  # e.g. memory_type=WB; the entry checks it
    try:
        entry = cls(0, platform, **fields)
    except (ValueError, TypeError) as e:
        warn(f"spte: encode: {e}")
        return 1
    if args.value_only:
        sys.stdout.write(entry.to_hex() + "\n")
    else:
        sys.stdout.write(FastDecoder(fmt, args.level, platform).line(entry.value) + "\n")
    return 0
