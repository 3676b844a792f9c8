"""Regenerate docs/pictures/*.svg with ``spte layout --svg`` (one per format, level and kind,
plus each KVM profile's software bits).  Run: ``python tools/make_pictures.py [OUTDIR]``.
tests/test_docs.py checks that the checked-in pictures are current."""

from __future__ import annotations

import sys
from pathlib import Path

from spte.cli import main as spte_main
from spte.entry import CLASSES
from spte.kvm import FLAVOURS

# One release on each side of the big changes: the 5.8 MMIO encoding, MMU_PRESENT (5.13),
# the 6.x masks, and SHADOW_NONPRESENT_VALUE with software A/D (6.13+).
PICTURE_VERSIONS = ("5.8", "5.13", "6.1", "6.6", "6.19")
OWNER_PICTURES = (
    ("linux:6.12", "present_leaf"), ("linux:6.12", "not_present"), ("linux:6.12:swap", "not_present"),
    ("linux:4.14", "not_present"), ("linux:6.12:pae", "not_present"), ("linux:6.12:x86-32", "not_present"),
    ("xen:4.19:ept", "present_leaf"), ("xen:4.19:ept", "not_present"), ("xen:4.20:ept", "present_leaf"),
    ("xen:4.19:pv", "present_leaf"),
)

DEFAULT_OUT = Path(__file__).resolve().parent.parent / "docs" / "pictures"


def pictures() -> list[tuple[str, list[str]]]:
    """(file name, spte layout arguments) for every picture."""
    out = []
    for fmt, levels in CLASSES.items():
        for level, (_table, large) in levels.items():
            out.append((f"{fmt}-l{level}.svg", ["-f", fmt, "-l", str(level)]))
            if large is not None:
                out.append((f"{fmt}-l{level}-large.svg", ["-f", fmt, "-l", str(level), "--large"]))
    for version in PICTURE_VERSIONS:
        for flavour in FLAVOURS:
            for state in ("present_leaf", "not_present", "fault"):
                out.append((f"kvm-{version}-{flavour}-{state.replace('_', '-')}.svg",
                            ["--kvm", f"{version}:{flavour}", "-l", "1", "--state", state]))
    # Other owners' software bits (docs/owners.md).
    for spec, state in OWNER_PICTURES:
        name = f"{spec.replace(':', '-')}-{state.replace('_', '-')}.svg"
        out.append((name, ["--owner", spec, "-l", "1", "--state", state]))
    return out


def main(argv: list[str]) -> int:
    outdir = Path(argv[0]) if argv else DEFAULT_OUT
    outdir.mkdir(parents=True, exist_ok=True)
    for name, args in pictures():
        status = spte_main(["layout", *args, "--maxphyaddr", "46", "--svg", str(outdir / name)])
        if status:
            return status
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
