"""The harness's modules import each other without a circle, and without path loaders."""

from __future__ import annotations

import ast
from pathlib import Path

from ci import paths

CI = paths.ROOT / "ci"


def module_name(path: Path) -> str:
    parts = path.relative_to(paths.ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules() -> dict[str, Path]:
    return {module_name(p): p for p in CI.rglob("*.py")}


def imports_of(path: Path, known: dict[str, Path]) -> set[str]:
    """The ci modules `path` imports anywhere in it (inside functions too: a lazy import
    still ties the two modules together)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
        else:
            continue
        found |= {n for n in names if n in known}
    return found


def test_no_import_circle_among_the_harness_modules():
    known = modules()
    graph = {name: imports_of(path, known) - {name} for name, path in known.items()}
    state: dict[str, str] = {}

    def visit(name: str, trail: list[str]) -> None:
        if state.get(name) == "done":
            return
        assert state.get(name) != "open", "import circle: " + " -> ".join([*trail, name])
        state[name] = "open"
        for dep in sorted(graph[name]):
            visit(dep, [*trail, name])
        state[name] = "done"

    for name in sorted(graph):
        visit(name, [])


def test_the_graph_is_what_the_check_reads():
    """The check above sees real edges (so that it can fail)."""
    known = modules()
    assert "ci.sysroots" in imports_of(known["ci.runners.qemu"], known)
    assert "ci.runners" in imports_of(known["ci.provision"], known)


def test_no_path_loaders():
    for path in CI.rglob("*.py"):
        text = path.read_text()
        assert "spec_from_file_location" not in text, path
        assert "sys.path.insert" not in text, path
