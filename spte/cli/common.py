"""What every subcommand shares: platform/KVM options, value parsing, error reporting."""

from __future__ import annotations

import argparse
import os
import sys
from typing import IO, Any

from spte.entry import CLASSES, FORMATS, canonical_format
from spte.kvm import FLAVOURS, KvmProfile, profile
from spte.platform import Platform

BOOL_SWITCHES = tuple(Platform().controls())
DEFAULT_FLAVOUR = {"ept": "ept-ad", "x86-64": "shadow", "npt": "npt", "pae": "shadow", "x86-32": "shadow"}
QUOTE_MAX = 40


class UsageError(Exception):
    """Bad command-line usage: exit status 2."""


class InputError(Exception):
    """Bad input data: exit status 1."""


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
        self.stream = stream or sys.stderr

    def error(self, where: str, message: str) -> None:
        self.bad += 1
        self.stream.write(f"spte: {where}: {message}\n")
        if self.strict:
            raise InputError(f"{where}: {message}")

    @property
    def status(self) -> int:
        return 1 if self.bad else 0


def add_platform_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("entry format and platform")
    g.add_argument("--format", "-f", metavar="FMT",
                   help=f"entry format: {', '.join(FORMATS)} (default: that of the --kvm flavour, else ept)")
    g.add_argument("--maxphyaddr", "-M", type=int, metavar="N", help="MAXPHYADDR, 32..52 (default 52; "
                   "46 with --kvm)")
    g.add_argument("--vendor", choices=("intel", "amd"), help="CPU vendor (AMD reserves PML4E bit 8)")
    g.add_argument("--c-bit", type=int, metavar="N", help="SME/SEV C-bit position")
    g.add_argument("--set", action="append", default=[], metavar="SWITCH=on|off",
                   help="platform switch, e.g. ept_ad=off, nx=off, pke=on, ept_mbec=on "
                        f"(switches: {', '.join(BOOL_SWITCHES)})")
    g.add_argument("--kvm", metavar="VERSION[:FLAVOUR]",
                   help=f"decode KVM software bits as that kernel does; FLAVOUR one of {', '.join(FLAVOURS)}")
    g.add_argument("--l1tf", choices=("on", "off", "auto"), default="auto",
                   help="X86_BUG_L1TF for --kvm (auto: as the kernel decides for the vendor)")


def add_level_option(p: argparse.ArgumentParser, default: int | None = 1) -> None:
    p.add_argument("--level", "-l", type=int, default=default, metavar="1-5",
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


def resolve(args: argparse.Namespace) -> tuple[str, Platform, KvmProfile | None]:
    """The format, platform and optional KVM profile the options describe."""
    prof = None
    fmt = args.format
    if fmt is not None:
        try:
            fmt = canonical_format(fmt)
        except ValueError as e:
            raise UsageError(str(e)) from None
    if args.kvm:
        version, _, flavour = args.kvm.partition(":")
        flavour = flavour or DEFAULT_FLAVOUR[fmt or "ept"]
        kw: dict[str, Any] = {"maxphyaddr": args.maxphyaddr or 46}
        if args.l1tf != "auto":
            kw["l1tf"] = args.l1tf == "on"
        if args.c_bit is not None:
            kw["me_bit"] = args.c_bit
        try:
            prof = profile(version, flavour, **kw)
        except ValueError as e:
            raise UsageError(f"--kvm {quote(args.kvm)}: {e}") from None
        if fmt is not None and fmt != prof.format:
            raise UsageError(f"--format {fmt} does not match --kvm flavour {flavour} ({prof.format} entries)")
        fmt = prof.format
        platform = prof.platform
    else:
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


def check_level(fmt: str, level: int) -> None:
    if level not in CLASSES[fmt]:
        raise UsageError(f"--level {level}: format {fmt} has levels {', '.join(map(str, sorted(CLASSES[fmt])))}")


def use_colour(choice: str, stream: IO[str]) -> bool:
    if choice == "always":
        return True
    if choice == "never" or os.environ.get("NO_COLOR") or os.environ.get("TERM") == "dumb":
        return False
    return stream.isatty()
