#!/usr/bin/env python3
"""Mutation testing for spte, offline, standard library only (docs/testing.md).

Each mutant changes ONE line of one module under spte/: a flipped comparison, an off-by-one
or wrong-bit constant, a swapped bit/arithmetic/boolean operator, a dropped check (the test
of an ``if ...: raise`` made False), a negated condition.  Each mutant runs the tests that
import its module (plus the module's own doctests) in a private copy of the tree, with the
installed ``spte`` command pointed at that copy, under a time budget.  Snapshot tests
(tests/test_docs.py: console examples and pictures regenerated from our own output, and the
docs' doctests) are never run, so a mutant they alone would kill counts as surviving.

    python tools/mutate.py --sample 120 --seed 15             # a reproducible sample
    python tools/mutate.py --module spte/platform.py          # every mutant of one module
    python tools/mutate.py --list --module spte/bits.py       # show mutants, run nothing

Exit status 0 when the score reaches --target (default 90), 1 otherwise.
"""

from __future__ import annotations

import argparse
import ast
import json
import os
import random
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SNAPSHOT_TESTS = {"test_docs.py"}  # console examples and pictures: our own output
# The image readers' and walker's suites (real-image fixture, minutes each) run only for their modules.
WALK_TESTS = {"test_images.py", "test_roots.py", "test_walk.py"}
# Modules every layer imports: their mutants run against these tests as well as their importers'.
CORE_TESTS = ["test_entry.py", "test_formats.py", "test_golden_entries.py", "test_platform.py", "test_tokens.py"]
SKIP_DIRS = {"images", "walker"}  # large-fixture readers with their own suites (test_images/test_walk)

SWAP_CMP = {ast.Lt: "<=", ast.LtE: "<", ast.Gt: ">=", ast.GtE: ">", ast.Eq: "!=", ast.NotEq: "==",
            ast.Is: "is not", ast.IsNot: "is", ast.In: "not in", ast.NotIn: "in"}
CMP_TEXT = {ast.Lt: "<", ast.LtE: "<=", ast.Gt: ">", ast.GtE: ">=", ast.Eq: "==", ast.NotEq: "!=",
            ast.Is: "is", ast.IsNot: "is not", ast.In: "in", ast.NotIn: "not in"}
SWAP_BIN = {ast.BitAnd: ("&", "|"), ast.BitOr: ("|", "&"), ast.BitXor: ("^", "|"), ast.LShift: ("<<", ">>"),
            ast.RShift: (">>", "<<"), ast.Add: ("+", "-"), ast.Sub: ("-", "+")}


@dataclass(frozen=True)
class Mutant:
    path: str  # relative to ROOT
    line: int  # 1-based
    kind: str
    before: str
    after: str

    def ident(self) -> str:
        return f"{self.path}:{self.line}: {self.kind}: {self.before.strip()}  ->  {self.after.strip()}"


def _replace(line: str, start: int, end: int, text: str) -> str:
    return line[:start] + text + line[end:]


def _op_span(line: str, left_end: int, right_start: int, op: str) -> tuple[int, int] | None:
    """Where operator ``op`` sits between two operands on one line."""
    gap = line[left_end:right_start]
    m = re.search(r"(?<![<>=!])" + re.escape(op).replace(r"\ ", r"\s+") + r"(?![<>=])", gap)
    if m is None:
        return None
    return left_end + m.start(), left_end + m.end()


def _docstring_lines(tree: ast.AST) -> set[int]:
    out: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant) and \
                    isinstance(first.value.value, str):
                out.update(range(first.lineno, (first.end_lineno or first.lineno) + 1))
    return out


def _annotation_nodes(tree: ast.AST) -> set[int]:
    """ids of nodes inside type annotations (``int | None`` is not code to mutate)."""
    roots: list[ast.AST] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.AnnAssign):
            roots.append(node.annotation)
        elif isinstance(node, ast.arg) and node.annotation is not None:
            roots.append(node.annotation)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.returns is not None:
            roots.append(node.returns)
    return {id(n) for r in roots for n in ast.walk(r)}


def mutants_of(path: Path) -> list[Mutant]:
    rel = str(path.relative_to(ROOT))
    source = path.read_text()
    lines = source.splitlines()
    tree = ast.parse(source)
    skip = _docstring_lines(tree)
    annotations = _annotation_nodes(tree)
    out: list[Mutant] = []

    def add(lineno: int, kind: str, new: str) -> None:
        old = lines[lineno - 1]
        if new != old and lineno not in skip:
            out.append(Mutant(rel, lineno, kind, old, new))

    for node in ast.walk(tree):
        if getattr(node, "lineno", None) is None or node.lineno != getattr(node, "end_lineno", None) or \
                id(node) in annotations:
            continue
        ln = node.lineno
        line = lines[ln - 1]
        if isinstance(node, ast.Compare) and len(node.ops) == 1:
            op = type(node.ops[0])
            span = _op_span(line, node.left.end_col_offset or 0, node.comparators[0].col_offset, CMP_TEXT[op])
            if span:
                add(ln, "comparison", _replace(line, *span, SWAP_CMP[op]))
        elif isinstance(node, ast.BinOp) and type(node.op) in SWAP_BIN:
            text, new = SWAP_BIN[type(node.op)]
            span = _op_span(line, node.left.end_col_offset or 0, node.right.col_offset, text)
            if span:
                add(ln, "operator", _replace(line, *span, new))
        elif isinstance(node, ast.BoolOp):
            text, new = ("and", "or") if isinstance(node.op, ast.And) else ("or", "and")
            span = _op_span(line, node.values[0].end_col_offset or 0, node.values[1].col_offset, text)
            if span:
                add(ln, "boolean", _replace(line, span[0], span[1], new))
        elif isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
            add(ln, "negation", _replace(line, node.col_offset, node.operand.col_offset, ""))
        elif isinstance(node, ast.Constant) and type(node.value) is int and node.col_offset is not None:
            v = node.value
            seg = line[node.col_offset:node.end_col_offset]
            if seg.startswith(("0x", "0X")) and v > 1:  # a mask: one bit wrong
                low = v & -v
                add(ln, "mask", _replace(line, node.col_offset, node.end_col_offset or 0, hex(v ^ (low << 1))))
            else:
                add(ln, "constant", _replace(line, node.col_offset, node.end_col_offset or 0, str(v + 1)))
                if v > 0:
                    add(ln, "constant", _replace(line, node.col_offset, node.end_col_offset or 0, str(v - 1)))
    # Dropped checks: `if <test>: raise ...` where the test fits on the if's line.
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and node.test.lineno == node.test.end_lineno == node.lineno and \
                any(isinstance(s, ast.Raise) for s in node.body):
            line = lines[node.lineno - 1]
            add(node.lineno, "dropped check",
                _replace(line, node.test.col_offset, node.test.end_col_offset or 0, "False"))
    return sorted(set(out), key=lambda m: (m.path, m.line, m.kind, m.after))


def module_name(rel: str) -> str:
    parts = Path(rel).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


_SELECTION: dict[str, list[str]] = {}


def tests_for(rel: str) -> list[str]:
    """Test files that import the module (by name or through its package), plus the core set;
    chosen once per run, so tests added while a run goes on never confuse it."""
    if rel not in _SELECTION:
        _SELECTION[rel] = _select(rel)
    return _SELECTION[rel]


def _select(rel: str) -> list[str]:
    mod = module_name(rel)
    names = {mod}
    parent = mod.rsplit(".", 1)[0]
    if parent != "spte":
        names.add(parent)  # e.g. spte.kvm for spte.kvm.masks
    chosen = set()
    for t in sorted((ROOT / "tests").glob("test_*.py")):
        walking = mod.startswith(("spte.images", "spte.walker", "spte.cli.walk"))
        if t.name in SNAPSHOT_TESTS or (t.name in WALK_TESTS and not walking):
            continue
        text = t.read_text()
        if any(re.search(rf"\b{re.escape(n)}\b(?!\.\w)" if n == mod else rf"\b{re.escape(n)}\b", text)
               for n in names) or \
                (mod.startswith(("spte.cli", "spte.trace", "spte.render")) and re.search(r"\brun\(", text)):
            chosen.add(t.name)
    if mod in ("spte.bits", "spte.platform", "spte.entry", "spte.tokens") or mod.startswith("spte.formats"):
        chosen.update(CORE_TESTS)
    return sorted(chosen)


def all_modules(only: list[str]) -> list[Path]:
    if only:
        return [ROOT / m for m in only]
    return sorted(p for p in (ROOT / "spte").rglob("*.py") if not SKIP_DIRS & set(p.relative_to(ROOT).parts))


class Workspace:
    """A private copy of the tree whose ``spte`` command and ``import spte`` are that copy."""

    def __init__(self) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="spte-mutate-"))
        for name in ("spte", "tests", "docs", "tools", "README.md", "pyproject.toml"):
            src = ROOT / name
            if src.is_dir():
                shutil.copytree(src, self.dir / name, ignore=shutil.ignore_patterns("__pycache__"))
            elif src.exists():
                shutil.copy2(src, self.dir / name)
        bindir = self.dir / ".bin"
        bindir.mkdir()
        shim = bindir / "spte"
        shim.write_text(f"#!{sys.executable}\nimport sys\nsys.path.insert(0, {str(self.dir)!r})\n"
                        "from spte.cli import main\nraise SystemExit(main())\n")
        shim.chmod(0o755)
        self.env = {**os.environ, "PATH": f"{bindir}{os.pathsep}{os.environ.get('PATH', '')}",
                    "PYTHONPATH": str(self.dir), "CI": "1", "PYTHONDONTWRITEBYTECODE": "1"}

    def run(self, tests: list[str], module: str, timeout: float) -> tuple[str, float]:
        cmd = [sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider", "--no-header",
               "-o", "addopts=--doctest-modules", module, *[f"tests/{t}" for t in tests]]
        start = time.monotonic()
        try:
            r = subprocess.run(cmd, cwd=self.dir, env=self.env, capture_output=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            return "timeout", time.monotonic() - start
        # pytest: 0 all passed, 1 some failed, 2 interrupted (e.g. import error), 5 nothing collected
        status = {0: "survived", 1: "killed", 2: "killed", 3: "error", 4: "error", 5: "error"}[r.returncode]
        return status, time.monotonic() - start

    def apply(self, m: Mutant) -> str:
        p = self.dir / m.path
        original = p.read_text()
        lines = original.split("\n")
        assert lines[m.line - 1] == m.before, m.ident()
        lines[m.line - 1] = m.after
        p.write_text("\n".join(lines))
        return original

    def restore(self, m: Mutant, original: str) -> None:
        (self.dir / m.path).write_text(original)

    def close(self) -> None:
        shutil.rmtree(self.dir, ignore_errors=True)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--module", action="append", default=[], help="a module path (repeatable; default all)")
    ap.add_argument("--sample", type=int, help="run this many mutants drawn at random (default all)")
    ap.add_argument("--seed", type=int, default=15, help="seed of the sample (recorded in the report)")
    ap.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--factor", type=float, default=3.0, help="time budget: this times the clean run, +10 s")
    ap.add_argument("--budget", type=float, help="a fixed time budget per mutant instead of clean runs first "
                                                 "(faster; a failing clean suite then shows as all killed)")
    ap.add_argument("--target", type=float, default=90.0)
    ap.add_argument("--list", action="store_true", help="list the mutants and stop")
    ap.add_argument("--json", metavar="FILE", help="write the full report as JSON")
    ap.add_argument("--rerun", metavar="FILE", help="run again only the survivors (and errors) of an earlier "
                                                    "--json report, e.g. after adding tests; report the new score")
    args = ap.parse_args()

    mutants = [m for p in all_modules(args.module) for m in mutants_of(p)]
    total = len(mutants)
    earlier: list[dict[str, object]] = []
    if args.rerun:
        report = json.loads(Path(args.rerun).read_text())
        args.seed = report["seed"]
        again = ("survived", "error")
        earlier = [r for r in report["results"] if r["status"] not in again]
        wanted = {(r["path"], r["line"], r["kind"], r["after"]) for r in report["results"]
                  if r["status"] in again}
        mutants = [m for m in mutants if (m.path, m.line, m.kind, m.after) in wanted]
        if len(mutants) != len(wanted):
            print(f"{len(wanted) - len(mutants)} survivors no longer apply (the source changed)", file=sys.stderr)
    elif args.sample is not None and args.sample < total:
        mutants = sorted(random.Random(args.seed).sample(mutants, args.sample),
                         key=lambda m: (m.path, m.line))
    if args.list:
        for m in mutants:
            print(m.ident())
        print(f"{len(mutants)} of {total} mutants")
        return 0

    for path in {m.path for m in mutants}:
        tests_for(path)
    workspaces = [Workspace() for _ in range(max(1, args.jobs))]
    free = list(workspaces)
    lock = threading.Lock()
    budgets: dict[str, float] = {}
    results: list[dict[str, object]] = []
    try:
        # Clean runs first: each module's tests must pass unmutated, and give the time budget.
        def clean(path: str) -> tuple[str, str, float]:
            with lock:
                ws = free.pop()
            try:
                status, secs = ws.run(tests_for(path), path, timeout=1800)
            finally:
                with lock:
                    free.append(ws)
            print(f"clean {path}: {len(tests_for(path))} test files, {secs:.1f} s ({status})", flush=True)
            return path, status, secs

        paths = sorted({m.path for m in mutants})
        if args.budget is not None:
            budgets.update(dict.fromkeys(paths, args.budget))
            paths = []
        with ThreadPoolExecutor(len(workspaces)) as pool:
            for path, status, secs in pool.map(clean, paths):
                if status != "survived":
                    print(f"clean run of {path} did not pass ({status}); fix that first", file=sys.stderr)
                    return 2
                budgets[path] = secs * args.factor + 10

        def one(m: Mutant) -> dict[str, object]:
            with lock:
                ws = free.pop()
            try:
                original = ws.apply(m)
                try:
                    status, secs = ws.run(tests_for(m.path), m.path, budgets[m.path])
                finally:
                    ws.restore(m, original)
            finally:
                with lock:
                    free.append(ws)
            print(f"{status:8} {secs:6.1f}s {m.ident()}", flush=True)
            return {**asdict(m), "status": status, "seconds": round(secs, 1)}

        with ThreadPoolExecutor(len(workspaces)) as pool:
            results = earlier + list(pool.map(one, mutants))
    finally:
        for ws in workspaces:
            ws.close()

    killed = sum(r["status"] in ("killed", "timeout") for r in results)
    scored = sum(r["status"] != "error" for r in results)
    score = 100.0 * killed / scored if scored else 0.0
    print(f"\nseed {args.seed}; {len(results)} of {total} mutants run; killed {killed} of {scored} "
          f"({score:.1f} %); snapshot tests excluded: {', '.join(sorted(SNAPSHOT_TESTS))}")
    for r in results:
        if r["status"] == "survived":
            print(f"  survived: {r['path']}:{r['line']}: {r['kind']}: {str(r['after']).strip()}")
    if args.json:
        Path(args.json).write_text(json.dumps({"seed": args.seed, "total": total, "score": score,
                                               "results": results}, indent=1) + "\n")
    return 0 if score >= args.target else 1


if __name__ == "__main__":
    sys.exit(main())
