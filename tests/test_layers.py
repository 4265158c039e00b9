"""The layers import one way: plumbing <- kernels <- data <- models <- GA engine / workflows <- CLI; and no module
imports itself back through others, lazy imports (inside functions) included."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

# layer -> the project packages its modules may import (besides themselves)
ALLOWED = {
    "evoface.core": set(),
    "evoface.kernels": {"evoface.core"},
    "fitness_data": {"evoface.core"},
    "neural": {"evoface.core", "evoface.kernels", "fitness_data"},
    "evoface.ga": {"evoface.core", "evoface.kernels"},
    "evoface": {"evoface.core", "evoface.kernels", "evoface.ga", "fitness_data", "neural"},
}
PROJECT = ("evoface", "neural", "fitness_data", "cli", "bench")


def layer_of(module: str) -> str | None:
    """The most specific layer a dotted module name belongs to."""
    matches = [layer for layer in ALLOWED if module == layer or module.startswith(layer + ".")]
    return max(matches, key=len) if matches else None


def imported_modules(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return {name for name in names if name.split(".")[0] in PROJECT}


def package_modules():
    for package in ("evoface", "neural", "fitness_data"):
        for path in sorted((ROOT / package).rglob("*.py")):
            yield ".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__"), path


@pytest.mark.parametrize("module,path", list(package_modules()), ids=lambda value: str(value))
def test_module_imports_only_lower_layers(module, path):
    layer = layer_of(module)
    allowed = ALLOWED[layer] | {layer}
    for name in imported_modules(path):
        target = layer_of(name)
        if target not in allowed:
            pytest.fail(f"{module} (layer {layer}) imports {name} (layer {target}); it may import {sorted(allowed)}")


def test_the_check_catches_an_upward_import(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text("from evoface.evolve import EvolveConfig\nimport neural.vae\n")
    assert imported_modules(bad) >= {"evoface.evolve", "neural.vae"}
    assert layer_of("evoface.evolve") == "evoface" and "evoface" not in ALLOWED["neural"]


def module_graph() -> dict[str, set[str]]:
    """Each project module -> the project modules it imports anywhere in its file (a name imported from a module
    counts as that module, unless it is a submodule)."""
    modules = dict(package_modules())
    graph = {}
    for module, path in modules.items():
        targets = set()
        for name in imported_modules(path):
            while name and name not in modules:
                name = name.rpartition(".")[0]
            if name and name != module:
                targets.add(name)
        graph[module] = targets
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """A cycle of the graph as a path that comes back to its start, or None."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for target in sorted(graph.get(node, ())):
            if state.get(target) == 1:
                return path[path.index(target):] + [target]
            if target not in state and (cycle := visit(target)):
                return cycle
        path.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


def test_no_module_imports_itself_back_lazy_imports_included():
    cycle = find_cycle(module_graph())
    assert cycle is None, " -> ".join(cycle)


def test_the_cycle_check_finds_a_lazy_cycle():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None
