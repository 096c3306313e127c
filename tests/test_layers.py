"""The package's shape: the training library, the application layer (``ganopt.app``: command
line, configs, checkpoints) and the tools (study, report, games, benchmark), with imports flowing
one way, and no import cycle between modules (lazy imports inside functions count too)."""

from __future__ import annotations

import ast
from pathlib import Path

from conftest import ROOT

PACKAGE = ROOT / "src" / "ganopt"
TOOLS = ("ganopt.study", "ganopt.report", "ganopt.games", "ganopt.benchmark")


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(p): p for p in PACKAGE.rglob("*.py")}


def imports(name: str) -> set[str]:
    """The ganopt modules ``name`` imports, anywhere in its file."""
    found = set()
    for node in ast.walk(ast.parse(MODULES[name].read_text())):
        if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            candidates = [node.module, *(f"{node.module}.{a.name}" for a in node.names)]
        elif isinstance(node, ast.Import):
            candidates = [a.name for a in node.names]
        else:
            continue
        found |= {c for c in candidates if c in MODULES and c != name}
    return found


def layer(name: str) -> str:
    if name.startswith("ganopt.app"):
        return "app"
    tool = next((t for t in TOOLS if name == t or name.startswith(t + ".")), None)
    return tool or "library"


def test_imports_flow_from_the_tools_to_the_app_to_the_library() -> None:
    wrong = []
    for name in MODULES:
        for target in imports(name):
            here, there = layer(name), layer(target)
            if here == there:
                continue
            if here == "library" or (here == "app" and there != "library"):
                wrong.append(f"{name} ({here}) imports {target} ({there})")
            elif here.startswith("ganopt.") and there.startswith("ganopt."):
                wrong.append(f"tool {name} imports another tool's {target}")
    assert not wrong, "\n".join(sorted(wrong))


def test_no_import_cycle() -> None:
    graph = {name: imports(name) for name in MODULES}
    # A package's __init__ re-exporting its modules is not a cycle of its modules.
    graph = {n: {t for t in ts if not n.startswith(t + ".")} for n, ts in graph.items()}
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    cycles = []

    def visit(name: str, path: list[str]) -> None:
        state[name] = 1
        for target in sorted(graph[name]):
            if state.get(target) == 1:
                cycles.append(" -> ".join([*path[path.index(target) :], target]))
            elif target not in state:
                visit(target, [*path, target])
        state[name] = 2

    for name in sorted(graph):
        if name not in state:
            visit(name, [name])
    assert not cycles, "\n".join(cycles)


def test_the_layers_are_what_the_package_says() -> None:
    assert {layer(n) for n in MODULES} == {"library", "app", *TOOLS}
