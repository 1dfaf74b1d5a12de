"""tools/mutate.py finds the mutants it promises, skips what it promises to skip, and each
mutant is the original program with exactly one change."""

from __future__ import annotations

import ast
import importlib.util
import re
import sys
from pathlib import Path
from types import ModuleType

from tests.conftest import ROOT


def _tool() -> ModuleType:
    spec = importlib.util.spec_from_file_location("mutate", ROOT / "tools" / "mutate.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["mutate"] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


MUTATE = _tool()
SOURCE = '''"""Docstring: never mutated."""
LIMIT: int = 3


def check(x: int, items: list[int]) -> bool:
    """Neither is this."""
    if not x < LIMIT and x in items:
        raise ValueError(f"too big: {x}", "message")
    total = x + 1
    total <<= 2
    print("side effect")
    while total > 0:
        total -= 1
        break
    return total == -1 or items is not None  # pragma: no mutate
'''


def test_every_kind_of_mutant_is_found() -> None:
    mutants = MUTATE.find_mutants(SOURCE)
    described = {f"{m.kind}: {m.before} -> {m.after}" for m in mutants}
    for want in [
        "constant: 3 -> 4",
        "constant: 3 -> 2",
        "unary: not x < LIMIT -> x < LIMIT",
        "comparison: x < LIMIT -> x <= LIMIT",
        "comparison: x < LIMIT -> x > LIMIT",
        "comparison: x in items -> x not in items",
        "boolean: not x < LIMIT and x in items -> not x < LIMIT or x in items",
        "operator: x + 1 -> x - 1",
        "operator: total <<= 2 -> total >>= 2",
        "statement: print('side effect') -> pass",
        "constant: 'side effect' -> 'side effectX'",
        "condition: while total > 0 -> while not total > 0",
        "statement: break -> continue",
    ]:
        assert want in described, want
    raise_mutants = [m for m in mutants if m.before.startswith("raise")]
    assert [m.after for m in raise_mutants] == ["pass"]
    text = "\n".join(described)
    assert "Docstring" not in text
    assert "Neither" not in text
    assert "messageX" not in text  # messages in raise statements are not mutated
    assert "int" not in {m.before for m in mutants}  # nor annotations
    assert not [m for m in mutants if m.line == 15]  # pragma: no mutate
    assert all(m.where in {"<module>", "check"} for m in mutants)
    assert len({m.key for m in mutants}) == len(mutants)


def test_each_mutant_changes_exactly_one_thing() -> None:
    original = ast.dump(ast.parse(SOURCE))
    for mutant in MUTATE.find_mutants(SOURCE):
        tree = MUTATE.mutated_tree(SOURCE, mutant)
        compile(tree, "<mutant>", "exec")
        assert ast.dump(tree) != original, mutant
        assert mutant.after.split(" #")[0] in ast.unparse(tree) or mutant.kind == "condition"


def test_the_targets_and_notes_name_real_files_and_mutants() -> None:
    import tomllib

    config = tomllib.loads((ROOT / "tools" / "mutate.toml").read_text())
    for file, target in config["targets"].items():
        assert (ROOT / file).is_file(), file
        assert all((ROOT / t.split("::")[0]).exists() for t in target["tests"]), file
        if "match" in target:  # a target restricted to some functions still selects mutants
            mutants = MUTATE.find_mutants((ROOT / file).read_text())
            assert any(re.search(target["match"], str(m)) for m in mutants), file
    for note in config["equivalent"]:
        keys = {m.key for m in MUTATE.find_mutants(Path(ROOT / note["file"]).read_text())}
        assert note["mutant"] in keys, note
        assert note["reason"]


def test_a_mutant_that_breaks_collection_is_killed() -> None:
    # pytest exits 2 when collection is interrupted, and 4 when a node id (file::test) finds
    # nothing because its module failed to import: both are kills (the baseline collected)
    assert MUTATE._status(0) == ("survived", 0)
    for code in (1, 2, 4):
        assert MUTATE._status(code << 8) == ("killed", code)
    assert MUTATE._status(3 << 8) == ("error", 3)
