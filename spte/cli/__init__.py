"""The ``spte`` command line: decode, trace, layout, alloc, encode.

Exit status: 0 on success, 1 if any input was bad (every valid value is still
processed), 2 for bad usage.  Errors are one line on stderr, never a traceback.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import NoReturn

from spte import __version__
from spte.cli import alloc, decode, encode, identify, layout, trace, walk
from spte.cli.common import InputError, UsageError


class Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: {message} (see '{self.prog} --help')\n")


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(prog="spte", description="Bit-accurate x86 EPT/legacy/NPT page-table entries, KVM SPTE "
                                             "profiles and software-bit tags.")
    parser.add_argument("--version", action="version", version=f"spte {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)
    for module in (decode, trace, identify, layout, alloc, encode, walk):
        module.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
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
