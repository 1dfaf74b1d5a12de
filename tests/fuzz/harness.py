"""The fuzz harness: seeds from ``fixtures/fuzz/<corpus>/``, mutations drawn by Hypothesis, a
time guard per input, and the run's tally (printed at the end of the session by
``tests/fuzz/conftest.py``).

Each target is a function ``bytes -> None`` that feeds the input to one parser (or one CLI
command) and fails (``FuzzFailureError``) when the outcome is not a documented one: an exception
other than the target's error types is a *traceback*; an input still running after
:data:`HANG_SECONDS` is a *hang* (a SIGALRM stops it); one that took longer than
:data:`PER_INPUT_SECONDS`, or that the reader refused for its deadline, is a *budget overrun*.

The number of examples per target: ``QLDB_AUDIT_FUZZ_EXAMPLES`` (``make fuzz``: 20000), else
the short CI count each test names. The short run is derandomized (the same inputs every
run); a long run draws new ones (``pytest --hypothesis-seed=N`` fixes them; a failure prints
the ``@reproduce_failure`` blob that replays it).
"""

from __future__ import annotations

import os
import signal
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, Phase, settings
from hypothesis import strategies as st

ROOT = Path(__file__).resolve().parents[2]
CORPUS = ROOT / "fixtures" / "fuzz"

PER_INPUT_SECONDS = 2.0  # a budget overrun: one input this slow (the inputs are < 16 KiB)
HANG_SECONDS = 10.0  # a hang: the alarm stops the input
PARSE_BUDGET = "5"  # QLDB_AUDIT_PARSE_BUDGET while fuzzing: a deadline refusal is an overrun

EXAMPLES_ENV = "QLDB_AUDIT_FUZZ_EXAMPLES"


class FuzzFailureError(AssertionError):
    """An input whose outcome is not a documented one (a traceback, a hang, an overrun)."""


class HangError(BaseException):
    """Raised by the alarm inside an input that runs too long (BaseException: no parser's
    ``except Exception`` can swallow it)."""


@dataclass
class Tally:
    inputs: int = 0
    seconds: float = 0.0
    slowest: float = 0.0
    hangs: int = 0
    tracebacks: int = 0
    overruns: int = 0
    outcomes: Counter[str] = field(default_factory=Counter)

    def as_json(self) -> dict[str, Any]:
        return {
            "inputs": self.inputs,
            "seconds": round(self.seconds, 3),
            "slowest_input_seconds": round(self.slowest, 4),
            "hangs": self.hangs,
            "tracebacks": self.tracebacks,
            "overruns": self.overruns,
            "outcomes": dict(self.outcomes.most_common(12)),
        }


TALLY: dict[str, Tally] = {}


def examples(short: int) -> int:
    configured = os.environ.get(EXAMPLES_ENV, "").strip()
    return int(configured) if configured else short


def fuzz_settings(short: int) -> settings:
    """Hypothesis settings for one target: derandomized for the short run, no example
    database (a run does not depend on an earlier one), no Hypothesis deadline (the harness
    times every input itself)."""
    n = examples(short)
    long_run = bool(os.environ.get(EXAMPLES_ENV, "").strip())
    return settings(
        max_examples=n,
        derandomize=not long_run,
        database=None,
        deadline=None,
        phases=[Phase.explicit, Phase.generate, Phase.shrink],
        suppress_health_check=list(HealthCheck),
        print_blob=True,
    )


def seeds(*corpora: str) -> list[tuple[str, bytes]]:
    """``(name, bytes)`` of every seed file of the named corpora, sorted (README.md and
    scripts are not seeds)."""
    out = []
    for corpus in corpora:
        for path in sorted((CORPUS / corpus).iterdir()):
            if path.is_file() and path.suffix not in (".md", ".py"):
                out.append((f"{corpus}/{path.name}", path.read_bytes()))
    if not out:
        raise AssertionError(f"no seeds in fixtures/fuzz/{'/'.join(corpora)}")
    return out


# -- mutations ---------------------------------------------------------------------------------
# Known tokens of the formats: swapped in for each other, inserted, or written over bytes.
TOKENS: tuple[bytes, ...] = tuple(
    t.encode("utf-8") if isinstance(t, str) else t
    for t in (
        "{", "}", "[", "]", "(", ")", '"', "'", "'''", ",", ":", "::", "\n", "\n\n", "\r\n",
        " ", "\\", "\\u0000", "\\ud800", "\\x", "+", "/", "=", "==", "—", "— ", "0", "-0",
        "1.0", "1e9999999999", "1d-6200", "9" * 40, "0x7fffffffffffffffffff", "-", ".",
        "null", "null.int", "null.struct", "true", "nan", "+inf", "{{", "}}", "{{}}",
        "{{ \"x\" }}", "$ion_1_0", "$ion_symbol_table::", "$10", "$4294967296", "a::", "//",
        "/*", "2019-09-16T19:00:00.1234567890Z", "2019T", "0000-01-01", '"IonText"',
        '"Digest"', '"DigestTipAddress"', '"Proof"', '"Revision"', '"Block"', "strandId",
        "sequenceNo", "hash", "dataHash", "data", "metadata", "blockAddress", "proof",
        "checkpoint", "qldb-audit/v1/", "time ", "carmaker", "\x00", "\x7f", "\xa0",
        "\ufeff", b"\xff", b"\xc3", b"\xe0\x01\x00\xea", b"\x0f", b"\x20", b"\x2e\x81",
        b"\x8e\x8f\x7f", b"\xde\x80", b"\xee\x90\x81\x83", b"\xe3\x81\x84", b"\xd0",
        b"\xbe\x90", b"\x6e\x8f", b"\x5e\x80\x3f", b"\x7f" * 8, b"\x81", b"\x00" * 4,
    )
)  # fmt: skip

KINDS = ("flip", "set", "insert", "delete", "truncate", "duplicate", "splice", "token", "swap")

ops = st.lists(
    st.tuples(
        st.sampled_from(KINDS),
        st.integers(0, 1 << 20),
        st.integers(0, 255),
        st.integers(0, 1 << 20),
    ),
    min_size=1,
    max_size=6,
)


def mutate(data: bytes, steps: list[tuple[str, int, int, int]], other: bytes) -> bytes:
    """Apply the drawn steps (kind, position, byte, extra) to ``data``; ``other`` is the seed
    a splice takes its tail from."""
    out = bytearray(data)
    for kind, pos, byte, extra in steps:
        n = len(out)
        at = pos % (n + 1)
        if kind == "flip" and n:
            out[pos % n] ^= 1 << (byte % 8)
        elif kind == "set" and n:
            out[pos % n] = byte if extra % 4 == 0 else 32 + byte % 95  # mostly printable
        elif kind == "insert":
            out[at:at] = bytes([byte if extra % 4 == 0 else 32 + byte % 95])
        elif kind == "delete" and n:
            del out[pos % n : pos % n + 1 + extra % 16]
        elif kind == "truncate":
            del out[at:]
        elif kind == "duplicate" and n:
            start = pos % n
            chunk = out[start : start + 1 + extra % 64]
            to = extra % (n + 1)
            out[to:to] = chunk
        elif kind == "splice" and other:
            out[at:] = other[extra % len(other) :]
        elif kind == "token":
            token = TOKENS[byte % len(TOKENS)]
            if extra % 2:
                out[at:at] = token
            else:
                out[at : at + len(token)] = token
        elif kind == "swap":
            old, new = TOKENS[byte % len(TOKENS)], TOKENS[extra % len(TOKENS)]
            found = out.find(old, at) if old else -1
            if found < 0:
                found = out.find(old)
            if found >= 0:
                out[found : found + len(old)] = new
        if len(out) > 1 << 16:  # duplicates can grow it; keep each input small
            del out[1 << 16 :]
    return bytes(out)


def inputs(corpus: list[tuple[str, bytes]]) -> st.SearchStrategy[tuple[str, bytes]]:
    """A seed of ``corpus`` mutated by 1-6 steps: ``(seed name, bytes)``."""
    n = len(corpus)
    return st.tuples(st.integers(0, n - 1), st.integers(0, n - 1), ops).map(
        lambda t: (corpus[t[0]][0], mutate(corpus[t[0]][1], t[2], corpus[t[1]][1]))
    )


# -- running one input -------------------------------------------------------------------------
@contextmanager
def alarm(seconds: float) -> Iterator[None]:
    def handler(signum: int, frame: Any) -> None:
        raise HangError

    previous = signal.signal(signal.SIGALRM, handler)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def is_overrun(text: str) -> bool:
    """A refusal for the reader's deadline (``Limits.deadline``) or the parse budget."""
    return "Limits.deadline" in text or "parse budget" in text


def run(target: str, data: bytes, check: Callable[[bytes], str]) -> None:
    """Run ``check`` on one input under the guard and tally it. ``check`` returns a short
    outcome label (e.g. ``ok``, a refusal reason, ``exit 2``) and raises ``FuzzFailureError`` for
    an outcome that is not a documented one."""
    tally = TALLY.setdefault(target, Tally())
    tally.inputs += 1
    started = time.monotonic()
    try:
        with alarm(HANG_SECONDS):
            outcome = check(data)
    except HangError:
        tally.hangs += 1
        raise FuzzFailureError(f"{target}: hang (> {HANG_SECONDS:g} s) on {data[:300]!r}") from None
    except FuzzFailureError as e:
        if "overrun" in str(e):
            tally.overruns += 1
        else:
            tally.tracebacks += 1
        raise
    except BaseException as e:
        tally.tracebacks += 1
        raise FuzzFailureError(f"{target}: {type(e).__name__}: {e} on {data[:300]!r}") from e
    finally:
        spent = time.monotonic() - started
        tally.seconds += spent
        tally.slowest = max(tally.slowest, spent)
    if spent > PER_INPUT_SECONDS:
        tally.overruns += 1
        raise FuzzFailureError(f"{target}: budget overrun ({spent:.2f} s) on {data[:300]!r}")
    tally.outcomes[outcome] += 1


def refused(target: str, error: BaseException) -> str:
    """The outcome label of a documented refusal; an overrun if it was for the deadline."""
    text = str(error)
    if is_overrun(text):
        raise FuzzFailureError(f"{target}: budget overrun: {text[:300]}")
    reason = getattr(error, "reason", None)
    return f"{type(error).__name__}:{reason}" if reason else type(error).__name__
