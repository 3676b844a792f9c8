"""The ``spte`` command line: decode, trace (log), identify, layout, alloc, encode, walk, roots.

Exit status: 0 on success, 1 if any input was bad (every valid value is still
processed), 2 for bad usage.  Errors are one line on stderr, never a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from typing import NoReturn

from spte import __version__
from spte.cli.common import InputError, UsageError

# Subcommand -> its module, in --help order.  Only the module of the command being run is
# imported (a single decode must not pay for the allocator, walker and image readers).
COMMANDS = {"decode": "decode", "trace": "trace", "log": "trace", "identify": "identify", "layout": "layout",
            "alloc": "alloc", "encode": "encode", "walk": "walk", "roots": "walk"}


class Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: {message} (see '{self.prog} --help')\n")


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The parser; with ``command``, only that subcommand's module is imported and registered."""
    parser = Parser(prog="spte", description="Bit-accurate x86 EPT/legacy/NPT page-table entries, KVM SPTE "
                                             "profiles and software-bit tags.")
    parser.add_argument("--version", action="version", version=f"spte {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)
    wanted = [COMMANDS[command]] if command in COMMANDS else COMMANDS.values()
    for name in dict.fromkeys(wanted):
        importlib.import_module(f"spte.cli.{name}").register(sub)
    return parser


def _command(argv: list[str]) -> str | None:
    """The subcommand ``argv`` names, when its first word is one (top-level options take no value)."""
    return argv[0] if argv and argv[0] in COMMANDS else None


def main(argv: list[str] | None = None) -> int:
    parser = build_parser(_command(sys.argv[1:] if argv is None else argv))
    try:
        args = parser.parse_args(argv)
        if not getattr(args, "func", None):
            parser.print_help()
            return 2
        status: int = args.func(args)
        sys.stdout.flush()
        return status
    except UsageError as e:
        sys.stderr.write(f"spte: {e}\n")
        return 2
    except InputError:
        return 1  # already reported
    except BrokenPipeError:
        # The reader went away (e.g. `| head`): stop quietly, as cat does.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 0
    except KeyboardInterrupt:
        return 130
