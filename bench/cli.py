"""CLI benchmark: ``spte decode --line/--json`` and ``spte trace`` vs. baselines, in one run.

Baselines are generated here and run the same way (a Python subprocess reading the same
file): a *floor* that only parses each value and writes it back, and a *hand-written*
mask-and-shift decoder that prints the EPT fields on one line.  The trace floor finds and
parses each line's SPTE and writes the line back.  Prints ratios; absolute times on a
shared machine mean little.  Run: ``python bench/cli.py [--values N]``.
"""

from __future__ import annotations

import argparse
import gzip
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

FLOOR = r"""
import sys
out = sys.stdout
for lines in iter(lambda: sys.stdin.buffer.readlines(65536), []):
    out.write("".join(f"{int(tok, 16):#x}\n" for line in lines for tok in line.split()))
"""

HAND = r"""
import sys
out = sys.stdout
MT = {0: "UC", 1: "WC", 4: "WT", 5: "WP", 6: "WB"}
for lines in iter(lambda: sys.stdin.buffer.readlines(65536), []):
    buf = []
    for line in lines:
        for tok in line.split():
            v = int(tok, 16)
            buf.append(f"{v:#018x} r={v & 1} w={v >> 1 & 1} x={v >> 2 & 1} mt={MT.get(v >> 3 & 7, '?')} "
                       f"ipat={v >> 6 & 1} a={v >> 8 & 1} d={v >> 9 & 1} xu={v >> 10 & 1} "
                       f"pfn={v >> 12 & 0xffffffffff:#x} sve={v >> 63}\n")
    out.write("".join(buf))
"""

TRACE_FLOOR = r"""
import re, sys
spte = re.compile(rb"spte ([0-9a-f]+)")
out = sys.stdout.buffer
for lines in iter(lambda: sys.stdin.buffer.readlines(65536), []):
    for line in lines:
        m = spte.search(line)
        if m:
            int(m.group(1), 16)
    out.write(b"".join(lines))
"""


def timed(cmd: list[str], stdin_path: Path, repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        with open(stdin_path, "rb") as fh:
            t0 = time.perf_counter()
            subprocess.run(cmd, stdin=fh, stdout=subprocess.DEVNULL, check=True)
            best = min(best, time.perf_counter() - t0)
    return best


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--values", type=int, default=1_000_000)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    rng = random.Random(1)
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        values = tmp / "values.txt"
        # SPTEs as a 6.19 EPT host writes them (kvm-spte-bits.md section 1c): leaves with random
        # pfns (writable, read-only, access-tracked), non-leaf entries, the empty
        # SHADOW_NONPRESENT_VALUE, MMIO SPTEs with random gfns.  Random 64-bit words, which
        # never repeat a flag pattern, are measured separately as the worst case.
        kinds = [0x8600000000000B77, 0x8000000000000B75, 0x8750000000000A70, 0x8000000000000907,
                 0x8000000000000000, 0x0000000000000000]
        with open(values, "w") as fh:
            for i in range(args.values):
                if i % 50 == 1:
                    v = 0x12300000FEB0022E | rng.getrandbits(22) << 12
                else:
                    base = kinds[i % len(kinds)]
                    v = base | rng.getrandbits(34) << 12 if base >> 8 & 0xFF else base
                fh.write(f"{v:x}\n")
        random_values = tmp / "random.txt"
        with open(random_values, "w") as fh:
            fh.writelines(f"{rng.getrandbits(64):x}\n" for _ in range(args.values // 10))
        trace = tmp / "trace.txt"
        # A real kvmmmu trace (tests/data/README.md), repeated to the size asked for.
        real = Path(__file__).resolve().parents[1] / "tests/data/traces/long4k.trace.gz"
        sample = gzip.decompress(real.read_bytes()).splitlines(keepends=True)
        with open(trace, "wb") as fh:
            n = 0
            while n < args.values:
                chunk = sample[: args.values - n]
                fh.writelines(chunk)
                n += len(chunk)
        py = [sys.executable, "-c"]
        spte = [sys.executable, "-m", "spte"]
        env_note = f"{args.values:,} values, best of {args.repeat}"
        floor = timed([*py, FLOOR], values, args.repeat)
        hand = timed([*py, HAND], values, args.repeat)
        line = timed([*spte, "decode", "--line"], values, args.repeat)
        js = timed([*spte, "decode", "--json"], values, args.repeat)
        rfloor = timed([*py, FLOOR], random_values, args.repeat)
        rline = timed([*spte, "decode", "--line"], random_values, args.repeat)
        tfloor = timed([*py, TRACE_FLOOR], trace, args.repeat)
        tr = timed([*spte, "trace", "--kvm", "6.19:shadow", "-M", "48"], trace, args.repeat)
    print(f"spte CLI benchmark ({env_note}; Python {sys.version.split()[0]}, {os.cpu_count()} CPUs)")
    print(f"decode --line vs hand-written decoder: {line / hand:.2f}x (target <= 1.0x)")
    print(f"decode --line vs floor:                {line / floor:.2f}x (target <= 2x)")
    print(f"decode --json vs floor:                {js / floor:.2f}x (target <= 4x)")
    print(f"trace vs trace floor:                  {tr / tfloor:.2f}x (target <= 3x)")
    print(f"worst case, random 64-bit words (no pattern repeats), decode --line vs floor: {rline / rfloor:.2f}x")


if __name__ == "__main__":
    main()
