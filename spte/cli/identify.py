"""``spte identify``: which kernels (release range, MMU flavour) could have made these SPTEs?

Reads kvmmmu trace text (tracefs ``trace`` or ``trace-cmd report``, as ``spte trace`` does)
and/or bare values (``0x...`` or hex, ``VALUE@LEVEL`` for a level other than ``--level``),
from files or stdin, and prints the consistent candidates, newest and narrowest first, each
with the evidence that excluded its neighbours.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterable

from spte.cli.common import Reporter, UsageError, add_level_option, quote
from spte.kvm import FLAVOURS, identify_all
from spte.kvm.candidates import Candidate, newest_first
from spte.logs import Context, read_text

CONTEXT = Context()

MAX_BYTES = 1 << 30  # refuse to read more than this from one input


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("identify", help="which kernels could have made these SPTE values",
                       description="Read kvmmmu trace text or bare SPTE values (VALUE or VALUE@LEVEL, hex) from "
                                   "files or stdin and print every (release range, MMU flavour) of Linux 5.4 to "
                                   "7.1 that builds all of them, newest and narrowest first, with the evidence.")
    p.add_argument("files", nargs="*", metavar="FILE", help="inputs ('-' or none: stdin)")
    add_level_option(p)
    p.add_argument("--json", action="store_true", help="one JSON object per candidate (JSON Lines)")
    p.add_argument("--all", action="store_true", help="also print the excluded ranges and why")
    p.add_argument("--flavour", action="append", choices=FLAVOURS, help="only this MMU flavour (repeatable)")
    g = p.add_argument_group("host (unknown host inputs are tried both ways where it matters)")
    g.add_argument("--maxphyaddr", "-M", type=int, default=46, metavar="N", help="raw CPUID MAXPHYADDR (default 46)")
    g.add_argument("--l1tf", choices=("on", "off", "auto"), default="auto",
                   help="X86_BUG_L1TF (auto: either)")
    g.add_argument("--c-bit", type=int, metavar="N", help="SME C-bit (AMD flavours)")
    g.add_argument("--phys-addr-reduction", type=int, default=0, metavar="N",
                   help="CPUID 0x8000001F EBX[11:6] (with --c-bit)")
    g.add_argument("--cache-bits", type=int, metavar="N", help="x86_cache_bits (default: x86_phys_bits)")
    g.add_argument("--mmio-caching", choices=("on", "off"), default="on", help="kvm.mmio_caching (5.13+)")
    p.add_argument("--strict", action="store_true", help="stop at the first bad input")
    p.set_defaults(func=run)


def read_inputs(lines: Iterable[str], source: str, level: int, report: Reporter,
                values: list[tuple[int, int]], events: set[str]) -> None:
    """Collect (value, level) pairs and event names from trace lines or bare values."""
    for lineno, line in enumerate(lines, 1):
        where = f"{source}:{lineno}"
        records = read_text(line, CONTEXT)
        if records:
            events.update(r.event for r in records)
            # KVM's own SPTEs only: a guest walk prints the guest's entries, a register is no entry.
            values += [(r.value, r.level) for r in records if r.owner == "kvm" and r.entry and r.level is not None]
            continue
        text = line.split("#", 1)[0].strip()
        if not text or ":" in text:  # comments, and trace lines of other events
            continue
        for tok in text.replace(",", " ").split():
            value_text, _, level_text = tok.partition("@")
            try:
                value = int(value_text, 16)
                lv = int(level_text) if level_text else level
            except ValueError:
                report.error(where, f"cannot parse {quote(tok)} as VALUE or VALUE@LEVEL (hex value, level 1-5)")
                continue
            if not 0 <= value < 1 << 64:
                report.error(where, f"{quote(tok)} does not fit in 64 bits")
            elif not 1 <= lv <= 5:
                report.error(where, f"{quote(tok)}: level {lv} is not 1..5")
            else:
                values.append((value, lv))


def _host(args: argparse.Namespace) -> dict[str, object]:
    if not 32 <= args.maxphyaddr <= 52:
        raise UsageError(f"--maxphyaddr {args.maxphyaddr} is outside 32..52")
    host: dict[str, object] = {"maxphyaddr": args.maxphyaddr, "mmio_caching": args.mmio_caching == "on"}
    if args.l1tf != "auto":
        host["l1tf"] = args.l1tf == "on"
    if args.cache_bits is not None:
        host["cache_bits"] = args.cache_bits
    if args.c_bit is not None:
        host.update(me_bit=args.c_bit, phys_addr_reduction=args.phys_addr_reduction)
    return host


def _show(c: Candidate) -> list[str]:
    first, last = c.releases
    span = first if first == last else f"{first} to {last}"
    if c.excluded_by:
        return [f"excluded: Linux {span} {c.flavour}: {c.excluded_by[0]}"]
    return [f"Linux {span} {c.flavour} (profiles {', '.join(c.change_points)}; --kvm {c.kvm})",
            *(f"  {e}" for e in c.evidence)]


def run(args: argparse.Namespace) -> int:
    report = Reporter(args.strict)
    flavours = tuple(args.flavour or FLAVOURS)
    if args.c_bit is not None:
        flavours = tuple(f for f in flavours if not f.startswith("ept"))
        if not flavours:
            raise UsageError("--c-bit describes an AMD host: the ept flavours do not apply")
    host = _host(args)
    values: list[tuple[int, int]] = []
    events: set[str] = set()
    for name in args.files or ["-"]:
        source = "<stdin>" if name == "-" else name
        try:
            stream = sys.stdin.buffer if name == "-" else open(name, "rb")
        except OSError as e:
            report.error(name, f"cannot read ({e.strerror or e})")
            continue
        try:
            data = stream.read(MAX_BYTES + 1)
        except OSError as e:
            report.error(source, f"cannot read ({e.strerror or e})")
            continue
        finally:
            if stream is not sys.stdin.buffer:
                stream.close()
        if len(data) > MAX_BYTES:
            report.error(source, f"larger than {MAX_BYTES >> 20} MiB; only the first {MAX_BYTES >> 20} MiB were read")
            data = data[:MAX_BYTES]
        if b"\0" in data[:4096]:
            report.error(source, "binary data, not trace text or values")
            continue
        read_inputs(data.decode("utf-8", "replace").splitlines(), source, args.level, report, values, events)
    if not values:
        sys.stderr.write("spte: identify: no SPTE values in the input\n")
        return report.status or 1
    try:
        found = identify_all(values, sorted(events), flavours=flavours, **host)
    except ValueError as e:
        raise UsageError(str(e)) from None
    ordered = newest_first(found)
    out = sys.stdout
    if args.json:
        for c in ordered:
            out.write(json.dumps(c.to_json()) + "\n")
        if args.all:
            for c in found:
                if c.excluded_by:
                    out.write(json.dumps({**c.to_json(), "excluded_by": list(c.excluded_by)}) + "\n")
        return report.status
    n = len(values)
    out.write(f"{n} value{'s' if n != 1 else ''}"
              f"{', events ' + ', '.join(sorted(events)) if events else ''}: "
              f"{len(ordered) or 'no'} consistent candidate{'s' if len(ordered) != 1 else ''}\n")
    for c in ordered:
        out.write("\n".join(_show(c)) + "\n")
    if not ordered:
        out.write("no release from 5.4 to 7.1 builds every one of these values (see --all)\n")
    if args.all:
        for c in found:
            if c.excluded_by:
                out.write("\n".join(_show(c)) + "\n")
    return report.status
