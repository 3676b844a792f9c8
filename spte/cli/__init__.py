"""The ``spte`` command line: decode, trace (log), identify, layout, alloc, encode, walk, roots.

Exit status: 0 on success, 1 if any input was bad (every valid value is still
processed), 2 for bad usage, 3 if output was lost (stdout or stderr full, closed
or failing), 141 if the reader of stdout went away (as a command killed by SIGPIPE),
70 for an internal error.  Errors are one line on stderr, never a traceback.

Output errors are told apart from input errors: the standard streams are wrapped so a
failed write raises :class:`~spte.cli.common.OutputLost`, which is not an ``OSError`` and
so is never mistaken by a reader's ``except OSError`` for a file it could not read.
"""

from __future__ import annotations

import errno
import importlib
import os
import sys
from functools import cache
from typing import TYPE_CHECKING, Any, NoReturn

from spte import __version__
from spte.cli.common import (
    EXIT_INTERNAL,
    EXIT_OUTPUT,
    EXIT_PIPE,
    KVM_FLAVOURS,
    InputError,
    OutputLost,
    UsageError,
    columns,
    guard_streams,
    restore_streams,
    warn,
)

if TYPE_CHECKING:  # argparse loads only when a command line needs parsing (see quick_parse)
    import argparse

# Subcommand -> its module, in --help order.  Only the module of the command being run is
# imported (a single decode must not pay for the allocator, walker and image readers).
COMMANDS = {"decode": "decode", "trace": "trace", "log": "trace", "identify": "identify", "layout": "layout",
            "alloc": "alloc", "encode": "encode", "walk": "walk", "roots": "walk"}


@cache
def parser_class() -> type[argparse.ArgumentParser]:
    """The parser class of every spte (sub)command, made when first needed."""
    import argparse

    class HelpFormatter(argparse.HelpFormatter):
        """argparse's formatter, cheap to build: argparse builds one per option it adds, so a
        single decode would import shutil (and its compressors) and the KVM tables only to
        check help strings."""

        def __init__(self, prog: str, indent_increment: int = 2, max_help_position: int = 24,
                     width: int | None = None) -> None:
            super().__init__(prog, indent_increment, max_help_position, columns() - 2 if width is None else width)

        def _get_help_string(self, action: argparse.Action) -> str | None:
            text = super()._get_help_string(action)
            if text is not None and KVM_FLAVOURS in text:
                from spte.kvm import FLAVOURS

                text = text.replace(KVM_FLAVOURS, ", ".join(FLAVOURS))
            return text

    class Parser(argparse.ArgumentParser):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            kwargs.setdefault("formatter_class", HelpFormatter)
            super().__init__(*args, **kwargs)

        def error(self, message: str) -> NoReturn:
            self.exit(2, f"{self.prog}: {message} (see '{self.prog} --help')\n")

    return Parser


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The parser; with ``command``, only that subcommand's module is imported and registered."""
    Parser = parser_class()
    parser = Parser(prog="spte", description="Bit-accurate x86 page-table entries (EPT, x86-64, NPT, PAE, "
                                             "32-bit), the software bits their owners keep (KVM, Linux, Xen), "
                                             "the logs that print them and the memory images that hold them.")
    parser.add_argument("--version", action="version", version=f"spte {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)
    wanted = [COMMANDS[command]] if command in COMMANDS else COMMANDS.values()
    for name in dict.fromkeys(wanted):
        importlib.import_module(f"spte.cli.{name}").register(sub)
    return parser


def _command(argv: list[str]) -> str | None:
    """The subcommand ``argv`` names, when its first word is one (top-level options take no value)."""
    return argv[0] if argv and argv[0] in COMMANDS else None


def quick_parse(argv: list[str]) -> argparse.Namespace | None:
    """``spte decode [VALUE...]`` with no options, parsed without argparse (which, with the parser
    it builds, is a tenth of a single decode); None for any other command line."""
    if not argv or argv[0] != "decode" or any(a.startswith("-") for a in argv[1:]):
        return None
    from spte.cli.decode import plain_args

    return plain_args(argv[1:])


def _run(argv: list[str] | None) -> int:
    words = sys.argv[1:] if argv is None else argv
    quick = quick_parse(words)
    if quick is not None:
        args = quick
    else:
        parser = build_parser(_command(words))
        try:
            args = parser.parse_args(argv)
        except SystemExit as e:  # --help, --version, usage errors: argparse chose the status
            sys.stdout.flush()
            return e.code if isinstance(e.code, int) else 2
    if not getattr(args, "func", None):
        build_parser(_command(words)).print_help()
        sys.stdout.flush()
        return 2
    status: int = args.func(args)
    sys.stdout.flush()
    return status


def main(argv: list[str] | None = None) -> int:
    streams = guard_streams()
    try:
        try:
            status = _run(argv)
        except UsageError as e:
            warn(f"spte: {e}")
            status = 2
        except InputError:
            status = 1  # already reported
        except KeyboardInterrupt:
            status = 130
        except OutputLost as e:
            if e.errno == errno.EPIPE:  # `| head`: the reader has all it wants; say nothing
                status = EXIT_PIPE
            else:
                warn(f"spte: cannot write to {e.stream} ({e.reason}); output is incomplete")
                status = EXIT_OUTPUT
        except Exception as e:
            if os.environ.get("SPTE_DEBUG"):
                raise
            warn(f"spte: internal error: {type(e).__name__}: {e} (please report it with the command line; "
                 "SPTE_DEBUG=1 shows where)")
            status = EXIT_INTERNAL
        if streams is not None and streams.stderr_lost and status == 0:
            status = EXIT_OUTPUT  # a message could not be written: never say all went well
        return status
    finally:
        restore_streams(streams)
