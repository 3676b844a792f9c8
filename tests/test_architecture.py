"""docs/architecture.md stays true: data flows one way, no import cycles, no private names
across modules, and the derived views agree with the tables they derive from."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from spte.bits import Role
from spte.entry import ALL_CLASSES
from spte.formats import ept
from spte.metadata.states import KINDS
from spte.platform import Platform
from spte.render.text import KIND_MARK
from tests.conftest import ROOT

PACKAGE = ROOT / "spte"

# Layers, lowest first (docs/architecture.md): a module may import only its own layer or lower.
LAYERS = [
    ("spte.platform", "spte.bits", "spte.versions", "spte.tokens", "spte.memo"),
    ("spte.formats",),
    ("spte.entry",),
    ("spte.metadata",),
    ("spte.kvm", "spte.owners"),
    ("spte.trace", "spte.logs", "spte.images", "spte.walker"),
    ("spte.render",),
    ("spte.cli", "spte.__main__"),
]


def layer(module: str) -> int:
    for i, prefixes in enumerate(LAYERS):
        if any(module == p or module.startswith(p + ".") for p in prefixes):
            return i
    raise AssertionError(f"module {module} is in no layer of docs/architecture.md")


def module_files() -> dict[str, Path]:
    out = {}
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(ROOT).with_suffix("").parts
        out[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return out


MODULE_FILES = module_files()


def imports(tree: ast.Module) -> list[tuple[str, list[str], bool]]:
    """(module, names, lazy) for every import of an spte module; lazy = inside a function."""
    lazy_nodes = {id(n) for f in ast.walk(tree) if isinstance(f, (ast.FunctionDef, ast.AsyncFunctionDef))
                  for n in ast.walk(f)}
    # Imports for type checkers only never run: they make no cycle.
    typing_only = {id(n) for f in ast.walk(tree) if isinstance(f, ast.If) and isinstance(f.test, ast.Name)
                   and f.test.id == "TYPE_CHECKING" for n in ast.walk(f)}
    out = []
    for node in ast.walk(tree):
        if id(node) in typing_only:
            continue
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("spte"):
            names = [a.name for a in node.names]
            submodules = [f"{node.module}.{n}" for n in names if f"{node.module}.{n}" in MODULE_FILES]
            out += [(m, [], id(node) in lazy_nodes) for m in submodules]  # `from spte.kvm import masks`
            if len(submodules) < len(names):
                out.append((node.module, [n for n in names if f"{node.module}.{n}" not in MODULE_FILES],
                            id(node) in lazy_nodes))
        elif isinstance(node, ast.Import):
            out += [(a.name, [], id(node) in lazy_nodes) for a in node.names if a.name.startswith("spte")]
    return out


MODULES = {name: ast.parse(path.read_text()) for name, path in MODULE_FILES.items()}


@pytest.mark.parametrize("name", sorted(n for n in MODULES if n != "spte"))
def test_imports_flow_one_way(name: str) -> None:
    """formats -> entries -> metadata/owners -> readers -> renderers -> CLI, never back."""
    for target, _names, _lazy in imports(MODULES[name]):
        if target == "spte":
            continue  # the package facade: only its version string is read
        assert layer(target) <= layer(name), f"{name} imports {target}, a higher layer"


@pytest.mark.parametrize("name", sorted(MODULES))
def test_no_private_names_across_modules(name: str) -> None:
    for target, names, _lazy in imports(MODULES[name]):
        private = [n for n in names if n.startswith("_") and not n.endswith("__")]
        assert not private, f"{name} imports private {private} from {target}"


def test_no_import_cycles() -> None:
    graph = {name: {t for t, _, _ in imports(tree) if t in MODULES and t != name} for name, tree in MODULES.items()}
    graph.pop("spte")
    state: dict[str, int] = {}

    def visit(node: str, path: list[str]) -> None:
        state[node] = 1
        for nxt in graph.get(node, ()):
            if state.get(nxt) == 1:
                raise AssertionError(" -> ".join([*path, node, nxt]))
            if nxt not in state:
                visit(nxt, [*path, node])
        state[node] = 2

    for node in graph:
        if node not in state:
            visit(node, [])


def test_bit_kind_legend_covers_every_kind() -> None:
    assert set(KIND_MARK) == set(KINDS)


@pytest.mark.parametrize("cls", ALL_CLASSES, ids=lambda c: c.__name__)
def test_attributes_are_where_the_sdm_puts_them(cls: type) -> None:
    """Presence: legacy P (bit 0); EPT R/W/X (2:0), plus bit 10 with MBEC (SDM 29.3.2).
    PS (bit 7) selects the large form where one exists.  Only EPT reads a bit (63) when
    not present, and only while #VE may be enabled."""
    for platform in (Platform(), Platform(ept_mbec=True, ept_ve=False)):
        layout = cls.layout(platform)
        if cls.FORMAT == "ept":
            assert layout.present_mask == (0x407 if platform.ept_mbec else 0x7)
            assert layout.not_present_read_mask == (1 << 63 if platform.ept_ve else 0)
        else:
            assert (layout.present_mask, layout.not_present_read_mask) == (1, 0)
        assert layout.page_size_mask in (0, 1 << 7)
        assert all(f.role is Role.ADDRESS for f in layout.fields if f.pa_lo is not None)


def test_the_ept_fault_rule_is_write_without_read() -> None:
    """KVM's EPT MMIO SPTEs rely on W=1, R=0 (VMX_EPT_MISCONFIG_WX_VALUE = 0x6)."""
    assert ept.FAULT_RULE.kind == "write_without_read" and ept.FAULT_RULE.fields == ("read", "write")
