"""The layers import one way, messages <- supervisor <- actors <- desk, with no import hidden in a function."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LAYERS = ("messages", "supervisor", "actors", "desk")
"""Bottom first: a module may import its own layer and those before it, never one after it."""


def modules() -> Iterator[tuple[str, Path]]:
    for layer in LAYERS:
        for path in sorted((ROOT / layer).rglob("*.py")):
            yield layer, path


def imported(node: ast.AST) -> list[str]:
    """The top-level package of each module ``node`` imports (absolute imports only: the project uses no others)."""
    if isinstance(node, ast.Import):
        return [alias.name.split(".")[0] for alias in node.names]
    if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
        return [node.module.split(".")[0]]
    return []


def upward_edges() -> list[str]:
    found = []
    for layer, path in modules():
        rank = LAYERS.index(layer)
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            for package in imported(node):
                if package in LAYERS and LAYERS.index(package) > rank:
                    found.append(f"{path.relative_to(ROOT)}:{node.lineno} imports {package} (a layer above {layer})")
    return found


def imports_in_functions() -> list[str]:
    found = []
    for _, path in modules():
        for function in ast.walk(ast.parse(path.read_text(), str(path))):
            if not isinstance(function, ast.FunctionDef | ast.AsyncFunctionDef):
                continue
            for node in ast.walk(function):
                if any(package in LAYERS for package in imported(node)):
                    where = f"{path.relative_to(ROOT)}:{node.lineno}"
                    found.append(f"{where} imports inside {function.name}() (import at the top of the module)")
    return found


def test_the_checker_sees_an_upward_import_and_one_inside_a_function() -> None:
    tree = ast.parse("import os\nfrom actors.base import Actor\ndef f():\n    from desk import operator\n")
    assert [p for n in ast.walk(tree) for p in imported(n)] == ["os", "actors", "desk"]


def test_no_module_imports_a_layer_above_its_own() -> None:
    edges = upward_edges()
    assert not edges, "imports against messages <- supervisor <- actors <- desk:\n" + "\n".join(edges)


def test_no_project_import_is_hidden_inside_a_function() -> None:
    hidden = imports_in_functions()
    assert not hidden, "imports inside functions (a cycle dodged?):\n" + "\n".join(hidden)
