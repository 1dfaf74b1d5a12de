"""The seed corpus is what ``fixtures/fuzz/make_corpus.py`` writes (every seed has a source),
and every seed the fuzz targets use exists."""

from __future__ import annotations

from pathlib import Path

from fixtures.fuzz import make_corpus
from tests.fuzz.harness import CORPUS


def committed() -> dict[str, bytes]:
    return {
        str(p.relative_to(CORPUS)): p.read_bytes()
        for p in sorted(CORPUS.rglob("*"))
        if p.is_file() and p.parent != CORPUS and not p.name.startswith("crash-")
        and "__pycache__" not in p.parts
    }  # fmt: skip


def test_corpus_regenerates(tmp_path: Path) -> None:
    make_corpus.main(tmp_path)
    written = {str(p.relative_to(tmp_path)): p.read_bytes() for p in tmp_path.rglob("*")
               if p.is_file()}  # fmt: skip
    assert written == committed()
    assert len(written) > 40
