"""Shared paths and loaders for the test suite."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "fixtures"
ARTEFACTS = FIXTURES / "qldb" / "artefacts"


def real_vectors() -> dict[str, dict[str, Any]]:
    vectors = json.loads((FIXTURES / "qldb" / "qldb-real-vectors.json").read_text())
    return {v["id"]: v for v in vectors}


@pytest.fixture(scope="session")
def vectors() -> dict[str, dict[str, Any]]:
    return real_vectors()
