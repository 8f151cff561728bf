"""The transport's place in the layers: supervisor/ (and its transport) imports no actor and no deployment."""

from __future__ import annotations

import ast
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def _imports(path: Path) -> list[tuple[str, bool]]:
    """Every module ``path`` imports, and whether the import sits inside a function."""
    tree = ast.parse(path.read_text())
    found: list[tuple[str, bool]] = []

    def visit(node: ast.AST, in_function: bool) -> None:
        for child in ast.iter_child_nodes(node):
            inside = in_function or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef))
            if isinstance(child, ast.Import):
                found.extend((alias.name, inside) for alias in child.names)
            elif isinstance(child, ast.ImportFrom) and child.module and child.level == 0:
                found.append((child.module, inside))
            visit(child, inside)

    visit(tree, False)
    return found


def test_the_supervisor_package_imports_no_actor_and_no_deployment() -> None:
    offending = [
        f"{path.relative_to(REPO)} imports {module}"
        for path in sorted((REPO / "supervisor").rglob("*.py"))
        for module, _ in _imports(path)
        if module.split(".")[0] in ("actors", "desk")
    ]
    assert offending == []


def test_the_transport_imports_at_module_level_only_and_its_client_does_not_import_process_supervision() -> None:
    transport = REPO / "supervisor" / "transport"
    inside = [
        f"{path.name}: {module}"
        for path in sorted(transport.glob("*.py"))
        for module, in_function in _imports(path)
        if in_function
    ]
    assert inside == []
    assert all(
        not module.startswith("supervisor.transport.processes") for module, _ in _imports(transport / "client.py")
    )
