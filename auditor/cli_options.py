"""Option parsing shared by every ``qldb-audit`` command: one error path for option files.

Every file an option names (``--digest``, ``--revision``, ``--consistency``, ``--trust-key``,
``--witness-key``, ``--state``, ``--state-key``) is read by the same parsers with the same
limits; any problem is one line on stderr naming the file and the field, and exit 2.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from typing import TypeVar

import click

from proofs import MalformedError, ProofError
from proofs.note import VerifierKey, parse_vkey

MAX_KEY_FILE_BYTES = 1024 * 1024
T = TypeVar("T")


def fail_usage(error: ProofError | str) -> None:
    """One line on stderr naming the file and the field, then exit 2."""
    click.echo(f"ERROR: {error}", err=True)
    sys.exit(2)


def option_file(load: Callable[[str], T], path: str | None) -> T | None:
    if path is None:
        return None
    try:
        return load(path)
    except ProofError as e:
        fail_usage(e)
    except (RecursionError, ValueError, ArithmeticError) as e:
        fail_usage(MalformedError("unreadable", path, f"cannot be read ({type(e).__name__})"))
    return None  # pragma: no cover - fail_usage exits


def trusted_keys(values: tuple[str, ...], option: str = "--trust-key") -> list[VerifierKey]:
    """``--trust-key`` values: a vkey, or a file holding vkeys (one per line). A key given twice
    is an error (exit 2), like anything that is not a vkey."""
    keys = []
    for value in values:
        texts = [value]
        if "+" not in value or os.path.exists(value):
            try:
                with open(value, "rb") as f:
                    data = f.read(MAX_KEY_FILE_BYTES + 1)
                if len(data) > MAX_KEY_FILE_BYTES:
                    fail_usage(MalformedError("too-large", f"{option} {value}", "not a key file"))
                texts = [line for line in data.decode("utf-8").splitlines() if line.strip()]
            except UnicodeDecodeError:
                fail_usage(MalformedError("not-utf8", f"{option} {value}", "not a vkey file"))
            except OSError as e:
                fail_usage(
                    MalformedError(
                        "trust-key", f"{option} {value}",
                        f"not a vkey, nor a readable file ({e.strerror})",
                    )
                )  # fmt: skip
        for i, text in enumerate(texts):
            where = f"{option} {value}" + (f" line {i + 1}" if len(texts) > 1 else "")
            try:
                keys.append(parse_vkey(text))
            except ProofError as e:
                fail_usage(MalformedError(e.reason, where, e.problem))
    return keys
