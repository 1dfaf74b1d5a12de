"""Mutation testing: change one operator, comparison, boolean, constant or statement of a source
file at a time, run a test selection against each mutant, and list the mutants no test killed.

    python tools/mutate.py proofs/merkle.py -- tests/unit/test_merkle.py
    python tools/mutate.py --config tools/mutate.toml            # every target listed there
    python tools/mutate.py proofs/qldb.py --list                  # the mutants, without running

Each mutant runs in a forked child (pytest is imported once, the package under test never is in
the parent) that loads the mutated module in place of the file, then runs ``pytest -x`` on the
selection. A mutant is *killed* when a test fails (or it times out), *survives* when every test
passes. A surviving mutant is either a missing test or an equivalent mutant (one that behaves
exactly like the original); equivalent ones are listed, with the reason, in the config file's
``[[equivalent]]`` entries, keyed by the mutant's description without its line number.
Exit status: 0 when every survivor is explained, 1 otherwise, 2 on a usage or baseline error.

Mutations: arithmetic and bit operators (``+``↔``-``, ``<<``↔``>>``, ``&``↔``|``, …), comparisons
(``<``↔``<=``, ``==``↔``!=``, ``in``↔``not in``, …), ``and``↔``or``, dropping ``not`` or a unary
minus, int constants ±1, ``True``↔``False``, bytes and string constants changed (not in
docstrings, f-strings or ``raise`` statements: messages), ``if``/``while`` conditions negated,
``raise`` statements and bare calls replaced by ``pass``, ``break``↔``continue``. Annotations,
decorators, imports and lines marked ``# pragma: no mutate`` are left alone.
"""

from __future__ import annotations

import argparse
import ast
import contextlib
import copy
import importlib.abc
import importlib.util
import json
import os
import re
import signal
import sys
import time
import tomllib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

ROOT = Path(__file__).resolve().parent.parent

_BINOPS: dict[type[ast.operator], list[type[ast.operator]]] = {
    ast.Add: [ast.Sub], ast.Sub: [ast.Add], ast.Mult: [ast.FloorDiv], ast.Div: [ast.Mult],
    ast.FloorDiv: [ast.Mult], ast.Mod: [ast.FloorDiv], ast.Pow: [ast.Mult],
    ast.LShift: [ast.RShift], ast.RShift: [ast.LShift], ast.BitAnd: [ast.BitOr],
    ast.BitOr: [ast.BitAnd], ast.BitXor: [ast.BitOr],
}  # fmt: skip
_COMPARE: dict[type[ast.cmpop], list[type[ast.cmpop]]] = {
    ast.Lt: [ast.LtE, ast.Gt], ast.LtE: [ast.Lt, ast.GtE], ast.Gt: [ast.GtE, ast.Lt],
    ast.GtE: [ast.Gt, ast.LtE], ast.Eq: [ast.NotEq], ast.NotEq: [ast.Eq],
    ast.Is: [ast.IsNot], ast.IsNot: [ast.Is], ast.In: [ast.NotIn], ast.NotIn: [ast.In],
}  # fmt: skip
_SKIPPED_FIELDS = {"annotation", "returns", "decorator_list", "type_comment", "type_params"}

Path_ = tuple[tuple[str, int | None], ...]  # (field, index) steps from the module to a node


@dataclass(frozen=True)
class Mutant:
    number: int
    path: Path_
    variant: int
    line: int
    where: str  # the enclosing function or class
    kind: str
    before: str
    after: str

    @property
    def key(self) -> str:
        """The description without the line number (stable across edits elsewhere)."""
        return f"{self.where}: {self.kind}: {self.before} -> {self.after}"

    def __str__(self) -> str:
        return f"line {self.line}: {self.key}"


# -- finding mutants ---------------------------------------------------------------------------
def _variants(node: ast.AST, in_message: bool) -> list[tuple[str, Callable[[ast.AST], ast.AST]]]:
    """The mutations of one node: (kind, function returning the replacement node)."""
    out: list[tuple[str, Callable[[ast.AST], ast.AST]]] = []

    def with_op(new: type[ast.AST], attr: str = "op") -> Callable[[ast.AST], ast.AST]:
        def apply(n: ast.AST) -> ast.AST:
            setattr(n, attr, new())
            return n

        return apply

    if isinstance(node, ast.BinOp | ast.AugAssign):
        for new in _BINOPS.get(type(node.op), []):
            out.append(("operator", with_op(new)))
    elif isinstance(node, ast.BoolOp):
        out.append(("boolean", with_op(ast.Or if isinstance(node.op, ast.And) else ast.And)))
    elif isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not | ast.USub | ast.Invert):
        out.append(("unary", lambda n: n.operand))  # type: ignore[attr-defined]
    elif isinstance(node, ast.Compare):
        for i, op in enumerate(node.ops):
            for new in _COMPARE.get(type(op), []):

                def apply(n: ast.AST, i: int = i, new: type[ast.cmpop] = new) -> ast.AST:
                    n.ops[i] = new()  # type: ignore[attr-defined]
                    return n

                out.append(("comparison", apply))
    elif isinstance(node, ast.Constant):
        value = node.value
        if isinstance(value, bool):
            out.append(("constant", lambda n: ast.Constant(not value)))
        elif isinstance(value, int):
            out.append(("constant", lambda n: ast.Constant(value + 1)))
            out.append(("constant", lambda n: ast.Constant(value - 1)))
        elif isinstance(value, bytes):
            changed = bytes([value[0] ^ 1]) + value[1:] if value else b"\x00"
            out.append(("constant", lambda n: ast.Constant(changed)))
        elif isinstance(value, str) and not in_message:
            out.append(("constant", lambda n: ast.Constant(value + "X" if value else "X")))
    elif isinstance(node, ast.If | ast.While | ast.IfExp) and not (
        isinstance(node.test, ast.UnaryOp) and isinstance(node.test.op, ast.Not)
    ):  # (a condition "not x" is already mutated to "x" by the unary mutation)

        def negate(n: ast.AST) -> ast.AST:
            n.test = ast.UnaryOp(ast.Not(), n.test)  # type: ignore[attr-defined]
            return n

        out.append(("condition", negate))
    elif isinstance(node, ast.Raise) or (
        isinstance(node, ast.Expr) and isinstance(node.value, ast.Call)
    ):
        out.append(("statement", lambda n: ast.Pass()))
    elif isinstance(node, ast.Break):
        out.append(("statement", lambda n: ast.Continue()))
    elif isinstance(node, ast.Continue):
        out.append(("statement", lambda n: ast.Break()))
    return out


def _is_docstring(node: ast.AST, parent: ast.AST, index: int | None) -> bool:
    return (
        index == 0
        and isinstance(parent, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef)
        and isinstance(node, ast.Expr)
        and isinstance(node.value, ast.Constant)
        and isinstance(node.value.value, str)
    )


def _skipped(node: ast.AST) -> bool:
    if isinstance(node, ast.Import | ast.ImportFrom):
        return True
    if isinstance(node, ast.Assign | ast.AnnAssign):
        targets = node.targets if isinstance(node, ast.Assign) else [node.target]
        return any(isinstance(t, ast.Name) and t.id in {"__all__", "__slots__"} for t in targets)
    if isinstance(node, ast.If):
        test = node.test
        return isinstance(test, ast.Name | ast.Attribute) and "TYPE_CHECKING" in ast.unparse(test)
    return False


def find_mutants(source: str) -> list[Mutant]:
    tree = ast.parse(source)
    quiet = {i + 1 for i, line in enumerate(source.splitlines()) if "pragma: no mutate" in line}
    found: list[Mutant] = []

    def walk(node: ast.AST, path: Path_, where: str, in_message: bool) -> None:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            where = f"{where}.{node.name}" if where else node.name
        in_message = in_message or isinstance(node, ast.Raise | ast.JoinedStr)
        line = getattr(node, "lineno", 0)
        if line not in quiet:
            for variant, (kind, apply) in enumerate(_variants(node, in_message)):
                before = ast.unparse(node) if not isinstance(node, ast.If | ast.While) else (
                    f"{'if' if isinstance(node, ast.If) else 'while'} {ast.unparse(node.test)}"
                )  # fmt: skip
                mutated = apply(copy.deepcopy(node))
                after = ast.unparse(mutated) if not isinstance(node, ast.If | ast.While) else (
                    f"{'if' if isinstance(node, ast.If) else 'while'} "
                    f"{ast.unparse(mutated.test)}"  # type: ignore[attr-defined]
                )  # fmt: skip
                if isinstance(node, ast.Raise | ast.Expr) and len(before) > 60:
                    before = before[:57] + "..."
                found.append(Mutant(0, path, variant, line, where or "<module>", kind, before,
                                    after))  # fmt: skip
        for name, value in ast.iter_fields(node):
            if name in _SKIPPED_FIELDS:
                continue
            items = [(None, value)] if isinstance(value, ast.AST) else (
                list(enumerate(value)) if isinstance(value, list) else []
            )  # fmt: skip
            for index, child in items:
                if not isinstance(child, ast.AST) or _skipped(child):
                    continue
                if _is_docstring(child, node, index):
                    continue
                walk(child, (*path, (name, index)), where, in_message)

    walk(tree, (), "", False)
    keys: dict[str, int] = {}
    numbered = []
    for number, m in enumerate(found, start=1):
        keys[m.key] = keys.get(m.key, 0) + 1
        after = m.after if keys[m.key] == 1 else f"{m.after} #{keys[m.key]}"
        numbered.append(Mutant(number, m.path, m.variant, m.line, m.where, m.kind, m.before,
                               after))  # fmt: skip
    return numbered


def mutated_tree(source: str, mutant: Mutant) -> ast.Module:
    tree = ast.parse(source)
    parent: Any = tree
    for name, index in mutant.path[:-1]:
        parent = getattr(parent, name) if index is None else getattr(parent, name)[index]
    name, index = mutant.path[-1]
    node = getattr(parent, name) if index is None else getattr(parent, name)[index]
    replacement = _variants(node, in_message=False)[mutant.variant][1](node)
    if index is None:
        setattr(parent, name, replacement)
    else:
        getattr(parent, name)[index] = replacement
    return ast.fix_missing_locations(tree)


# -- running mutants ---------------------------------------------------------------------------
class _Replace(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Loads ``module`` from ``code`` instead of its file."""

    def __init__(self, module: str, filename: str, code: Any) -> None:
        self.module, self.filename, self.code, self.used = module, filename, code, False

    def find_spec(self, name: str, path: Any, target: Any = None) -> Any:
        if name != self.module:
            return None
        return importlib.util.spec_from_file_location(name, self.filename, loader=self)

    def create_module(self, spec: Any) -> None:
        return None

    def exec_module(self, module: ModuleType) -> None:
        self.used = True
        exec(self.code, module.__dict__)  # noqa: S102 - the mutant under test


def _child(module: str, filename: str, code: Any, pytest_args: list[str], seconds: int) -> None:
    """Runs in the forked child; never returns."""
    status = 3
    try:
        signal.alarm(seconds)
        if not os.environ.get("MUTATE_VERBOSE"):  # show the test output of every run
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, 1)
            os.dup2(devnull, 2)
        finder = _Replace(module, filename, code)
        sys.meta_path.insert(0, finder)
        import pytest

        # only the plugins asked for: autoloading every installed one costs seconds per mutant
        os.environ["PYTEST_DISABLE_PLUGIN_AUTOLOAD"] = "1"
        status = int(pytest.main([*pytest_args, "-x", "-q", "-p", "no:cacheprovider"]))
        if status == 0 and not finder.used:
            status = 10  # the selection never imported the module: nothing was tested
    except BaseException:  # noqa: BLE001 - the child reports anything, then exits with 3
        import traceback

        traceback.print_exc()
    finally:
        os._exit(status)


@dataclass
class Outcome:
    mutant: Mutant | None
    status: str  # killed, timeout, survived, error
    seconds: float
    code: int = 0


def _start(module: str, filename: str, code: Any, args: list[str], seconds: int) -> int:
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid == 0:
        _child(module, filename, code, args, seconds)
    return pid


def _status(wait_status: int) -> tuple[str, int]:
    if os.WIFSIGNALED(wait_status):
        return ("timeout" if os.WTERMSIG(wait_status) in (signal.SIGALRM, signal.SIGKILL)
                else "error"), -os.WTERMSIG(wait_status)  # fmt: skip
    code = os.WEXITSTATUS(wait_status)
    # 1: a test failed; 2: collection was interrupted (the mutant does not even import); 4: a
    # selected node id (file::test) was not collected because its module failed to import,
    # which, the unmutated code having passed the same selection, only the mutant can cause
    return {0: "survived", 1: "killed", 2: "killed", 4: "killed"}.get(code, "error"), code


def run_all(
    module: str, filename: str, jobs: list[tuple[Mutant | None, Any]], args: list[str],
    seconds: int, parallel: int, progress: Callable[[Outcome], None],
) -> list[Outcome]:  # fmt: skip
    pending = list(jobs)
    running: dict[int, tuple[Mutant | None, float]] = {}
    outcomes: list[Outcome] = []
    while pending or running:
        while pending and len(running) < parallel:
            mutant, code = pending.pop(0)
            running[_start(module, filename, code, args, seconds)] = (mutant, time.monotonic())
        pid, wait_status = os.waitpid(-1, 0)
        if pid not in running:
            continue
        mutant, started = running.pop(pid)
        status, code = _status(wait_status)
        outcome = Outcome(mutant, status, time.monotonic() - started, code)
        outcomes.append(outcome)
        progress(outcome)
    return outcomes


# -- the command -------------------------------------------------------------------------------
@dataclass
class Target:
    file: str
    tests: list[str]
    equivalent: dict[str, str] = field(default_factory=dict)
    plugins: list[str] = field(default_factory=list)  # pytest plugins the tests need
    match: str = ""  # only the mutants whose line matches (e.g. the functions of one check)

    @property
    def pytest_args(self) -> list[str]:
        return [*self.tests, *(arg for p in self.plugins for arg in ("-p", p))]


def _module_name(file: str) -> str:
    relative = Path(file).resolve().relative_to(ROOT).with_suffix("")
    parts = list(relative.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _preload() -> None:
    """Import what the tests import, except this repository's own packages, so that each forked
    child starts warm; the code under test is imported fresh in every child."""
    import pytest  # noqa: F401

    # (not pytest plugins such as hypothesis: pytest must import those itself, to rewrite them)
    for name in ("cryptography.hazmat.primitives.asymmetric.ed25519", "amazon.ion.simpleion",
                 "click.testing"):  # fmt: skip
        with contextlib.suppress(ImportError):
            __import__(name)


def mutate(
    target: Target, parallel: int, timeout: float | None, report: dict[str, Any], match: str
) -> bool:
    source = Path(target.file).read_text()
    module, filename = _module_name(target.file), str(Path(target.file).resolve())
    mutants = [m for m in find_mutants(source) if re.search(target.match, str(m))
               and re.search(match, str(m))]  # fmt: skip
    print(f"{target.file}: {len(mutants)} mutants; tests: {' '.join(target.tests)}", flush=True)
    started = time.monotonic()
    original = compile(source, filename, "exec")
    [baseline] = run_all(module, filename, [(None, original)], target.pytest_args, 3600, 1,
                         lambda o: None)  # fmt: skip
    if baseline.status != "survived":
        why = "never imports the module" if baseline.code == 10 else "fails (or does not run)"
        print(f"{target.file}: the unmutated code {why} under the selection (code "
              f"{baseline.code}); fix that first", file=sys.stderr)  # fmt: skip
        raise SystemExit(2)
    seconds = int(timeout or max(10.0, 5 * baseline.seconds + 5))
    print(f"  baseline passes in {baseline.seconds:.1f}s; timeout per mutant {seconds}s",
          flush=True)  # fmt: skip
    jobs = [(m, compile(mutated_tree(source, m), filename, "exec")) for m in mutants]

    def progress(outcome: Outcome) -> None:
        mark = {"killed": ".", "timeout": "T", "survived": "S", "error": "E"}[outcome.status]
        print(mark, end="", flush=True)

    outcomes = sorted(run_all(module, filename, jobs, target.pytest_args, seconds, parallel,
                              progress),
                      key=lambda o: o.mutant.number if o.mutant else 0)  # fmt: skip
    elapsed = time.monotonic() - started
    print()
    counts = {s: sum(o.status == s for o in outcomes) for s in ("killed", "timeout", "survived",
                                                                 "error")}  # fmt: skip
    unexplained, explained = [], []
    for o in outcomes:
        if o.status in ("survived", "error") and o.mutant is not None:
            reason = target.equivalent.get(o.mutant.key)
            (explained if reason and o.status == "survived" else unexplained).append((o, reason))
    for o, reason in explained:
        print(f"  equivalent  {o.mutant}\n              {reason}")
    for o, _ in unexplained:
        print(f"  {o.status.upper():9}   {o.mutant}" + (f" (exit {o.code})" if o.code > 1 else ""))
    keys = {m.key for m in find_mutants(source)}
    stale = [k for k in target.equivalent if k not in keys]
    for key in stale:
        print(f"  stale note (no such mutant any more): {key}")
    print(f"{target.file}: {len(mutants)} mutants, {counts['killed']} killed, "
          f"{counts['timeout']} timed out, {counts['survived']} survived "
          f"({len(explained)} explained as equivalent), {counts['error']} errors, "
          f"{elapsed:.0f}s", flush=True)  # fmt: skip
    report[target.file] = {
        "tests": target.tests, "mutants": len(mutants), **counts, "explained": len(explained),
        "seconds": round(elapsed, 1), "baseline_seconds": round(baseline.seconds, 2),
        "unexplained": [str(o.mutant) for o, _ in unexplained], "stale_notes": stale,
    }  # fmt: skip
    return not unexplained


def _targets(args: argparse.Namespace) -> list[Target]:
    config: dict[str, Any] = {}
    if args.config and Path(args.config).exists():
        config = tomllib.loads(Path(args.config).read_text())
    notes: dict[str, dict[str, str]] = {}
    for entry in config.get("equivalent", []):
        notes.setdefault(entry["file"], {})[entry["mutant"]] = entry["reason"]
    listed = config.get("targets", {})
    if args.file:
        listed = {args.file: {**listed.get(args.file, {}), **({"tests": args.tests} if args.tests
                                                               else {})}}  # fmt: skip
        if not listed[args.file].get("tests"):
            raise SystemExit(f"no tests for {args.file}: give them after --")
    return [Target(f, t["tests"], notes.get(f, {}), [*t.get("plugins", []), *args.plugin],
                   t.get("match", "")) for f, t in listed.items()]  # fmt: skip


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    tests: list[str] = []
    if "--" in argv:
        tests = argv[argv.index("--") + 1 :]
        argv = argv[: argv.index("--")]
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("file", nargs="?", help="the source file to mutate (else every target)")
    parser.add_argument("--config", default=str(ROOT / "tools" / "mutate.toml"))
    parser.add_argument("--jobs", type=int, default=1, help="mutants run at once (default 1)")
    parser.add_argument("--timeout", type=float, help="seconds per mutant (default 5x baseline)")
    parser.add_argument("--list", action="store_true", help="list the mutants, run nothing")
    parser.add_argument("--match", default="", help="only the mutants whose line matches (regex)")
    parser.add_argument("--json", help="write a summary report here")
    parser.add_argument(
        "--plugin", action="append", default=[], help="a pytest plugin the tests need, e.g. "
        "_hypothesis_pytestplugin (installed plugins are not autoloaded)",
    )  # fmt: skip
    args = parser.parse_args(argv)
    args.tests = tests
    os.chdir(ROOT)
    sys.path.insert(0, str(ROOT))
    targets = _targets(args)
    if args.list:
        for target in targets:
            for m in find_mutants(Path(target.file).read_text()):
                if re.search(target.match, str(m)) and re.search(args.match, str(m)):
                    print(f"{target.file}: {m}")
        return 0
    _preload()
    report: dict[str, Any] = {}
    results = [mutate(t, args.jobs, args.timeout, report, args.match) for t in targets]
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=1) + "\n")
    return 0 if all(results) else 1


if __name__ == "__main__":
    raise SystemExit(main())
