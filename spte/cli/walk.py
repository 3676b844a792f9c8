"""``spte walk`` and ``spte roots``: page-table trees in memory images."""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import Any

from spte.cli.common import InputError, UsageError, add_platform_options, resolve
from spte.images import ImageError, PhysicalMemory
from spte.images import open as open_image
from spte.images.readers import stderr_progress
from spte.platform import Platform
from spte.walker import NestedMemory, Visit, Walker, WalkStats, check, coalesce, find_roots, translate
from spte.walker.core import permissions_text, state_text


def _address(text: str) -> int:
    try:
        value = int(text, 0) if text.lower().startswith("0x") else int(text, 16)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an address (hex, e.g. 0x8008000)") from None
    if not 0 <= value < 1 << 64:
        raise argparse.ArgumentTypeError(f"{text!r} does not fit 64 bits")
    return value


def _image_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("image", metavar="IMAGE", help="memory image: ELF core, LiME, raw (with --base), .gz/.xz, kdump")
    p.add_argument("--base", type=_address, metavar="ADDR", help="physical address of a raw image's first byte")
    p.add_argument("--image-format", choices=("elf", "lime", "raw", "kdump"), help="do not guess the image format")


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("walk", help="walk a page-table tree in a memory image",
                       description="Walk the tree at --root in IMAGE: ptdump-like ranges (default), every entry "
                                   "(--entries), one address (--translate) or the anomalies (--check).")
    _image_args(p)
    p.add_argument("--root", type=_address, required=True, metavar="ADDR",
                   help="root: CR3, EPTP (its walk length and A/D bit are used), or nested_cr3")
    p.add_argument("--levels", type=int, choices=(4, 5), help="4- or 5-level paging (EPT/x86-64/NPT)")
    add_platform_options(p)
    g = p.add_argument_group("two-dimensional walks: --root is a guest CR3, its tables behind a nested tree")
    g.add_argument("--nested-root", type=_address, metavar="ADDR", help="EPTP or nested_cr3 of the nested tree")
    g.add_argument("--nested-format", choices=("ept", "npt"), help="format of the nested tree (default npt)")
    g.add_argument("--nested-levels", type=int, choices=(4, 5), default=None)
    out = p.add_mutually_exclusive_group()
    out.add_argument("--entries", action="store_true", help="every entry visited")
    out.add_argument("--translate", type=_address, metavar="ADDR", help="the walk of one address, decoded")
    out.add_argument("--check", action="store_true", help="anomalies only (exit 1 if any)")
    p.add_argument("--json", action="store_true", help="JSON Lines output")
    p.add_argument("--all", action="store_true", help="with --entries: empty entries too")
    p.add_argument("--no-progress", action="store_true", help="no progress indicator on stderr")
    p.set_defaults(func=run_walk)

    r = sub.add_parser("roots", help="propose page-table roots found in a memory image",
                       description="Roots with their evidence, true roots first: CR3 from ELF notes, AMD VMCBs "
                                   "(nested_cr3, guest CR3), and an upward search from a table page (--from).")
    _image_args(r)
    r.add_argument("--from", dest="from_table", type=_address, metavar="ADDR",
                   help="a table page (e.g. a traced SPTE's address) to search upwards from")
    r.add_argument("--from-level", type=int, default=1, metavar="N", help="level of that table (default 1)")
    r.add_argument("--format", default="npt", choices=("ept", "npt", "x86-64"),
                   help="format searched upwards (default npt)")
    r.add_argument("--levels", type=int, choices=(4, 5), default=4)
    r.add_argument("--maxphyaddr", "-M", type=int, default=52, metavar="N")
    r.add_argument("--vendor", choices=("intel", "amd"), default="amd")
    r.add_argument("--no-vmcb", action="store_true", help="do not scan for VMCBs")
    r.add_argument("--json", action="store_true", help="one JSON object per candidate")
    r.set_defaults(func=run_roots)


def _open(args: argparse.Namespace) -> PhysicalMemory:
    try:
        return open_image(args.image, base=args.base, format=args.image_format, progress=stderr_progress)
    except ImageError as e:
        sys.stderr.write(f"spte: {e}\n")
        raise InputError(str(e)) from None


class _Progress:
    """Tables walked, on stderr, at most twice a second, only on a terminal."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled and sys.stderr.isatty()
        self.last = time.monotonic()
        self.shown = False

    def __call__(self, stats: WalkStats) -> None:
        now = time.monotonic()
        if self.enabled and now - self.last > 0.5:
            self.last = now
            self.shown = True
            sys.stderr.write(f"\rspte: {stats.tables} tables, {stats.entries} entries")
            sys.stderr.flush()

    def done(self) -> None:
        if self.shown:
            sys.stderr.write("\r\033[K")


def _hex(v: int | None) -> str | None:
    return None if v is None else f"{v:#x}"


def visit_json(v: Visit, fmt: str) -> dict[str, Any]:
    d: dict[str, Any] = {
        "entry_address": f"{v.entry_address:#x}", "value": f"{v.value:#x}", "level": v.level, "index": v.index,
        "input_address": f"{v.input_address:#x}", "present": v.present, "leaf": v.leaf,
        "class": v.cls.__name__, "output_address": _hex(v.output_address),
        "size": v.size, "permissions": permissions_text(v, fmt), "flags": v.entry.fields(),
        "problems": [p.kind for p in v.problems], "walk": list(v.flags)}
    if v.host_entry_address is not None or v.host_output_address is not None:
        d["host_entry_address"] = _hex(v.host_entry_address)
        d["host_output_address"] = _hex(v.host_output_address)
    if v.owner is not None:
        d["owner"] = {"name": v.owner.owner, "kind": v.owner.kind, "summary": v.owner.summary,
                      "software": v.owner.software}
    return d


def _size(n: int) -> str:
    for unit, shift in (("G", 30), ("M", 20), ("K", 10)):
        if n >= 1 << shift and n % (1 << shift) == 0:
            return f"{n >> shift}{unit}"
    return f"{n}B"


def run_walk(args: argparse.Namespace) -> int:
    fmt, platform, prof = resolve(args)
    memory = _open(args)
    if args.nested_root is not None:
        memory = NestedMemory(memory, args.nested_root, args.nested_format or "npt", levels=args.nested_levels,
                              platform=Platform(maxphyaddr=platform.maxphyaddr, vendor=platform.vendor,
                                                c_bit=platform.c_bit))
    out = sys.stdout
    if args.translate is not None:
        t = translate(memory, args.root, fmt, args.translate, levels=args.levels, platform=platform, owner=prof)
        if args.json:
            out.write(json.dumps({"address": f"{t.address:#x}", "physical": _hex(t.physical), "fault": t.fault,
                                  "steps": [visit_json(s, fmt) for s in t.steps]}) + "\n")
        else:
            for s in t.steps:
                where = f"{s.entry_address:#x}" + (f" (host {s.host_entry_address:#x})"
                                                   if s.host_entry_address is not None else "")
                out.write(f"level {s.level} [{s.index:3d}] at {where}: {s.entry!r}\n")
                if s.owner is not None:
                    out.write(f"    {s.owner.owner}: {s.owner.kind} -- {s.owner.summary}\n")
            out.write(f"{t.address:#x} -> {t.physical:#x}\n" if t.physical is not None else
                      f"{t.address:#x}: fault: {t.fault}\n")
        return 0 if t.physical is not None else 1
    progress = _Progress(not args.no_progress)
    try:
        walker = Walker(memory, fmt, levels=args.levels, platform=platform, owner=prof,
                        include_empty=args.all, progress=progress)
    except ValueError as e:
        raise UsageError(str(e)) from None
    visits = walker.walk(args.root)
    status = 0
    try:
        if args.entries:
            for v in visits:
                if args.json:
                    out.write(json.dumps(visit_json(v, fmt)) + "\n")
                else:
                    extra = f" [{state_text(v)}]" if v.owner is not None else ""
                    out.write(f"{v.input_address:#018x} L{v.level} @{v.entry_address:#x} {v.entry!r}{extra}"
                              f"{' ' + ','.join(v.flags) if v.flags else ''}\n")
        elif args.check:
            for a in check(visits, fmt):
                status = 1
                if args.json:
                    out.write(json.dumps({"kind": a.kind, "entry_address": _hex(a.entry_address), "level": a.level,
                                          "input_address": f"{a.input_address:#x}", "message": a.message}) + "\n")
                else:
                    where = f"@{a.entry_address:#x}" if a.entry_address is not None else ""
                    out.write(f"{a.kind}: L{a.level} {a.input_address:#x} {where}: {a.message}\n")
        else:
            for r in coalesce(visits, fmt):
                if args.json:
                    out.write(json.dumps({"start": f"{r.start:#x}", "end": f"{r.end:#x}", "size": r.size,
                                          "page_size": r.page_size, "level": r.level, "permissions": r.permissions,
                                          "memory_type": r.memory_type, "state": r.state, "present": r.present,
                                          "output_start": _hex(r.output_start),
                                          "output_end": _hex(None if r.output_start is None
                                                             else r.output_start + r.size)}) + "\n")
                else:
                    o = (f"{r.output_start:#x}-{r.output_start + r.size:#x}" if r.output_start is not None
                         else "-")
                    out.write(f"{r.start:#018x}-{r.end:#018x} {_size(r.size):>7} {_size(r.page_size):>4} "
                              f"{r.permissions or ('not present' if not r.present else ''):12} "
                              f"{r.memory_type:10} {o:29} {r.state}\n")
    finally:
        progress.done()
    st = walker.stats
    if not args.json and not args.check:
        leaves = ", ".join(f"L{k}: {n}" for k, n in sorted(st.leaves.items()))
        sys.stderr.write(f"spte: {st.tables} tables, {st.entries} entries, leaves {leaves or 'none'}"
                         f"{f', {st.outside} outside the image' if st.outside else ''}\n")
    if st.tables == 0:
        sys.stderr.write(f"spte: {args.image}: root {args.root:#x} is not in the image\n")
        return 1
    return status


def run_roots(args: argparse.Namespace) -> int:
    memory = _open(args)
    try:
        platform = Platform(maxphyaddr=args.maxphyaddr, vendor=args.vendor)
    except ValueError as e:
        raise UsageError(str(e)) from None
    cands = find_roots(memory, platform=platform, from_table=args.from_table, table_format=args.format,
                       table_level=args.from_level, levels=args.levels, scan_vmcbs=not args.no_vmcb)
    for i, c in enumerate(cands, 1):
        if args.json:
            sys.stdout.write(json.dumps({"rank": i, **c.to_json()}) + "\n")
        else:
            j = c.to_json()
            sys.stdout.write(f"{i}. {j['root']} {c.format} {c.levels}-level ({j['space']}; {j['source']}): "
                             f"{c.tables} tables, {c.leaves} leaves, {c.valid:.0%} valid\n   {j['evidence']}\n")
    if not cands:  # say so: an empty answer with a failing status alone explains nothing
        sys.stderr.write(f"spte: {args.image}: no page-table root found (no CR3 in the notes, no VMCB, "
                         "no page that looks like a live top-level table)\n")
        return 1
    return 0
