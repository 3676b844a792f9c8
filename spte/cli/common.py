"""What every subcommand shares: platform/KVM options, value parsing, error reporting."""

from __future__ import annotations

import errno
import gc
import io
import os
import re
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import IO, TYPE_CHECKING, Any, BinaryIO, cast

from spte import tokens
from spte.entry import CLASSES, FORMATS, canonical_format
from spte.platform import Platform

# argparse loads only when a command line needs parsing, owners only for the commands given
# --kvm or --owner: a single decode must not pay for them.
if TYPE_CHECKING:
    import argparse

    from spte.metadata.owner import Owner

BOOL_SWITCHES = tuple(Platform().controls())
DEFAULT_FLAVOUR = {"ept": "ept-ad", "x86-64": "shadow", "npt": "npt", "pae": "shadow", "x86-32": "shadow"}
QUOTE_MAX = 40


@contextmanager
def collector_frozen() -> Iterator[None]:
    """Keep what exists now (classes, tables, bounded memos, which live as long as the command)
    out of the cyclic collector's passes while a loop runs: they would traverse it all again and
    again (a third of a trace run on values that never repeat).  Undone after, for callers that
    run a command in their own process."""
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


EXIT_OUTPUT = 3  # stdout or stderr could not be written: output is incomplete
EXIT_PIPE = 128 + 13  # the reader of stdout went away (SIGPIPE's status in a shell)
EXIT_INTERNAL = 70  # a bug (sysexits EX_SOFTWARE), told in one line


class UsageError(Exception):
    """Bad command-line usage: exit status 2."""


class InputError(Exception):
    """Bad input data: exit status 1."""


class OutputLost(Exception):
    """A write to stdout failed.  Deliberately not an ``OSError``: a reader's ``except OSError``
    (a file it cannot read) must never catch a full disk or a closed pipe on the output side."""

    def __init__(self, stream: str, error: OSError) -> None:
        self.stream = stream
        self.errno = error.errno
        self.reason = error.strerror or str(error) or type(error).__name__
        super().__init__(f"cannot write to {stream}: {self.reason}")


class Streams:
    """The process's own stdout/stderr, replaced by guarded ones while a command runs.

    (A plain class: a dataclass costs every command's start the code it generates.)"""

    __slots__ = ("guarded_err", "guarded_out", "stderr", "stderr_lost", "stdout", "stdout_lost")

    def __init__(self, stdout: IO[str] | None, stderr: IO[str] | None, guarded_out: IO[str],
                 guarded_err: IO[str]) -> None:
        self.stdout, self.stderr = stdout, stderr
        self.guarded_out, self.guarded_err = guarded_out, guarded_err
        self.stdout_lost = self.stderr_lost = False


class _Guard(io.BufferedIOBase):
    """A binary stream over a standard stream whose write errors are told as output errors.

    stdout: the first failure raises :class:`OutputLost`, later writes are dropped (the
    command is already failing).  stderr: failures are remembered and swallowed, so a
    closed or full stderr never stops valid output on stdout.
    """

    def __init__(self, inner: BinaryIO | None, name: str, streams_ref: list[Streams]) -> None:
        super().__init__()
        self.inner = inner
        self.name_ = name
        self.ref = streams_ref

    def writable(self) -> bool:
        return True

    def _fail(self, e: OSError) -> None:
        self.inner = None
        streams = self.ref[0] if self.ref else None
        if self.name_ == "stderr":
            if streams is not None:
                streams.stderr_lost = True
            return
        if streams is not None:
            if streams.stdout_lost:
                return
            streams.stdout_lost = True
        raise OutputLost(self.name_, e)

    def write(self, data: Any) -> int:
        n = len(data)
        if self.inner is None:
            lost = self.ref[0].stdout_lost if self.name_ == "stdout" and self.ref else True
            if not lost:
                self._fail(OSError(errno.EBADF, "stream is closed"))
            elif self.name_ == "stderr" and self.ref:
                self.ref[0].stderr_lost = True
            return n
        try:
            self.inner.write(data)
        except OSError as e:
            self._fail(e)
        return n

    def flush(self) -> None:
        if self.inner is None:
            return
        try:
            self.inner.flush()
        except OSError as e:
            self._fail(e)

    def isatty(self) -> bool:
        try:
            return self.inner is not None and self.inner.isatty()
        except (OSError, ValueError):
            return False

    def fileno(self) -> int:
        if self.inner is None:
            raise io.UnsupportedOperation("stream is closed")
        return self.inner.fileno()

    def close(self) -> None:  # the process's stream is not ours to close
        pass


_CURRENT: list[Streams] = []


def _wrap(stream: IO[str] | None, name: str) -> IO[str]:
    inner = getattr(stream, "buffer", None)
    guard = _Guard(inner, name, _CURRENT)
    return io.TextIOWrapper(cast(Any, guard), encoding=getattr(stream, "encoding", None) or "utf-8",
                            errors=getattr(stream, "errors", None) or "strict", newline="\n",
                            line_buffering=bool(getattr(stream, "line_buffering", False)))


def guard_streams() -> Streams | None:
    """Wrap the process's real stdout and stderr (not a test's capture) for one command."""
    if sys.stdout is not sys.__stdout__ or sys.stderr is not sys.__stderr__ or _CURRENT:
        return None
    streams = Streams(sys.stdout, sys.stderr, _wrap(sys.stdout, "stdout"), _wrap(sys.stderr, "stderr"))
    _CURRENT.append(streams)
    sys.stdout, sys.stderr = streams.guarded_out, streams.guarded_err
    return streams


def restore_streams(streams: Streams | None) -> None:
    """Flush and put back the real streams; a lost one is pointed at /dev/null so the
    interpreter's own flush at exit neither fails nor changes the exit status."""
    if streams is None:
        return
    for guarded in (streams.guarded_out, streams.guarded_err):
        try:
            guarded.flush()
        except OutputLost:
            pass
    sys.stdout, sys.stderr = streams.stdout, streams.stderr
    _CURRENT.clear()
    for lost, original, fd in ((streams.stdout_lost, streams.stdout, 1), (streams.stderr_lost, streams.stderr, 2)):
        if lost:
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, fd)
            os.close(devnull)
            if original is not None:
                try:
                    original.flush()
                except OSError:
                    pass


def warn(line: str) -> None:
    """One line on stderr; a closed or full stderr is remembered, never fatal."""
    stream = sys.stderr
    try:
        if stream is None:
            raise OSError(errno.EBADF, "stderr is closed")
        stream.write(line + "\n")
        stream.flush()
    except OSError:
        if _CURRENT:
            _CURRENT[0].stderr_lost = True


def quote(token: bytes | str) -> str:
    """A token as it can be shown in a one-line message: short, control bytes escaped."""
    text = token.decode("latin-1") if isinstance(token, bytes) else token
    short = text[:QUOTE_MAX]
    shown = "".join(c if c.isprintable() and c.isascii() and c not in "\\'" else
                    f"\\{c}" if c in "\\'" else f"\\x{ord(c):02x}" if ord(c) < 256 else f"\\u{ord(c):04x}"
                    for c in short)
    return f"'{shown}{'...' if len(text) > QUOTE_MAX else ''}'"


class Reporter:
    """Collects bad-input errors: one line each on stderr; remembers that one happened."""

    def __init__(self, strict: bool = False, stream: IO[str] | None = None) -> None:
        self.strict = strict
        self.bad = 0
        self.stream = stream

    def error(self, where: str, message: str) -> None:
        self.bad += 1
        line = f"spte: {where}: {message}"
        if self.stream is None:
            warn(line)
        else:
            self.stream.write(line + "\n")
        if self.strict:
            raise InputError(f"{where}: {message}")

    @property
    def status(self) -> int:
        return 1 if self.bad else 0


def number(text: str) -> int:
    """An option's number: the value grammar of spte.tokens, decimal unless 0x (argparse type)."""
    try:
        return tokens.parse(text, decimal=True)
    except tokens.TokenError:
        import argparse

        raise argparse.ArgumentTypeError(f"{quote(text)} is not a number (decimal, or hex with 0x)") from None


KVM_FLAVOURS = "{kvm_flavours}"  # spte.kvm.FLAVOURS, filled in by the CLI's help formatter when help is shown


def columns() -> int:
    """``shutil.get_terminal_size().columns`` without importing shutil (and its compressors)."""
    try:
        columns = int(os.environ["COLUMNS"])
    except (KeyError, ValueError):
        columns = 0
    if columns <= 0:
        try:
            columns = os.get_terminal_size(sys.__stdout__.fileno()).columns  # type: ignore[union-attr]
        except (AttributeError, ValueError, OSError):
            columns = 0
    return columns or 80


KVM_VERSION = re.compile(r"v?[0-9]+\.[0-9]+(\.[0-9]+)?|latest")


def add_platform_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("entry format and platform")
    g.add_argument("--format", "-f", metavar="FMT",
                   help=f"entry format: {', '.join(FORMATS)} (default: that of the --kvm flavour, else ept)")
    g.add_argument("--maxphyaddr", "-M", type=number, metavar="N", help="MAXPHYADDR, 32..52 (default 52; "
                   "46 with --kvm)")
    g.add_argument("--vendor", choices=("intel", "amd"), help="CPU vendor (AMD reserves PML4E bit 8)")
    g.add_argument("--c-bit", type=number, metavar="N", help="SME/SEV C-bit position")
    g.add_argument("--set", action="append", default=[], metavar="SWITCH=on|off",
                   help="platform switch, e.g. ept_ad=off, nx=off, pke=on, ept_mbec=on "
                        f"(switches: {', '.join(BOOL_SWITCHES)})")
    g.add_argument("--kvm", metavar="VERSION[:FLAVOUR]",
                   help=f"decode KVM software bits as that kernel does; FLAVOUR one of {KVM_FLAVOURS}")
    g.add_argument("--l1tf", choices=("on", "off", "auto"), default="auto",
                   help="X86_BUG_L1TF for --kvm (auto: as the kernel decides for the vendor)")
    g.add_argument("--phys-addr-reduction", type=number, metavar="N",
                   help="with --kvm and --c-bit: CPUID 0x8000001F EBX[11:6], the address bits SME takes away")
    g.add_argument("--cache-bits", type=number, metavar="N", help="with --kvm: x86_cache_bits (default: the "
                   "usable physical-address bits)")
    g.add_argument("--owner", action="append", default=[], metavar="SPEC",
                   help="the owner of the software bits: linux:6.12, xen:4.19:ept, xen:4.19:pv, kvm:6.19:ept-ad; "
                        "several joined by ',' (see docs/owners.md)")


def add_level_option(p: argparse.ArgumentParser, default: int | None = 1) -> None:
    p.add_argument("--level", "-l", type=number, default=default, metavar="1-5",
                   help="paging-structure level: 1 = PTE, 2 = PDE, 3 = PDPTE, 4 = PML4E, 5 = PML5E")


def _switch(text: str) -> tuple[str, bool]:
    name, sep, value = text.partition("=")
    name = name.strip().replace("-", "_")
    if name not in BOOL_SWITCHES:
        raise UsageError(f"--set {quote(text)}: unknown switch (known: {', '.join(BOOL_SWITCHES)})")
    if not sep:
        return name, True
    v = value.strip().lower()
    if v in ("on", "1", "true", "yes"):
        return name, True
    if v in ("off", "0", "false", "no"):
        return name, False
    raise UsageError(f"--set {quote(text)}: expected on or off")


def resolve(args: argparse.Namespace, *, owner_option: bool = True) -> tuple[str, Platform, Owner | None]:
    """The format, platform and optional owner (``--kvm`` or ``--owner``) the options describe.

    Commands that read several machines' entries (the log reader) take ``--owner`` themselves
    (``owner_option=False``).  The owner's cautions (a distribution kernel, an unread release)
    are said on stderr, one line each; :func:`assumed_host` words the host defaults taken.
    """
    if owner_option and args.owner:
        if args.kvm is not None:
            raise UsageError("give --kvm or --owner, not both (--owner kvm:VERSION:FLAVOUR,linux:... combines owners)")
        return _resolve_owner(args)
    prof = None
    fmt = format_option(args)
    if args.kvm is not None:
        version, _, flavour = args.kvm.partition(":")
        if not KVM_VERSION.fullmatch(version):
            raise UsageError(f"--kvm {quote(args.kvm)}: expected a kernel version such as 6.19, 5.8.18 or latest")
        flavour = flavour or DEFAULT_FLAVOUR[fmt or "ept"]
        kw: dict[str, Any] = {"maxphyaddr": 46 if args.maxphyaddr is None else args.maxphyaddr}
        if args.l1tf != "auto":
            kw["l1tf"] = args.l1tf == "on"
        if args.c_bit is not None:
            kw["me_bit"] = args.c_bit
        if args.phys_addr_reduction is not None:
            kw["phys_addr_reduction"] = args.phys_addr_reduction
        if args.cache_bits is not None:
            kw["cache_bits"] = args.cache_bits
        if fmt == "pae":  # a 32-bit host: PAE-format shadow or NPT tables
            kw["format"] = "pae"
        from spte.kvm import profile  # only --kvm loads KVM's profiles

        try:
            prof = profile(version, flavour, **kw)
        except ValueError as e:
            raise UsageError(f"--kvm {quote(args.kvm)}: {e}") from None
        for caution in prof.cautions:
            warn(f"spte: note: {caution}")

        if fmt is not None and fmt != prof.format:
            raise UsageError(f"--format {fmt} does not match --kvm flavour {flavour} ({prof.format} entries)")
        fmt = prof.format
        platform = prof.platform
        if args.vendor is not None and args.vendor != platform.vendor:
            # The flavour fixes the vendor (EPT is Intel's, NPT AMD's); never drop the option silently.
            raise UsageError(f"--vendor {args.vendor} does not match --kvm flavour {flavour} "
                             f"({platform.vendor} hosts)")
    else:
        if args.l1tf != "auto":
            raise UsageError(f"--l1tf {args.l1tf} applies only with --kvm")
        for option in ("phys_addr_reduction", "cache_bits"):
            if getattr(args, option) is not None:
                raise UsageError(f"--{option.replace('_', '-')} applies only with --kvm")
        fmt = fmt or "ept"
        kw = {}
        if args.maxphyaddr is not None:
            kw["maxphyaddr"] = args.maxphyaddr
        if args.vendor:
            kw["vendor"] = args.vendor
        if args.c_bit is not None:
            kw["c_bit"] = args.c_bit
        try:
            platform = Platform(**kw)
        except ValueError as e:
            raise UsageError(str(e)) from None
    changes = dict(_switch(s) for s in args.set)
    if changes:
        platform = platform.replace(**changes)
    return fmt, platform, prof


def format_option(args: argparse.Namespace) -> str | None:
    """``--format`` in its canonical spelling, or None when not given."""
    if args.format is None:
        return None
    try:
        return canonical_format(args.format)
    except ValueError as e:
        raise UsageError(str(e)) from None


def assumed_host(args: argparse.Namespace, owner: Owner | None) -> str | None:
    """The host defaults ``--kvm`` filled in, said once where a person reads the output."""
    host = getattr(owner, "host", None)
    if args.kvm is None or host is None:
        return None
    assumed = [] if args.maxphyaddr is not None else [f"MAXPHYADDR {host.maxphyaddr}"]
    if args.l1tf == "auto":
        assumed.append(f"X86_BUG_L1TF {'on' if host.l1tf else 'off'}")
    if not assumed:
        return None
    return f"spte: note: --kvm {args.kvm} assumes {' and '.join(assumed)} (give --maxphyaddr and --l1tf for your host)"


def _resolve_owner(args: argparse.Namespace) -> tuple[str, Platform, Owner | None]:
    """``--owner SPEC``: a Linux, Xen or KVM owner (several combined); its format and platform."""
    from spte.owners import resolve as resolve_owner  # only commands given --owner load the owners

    spec = ",".join(args.owner)
    try:
        owner: Owner = resolve_owner(spec)
    except ValueError as e:
        raise UsageError(f"--owner {quote(spec)}: {e}") from None
    fmt = format_option(args)
    if fmt is not None and fmt != owner.format:
        raise UsageError(f"--format {fmt} does not match --owner {spec} ({owner.format} entries)")
    for caution in getattr(owner, "cautions", ()):
        warn(f"spte: note: {caution}")
    changes: dict[str, Any] = dict(_switch(s) for s in args.set)
    if args.maxphyaddr is not None:
        changes["maxphyaddr"] = args.maxphyaddr
    if args.vendor is not None:
        changes["vendor"] = args.vendor
    if args.c_bit is not None:
        changes["c_bit"] = args.c_bit
    try:
        platform = owner.platform.replace(**changes) if changes else owner.platform
    except (ValueError, TypeError) as e:
        raise UsageError(str(e)) from None
    return owner.format, platform, owner


def check_level(fmt: str, level: int) -> None:
    if level not in CLASSES[fmt]:
        raise UsageError(f"--level {level}: format {fmt} has levels {', '.join(map(str, sorted(CLASSES[fmt])))}")


def use_colour(choice: str, stream: IO[str]) -> bool:
    if choice == "always":
        return True
    if choice == "never" or os.environ.get("NO_COLOR") or os.environ.get("TERM") == "dumb":
        return False
    return stream.isatty()
