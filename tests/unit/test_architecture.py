"""The house rules the README's architecture picture states, checked on the source: no import
circle between modules, ``proofs/`` imports nothing of ``auditor/`` nor any I/O library, and the
CLI and the server are leaves (nothing outside them imports them)."""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("proofs", "auditor")
IO_LIBRARIES = {"boto3", "botocore", "click", "requests", "httpx", "sqlite3", "socket", "urllib"}


def _modules() -> dict[str, Path]:
    out = {}
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            name = ".".join(path.relative_to(ROOT).with_suffix("").parts)
            out[name.removesuffix(".__init__")] = path
    return out


MODULES = _modules()


def _imports(path: Path) -> list[tuple[str, bool]]:
    """(module imported, at module level?) for every import of the file; imports inside
    functions and ``if TYPE_CHECKING`` blocks are deferred, not module level."""
    found: list[tuple[str, bool]] = []

    def visit(node: ast.AST, top: bool) -> None:
        for child in ast.iter_child_nodes(node):
            deferred = isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef) or (
                isinstance(child, ast.If) and "TYPE_CHECKING" in ast.unparse(child.test)
            )
            if isinstance(child, ast.Import):
                found.extend((a.name, top) for a in child.names)
            elif isinstance(child, ast.ImportFrom) and child.module and not child.level:
                found.append((child.module, top))
                found.extend((f"{child.module}.{a.name}", top) for a in child.names)
            visit(child, top and not deferred)

    visit(ast.parse(path.read_text()), True)
    return found


def test_no_import_circle_between_modules() -> None:
    graph: dict[str, set[str]] = defaultdict(set)
    for name, path in MODULES.items():
        for target, top in _imports(path):
            if top and target in MODULES and target != name:
                graph[name].add(target)
    seen: dict[str, int] = {}  # 1: on the current path, 2: done

    def walk(node: str, path: list[str]) -> None:
        seen[node] = 1
        for nxt in sorted(graph[node]):
            assert seen.get(nxt) != 1, " -> ".join([*path[path.index(nxt) :], nxt])
            if nxt not in seen:
                walk(nxt, [*path, nxt])
        seen[node] = 2

    for name in sorted(MODULES):
        if name not in seen:
            walk(name, [name])


def test_proofs_is_pure() -> None:
    for name, path in MODULES.items():
        if not name.startswith("proofs"):
            continue
        for target, _ in _imports(path):
            top = target.split(".")[0]
            assert top != "auditor", (name, target)
            assert top not in IO_LIBRARIES, (name, target)


def test_the_cli_and_the_server_are_leaves() -> None:
    leaves = ("auditor.cli", "auditor.server", "auditor.demo")
    entry_points = ("auditor.__main__",)
    for name, path in MODULES.items():
        if name.startswith(leaves) or name in entry_points:
            continue
        for target, _ in _imports(path):
            assert not target.startswith(leaves), (name, target)
