"""The ``spte`` command line (placeholder until the CLI issue lands)."""

from __future__ import annotations

import argparse

from spte import __version__


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="spte", description="x86 SPTE toolkit")
    parser.add_argument("--version", action="version", version=f"spte {__version__}")
    parser.parse_args(argv)
    return 0
