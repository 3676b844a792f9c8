"""Log-reader benchmark: ``spte log`` over a 1,000,000-line mixed log vs. a parse-and-print floor.

The log is built here from the project's golden data (tests/data): blocks of the two real
kvmmmu traces (a 6.18 shadow-paging host and a 6.1 NPT/TDP MMU host) and console blocks in
which the KVM/Linux/Xen printouts of tests/data/logs sit among ordinary kernel messages.  The
floor reads the same file the same way (a Python subprocess), finds each line's hex value
with one regex, parses it and prints the line with the value appended.  Prints the ratio
(target <= 3x) of CPU times (user + system of each child, from ``wait4``; the median over
``--repeat`` pairs of runs, the floor and ``spte log`` back to back, as ``bench/cli.py``
measures): on a shared machine wall time mostly measures the neighbours.
Run: ``python bench/logs.py [--lines N]``.
"""

from __future__ import annotations

import argparse
import gzip
import random
import sys
import tempfile
from pathlib import Path
from statistics import median

sys.path.insert(0, str(Path(__file__).resolve().parent))

from cli import compile_package, run  # children run byte-compiled, as bench/cli.py's do

DATA = Path(__file__).resolve().parent.parent / "tests" / "data"

FLOOR = r"""
import re, sys
value = re.compile(rb"(?:spte|pte|epte|PGD|=) (?:0x)?([0-9a-f]+)")
out = sys.stdout.buffer
for lines in iter(lambda: sys.stdin.buffer.readlines(1 << 18), []):
    buf = []
    for line in lines:
        m = value.search(line)
        buf.append(line if m is None else b"%s  ## %#x\n" % (line.rstrip(b"\n"), int(m.group(1), 16)))
    out.write(b"".join(buf))
"""

NOISE = ["[  12.345678] usb 1-1: new high-speed USB device number 2 using xhci_hcd\n",
         "[  12.400001] EXT4-fs (sda1): mounted filesystem with ordered data mode.\n",
         "          qemu-1234  [001] .....  1287.421530: kvm_exit: reason EPT_VIOLATION rip 0xffffffff81000000\n"]


def build(path: Path, n: int) -> None:
    with gzip.open(DATA / "traces" / "long4k.trace.gz", "rt") as fh:
        trace = [ln for ln in fh if not ln.startswith("#")]
    npt = [ln for ln in (DATA / "logs" / "npt_tdp_mmu_6.1.trace").read_text().splitlines(keepends=True)
           if not ln.startswith("#")]
    printouts = []
    for name in ("xen_walks.txt", "linux_oops.txt", "kvm_mmio_walk_sev_5.12.txt", "ept_misconfig_3.10.txt",
                 "vmcs_dumps.txt"):
        printouts.append((DATA / "logs" / name).read_text().splitlines(keepends=True))
    rng = random.Random(1)
    out, count = [], 0
    while count < n:
        pick = rng.random()
        if pick < 0.45:
            block = trace[rng.randrange(len(trace) - 100):][:100]
        elif pick < 0.9:
            block = npt[rng.randrange(len(npt) - 100):][:100]
        else:  # a console: a printout among ordinary messages
            block = NOISE * 10 + rng.choice(printouts) + NOISE * 10
        out += block
        count += len(block)
    path.write_text("".join(out[:n]))


def paired(ours: list[str], base: list[str], stdin_path: Path, repeat: int) -> tuple[float, float, float]:
    """Median CPU times of ``ours`` and of ``base``, and the median of their ratios over
    ``repeat`` pairs run back to back."""
    pairs = []
    for _ in range(repeat):
        b = run(base, stdin_path)[0]
        pairs.append((run(ours, stdin_path)[0], b))
    return median(a for a, _ in pairs), median(b for _, b in pairs), median(a / b for a, b in pairs)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--lines", type=int, default=1_000_000)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    compile_package()
    with tempfile.TemporaryDirectory() as tmp:
        log = Path(tmp) / "mixed.log"
        build(log, args.lines)
        command = [sys.executable, "-m", "spte", "log", "--kvm", "6.19:shadow", "--maxphyaddr", "48"]
        spte, floor, ratio = paired(command, [sys.executable, "-c", FLOOR], log, args.repeat)
        print(f"{args.lines} lines: floor {floor:.2f}s, spte log {spte:.2f}s (CPU time, medians)")
        print(f"spte log vs parse-and-print floor: {ratio:.2f}x (target <= 3x)")


if __name__ == "__main__":
    main()
