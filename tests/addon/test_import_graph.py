"""The add-on's and the contract's modules import each other without cycles (read from the source, no imports run).

A cycle hides behind an import inside a function; the style guide wants imports at the top, so every
package-internal import -- at the top or inside a function -- is an edge here.
"""

from __future__ import annotations

import ast
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
PACKAGES = {"blender_addon": REPO / "blender_addon", "pinscope_schema": REPO / "shared" / "pinscope_schema"}


def module_name(package: str, root: Path, path: Path) -> str:
    parts = [package, *path.relative_to(root).with_suffix("").parts]
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported(module: str, is_package: bool, node: ast.AST) -> list[str]:
    """Absolute names a (possibly relative) import statement refers to."""
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    base = module if is_package else module.rpartition(".")[0]
    for _ in range(node.level - 1):
        base = base.rpartition(".")[0]
    target = (f"{base}.{node.module}" if node.module else base) if node.level else node.module
    return [target, *(f"{target}.{alias.name}" for alias in node.names)]


def import_graph() -> dict[str, set[str]]:
    modules = {}
    for package, root in PACKAGES.items():
        for path in root.rglob("*.py"):
            if "_vendor" not in path.parts:
                modules[module_name(package, root, path)] = path
    graph = {}
    for name, path in modules.items():
        edges = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                target = imported(name, path.name == "__init__.py", node)
                edges |= {t for t in target if t in modules and t != name}
        graph[name] = edges
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Every cycle found by a depth-first walk (one per back edge), as module lists."""
    found, state, stack = [], {}, []

    def visit(node: str) -> None:
        state[node] = "open"
        stack.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == "open":
                found.append(stack[stack.index(nxt) :] + [nxt])
            elif nxt not in state:
                visit(nxt)
        stack.pop()
        state[node] = "done"

    for node in sorted(graph):
        if node not in state:
            visit(node)
    return found


def test_the_import_graph_has_no_cycles():
    graph = import_graph()
    assert "blender_addon.dataset.pipeline" in graph and "pinscope_schema.io" in graph
    # A package's __init__ importing its own submodules is how packages work, not a cycle of ours.
    acyclic = {m: {t for t in e if not m.startswith(t + ".")} for m, e in graph.items()}
    assert cycles(acyclic) == []


def test_the_finder_sees_a_cycle():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == [["a", "b", "c", "a"]]
    assert cycles({"a": {"b"}, "b": set()}) == []
