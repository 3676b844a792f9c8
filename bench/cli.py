"""CLI benchmark (issue 14 points 1-3 and 6): every command path against a floor it builds
itself, for three input shapes, in one run; the worst case first.

Each row runs a whole process the way a user does, reading the same file as its floor:

- decode floors: a Python script that only parses each hex value and writes it back; the
  hand-written row is a mask-and-shift EPT decoder printing the fields on one line;
- trace floor: a script that finds and parses each line's SPTE and writes the line back;
- single decode: ``python -c pass``, the cost of starting Python at all.

Inputs (bench/inputs.py): uniformly random 64-bit words (no pattern repeats: the worst
case), KVM-shaped SPTEs (a 6.19 EPT host), and the SPTE values of the project's real
kvmmmu trace (a shadow-paging host: decoded as x86-64 entries, ``--kvm 6.19:shadow``).
Trace rows put each shape's values into the real trace's lines.

Times are CPU time (user + system) of the child process from ``wait4``: on a shared machine
wall time mostly measures the neighbours.  Each row runs the floor and the command back to
back ``--repeat`` times and reports the median of the pairs' ratios (as issue 14 measured):
a neighbour that slows the machine for a while slows both runs of a pair, and one pair hit
by a burst is outvoted.  ``--memory N`` also decodes N random words (default 10M)
and compares the peak RSS (``ru_maxrss`` of the process, from a small parent) with that of
a 1/10 run: flat memory means ~1x.
``--instructions`` counts each child's instructions under valgrind's cachegrind instead: one
run of each, the same ratio every time (a ratio of work, not of time).
Run: ``python bench/cli.py [--values N] [--repeat R] [--memory N] [--instructions]``.
"""

from __future__ import annotations

import argparse
import compileall
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from statistics import median

sys.path.insert(0, str(Path(__file__).resolve().parent))

from inputs import kvm_shaped, random_words, real_trace, trace_lines

from spte.logs.fast import EVENT_FORMS, WALK_HEAD

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

# What no annotator of this design can go under: one split of each chunk at the events spte
# reads in bulk, no reading at all, and a note (plain) or a record (JSON: its line number and
# text) per event as long on average as spte's own for the same input (argv[1], measured on a
# sample of it).
SPLIT_ONLY = r"""
import re, sys
from itertools import accumulate, chain, repeat
event = re.compile(b"(" + sys.argv[3].encode() + rb"[^\n]*)")  # SPLIT_EVENT's, to the line's end
note, json = b"#" * int(sys.argv[1]), sys.argv[2] == "json"
out, read, first, rest = sys.stdout.buffer, sys.stdin.buffer.read, 1, b""

def chunk(blob):
    global first
    parts = event.split(blob)
    if json:  # per event its line number, then the note
        numbers = accumulate(map(bytes.count, parts[0:-1:2], repeat(b"\n")), initial=first)
        next(numbers)
        out.write(b"".join(chain.from_iterable(zip(map(b'{"line": %d'.__mod__, numbers), repeat(note)))))
    else:  # the text, the note after each event
        out.write(b"".join(chain(chain.from_iterable(zip(parts[0::2], parts[1::2], repeat(note))), parts[-1:])))
    first += blob.count(b"\n")

while data := read(65536):  # whole lines, as spte trace reads them (trace.CHUNK)
    cut = data.rfind(b"\n") + 1
    chunk(rest + data[:cut])
    rest = data[cut:]
chunk(rest)
"""
# The events spte trace reads in bulk (spte.logs.fast), up to their arguments.
SPLIT_EVENT = re.compile(b": (?:" + b"|".join(re.escape(name) for name in (*EVENT_FORMS, WALK_HEAD[2:].split()[0]))
                         + b") ")


def note_length(spte: list[str], path: Path, lines: int = 50_000) -> int:
    """The mean bytes the ``spte`` command adds per event (SPLIT_ONLY's events) on the first
    ``lines`` of ``path`` (the inputs repeat one real trace's lines), beyond what SPLIT_ONLY
    writes itself: the input back (plain), each event's ``{"line": N`` (JSON)."""
    with open(path, "rb") as fh:
        sample = [fh.readline() for _ in range(lines)]
    numbered = [n for n, line in enumerate(sample, 1) if SPLIT_EVENT.search(line)]
    text = b"".join(sample)
    written = subprocess.run(spte, input=text, capture_output=True, env=CHILD_ENV, cwd=tempfile.gettempdir()).stdout
    kept = sum(len(b'{"line": %d' % n) for n in numbered) if "--json" in spte else len(text)
    return max((len(written) - kept) // max(len(numbered), 1), 0)


# Peak RSS of a command, measured by a small parent: a child forked from this (large) process
# would report this process's pages as its own high-water mark.
PEAK_RSS = r"""
import resource, subprocess, sys
with open(sys.argv[1], "rb") as fh:
    subprocess.run(sys.argv[2:], stdin=fh, stdout=subprocess.DEVNULL, check=True)
print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
"""


def peak_rss(cmd: list[str], stdin_path: Path) -> int:
    """Peak RSS (KiB) of ``cmd`` reading ``stdin_path``."""
    out = subprocess.run([sys.executable, "-c", PEAK_RSS, str(stdin_path), *cmd], capture_output=True, text=True,
                         check=True).stdout
    return int(out)


def run(cmd: list[str], stdin_path: Path | None, pythonpath: str | None = None) -> tuple[float, int]:
    """(CPU seconds, peak RSS in KiB) of one child process (the RSS is only right from a small parent)."""
    env = dict(CHILD_ENV, PYTHONPATH=pythonpath) if pythonpath else CHILD_ENV
    with open(stdin_path or os.devnull, "rb") as fh:
        # Run away from the checkout: ``python -m`` puts the working directory first on sys.path.
        p = subprocess.Popen(cmd, stdin=fh, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env,
                             cwd=tempfile.gettempdir())
        _, status, usage = os.wait4(p.pid, 0)
    if os.waitstatus_to_exitcode(status) not in (0, 1):
        raise SystemExit(f"benchmark command failed: {' '.join(cmd)}")
    return usage.ru_utime + usage.ru_stime, usage.ru_maxrss


# Children run as an installed package does: from byte-compiled modules.  An environment that
# sets PYTHONDONTWRITEBYTECODE would make every child compile spte from source (about 2x a
# single decode), so the children's environment drops it and main() compiles the package first.
CHILD_ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}


def compile_package(where: str | None = None) -> None:
    """Byte-compile the spte package the children import (or the one in ``where``)."""
    if where is None:
        import spte

        where = str(Path(spte.__file__).resolve().parent.parent)
    compileall.compile_dir(str(Path(where) / "spte"), quiet=1)


BEFORE: str | None = None  # --before DIR: also time the package found in DIR (e.g. an older checkout)
INSTRUCTIONS = False  # --instructions: count instructions under cachegrind instead of timing


def instructions(cmd: list[str], stdin_path: Path | None, pythonpath: str | None = None) -> int:
    """The instructions one child process executes (cachegrind's "I refs"): the same on every
    run whatever the neighbours do, with hash randomisation fixed so that sets and dicts probe
    alike.  Not the time: a streaming loop and a pointer chase of the same count differ."""
    env = dict(CHILD_ENV, PYTHONHASHSEED="0", **({"PYTHONPATH": pythonpath} if pythonpath else {}))
    with open(stdin_path or os.devnull, "rb") as fh:
        p = subprocess.run(["valgrind", "--tool=cachegrind", "--cache-sim=no", "--cachegrind-out-file=/dev/null",
                            *cmd], stdin=fh, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env,
                           cwd=tempfile.gettempdir())
    counted = re.search(rb"I\s+refs:\s+([\d,]+)", p.stderr)
    if p.returncode not in (0, 1) or counted is None:
        raise SystemExit(f"benchmark command failed under cachegrind: {' '.join(cmd)}")
    return int(counted[1].replace(b",", b""))


def paired(ours: list[str], base: list[str], stdin: Path | None, repeat: int) -> tuple[float, float | None]:
    """The median over ``repeat`` back-to-back pairs of CPU time of ``ours`` over ``base``; with
    BEFORE, also that of the same command run on that tree's package (None otherwise).  With
    INSTRUCTIONS, the ratios of one count of each (they do not vary)."""
    if INSTRUCTIONS:
        counted = instructions(base, stdin)
        return instructions(ours, stdin) / counted, (instructions(ours, stdin, BEFORE) / counted if BEFORE else None)
    ratios, befores = [], []
    for _ in range(repeat):
        b = run(base, stdin)[0]
        ratios.append(run(ours, stdin)[0] / b)
        if BEFORE:
            befores.append(run(ours, stdin, BEFORE)[0] / b)
    return median(ratios), (median(befores) if BEFORE else None)


def write_values(path: Path, values: list[int]) -> Path:
    path.write_text("".join(f"{v:x}\n" for v in values))
    return path


def write_trace(path: Path, values: list[int], n: int) -> Path:
    """The real trace's lines, repeated to ``n`` lines, each SPTE replaced by the next of ``values``."""
    sample = trace_lines()
    it = iter(values * (1 + n // max(len(values), 1)))
    spte = re.compile(rb"spte ([0-9a-f]+)")
    with open(path, "wb") as fh:
        for i in range(n):
            line = sample[i % len(sample)]
            fh.write(spte.sub(lambda _m: b"spte %x" % next(it), line) if values else line)
    return path


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--values", type=int, default=1_000_000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--memory", type=int, default=10_000_000, help="values for the memory row (0: skip)")
    ap.add_argument("--before", metavar="DIR", help="also time the spte package in DIR (an older checkout)")
    ap.add_argument("--only", metavar="REGEX", help="measure only the rows whose name matches (e.g. 'trace')")
    ap.add_argument("--instructions", action="store_true",
                    help="ratios of instruction counts under valgrind's cachegrind instead of CPU time "
                         "(noise-free, about 50 times slower: use --values 200000)")
    args = ap.parse_args()
    global BEFORE, INSTRUCTIONS
    BEFORE, INSTRUCTIONS = args.before, args.instructions
    if INSTRUCTIONS and shutil.which("valgrind") is None:
        raise SystemExit("bench/cli.py: --instructions needs valgrind (cachegrind) on PATH")
    compile_package()
    if BEFORE:
        compile_package(BEFORE)
    n = args.values
    py = [sys.executable, "-c"]
    spte = [sys.executable, "-m", "spte"]
    rows: list[tuple[str, str, float, float | None, float | None]] = []  # (row, input, ratio, target, before)

    only = re.compile(args.only) if args.only else None

    def wanted(name: str) -> bool:
        return only is None or only.search(name) is not None

    def row(name: str, shape: str, ours: list[str], base: list[str], stdin: Path | None, target: float | None,
            repeat: int = args.repeat) -> None:
        if not wanted(name):
            return
        ratio, before = paired(ours, base, stdin, repeat)
        record(name, shape, ratio, target, before)

    def record(name: str, shape: str, ratio: float, target: float | None, before: float | None = None) -> None:
        rows.append((name, shape, ratio, target, before))
        print(f"  measured {name} [{shape}]: {ratio:.2f}x", file=sys.stderr, flush=True)

    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        inputs = {"random": write_values(tmp / "random.txt", random_words(n)),
                  "kvm-shaped": write_values(tmp / "kvm.txt", kvm_shaped(n)),
                  "real-trace": write_values(tmp / "real.txt", real_trace(n))}
        small = max(n // 20, 1000)  # the readable view prints ~12 lines per value
        view_inputs = {"random": write_values(tmp / "random-s.txt", random_words(small)),
                       "kvm-shaped": write_values(tmp / "kvm-s.txt", kvm_shaped(small)),
                       "real-trace": write_values(tmp / "real-s.txt", real_trace(small))}
        # Per shape: the format and owner the values come from (random words: the defaults).
        fmt = {"random": ["-f", "ept"], "kvm-shaped": ["-f", "ept"], "real-trace": ["-f", "x86-64"]}
        kvm = {"random": "6.19:ept-ad", "kvm-shaped": "6.19:ept-ad", "real-trace": "6.19:shadow"}
        floor = [*py, FLOOR]
        line_targets = {"random": 1.5, "kvm-shaped": 1.2, "real-trace": 1.2}
        for shape, path in inputs.items():
            row("decode --line vs floor", shape,
                [*spte, "decode", *fmt[shape], "--line"], floor, path, line_targets[shape])
            row("decode --json vs floor", shape,
                [*spte, "decode", *fmt[shape], "--json"], floor, path, 2.5)
            row("decode --kvm --line vs floor", shape,
                [*spte, "decode", "--kvm", kvm[shape], "--line"], floor, path,
                4.0 if shape == "random" else 2.0)
        row("decode --line vs hand-written EPT decoder", "kvm-shaped",
            [*spte, "decode", "--line"], [*py, HAND], inputs["kvm-shaped"], 1.0)
        for shape, path in view_inputs.items():
            row("decode (readable view) vs floor", shape,
                [*spte, "decode", *fmt[shape], "--color", "never"], floor, path, 15.0)
        traces = {"random": write_trace(tmp / "t-random.txt", random_words(n), n),
                  "kvm-shaped": write_trace(tmp / "t-kvm.txt", kvm_shaped(n), n),
                  "real-trace": write_trace(tmp / "t-real.txt", [], n)}
        tfloor = [*py, TRACE_FLOOR]
        for shape, path in traces.items():
            for style in ([], ["--json"]):
                name = f"trace {' '.join(style) or '(plain)'}"
                cmd = [*spte, "trace", "--kvm", "6.19:shadow", "-M", "48", *style]
                row(f"{name} vs trace floor", shape, cmd, tfloor, path, 2.0)
                if wanted(f"{name}, split and join only"):  # no target: what the design cannot go under
                    bound = [*py, SPLIT_ONLY, str(note_length(cmd, path)), "json" if style else "text",
                             SPLIT_EVENT.pattern.decode()]
                    row(f"{name}, split and join only vs trace floor", shape, bound, tfloor, path, None)
        row("single `spte decode VALUE` vs `python -c pass`", "one value",
            [*spte, "decode", "0x8600000001234b77"], [*py, "pass"], None, 2.0, repeat=max(args.repeat * 5, 10))
        if args.memory and wanted("peak RSS"):
            big = write_values(tmp / "big.txt", random_words(args.memory, seed=9))
            tenth = write_values(tmp / "tenth.txt", random_words(args.memory // 10, seed=9))
            for style in (["--line"], ["--json"]):
                whole, part = peak_rss([*spte, "decode", *style], big), peak_rss([*spte, "decode", *style], tenth)
                record(f"peak RSS, decode {style[0]}: {args.memory:,} values ({whole // 1024} MiB) vs "
                       f"{args.memory // 10:,}", "random", whole / part, 1.1)
    rows.sort(key=lambda r: -(r[2] / r[3]) if r[3] else 0)
    before = f"{'before':>7}" if BEFORE else ""
    measure = ("instructions (cachegrind); the targets are of CPU time" if INSTRUCTIONS
               else f"CPU time, median of {args.repeat} pairs")
    print(f"spte CLI benchmark ({n:,} values, {measure}; "
          f"Python {sys.version.split()[0]}, {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}); "
          "worst first")
    print(f"{'row':58} {'input':11} {'ratio':>7} {'target':>7} {before}")
    for name, shape, ratio, target, was in rows:
        flag = "" if target is None or ratio <= target else "  MISSED"
        then = f" {was:6.2f}x" if was is not None else (" " * 8 if BEFORE else "")
        aim = f"{target:6.1f}x" if target is not None else f"{'bound':>7}"
        print(f"{name:58} {shape:11} {ratio:6.2f}x {aim}{then}{flag}")


if __name__ == "__main__":
    main()
