"""``spte alloc``: allocate named tag fields and print, or emit them as C or JSON."""

from __future__ import annotations

import argparse
import re
import sys

from spte.bits import format_ranges
from spte.cli.common import UsageError, add_platform_options, number, quote, resolve, warn
from spte.metadata import STATES, TagCollision, TagSpec, allocate
from spte.render.c_header import tag_layout_header
from spte.render.json import dumps, tag_layout_record


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("alloc", help="allocate software tag bits and prove them safe",
                       description="Allocate named tags in entry states, prove they never collide with "
                                   "hardware, each other or a KVM profile, and print or emit them.")
    add_platform_options(p)
    p.add_argument("--tag", "-t", action="append", default=[], metavar="NAME:WIDTH[@BITS][:split]",
                   help="a tag; BITS pins it (e.g. 52,53 or 52-55); ':split' allows non-contiguous bits")
    p.add_argument("--state", "-s", action="append", choices=STATES,
                   help="a state the tags may be set in (repeatable; default not_present)")
    p.add_argument("--levels", metavar="N,N",
                   help="levels the tags must fit (default: those the platform walks; 5 with --set la57=on)")
    p.add_argument("--shadow-present-bit", type=number, metavar="N",
                   help="dedicate bit N to mark shadow-present SPTEs (KVM uses 11)")
    p.add_argument("--suppress-ve-to-software", action="store_true",
                   help="EPT: let tags use bit 63 (same as --set ept_ve=off: only if EPT-violation #VE is "
                        "never enabled)")
    p.add_argument("--emit", choices=("c", "json"), help="emit a C header or JSON instead of the summary")
    p.add_argument("--prefix", default="", help="prefix for C names")
    p.set_defaults(func=run)


BIT_LIMIT = 64  # no entry is wider: a bit number past it is refused before any range is built
C_PREFIX = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def _small(text: str) -> int | None:
    """A small ASCII decimal number (a bit, width or level), or None."""
    t = text.strip()
    return int(t) if t.isascii() and t.isdigit() and len(t) <= 18 else None


def parse_bits(text: str) -> tuple[int, ...]:
    out: list[int] = []
    for part in text.split(","):
        lo_s, sep, hi_s = part.partition("-")
        lo, hi = _small(lo_s), _small(hi_s) if sep else _small(lo_s)
        if lo is None or hi is None:
            raise UsageError(f"bits {quote(text)}: expected numbers like 52,53 or 52-55")
        if max(lo, hi) >= BIT_LIMIT:
            raise UsageError(f"bits {quote(text)}: bit {max(lo, hi)} is not in 0..{BIT_LIMIT - 1}")
        out += range(min(lo, hi), max(lo, hi) + 1)
    return tuple(out)


def _pinned(name: str, bit: int, states: tuple[str, ...], meaning: str) -> TagSpec:
    try:
        return TagSpec(name, 1, bits=(bit,), states=states, meaning=meaning)
    except ValueError as e:
        raise UsageError(f"--shadow-present-bit {bit}: {e}") from None


def parse_levels(text: str) -> tuple[int, ...]:
    """``--levels 1,2``: level numbers, each 1-5 (the format decides which it has)."""
    out = []
    for part in text.split(","):
        n = _small(part)
        if n is None or not 1 <= n <= 5:
            raise UsageError(f"--levels {quote(text)}: expected levels 1-5 separated by commas, e.g. 1,2")
        out.append(n)
    return tuple(out)


def parse_tag(text: str) -> TagSpec:
    parts = text.split(":")
    if len(parts) < 2 or not parts[0]:
        raise UsageError(f"--tag {quote(text)}: expected NAME:WIDTH[@BITS][:split]")
    name, spec, *flags = parts
    if any(f != "split" for f in flags):
        raise UsageError(f"--tag {quote(text)}: unknown flag {quote(':'.join(flags))}")
    width_s, _, bits_s = spec.partition("@")
    width = _small(width_s)
    if width is None:
        raise UsageError(f"--tag {quote(text)}: width {quote(width_s)} is not a number")
    bits = parse_bits(bits_s) if bits_s else None
    try:
        return TagSpec(name, width, bits=bits, split=bool(flags))
    except ValueError as e:
        raise UsageError(f"--tag {quote(text)}: {e}") from None


def run(args: argparse.Namespace) -> int:
    fmt, platform, prof = resolve(args)
    if args.suppress_ve_to_software:
        platform = platform.replace(ept_ve=False)
    if not args.tag and args.shadow_present_bit is None:
        raise UsageError("give at least one --tag NAME:WIDTH")
    specs = [parse_tag(t) for t in args.tag]
    if args.emit == "c":
        if args.prefix and not C_PREFIX.fullmatch(args.prefix):
            raise UsageError(f"--prefix {quote(args.prefix)}: C names need letters, digits and '_', "
                             "not starting with a digit")
        for spec in specs:
            if not spec.name.isascii():
                raise UsageError(f"--tag {quote(spec.name)}: a C name must be ASCII")
    elif args.prefix:
        raise UsageError("--prefix applies only with --emit c")
    if args.shadow_present_bit is not None:
        # KVM's answer to June 2020's question (SPTE_MMU_PRESENT_MASK, 5.13): a bit set in
        # every SPTE the hypervisor made present, so a tagged not-present SPTE is never misread.
        specs.insert(0, _pinned("shadow_present", args.shadow_present_bit, ("present_leaf", "present_nonleaf"),
                                "set in every SPTE the hypervisor made present"))
    levels = parse_levels(args.levels) if args.levels is not None else None
    try:
        layout = allocate(fmt, specs, states=tuple(args.state or ["not_present"]), platform=platform,
                          owner=prof, levels=levels)
    except TagCollision as e:
        warn(f"spte: alloc: {e}")
        return 1
    except ValueError as e:
        raise UsageError(str(e)) from None
    if args.emit == "c":
        sys.stdout.write(tag_layout_header(layout, prefix=args.prefix))
    elif args.emit == "json":
        sys.stdout.write(dumps(tag_layout_record(layout)) + "\n")
    else:
        lines = [f"{fmt} tags (states {', '.join(layout.states)}; levels "
                 f"{', '.join(map(str, layout.levels))}" + (f"; {prof.name}" if prof else "") + ")"]
        for t in layout.tags:
            where = format_ranges(t.mask)
            lines.append(f"  {t.name:<20} {t.width:>2} bit{'s' if t.width > 1 else ' '} at {where:<14} "
                         f"mask {t.mask:#018x}  states {','.join(t.states)}")
        lines.append("proof:")
        lines += [f"  - {fact}" for fact in layout.proof.facts]
        sys.stdout.write("\n".join(lines) + "\n")
    return 0
