"""The trainer stays readable: no function over 60 lines, no import cycle between its modules (imports
inside functions included), read from the source with `ast`."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "trainer" / "pinscope_trainer"
LONGEST = 60


def modules() -> dict[str, ast.Module]:
    found = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        found[name] = (path, ast.parse(path.read_text()))
    return found


def test_no_function_is_longer_than_60_lines():
    long = [
        f"{path.name}:{node.lineno} {node.name} ({node.end_lineno - node.lineno + 1} lines)"
        for path, tree in modules().values()
        for node in ast.walk(tree)
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.end_lineno - node.lineno + 1 > LONGEST
    ]
    assert long == []


def import_graph() -> dict[str, set[str]]:
    found = modules()
    graph = {name: set() for name in found}
    for name, (path, tree) in found.items():
        package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
                for candidate in [target, *(f"{target}.{a.name}" for a in node.names)]:
                    if candidate in found and candidate != name and not name.startswith(candidate + "."):
                        graph[name].add(candidate)
    return graph


def test_no_import_cycle_inside_the_trainer():
    graph = import_graph()
    assert "pinscope_trainer.train" in graph and "pinscope_trainer.inference" in graph["pinscope_trainer.evaluate"]
    state: dict[str, str] = {}
    cycles = []

    def visit(node, path):
        state[node] = "open"
        for nxt in sorted(graph[node]):
            if state.get(nxt) == "open":
                cycles.append(path[path.index(nxt) :] + [nxt])
            elif nxt not in state:
                visit(nxt, [*path, nxt])
        state[node] = "done"

    for start in sorted(graph):
        if start not in state:
            visit(start, [start])
    assert cycles == []
