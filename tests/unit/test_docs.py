"""Every document the README, the docs and the code cite exists, and nothing cites a machine path.

- Markdown links (``[text](target#anchor)``) in every ``.md`` file resolve to a file in the
  repository, and an anchor to a heading of that file.
- ``docs/<name>.md`` and top-level ``NAME.md`` mentions anywhere (code, docstrings, Makefile)
  name files that exist.
- No file names the machine it was written on (``/work/…``, ``../shared``, ``/root/…``).
"""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest

from tests.conftest import ROOT

SKIP_DIRS = {
    ".git", ".venv", ".venv-oracle", ".venv-wheel", "out", "dist", "build", ".pytest_cache",
    ".mypy_cache", ".ruff_cache", ".hypothesis", "__pycache__",
}  # fmt: skip
TEXT_SUFFIXES = {".md", ".py", ".toml", ".txt", ".cfg", ".ini", ".yml", ".yaml", ""}
# Paths inside other projects, cited with their repository (e.g. amazon-ion/ion-hash's spec).
EXTERNAL = {"docs/spec.md"}

LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")
DOCS_MENTION = re.compile(r"(?<![\w/.-])docs/[\w.-]+\.md\b")
TOP_MENTION = re.compile(r"(?<![\w/.-])[A-Z][A-Z_]+\.md\b")
MACHINE = re.compile(r"/work/|\.\./shared\b|/root/")


def _all_files() -> list[Path]:
    """The repository's files: git's view (tracked, and new but not ignored) when there is one,
    else a walk that skips environments, caches and outputs."""
    try:
        listed = subprocess.run(
            ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
            cwd=ROOT, capture_output=True, check=True, timeout=60,
        ).stdout  # fmt: skip
        return [ROOT / name for name in listed.decode().split("\0") if name]
    except (OSError, subprocess.SubprocessError):
        out = []
        for directory, subdirs, names in os.walk(ROOT):
            subdirs[:] = [d for d in subdirs if d not in SKIP_DIRS and not d.endswith(".egg-info")]
            out += [Path(directory) / n for n in names if n not in SKIP_DIRS]
        return out


def _files(suffixes: set[str]) -> list[Path]:
    return sorted(
        path
        for path in _all_files()
        if path.suffix in suffixes
        and not path.name.startswith(".coverage")
        and path.is_file()
        and path.stat().st_size < 2_000_000
    )


def _slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"[`*_]", "", heading.strip().lower())
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def _anchors(path: Path) -> set[str]:
    headings = re.findall(r"^#{1,6} (.+)$", path.read_text(encoding="utf-8"), re.MULTILINE)
    return {_slug(h) for h in headings}


def test_the_slugs_follow_github() -> None:
    assert _slug("8. What QLDB's hashes do not prove") == "8-what-qldbs-hashes-do-not-prove"
    assert _slug("Auditing whole journal exports: `qldb-audit verify export`") == (
        "auditing-whole-journal-exports-qldb-audit-verify-export"
    )


MARKDOWN = _files({".md"})


@pytest.mark.parametrize("path", MARKDOWN, ids=lambda p: str(p.relative_to(ROOT)))
def test_markdown_links_resolve(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    text = re.sub(r"```.*?```", "", text, flags=re.DOTALL)  # code blocks are not links
    for target in LINK.findall(text):
        if re.match(r"[a-z]+:", target):  # https:, mailto:
            continue
        file_part, _, anchor = target.partition("#")
        linked = (path.parent / file_part).resolve() if file_part else path
        assert linked.exists(), f"{path.relative_to(ROOT)}: link to {target}: no such file"
        assert linked.is_relative_to(ROOT), f"{path.relative_to(ROOT)}: {target} leaves the repo"
        if anchor and linked.suffix == ".md":
            assert anchor in _anchors(linked), (
                f"{path.relative_to(ROOT)}: link to {target}: no such heading"
            )


def test_every_cited_document_exists() -> None:
    missing = []
    for path in _files(TEXT_SUFFIXES):
        if path == Path(__file__):
            continue
        text = path.read_text(encoding="utf-8", errors="replace")
        for cited in set(DOCS_MENTION.findall(text)) - EXTERNAL:
            if not (ROOT / cited).is_file():
                missing.append(f"{path.relative_to(ROOT)}: {cited}")
        for cited in set(TOP_MENTION.findall(text)):
            if not (ROOT / cited).is_file() and not (path.parent / cited).is_file():
                missing.append(f"{path.relative_to(ROOT)}: {cited}")
    assert missing == []


def test_no_file_names_a_machine_path() -> None:
    found = []
    for path in _files(TEXT_SUFFIXES | {".json", ".ion", ".jsonl", ".sh"}):
        if path == Path(__file__):
            continue
        text = path.read_text(encoding="utf-8", errors="replace")
        for number, line in enumerate(text.splitlines(), 1):
            if MACHINE.search(line):
                found.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()[:80]}")
    assert found == []


def test_the_checks_can_fail(tmp_path: Path) -> None:
    """The patterns catch what they are for."""
    assert DOCS_MENTION.findall("see docs/qldb-formats.md §5") == ["docs/qldb-formats.md"]
    assert TOP_MENTION.findall("(STYLE.md, practice 9)") == ["STYLE.md"]
    assert LINK.findall("[x](docs/formats.md#2-document-revisions)") == [
        "docs/formats.md#2-document-revisions"
    ]
    assert MACHINE.search("read /work/shared/docs/x.md")
    assert MACHINE.search("from ../shared/vectors")
    assert not (ROOT / "docs" / "qldb-formats.md").exists()
