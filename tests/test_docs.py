"""The docs stay true: console examples run, every public name and CLI option is documented,
the pictures are current, and every kernel profile is listed with its source.

Python examples in README.md and docs/*.md run as doctests (pytest --doctest-glob).
``SPTE_UPDATE_DOCS=1 pytest tests/test_docs.py`` rewrites the console outputs after a
deliberate change of output format.
"""

from __future__ import annotations

import argparse
import filecmp
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

import spte
import spte.kvm
import spte.metadata
import spte.owners
from spte.cli import build_parser
from tests.conftest import ROOT

DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
BLOCK = re.compile(r"```console\n(.*?)```", re.S)


def console_examples(text: str) -> list[tuple[str, str]]:
    """(command, expected output) for every ``$ command`` in ```console blocks."""
    out = []
    for block in BLOCK.findall(text):
        parts = re.split(r"^\$ ", block, flags=re.M)
        for part in parts[1:]:
            command, _, expected = part.partition("\n")
            out.append((command, expected))
    return out


def run_shell(command: str) -> str:
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}", NO_COLOR="1")
    r = subprocess.run(["bash", "-c", command], cwd=ROOT, capture_output=True, text=True, env=env, timeout=60)
    return r.stdout + r.stderr


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: p.name)
def test_console_examples_run(doc):
    text = doc.read_text()
    examples = console_examples(text)
    if os.environ.get("SPTE_UPDATE_DOCS"):
        def fill(block: re.Match[str]) -> str:
            body = "".join(f"$ {cmd}\n{run_shell(cmd)}" for cmd, _ in console_examples(block.group(0) + "\n"))
            return f"```console\n{body}```"
        doc.write_text(BLOCK.sub(lambda m: fill(m), text))
        return
    for command, expected in examples:
        assert run_shell(command) == expected, f"{doc.name}: $ {command}"


def test_public_names_are_documented():
    text = (ROOT / "docs" / "library.md").read_text()
    names = {*spte.__all__, *spte.kvm.__all__, *spte.metadata.__all__, *spte.owners.__all__}
    names |= {n for n in dir(spte.kvm.profile("6.19", "ept-ad")) if not n.startswith("_")}
    names |= {n for n in dir(spte.kvm.profile("5.8", "ept-ad")) if not n.startswith("_")}
    missing = sorted(n for n in names if f"`{n}" not in text and n != "__version__")
    assert not missing, f"undocumented public names: {missing}"


def _options(parser: argparse.ArgumentParser) -> list[tuple[str, str]]:
    """(command, long option) for every subcommand option; ("", name) for the subcommands."""
    found = []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            seen: set[int] = set()
            for name, sub in action.choices.items():
                if id(sub) in seen:
                    continue  # an alias (spte log = spte trace) is documented with its command
                seen.add(id(sub))
                found.append(("", name))
                found += [(name, o) for a in sub._actions for o in a.option_strings if o.startswith("--")]
    return found


def test_every_cli_option_is_documented():
    text = (ROOT / "docs" / "cli.md").read_text()
    sections = {m.group(1): m.start() for m in re.finditer(r"^## `spte (\w+)`", text, re.M)}
    shared = text[: min(sections.values(), default=len(text))]
    missing = []
    for command, option in _options(build_parser()):
        if not command:
            if option not in sections:
                missing.append(f"spte {option}")
            continue
        start = sections.get(command, 0)
        section = text[start:min([p for p in sections.values() if p > start], default=len(text))]
        if option != "--help" and f"`{option}" not in section and f"`{option}" not in shared:
            missing.append(f"spte {command} {option}")
    assert not missing, f"undocumented: {missing}"


def test_pictures_are_current(tmp_path):
    sys.path.insert(0, str(ROOT / "tools"))
    try:
        import make_pictures
    finally:
        sys.path.pop(0)
    assert make_pictures.main([str(tmp_path)]) == 0
    made = sorted(p.name for p in tmp_path.iterdir())
    checked_in = sorted(p.name for p in (ROOT / "docs" / "pictures").glob("*.svg"))
    assert made == checked_in, "run: python tools/make_pictures.py"
    _, mismatch, errors = filecmp.cmpfiles(tmp_path, ROOT / "docs" / "pictures", made, shallow=False)
    assert not mismatch and not errors, f"stale pictures {mismatch}: run python tools/make_pictures.py"
    gallery = (ROOT / "docs" / "pictures.md").read_text()
    assert all(name in gallery for name in made)


def test_every_profile_is_documented_with_its_source():
    text = (ROOT / "docs" / "profiles.md").read_text()
    for version in spte.kvm.VERSIONS:
        assert f"### Linux {version}" in text
        spec = spte.kvm.profile(version, "ept-ad").spec
        assert spec.source.split(" ")[0] in text, version
    for flavour in spte.kvm.FLAVOURS:
        assert f"`{flavour}`" in text
