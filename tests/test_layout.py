"""The package's shape, checked with the standard library's ``ast``: the core keeps its wall
and the import graph has no circles.

The core (``sizing/core``) is pure: it may import the pure standard library, pydantic,
numpy, gguf's constants, ``sizing.errors``/``sizing.units`` and itself. Only
``core/tables.py`` reads a file (the shipped YAML tables, through importlib.resources),
so it alone may import ``yaml`` and ``importlib.resources``. Imports under
``if TYPE_CHECKING:`` never run and are not counted.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "sizing"
CORE = PACKAGE / "core"

PURE_STDLIB = {
    "__future__",
    "abc",
    "array",
    "bisect",
    "collections",
    "contextlib",
    "copy",
    "dataclasses",
    "datetime",
    "decimal",
    "difflib",
    "enum",
    "fractions",
    "functools",
    "hashlib",
    "heapq",
    "itertools",
    "json",
    "math",
    "numbers",
    "operator",
    "re",
    "shlex",
    "statistics",
    "string",
    "textwrap",
    "types",
    "typing",
    "warnings",
}
THIRD_PARTY = {"pydantic", "numpy", "gguf.constants"}
OWN = {"sizing.core", "sizing.errors", "sizing.units"}
TABLES_ONLY = {"yaml", "importlib.resources"}


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _is_type_checking(node: ast.If) -> bool:
    t = node.test
    return (isinstance(t, ast.Name) and t.id == "TYPE_CHECKING") or (
        isinstance(t, ast.Attribute) and t.attr == "TYPE_CHECKING"
    )


def imports(path: Path) -> list[tuple[int, str]]:
    """(line, dotted module) for every import that runs, at any depth, relative ones resolved."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    out: list[tuple[int, str]] = []

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and _is_type_checking(node):
            for child in node.orelse:
                visit(child)
            return
        if isinstance(node, ast.Import):
            out.extend((node.lineno, a.name) for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                mod = _module_name(path)
                package = mod if path.name == "__init__.py" else mod.rpartition(".")[0]
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            for a in node.names:
                out.append((node.lineno, f"{base}.{a.name}"))
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(tree)
    return out


def _allowed_in_core(name: str, path: Path) -> bool:
    def under(prefixes: set[str]) -> bool:
        return any(name == p or name.startswith(p + ".") for p in prefixes)

    if under(PURE_STDLIB | THIRD_PARTY | OWN):
        return True
    return path == CORE / "tables.py" and under(TABLES_ONLY)


CORE_FILES = sorted(CORE.rglob("*.py"))


def test_the_core_has_modules():
    names = {_module_name(p) for p in CORE_FILES}
    assert {
        "sizing.core.arch",
        "sizing.core.placement",
        "sizing.core.memory.estimate",
        "sizing.core.speed.estimate",
        "sizing.core.solver",
    } <= names


@pytest.mark.parametrize("path", CORE_FILES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_core_imports_stay_inside_the_wall(path):
    bad = [
        f"{path.relative_to(ROOT)}:{line}: {name}" for line, name in imports(path) if not _allowed_in_core(name, path)
    ]
    assert not bad, "the core imports outside its wall:\n" + "\n".join(bad)


def test_the_wall_check_catches_what_it_forbids(tmp_path):
    """The check itself: each kind of forbidden import, written into a core-shaped file, is caught."""
    fake = CORE / "speed" / "example.py"
    forbidden = [
        "os",
        "subprocess",
        "socket",
        "pathlib",
        "streamlit",
        "huggingface_hub",
        "sizing.live.runner",
        "sizing.cli",
        "sizing.ui.services",
        "sizing.sources.hf",
        "sizing.hardware.detect",
        "yaml",
        "gguf.gguf_reader",
    ]
    for name in forbidden:
        src = tmp_path / "example.py"
        src.write_text(f"def f():\n    import {name}\n")
        ((line, found),) = imports(src)
        assert found == name and not _allowed_in_core(found, fake), name
    src.write_text("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import os\n")
    assert [n for _, n in imports(src)] == ["typing.TYPE_CHECKING"]


def import_graph() -> dict[str, set[str]]:
    """Module -> the package's modules it imports (a ``from pkg import mod`` names the module)."""
    modules = {_module_name(p): p for p in PACKAGE.rglob("*.py")}

    def owner(name: str) -> str | None:
        while name and name not in modules:
            name = name.rpartition(".")[0]
        return name or None

    graph: dict[str, set[str]] = {}
    for mod, path in modules.items():
        deps = {owner(name) for _, name in imports(path) if name.split(".")[0] == "sizing"}
        deps.discard(None)
        deps.discard(mod)
        graph[mod] = {d for d in deps if d is not None}
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = 0
    for root in graph:
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph.get(child, ())))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index[node]:
                comp = []
                while True:
                    top = stack.pop()
                    on_stack.discard(top)
                    comp.append(top)
                    if top == node:
                        break
                if len(comp) > 1:
                    found.append(sorted(comp))
    return found


def test_the_package_has_no_import_cycles():
    found = cycles(import_graph())
    assert not found, "import cycles: " + "; ".join(" <-> ".join(c) for c in found)


def test_the_cycle_check_finds_a_cycle():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_the_core_never_imports_the_adapters():
    """Arrows go down: nothing in the core imports a module outside it, but sizing.errors/units."""
    graph = import_graph()
    up = [
        f"{m} -> {d}"
        for m, deps in graph.items()
        if m.startswith("sizing.core")
        for d in deps
        if not d.startswith("sizing.core") and d not in ("sizing.errors", "sizing.units")
    ]
    assert not up, up


def test_harness_is_not_shipped():
    """The test harness lives outside the package, so the wheel does not carry it."""
    assert not (PACKAGE / "live" / "truth_cases.py").exists()
    assert not (PACKAGE / "finetune_probe.py").exists()
    for path in PACKAGE.rglob("*.py"):
        assert not [n for _, n in imports(path) if n.split(".")[0] == "harness"], path
