"""``spte trace`` (also ``spte log``): decode every page-table entry a kernel or hypervisor log prints.

The recognisers, records and renderers live in :mod:`spte.logs`; this module only opens
files, feeds chunks of whole lines and writes what the renderers return.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterator
from typing import IO

from spte.cli.common import Reporter, UsageError, add_platform_options, collector_frozen, quote, resolve
from spte.entry import FORMATS
from spte.logs import Context, LogReader, Renderer
from spte.logs.fast import FastLog
from spte.metadata.owner import Owner
from spte.platform import Platform

# Bytes of log per scan (whole lines).  A chunk's short-lived objects (the split's parts) then
# fit in memory the allocator already holds: with 256 KiB chunks each chunk mapped fresh pages
# and returned them, three times the page faults for the same work.
CHUNK = 1 << 16
# Linux printouts rarely say their release: the newest carried one names the software bits
# unless --owner says otherwise (the output names the owner it used).
DEFAULT_LINUX = "linux:6.19"
LINUX_OWNER_FORMATS = ("x86-64", "pae", "x86-32")  # the formats a Linux owner reads (spte.owners.LINUX_FORMATS)


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("trace", aliases=["log"], help="decode the page-table entries in kernel/hypervisor logs",
                       description="Read log text (dmesg, serial console, journalctl -k, tracefs 'trace', "
                                   "'trace-cmd report', quoted mail) and decode every page-table entry of the KVM, "
                                   "Linux and Xen printouts it recognises at the format and level the line "
                                   "states (see docs/logs.md). Other lines pass through untouched.")
    p.add_argument("files", nargs="*", metavar="FILE", help="log files (default: stdin; '-' is stdin)")
    add_platform_options(p)
    p.set_defaults(kvm="latest:ept-ad")
    p.add_argument("--guest-format", default="x86-64", choices=FORMATS,
                   help="format of the guest entries of KVM guest walks (kvm_mmu_paging_element)")
    p.add_argument("--linux-format", default="x86-64", choices=FORMATS,
                   help="format of the entries of Linux oops walks and bad page maps (64-bit kernels)")
    p.add_argument("--json", action="store_true", help="JSON Lines: one object per recognised value")
    p.add_argument("--summary", action="store_true",
                   help="only counts by event, level and kind (one JSON object with --json)")
    p.add_argument("--only-spte", action="store_true", help="drop lines that carry no entry")
    p.add_argument("--strict", action="store_true", help="stop at the first malformed line")
    p.set_defaults(func=run)


def _open(name: str, report: Reporter) -> IO[bytes] | None:
    try:
        return open(name, "rb")
    except OSError as e:
        report.error(name, f"cannot read ({e.strerror or e})")
        return None


def _batches(stream: IO[bytes], chunk: int) -> Iterator[list[bytes]]:
    while True:
        lines = stream.readlines(chunk)
        if not lines:
            return
        yield lines


def log_owners(args: argparse.Namespace) -> tuple[Owner | None, Owner | None]:
    """The ``--owner`` specs of Linux's entries and of Xen's."""
    from spte.owners import resolve as resolve_owner

    owners: dict[str, Owner] = {}
    for spec in [f"{DEFAULT_LINUX}:{args.linux_format}", *args.owner]:
        try:
            owner = resolve_owner(spec)
        except ValueError as e:
            raise UsageError(f"--owner {quote(spec)}: {e}") from None
        kind = owner.name.partition("-")[0]
        if kind not in ("linux", "xen"):
            raise UsageError(f"--owner {quote(spec)}: the log reader takes Linux and Xen owners here; "
                             "KVM's SPTEs follow --kvm")
        owners[kind] = owner
    return owners.get("linux"), owners.get("xen")


def auto_kvm(args: argparse.Namespace, stdin: IO[bytes] | None) -> str:
    """``--kvm auto``: the newest release of the first kernel that could have made every KVM SPTE
    in the input (a first pass over it), said on stderr with the candidates' count."""
    from spte.kvm import identify

    reader = LogReader(Context(host_format=args.format or "ept"))
    values: list[tuple[int, int]] = []
    events: set[str] = set()
    for name in args.files or ["-"]:
        stream = stdin if name == "-" else _open(name, Reporter())
        if stream is None:
            continue
        try:
            first = 1
            for lines in _batches(stream, CHUNK):
                for result in reader.scan(b"".join(lines), first):
                    events.add(result.event)
                    values += [(r.value, r.level) for r in result.records
                               if r.owner == "kvm" and r.entry and r.level is not None]
                first += len(lines)
        finally:
            if stream is not stdin:
                stream.close()
    host = {"maxphyaddr": args.maxphyaddr} if args.maxphyaddr is not None else {}
    candidates = identify(values, events, **host) if values else []
    if not candidates:
        sys.stderr.write(f"spte: --kvm auto: no release from 5.4 to 7.1 builds every one of the {len(values)} "
                         "SPTEs in the input; decoding as latest\n")
        return "latest"
    first_candidate = candidates[0]
    sys.stderr.write(f"spte: --kvm auto: {first_candidate.kvm} (Linux {first_candidate.releases[0]} to "
                     f"{first_candidate.releases[1]} {first_candidate.flavour}, the first of {len(candidates)} "
                     "candidates; spte identify lists them with evidence)\n")
    return first_candidate.kvm


def run(args: argparse.Namespace) -> int:
    stdin: IO[bytes] = sys.stdin.buffer
    if args.kvm == "auto":
        if not args.files or "-" in args.files:  # stdin is read twice: keep a copy
            import shutil
            import tempfile

            spool = tempfile.SpooledTemporaryFile(max_size=64 << 20)
            shutil.copyfileobj(sys.stdin.buffer, spool)
            spool.seek(0)
            stdin = spool
        args.kvm = auto_kvm(args, stdin)
        if stdin is not sys.stdin.buffer:
            stdin.seek(0)
    fmt, platform, prof = resolve(args, owner_option=False)
    if prof is None:
        raise UsageError("spte trace needs --kvm VERSION[:FLAVOUR]")
    # Linux and Xen values come from other machines than the KVM host: SDM defaults unless told.
    other = Platform() if args.maxphyaddr is None else Platform(maxphyaddr=args.maxphyaddr)
    ctx = Context(host_format=fmt, platform=platform, kvm=prof, guest_format=args.guest_format,
                  linux_format=args.linux_format, other_platform=other)
    if args.owner or args.linux_format not in LINUX_OWNER_FORMATS:
        ctx.linux, ctx.xen = log_owners(args)  # now: a bad spec is a usage error before any output
    else:  # the default Linux owner: resolved when a Linux printout is met (most logs have none)
        ctx.defer_owners(lambda: log_owners(args))
    render = Renderer(ctx, count=args.summary)
    report = Reporter(args.strict)
    out = sys.stdout.buffer
    with collector_frozen():  # the loop's bounded memos of readings make no reference cycles
        for name in args.files or ["-"]:
            stream = stdin if name == "-" else _open(name, report)
            if stream is None:
                continue
            source = "<stdin>" if name == "-" else name
            try:
                process(stream, source, args, LogReader(ctx), render, report, out)
            except BrokenPipeError:
                raise
            except OSError as e:
                report.error(source, f"cannot read ({e.strerror or e})")
            finally:
                if stream is not stdin:
                    stream.close()
    if args.summary:
        counts = render.summary()
        if args.json:
            out.write(json.dumps(counts).encode() + b"\n")
        else:
            text = []
            for what, counter in counts.items():
                text.append(f"by {what}:")
                text += [f"  {n:>8}  {k}" for k, n in sorted(counter.items(), key=lambda kv: -kv[1])]
            out.write(("\n".join(text) + "\n").encode())
    return report.status


def _chunks(stream: IO[bytes], size: int) -> Iterator[bytes]:
    """Whole lines, about ``size`` bytes at a time (a longer line is handed over whole)."""
    rest: list[bytes] = []
    while True:
        data = stream.read(size)
        if not data:
            if rest:
                yield b"".join(rest)
            return
        cut = data.rfind(b"\n") + 1
        if not cut:
            rest.append(data)
            continue
        if rest:
            rest.append(data[:cut])
            yield b"".join(rest)
        else:
            yield data[:cut] if cut < len(data) else data
        rest = [data[cut:]] if cut < len(data) else []


def process(stream: IO[bytes], source: str, args: argparse.Namespace, reader: LogReader, render: Renderer,
            report: Reporter, out: IO[bytes], chunk: int = CHUNK) -> None:
    """Annotate (or turn into JSON) one stream, a chunk of whole lines at a time."""
    mode = "json" if args.json else "summary" if args.summary else "only" if args.only_spte else "whole"
    fast = FastLog(reader, render, mode)
    first_line = 1
    write = not args.summary
    for blob in _chunks(stream, chunk):
        pieces, errors = fast.chunk(blob, first_line)
        for result in errors:
            assert result.error is not None
            report.error(f"{source}:{result.line}", result.error)
        if pieces and write:
            out.write(b"".join(pieces))
        first_line += fast.newlines
