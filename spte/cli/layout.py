"""``spte layout``: the bit map of an entry as text, JSON or an SVG picture."""

from __future__ import annotations

import argparse
import json
import sys

from spte.bits import bit_list
from spte.cli.common import (
    EXIT_OUTPUT,
    UsageError,
    add_level_option,
    add_platform_options,
    check_level,
    quote,
    resolve,
    warn,
)
from spte.entry import CLASSES, Entry
from spte.metadata.owner import Owner, names_by_bit
from spte.metadata.states import STATES, free_bits, hardware_owned, state_class
from spte.platform import Platform
from spte.render.json import layout_record
from spte.render.svg import layout_svg
from spte.render.text import ruler


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("layout", help="show the bit layout of an entry",
                       description="Show which bits of an entry are hardware, reserved, ignored, "
                                   "software-owned (with --kvm) and free (with --state).")
    add_platform_options(p)
    add_level_option(p)
    p.add_argument("--large", action="store_true", help="the large-page leaf at this level (PS=1)")
    p.add_argument("--state", choices=STATES, help="mark the bits software may use in this entry state")
    p.add_argument("--svg", metavar="FILE", help="write an SVG picture to FILE ('-' for stdout)")
    p.add_argument("--json", action="store_true", help="the layout as JSON")
    p.set_defaults(func=run)


def select(fmt: str, level: int, large: bool, state: str | None) -> type[Entry]:
    check_level(fmt, level)
    try:
        table_cls, large_cls = CLASSES[fmt][level]
        if large:  # never dropped: it must name the large-page leaf, in a state that has one
            if large_cls is None:
                raise UsageError(f"--large: format {fmt} has no large page at level {level}")
            if state not in (None, "present_leaf"):
                raise UsageError(f"--large: a large page is a present leaf, not state {state}")
            return large_cls
        if state is not None:
            return state_class(fmt, level, state)
        return table_cls
    except ValueError as e:
        raise UsageError(str(e)) from None


def layout_data(fmt: str, level: int, large: bool, state: str | None, platform: Platform,
                owner: Owner | None) -> tuple[type[Entry], int | None, dict[int, str], int | None, str]:
    """(class, free bits, software owners by bit, hardware-owned bits, title) for a layout view."""
    if owner is not None and state is None:  # an owner's fields differ per state: show a present entry
        state = "present_leaf" if large or CLASSES[fmt][level][0].LEAF else "present_nonleaf"
    cls = select(fmt, level, large, state)
    free = owned = None
    software: dict[int, str] = {}
    if state is not None:
        try:
            free = free_bits(fmt, level, state, platform)
            owned = hardware_owned(fmt, level, state, platform)
        except ValueError as e:
            raise UsageError(str(e)) from None
    if owner is not None and state is not None and free is not None and owned is not None:
        software = names_by_bit(owner, state)
        # The owner's rules beyond its named fields, named by their reason (not on the presence
        # bits, which every owner's transitions touch).
        rules = owner.owned_bits(state) & ~sum(1 << b for b in software) & ~cls.layout(platform).present_mask
        rules &= (1 << cls.WIDTH) - 1
        for b in bit_list(rules):
            why = (owner.owner_of(b, state) or owner.name).removeprefix(f"{owner.name}: ")
            software[b] = why.split(":")[0]
        free &= ~owner.owned_bits(state)
    title = f"{cls.SDM_NAME} ({cls.__name__}, {fmt} level {level}" + (f", {state}" if state else "") + \
        (f", {owner.name}" if owner else "") + f", MAXPHYADDR {platform.maxphyaddr})"
    return cls, free, software, owned, title


def run(args: argparse.Namespace) -> int:
    fmt, platform, prof = resolve(args)
    cls, free, software, owned, title = layout_data(fmt, args.level, args.large, args.state, platform, prof)
    layout = cls.layout(platform)
    if args.svg is not None:
        if not args.svg:
            raise UsageError("--svg '': expected a file name, or '-' for stdout")
        svg = layout_svg(layout, title, free, software, owned)
        if args.svg == "-":
            sys.stdout.write(svg)
        else:
            try:
                with open(args.svg, "w") as fh:
                    fh.write(svg)
            except OSError as e:  # the output named by the user: lost output, not bad input
                warn(f"spte: {quote(args.svg)}: cannot write ({e.strerror or e})")
                return EXIT_OUTPUT
        if args.svg == "-" or not args.json:
            return 0
    if args.json:
        doc = {"title": title, "format": fmt, "level": args.level, "class": cls.__name__, "width": layout.width,
               "owner": prof.name if prof else None, "state": args.state,
               "free": None if free is None else f"{free:#x}",
               "hardware_owned": None if owned is None else f"{owned:#x}",
               "fields": layout_record(layout),
               "software": {str(b): n for b, n in sorted(software.items())}}
        sys.stdout.write(json.dumps(doc, indent=2) + "\n")
        return 0
    sys.stdout.write(ruler(layout, title, free, software, owned) + "\n")
    return 0
