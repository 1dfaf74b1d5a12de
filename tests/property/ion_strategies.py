"""Generators of Ion values, built as Ion TEXT so that every Ion type is exact.

A generated value is a small syntax tree (:class:`Node`); :func:`render` turns it into Ion text,
:func:`load` parses that text the way the auditor does (amazon.ion 0.15, C extension) and
:func:`reference_binary` makes the Ion binary the oracle gets. Keeping the tree (not only the
text) lets the property tests change exactly one field (:func:`edit_at`), reorder struct fields
(:func:`shuffle_structs`) and check what was covered (:func:`features`).

Coverage: nulls of every type, bools, ints (decimal/hex/binary/underscore forms, -0, huge),
floats (±0, nan, ±inf, subnormals, raw bit patterns), decimals (-0, negative and huge
exponents, huge coefficients, ``d``/``D``/dotted forms), timestamps of every precision with
unknown, UTC and ±hh:mm offsets and 1..12 fraction digits (zero fractions included), symbols
(identifiers, quoted, ``$0``, system SIDs, sexp operators), strings (short/long, control
characters, unicode, escapes), clobs, blobs, lists, sexps, structs (duplicate and ``$0`` field
names), 1..5 annotations (``$0`` included), nested to depth 4.

amazon.ion 0.15's C extension READS some valid values wrongly, silently:

- a timestamp with more than 9 fraction digits (``…:06.5000000000Z`` reads as ``.000000000``,
  ``.0000000001`` as ``.000000001``; ``.1111111111`` raises IERR_INTERNAL_ERROR);
- a zero decimal whose exponent is outside decQuad's range (``0d99999`` reads as ``0d6111``,
  ``0d-100000`` as ``0d-6176``), and a decimal with exponent 6112..6144 that fits decQuad
  once padded (``1d6112`` reads as ``10d6111``, ``1d6144`` as ``1000…000d6111``);
- (not generated here) a decimal exponent above about 990000 (``1d999999`` reads as
  ``1.000…d990000`` with 10,000 digits).

:func:`load` therefore parses such values with the pure-Python implementation (see
:func:`c_extension_misreads`); ``test_ion_hash_properties`` pins these bugs as strict xfails.
"""

from __future__ import annotations

import base64
import calendar
import contextlib
import math
import random
import re
import struct
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any, TypeVar

from amazon.ion import simpleion
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

T = TypeVar("T")
MAX_DEPTH = 4
C_EXT_MAX_FRACTION_DIGITS = 9

NULL_TYPES = (
    "null", "bool", "int", "float", "decimal", "timestamp", "symbol",
    "string", "clob", "blob", "list", "sexp", "struct",
)  # fmt: skip
KEYWORDS = {"null", "true", "false", "nan"}
# System symbols $1..$9 except $2 ($ion_1_0) and $3 ($ion_symbol_table), which mean something
# special at top level or as a first annotation.
SYSTEM_SIDS = {1: "$ion", 4: "name", 5: "version", 6: "imports", 7: "symbols", 8: "max_id",
               9: "$ion_shared_symbol_table"}  # fmt: skip
OPERATORS = ("+", "-", "<=", "==", "!", "&&", "||", ".", "*", "@", "^", "~", "?", "%", "#", "<")
NASTY_CHARS = "\x00\x0b\x0c\x0e\x7f\t\n\r'\"\\ é€\u2028\U0001d11e"
NASTY_BYTES = (0x00, 0x0B, 0x0C, 0x0E, 0x7F, 0x80, 0xFF)

# The property tests' common settings: the same examples on every run and machine, no example
# database, no deadline (a loaded CI machine), big values allowed. Each file sets its count.
SETTINGS = settings(
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


@dataclass(frozen=True)
class Node:
    """One Ion value. ``payload`` is kind-specific; containers hold child nodes (a struct holds
    ``(field name token, Node)`` pairs). Annotations and field names are Ion text tokens."""

    kind: str
    payload: Any
    annotations: tuple[str, ...] = ()

    def walk(self) -> Iterator[Node]:
        yield self
        for child in self.children():
            yield from child.walk()

    def children(self) -> list[Node]:
        if self.kind == "struct":
            return [value for _, value in self.payload]
        if self.kind in ("list", "sexp"):
            return list(self.payload)
        return []

    def depth(self) -> int:
        return 1 + max((child.depth() for child in self.children()), default=0)


# --------------------------------------------------------------------------------- rendering


def _ion_c_rejects_u_escape(code: int) -> bool:
    """ion-c (amazon.ion 0.15's C extension) rejects a ``\\U`` escape of a code point above
    U+FFFF whose low 16 bits look like a surrogate (``"\\U0001D800"`` gives IERR_INVALID_UTF8),
    so such characters are written raw instead."""
    return code > 0xFFFF and 0xD800 <= (code & 0xFFFF) <= 0xDFFF


def escape_text(text: str, quote: str, ascii_only: bool = False) -> str:
    out = []
    for ch in text:
        code = ord(ch)
        if ch in ("\\", quote):
            out.append("\\" + ch)
        elif code < 0x20 or code == 0x7F:
            out.append(f"\\x{code:02x}")
        elif ascii_only and code > 0x7F and not _ion_c_rejects_u_escape(code):
            out.append(f"\\u{code:04x}" if code <= 0xFFFF else f"\\U{code:08x}")
        else:
            out.append(ch)
    return "".join(out)


def _long_segments(parts: list[str], ascii_only: bool) -> str:
    return " ".join("'''" + escape_text(part, "'", ascii_only) + "'''" for part in parts)


def _split(text: str) -> list[str]:
    middle = len(text) // 2
    return [text[:middle], text[middle:]]


def render_string(text: str, style: str) -> str:
    if style == "long":
        return _long_segments(_split(text), ascii_only=False)
    return '"' + escape_text(text, '"', ascii_only=(style == "ascii")) + '"'


def render_symbol(payload: tuple[str, Any]) -> str:
    form, value = payload
    if form == "sid":
        return f"${value}"
    if form in ("identifier", "operator"):
        return str(value)
    return "'" + escape_text(value, "'", ascii_only=(form == "quoted_ascii")) + "'"


def symbol_text(payload: tuple[str, Any]) -> str | None:
    form, value = payload
    if form == "sid":
        return None if value == 0 else SYSTEM_SIDS[value]
    return str(value)


def _clob_escape(data: bytes, quote: str) -> str:
    out = []
    for byte in data:
        ch = chr(byte)
        if 0x20 <= byte < 0x7F and ch not in ("\\", quote):
            out.append(ch)
        else:
            out.append(f"\\x{byte:02x}")
    return "".join(out)


def render_lob(kind: str, payload: tuple[bytes, str]) -> str:
    data, style = payload
    if kind == "blob":
        encoded = base64.b64encode(data).decode("ascii")
        if style == "spaced":
            encoded = " ".join(encoded[i : i + 4] for i in range(0, len(encoded), 4))
        return "{{" + encoded + "}}" if style == "tight" else "{{ " + encoded + " }}"
    if style == "long":
        middle = len(data) // 2
        halves = (data[:middle], data[middle:])
        return "{{" + " ".join("'''" + _clob_escape(h, "'") + "'''" for h in halves) + "}}"
    return '{{"' + _clob_escape(data, '"') + '"}}'


def render_int(payload: tuple[int, bool, str]) -> str:
    n, negative_zero, style = payload
    sign = "-" if n < 0 or negative_zero else ""
    magnitude = abs(n)
    if style == "hex":
        return f"{sign}0x{magnitude:x}"
    if style == "HEX":
        return f"{sign}0X{magnitude:X}"
    if style == "bin":
        return f"{sign}0b{magnitude:b}"
    if style == "underscore":
        return f"{sign}{magnitude:_d}"
    return f"{sign}{magnitude}"


def render_float(f: float) -> str:
    if math.isnan(f):
        return "nan"
    if math.isinf(f):
        return "+inf" if f > 0 else "-inf"
    text = repr(f)
    return text if "e" in text else text + "e0"


def render_decimal(payload: tuple[bool, int, int, str]) -> str:
    negative, coefficient, exponent, style = payload
    sign = "-" if negative else ""
    if style == "dotted" and exponent <= 0:
        places = -exponent
        digits = str(coefficient).rjust(places + 1, "0")
        return f"{sign}{digits[: len(digits) - places]}.{digits[len(digits) - places :]}"
    if style == "D":
        return f"{sign}{coefficient}D{exponent}"
    if style == "negzero_exp" and exponent == 0:
        return f"{sign}{coefficient}d-0"
    return f"{sign}{coefficient}d{exponent}"


@dataclass(frozen=True)
class Ts:
    precision: int  # 0 year, 1 month, 2 day, 3 minute, 4 second, 5 fraction
    year: int
    month: int = 1
    day: int = 1
    hour: int = 0
    minute: int = 0
    second: int = 0
    fraction: str = ""  # the digits after the point (precision 5 only)
    offset: int | None = None  # minutes; None = unknown (-00:00)
    style: str = ""  # "T" for a day-precision "YYYY-MM-DDT", "+00:00" to spell UTC that way


def render_offset(offset: int | None, style: str) -> str:
    if offset is None:
        return "-00:00"
    if offset == 0 and style != "+00:00":
        return "Z"
    sign = "-" if offset < 0 else "+"
    hours, minutes = divmod(abs(offset), 60)
    return f"{sign}{hours:02d}:{minutes:02d}"


def render_timestamp(ts: Ts) -> str:
    if ts.precision == 0:
        return f"{ts.year:04d}T"
    if ts.precision == 1:
        return f"{ts.year:04d}-{ts.month:02d}T"
    date = f"{ts.year:04d}-{ts.month:02d}-{ts.day:02d}"
    if ts.precision == 2:
        return date + ("T" if ts.style == "T" else "")
    text = f"{date}T{ts.hour:02d}:{ts.minute:02d}"
    if ts.precision >= 4:
        text += f":{ts.second:02d}"
    if ts.precision == 5:
        text += "." + ts.fraction
    return text + render_offset(ts.offset, ts.style)


def _sexp_parts(children: tuple[Node, ...]) -> list[str]:
    # In a sexp, a long string followed by the empty symbol or an annotation spelled '' (as in
    # ('''a''' '')) trips both amazon.ion text readers (ion-c: IERR_UNEXPECTED_EOF), so such a
    # string is written in short form.
    parts = [render(child) for child in children]
    for i in range(1, len(parts)):
        after_long_string = parts[i - 1].endswith("'''")  # only long strings end that way
        if after_long_string and parts[i].startswith("''") and not parts[i].startswith("'''"):
            before = children[i - 1]
            parts[i - 1] = render(replace(before, payload=(before.payload[0], "short")))
    return parts


def render(node: Node) -> str:
    kind, payload = node.kind, node.payload
    if kind == "null":
        body = f"null.{payload}" if payload else "null"
    elif kind == "bool":
        body = "true" if payload else "false"
    elif kind == "int":
        body = render_int(payload)
    elif kind == "float":
        body = render_float(payload)
    elif kind == "decimal":
        body = render_decimal(payload)
    elif kind == "timestamp":
        body = render_timestamp(payload)
    elif kind == "symbol":
        body = render_symbol(payload)
    elif kind == "string":
        body = render_string(*payload)
    elif kind in ("clob", "blob"):
        body = render_lob(kind, payload)
    elif kind == "list":
        body = "[" + ", ".join(render(child) for child in payload) + "]"
    elif kind == "sexp":
        body = "(" + " ".join(_sexp_parts(payload)) + ")"
    elif kind == "struct":
        body = "{" + ", ".join(f"{name}: {render(value)}" for name, value in payload) + "}"
    else:  # pragma: no cover - a bug in this module
        raise AssertionError(kind)
    return "".join(f"{a}::" for a in node.annotations) + body


# --------------------------------------------------------------------------------- parsing


@contextlib.contextmanager
def pure_python() -> Iterator[None]:
    """Use amazon.ion's pure-Python reader/writer inside the block."""
    saved = simpleion.c_ext
    simpleion.c_ext = False
    try:
        yield
    finally:
        simpleion.c_ext = saved


C_EXT_DECIMAL_EXPONENTS = (-6176, 6111)  # decQuad's exponent range for 34-digit coefficients
C_EXT_DECQUAD_EMAX = 6144


def c_extension_misreads(node: Node) -> bool:
    """True if amazon.ion's C extension would read ``node`` wrongly (see the module docstring)."""
    lo, hi = C_EXT_DECIMAL_EXPONENTS
    for n in node.walk():
        if n.kind == "timestamp" and len(n.payload.fraction) > C_EXT_MAX_FRACTION_DIGITS:
            return True
        if n.kind == "decimal":
            _, coefficient, exponent, _ = n.payload
            if coefficient == 0 and not lo <= exponent <= hi:
                return True
            if hi < exponent and exponent + len(str(coefficient)) - 1 <= C_EXT_DECQUAD_EMAX:
                return True
    return False


def c_extension_miswrites(node: Node) -> bool:
    """True if amazon.ion's C extension would WRITE ``node`` wrongly: Ion binary of a decimal
    whose exponent is outside decQuad's range (``-465d99999`` becomes ``-465000000d99999``,
    ``1d6144`` becomes ``1000000000000000000000000000000000d6111``), or a timestamp with more
    than 9 fraction digits (truncated to 9)."""
    lo, hi = C_EXT_DECIMAL_EXPONENTS
    return any(
        (n.kind == "decimal" and not lo <= n.payload[2] <= hi)
        or (n.kind == "timestamp" and len(n.payload.fraction) > C_EXT_MAX_FRACTION_DIGITS)
        for n in node.walk()
    )


_DOLLAR_DIGITS_TEXT = re.compile(r"['\"]\$[0-9]+['\"]")


def pure_text_writer_misquotes(text: str) -> bool:
    """True if ``text`` may hold a symbol (value, annotation or field name) whose TEXT is
    ``$<digits>``: amazon.ion 0.15's pure-Python text writer writes it unquoted, so ``'$4'``
    comes back as ``name`` and ``'$0'`` as symbol zero. (Conservative: any such quoted token.)"""
    return bool(_DOLLAR_DIGITS_TEXT.search(text))


def load(node: Node) -> Any:
    """Parse ``render(node)`` with amazon.ion: the C extension unless it would misread it."""
    text = render(node)
    if c_extension_misreads(node):
        with pure_python():
            return simpleion.loads(text)
    return simpleion.loads(text)


def reference_binary(text: str) -> bytes:
    """Ion binary of the Ion ``text``, made by amazon.ion's pure-Python reader and writer.

    The oracle gets this, not a C-extension ``dumps`` of the parsed value: the C extension's
    binary writer corrupts decimals whose exponent is outside decQuad's range (``-465d99999``
    is written as ``-465000000d99999``), and its reader turns ``nan`` into a NaN with payload
    0x7FFEFEFEFEFEFEFE, which any writer keeps and ionhash hashes as raw bits. The pure-Python
    path writes what the text says.
    """
    with pure_python():
        return bytes(simpleion.dumps(simpleion.loads(text), binary=True))


# --------------------------------------------------------------------------------- generation
# One generator, two sources of choices: DrawSource (hypothesis draws: shrinkable, used by the
# property tests) and RandomSource (random.Random seeded by a hypothesis-drawn integer: about 20
# times faster and free of hypothesis's deliberate duplicates, used for the 10,000+ value bulk
# comparison). In DrawSource the simplest choice (the low end of a range, the first option)
# is always the simplest value, so failures shrink towards small, plain values.

IDENT_START = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ_$"
IDENT_REST = IDENT_START + "0123456789"
DIGITS = "0123456789"
SCALAR_KINDS = (
    "null", "bool", "int", "float", "decimal", "timestamp", "symbol",
    "string", "clob", "blob",
)  # fmt: skip
_SPECIAL_FLOATS = (0.0, -0.0, 5e-324, -5e-324, 2.2250738585072014e-308, 2.225073858507201e-308,
                   1.7976931348623157e308, math.nan, math.inf, -math.inf, 1.0, -1.5)  # fmt: skip
_SPECIAL_INTS = (0, 11, 12, 14, -11, 127, 128, 255, 256, 2**63 - 1, 2**63, -(2**63), 2**64)
_SPECIAL_LOBS = (bytes(NASTY_BYTES), b"", b"\x0b", b"\x0c", b"\x0e", b"\x0c\x0b\x0e\x0c")
_SPECIAL_SYMBOLS = (
    ("sid", 0),
    *(("sid", n) for n in SYSTEM_SIDS),
    *(("quoted", t) for t in ("$0", "$4", "null", "true", "nan", "+inf", "")),
)
_ANNOTATION_POOL = ("a", "b", "$0", "'$0'", "$4", "name", "'with space'", "'\\x0b\\x0e'")
_FIELD_NAME_POOL = ("a", "b", "$0", "'a'", '"a"', "'''a'''", "$4", "name", '""')
_FRACTIONS = ("0", "000", "5", "123", "123456", "123456789", "1234567890123")
_OFFSETS = (-754, 60, -60, 330, 1439, -1439)


class DrawSource:
    """Choices drawn through hypothesis (inside ``st.composite`` or ``st.data()``)."""

    def __init__(self, draw: Callable[[st.SearchStrategy[Any]], Any]) -> None:
        self.draw = draw

    def integer(self, lo: int, hi: int) -> int:
        return int(self.draw(st.integers(lo, hi)))

    def choice(self, options: Sequence[T]) -> T:
        return options[self.integer(0, len(options) - 1)]

    def text(self, alphabet: str | None, max_size: int, min_size: int = 0) -> str:
        strategy = st.text(max_size=max_size, min_size=min_size)
        if alphabet is not None:
            strategy = st.text(alphabet, max_size=max_size, min_size=min_size)
        return str(self.draw(strategy))

    def binary(self, max_size: int, min_size: int = 0) -> bytes:
        return bytes(self.draw(st.binary(min_size=min_size, max_size=max_size)))

    def floating(self) -> float:
        how = self.integer(0, 3)
        if how == 0:
            return float(self.draw(st.floats()))
        if how == 1:  # subnormals and tiny normals
            return float(self.draw(st.floats(min_value=-1e-307, max_value=1e-307)))
        if how == 2:
            return self.choice(_SPECIAL_FLOATS)
        return float(struct.unpack(">d", self.binary(8, 8))[0])


class RandomSource:
    """Choices from a ``random.Random``: fast, uniform, and never deliberately repetitive."""

    _PLANES = ((0x20, 0x7E), (0xA0, 0x2FF), (0x370, 0xD7FF), (0xE000, 0xFFFD), (0x10000, 0x10FFFF))

    def __init__(self, rnd: random.Random) -> None:
        self.rnd = rnd

    def integer(self, lo: int, hi: int) -> int:
        return self.rnd.randint(lo, hi)

    def choice(self, options: Sequence[T]) -> T:
        return self.rnd.choice(options)

    def _char(self) -> str:
        rnd = self.rnd
        if rnd.random() < 0.2:
            return rnd.choice(NASTY_CHARS)
        lo, hi = rnd.choice(self._PLANES)
        return chr(rnd.randint(lo, hi))

    def text(self, alphabet: str | None, max_size: int, min_size: int = 0) -> str:
        size = self.rnd.randint(min_size, max_size)
        if alphabet is not None:
            return "".join(self.rnd.choices(alphabet, k=size))
        return "".join(self._char() for _ in range(size))

    def binary(self, max_size: int, min_size: int = 0) -> bytes:
        size = self.rnd.randint(min_size, max_size)
        if self.rnd.random() < 0.3:
            return bytes(self.rnd.choices(NASTY_BYTES, k=size))
        return self.rnd.randbytes(size)

    def floating(self) -> float:
        rnd = self.rnd
        how = rnd.randint(0, 4)
        if how == 0:
            return rnd.choice(_SPECIAL_FLOATS)
        if how == 1:  # subnormal: biased exponent 0
            return float(
                struct.unpack(
                    ">d", bytes([rnd.choice((0, 0x80)), rnd.randint(0, 15)]) + rnd.randbytes(6)
                )[0]
            )
        if how == 2:
            return rnd.uniform(-1e6, 1e6)
        return float(struct.unpack(">d", rnd.randbytes(8))[0])  # 2 in 5: any bit pattern


Source = DrawSource | RandomSource


def _is_identifier(text: str) -> bool:
    return (
        not text[0].isdigit()
        and text not in KEYWORDS
        and not text.startswith("$ion")
        and not (text.startswith("$") and text[1:].isdigit())
    )


def gen_text(s: Source) -> str:
    text = s.text(NASTY_CHARS, 6) if s.integer(0, 3) == 3 else s.text(None, 10)
    return "x" + text if text.startswith("$ion") else text


def gen_symbol(s: Source) -> tuple[str, Any]:
    form = s.integer(0, 3)
    if form == 0:
        text = s.text(IDENT_REST, 8, min_size=1)
        if text.startswith("$ion"):  # keep clear of $ion_1_0 and $ion_symbol_table
            text = "x" + text
        return ("identifier", text) if _is_identifier(text) else ("quoted", text)
    if form == 3:
        return s.choice(_SPECIAL_SYMBOLS)
    return ("quoted" if form == 1 else "quoted_ascii", gen_text(s))


def gen_annotations(s: Source) -> tuple[str, ...]:
    if s.integer(0, 3) < 3:
        return ()
    tokens = []
    for _ in range(s.integer(1, 5)):
        pooled = s.integer(0, 1) == 0
        tokens.append(s.choice(_ANNOTATION_POOL) if pooled else render_symbol(gen_symbol(s)))
    return tuple(tokens)


def gen_field_name(s: Source) -> str:
    how = s.integer(0, 3)
    if how <= 1:
        return s.choice(_FIELD_NAME_POOL)
    if how == 2:
        return render_symbol(gen_symbol(s))
    return render_string(gen_text(s), "short")


def gen_int(s: Source) -> tuple[int, bool, str]:
    how = s.integer(0, 4)
    if how == 0:
        n = s.integer(-300, 300)
    elif how == 1:
        n = s.integer(-(2**70), 2**70)
    elif how == 2:
        n = s.integer(-(10**80), 10**80)
    elif how == 3:
        n = s.choice(_SPECIAL_INTS)
    else:
        n = int.from_bytes(s.binary(12, 1), "big") * s.choice((1, -1))
    style = s.choice(("dec", "hex", "HEX", "bin", "underscore", "dec"))
    return n, n == 0 and s.integer(0, 1) == 1, style


def gen_decimal(s: Source) -> tuple[bool, int, int, str]:
    how = s.integer(0, 3)
    if how == 0:
        coefficient = s.integer(0, 1000)
    elif how == 1:
        coefficient = s.integer(0, 10**40)
    elif how == 2:
        coefficient = s.integer(0, 10**120)
    else:
        coefficient = s.choice((0, 11, 12, 14, 128, 255))
    how = s.integer(0, 2)
    if how == 0:
        exponent = s.integer(-12, 12)
    elif how == 1:
        exponent = s.integer(-400, 400)
    else:
        exponent = s.choice((-100000, -6176, 6144, 99999))
    style = s.choice(("d", "dotted", "D", "negzero_exp"))
    if style == "dotted" and exponent < -60:  # keep the text short
        style = "d"
    return s.integer(0, 1) == 1, coefficient, exponent, style


def _utc_in_range(ts: Ts) -> bool:
    if ts.offset is None or ts.offset == 0:
        return True
    local = datetime(ts.year, ts.month, ts.day, ts.hour, ts.minute)
    try:
        utc = local - timedelta(minutes=ts.offset)
    except OverflowError:
        return False
    return 1 <= utc.year <= 9999


def gen_timestamp(s: Source) -> Ts:
    precision = s.integer(0, 5)
    year = s.integer(1, 9999) if s.integer(0, 3) else s.choice((2000, 1, 1970, 2024, 9999))
    month = s.integer(1, 12) if precision >= 1 else 1
    day = min(s.integer(1, 31), calendar.monthrange(year, month)[1]) if precision >= 2 else 1
    hour, minute, second, fraction, offset = 0, 0, 0, "", None
    if precision >= 3:
        hour, minute = s.integer(0, 23), s.integer(0, 59)
        how = s.integer(0, 3)
        if how == 1:
            offset = 0
        elif how == 2:
            offset = s.integer(-(23 * 60 + 59), 23 * 60 + 59)
        elif how == 3:
            offset = s.choice(_OFFSETS)
    if precision >= 4:
        second = s.integer(0, 59)
    if precision == 5:
        how = s.integer(0, 2)
        if how == 0:
            fraction = s.text(DIGITS, 12, min_size=1)
        elif how == 1:
            fraction = "0" * s.integer(1, 12)
        else:
            fraction = s.choice(_FRACTIONS)
    style = s.choice(("", "T", "+00:00"))
    ts = Ts(precision, year, month, day, hour, minute, second, fraction, offset, style)
    return ts if _utc_in_range(ts) else replace(ts, offset=None)


def gen_lob(s: Source) -> bytes:
    return s.binary(16) if s.integer(0, 3) else s.choice(_SPECIAL_LOBS)


def gen_scalar(s: Source) -> Node:
    kind = s.choice(SCALAR_KINDS)
    if kind == "null":
        return Node(kind, s.choice(("", *NULL_TYPES)))  # "" = plain null
    if kind == "bool":
        return Node(kind, s.integer(0, 1) == 1)
    if kind == "int":
        return Node(kind, gen_int(s))
    if kind == "float":
        return Node(kind, s.floating())
    if kind == "decimal":
        return Node(kind, gen_decimal(s))
    if kind == "timestamp":
        return Node(kind, gen_timestamp(s))
    if kind == "symbol":
        return Node(kind, gen_symbol(s))
    if kind == "string":
        return Node(kind, (gen_text(s), s.choice(("short", "ascii", "long"))))
    if kind == "clob":
        return Node(kind, (gen_lob(s), s.choice(("short", "long"))))
    return Node(kind, (gen_lob(s), s.choice(("plain", "tight", "spaced"))))


def gen_node(s: Source, depth: int = MAX_DEPTH) -> Node:
    """An Ion value nested at most ``depth`` levels deep (scalars are depth 1)."""
    shape = s.integer(0, 2) if depth > 1 else 0  # 1 in 3 is a container
    if shape < 2:
        node = gen_scalar(s)
    else:
        kind = s.choice(("list", "sexp", "struct"))
        size = s.integer(0, 4)
        if kind == "list":
            node = Node(kind, tuple(gen_node(s, depth - 1) for _ in range(size)))
        elif kind == "sexp":
            children = (
                Node("symbol", ("operator", s.choice(OPERATORS)))
                if s.integer(0, 3) == 3
                else gen_node(s, depth - 1)
                for _ in range(size)
            )
            node = Node(kind, tuple(children))
        else:
            fields = ((gen_field_name(s), gen_node(s, depth - 1)) for _ in range(size))
            node = Node(kind, tuple(fields))
    annotations = gen_annotations(s)
    return replace(node, annotations=annotations) if annotations else node


@st.composite
def ion_nodes(draw: Callable[[st.SearchStrategy[Any]], Any], depth: int = MAX_DEPTH) -> Node:
    """Hypothesis strategy for one Ion value (as a :class:`Node`)."""
    return gen_node(DrawSource(draw), depth)


def random_nodes(seed: int, count: int) -> list[Node]:
    """``count`` Ion values from a seeded ``random.Random`` (reproducible from ``seed``)."""
    source = RandomSource(random.Random(seed))
    return [gen_node(source) for _ in range(count)]


# --------------------------------------------------------------------------------- edits


def shuffle_structs(node: Node, rnd: Any) -> Node:
    """``node`` with the fields of every struct (at any depth) in a random order."""
    kind = node.kind
    if kind == "struct":
        fields = [(name, shuffle_structs(value, rnd)) for name, value in node.payload]
        rnd.shuffle(fields)
        return replace(node, payload=tuple(fields))
    if kind in ("list", "sexp"):
        return replace(node, payload=tuple(shuffle_structs(c, rnd) for c in node.payload))
    return node


def _scalar_edits(node: Node) -> list[tuple[str, Node]]:
    kind, p = node.kind, node.payload
    edits: list[tuple[str, Any]] = []
    if kind == "null":
        null_type = p or "null"
        other = NULL_TYPES[(NULL_TYPES.index(null_type) + 1) % len(NULL_TYPES)]
        edits += [("null type", Node("null", other)), ("null -> false", Node("bool", False))]
    elif kind == "bool":
        edits += [("flip", Node("bool", not p)), ("-> null.bool", Node("null", "bool"))]
    elif kind == "int":
        n, _, style = p
        edits += [
            ("n + 1", Node("int", (n + 1, False, style))),
            ("int -> decimal", Node("decimal", (n < 0, abs(n), 0, "d"))),
            ("int -> float", Node("float", 1.5)),
        ]
    elif kind == "float":
        if math.isnan(p):
            edits.append(("nan -> 0", Node("float", 0.0)))
        elif math.isinf(p):
            edits.append(("flip inf", Node("float", -p)))
        else:
            edits.append(("next float", Node("float", math.nextafter(p, math.inf if p < 1 else 0))))
            d = Decimal(repr(p)).as_tuple()
            coefficient = int("".join(map(str, d.digits)))
            edits.append(
                ("float -> decimal", Node("decimal", (bool(d.sign), coefficient, d.exponent, "d")))
            )
    elif kind == "decimal":
        negative, c, e, style = p
        edits += [
            ("coefficient + 1", Node("decimal", (negative, c + 1, e, style))),
            ("precision", Node("decimal", (negative, c * 10, e - 1, style))),
            ("sign", Node("decimal", (not negative, c, e, style))),
            ("decimal -> int", Node("int", (c, False, "dec"))),
        ]
    elif kind == "timestamp":
        ts: Ts = p
        if ts.precision < 5:
            finer = replace(
                ts, precision=ts.precision + 1, fraction="0" if ts.precision == 4 else ""
            )
            if ts.precision == 2:
                finer = replace(finer, offset=None)
            edits.append(("finer precision", Node("timestamp", finer)))
        else:
            edits.append(
                (
                    "one more fraction digit",
                    Node("timestamp", replace(ts, fraction=ts.fraction + "0")),
                )
            )
        if ts.precision >= 3:
            other = 0 if ts.offset is None else None
            edits.append(("unknown <-> UTC offset", Node("timestamp", replace(ts, offset=other))))
        if ts.precision > 0:
            edits.append(
                ("coarser precision", Node("timestamp", replace(ts, precision=ts.precision - 1)))
            )
    elif kind == "symbol":
        text = symbol_text(p)
        edits.append(("symbol text", Node("symbol", ("quoted", (text or "$0") + "x"))))
        if text is not None:
            edits.append(("symbol -> string", Node("string", (text, "short"))))
    elif kind == "string":
        text, style = p
        edits += [
            ("string text", Node("string", (text + "x", style))),
            ("string -> symbol", Node("symbol", ("quoted", text))),
        ]
    elif kind in ("clob", "blob"):
        data, _ = p
        other = "blob" if kind == "clob" else "clob"
        edits += [
            ("lob bytes", Node(kind, (data + b"\x0b", p[1]))),
            ("lob type", Node(other, (data, "short" if other == "clob" else "plain"))),
        ]
    return [(label, replace(new, annotations=node.annotations)) for label, new in edits]


def _container_edits(node: Node) -> list[tuple[str, Node]]:
    kind, p = node.kind, node.payload
    extra = Node("null", "")
    edits: list[tuple[str, Node]] = []
    if kind in ("list", "sexp"):
        other = "sexp" if kind == "list" else "list"
        edits.append(("append element", replace(node, payload=(*p, extra))))
        if not any(c.kind == "symbol" and c.payload[0] == "operator" for c in p):
            edits.append((f"{kind} -> {other}", replace(node, kind=other)))
        if p:
            edits.append(("drop element", replace(node, payload=p[:-1])))
    elif kind == "struct":
        edits.append(("add field", replace(node, payload=(*p, ("a", extra)))))
        if p:
            edits.append(("remove field", replace(node, payload=p[1:])))
            renamed = (("zz_renamed", p[0][1]), *p[1:])
            edits.append(("rename field", replace(node, payload=renamed)))
            edits.append(("duplicate field", replace(node, payload=(*p, p[0]))))
    return edits


def local_edits(node: Node) -> list[tuple[str, Node]]:
    """Every single change to ``node`` itself that changes its Ion data model value."""
    if node.kind == "symbol" and node.payload[0] == "operator":
        return [("operator", Node("symbol", ("operator", "+" if node.payload[1] != "+" else "-")))]
    edits = (
        _container_edits(node) if node.kind in ("list", "sexp", "struct") else _scalar_edits(node)
    )
    edits.append(("add annotation", replace(node, annotations=(*node.annotations, "added"))))
    if node.annotations:
        edits.append(("remove annotation", replace(node, annotations=node.annotations[:-1])))
        edits.append(
            ("rename annotation", replace(node, annotations=("zz_renamed", *node.annotations[1:])))
        )
    return edits


def edit_at(
    node: Node, index: int, choose: Callable[[list[tuple[str, Node]]], tuple[str, Node]]
) -> tuple[str, Node]:
    """Apply one edit (picked by ``choose``) to the ``index``-th node in pre-order."""
    counter = [index]

    def visit(n: Node) -> tuple[str, Node] | None:
        if counter[0] == 0:
            counter[0] = -1
            return choose(local_edits(n))
        counter[0] -= 1
        if n.kind in ("list", "sexp"):
            children = list(n.payload)
            for i, child in enumerate(children):
                done = visit(child)
                if done:
                    children[i] = done[1]
                    return done[0], replace(n, payload=tuple(children))
        elif n.kind == "struct":
            fields = list(n.payload)
            for i, (name, child) in enumerate(fields):
                done = visit(child)
                if done:
                    fields[i] = (name, done[1])
                    return done[0], replace(n, payload=tuple(fields))
        return None

    result = visit(node)
    if result is None:  # pragma: no cover - index out of range
        raise IndexError(index)
    return result


# --------------------------------------------------------------------------------- coverage


def _scalar_features(n: Node) -> set[str]:
    kind, p = n.kind, n.payload
    out: set[str] = set()
    if kind == "null":
        out.add(f"null.{p or 'plain'}")
    elif kind == "bool":
        out.add(f"bool:{p}")
    elif kind == "int":
        value, negative_zero, style = p
        out.add(f"int:{style}")
        out.add("int:0" if value == 0 else "int:negative" if value < 0 else "int:positive")
        if negative_zero:
            out.add("int:-0")
        if abs(value) >= 2**64:
            out.add("int:huge")
    elif kind == "float":
        if math.isnan(p):
            out.add("float:nan")
        elif math.isinf(p):
            out.add("float:+inf" if p > 0 else "float:-inf")
        elif p == 0:
            out.add("float:-0" if math.copysign(1, p) < 0 else "float:0")
        elif abs(p) < 2.2250738585072014e-308:
            out.add("float:subnormal")
        else:
            out.add("float:normal")
    elif kind == "decimal":
        negative, coefficient, exponent, style = p
        out.add(f"decimal:{style}")
        if coefficient == 0:
            out.add("decimal:-0" if negative else "decimal:0")
        if coefficient >= 10**34:
            out.add("decimal:huge coefficient")
        out.add("decimal:exponent<0" if exponent < 0 else "decimal:exponent>=0")
    elif kind == "timestamp":
        ts: Ts = p
        out.add(f"timestamp:precision {ts.precision}")
        if ts.precision >= 3:
            offset = ts.offset
            out.add(
                "timestamp:offset -00:00"
                if offset is None
                else "timestamp:offset Z"
                if offset == 0
                else "timestamp:offset +"
                if offset > 0
                else "timestamp:offset -"
            )
        if ts.precision == 5:
            out.add(f"timestamp:fraction digits {min(len(ts.fraction), 10)}")
            if set(ts.fraction) == {"0"}:
                out.add("timestamp:zero fraction")
    elif kind == "symbol":
        form, value = p
        out.add(f"symbol:{form}")
        if form == "sid" and value == 0:
            out.add("symbol:$0")
    elif kind == "string":
        text, style = p
        out.add(f"string:{style}")
        if any(c in text for c in "\x0b\x0c\x0e"):
            out.add("string:framing bytes")
        if any(ord(c) > 0xFFFF for c in text):
            out.add("string:astral")
    elif kind in ("clob", "blob"):
        if any(b in p[0] for b in (0x0B, 0x0C, 0x0E)):
            out.add(f"{kind}:framing bytes")
        if not p[0]:
            out.add(f"{kind}:empty")
    return out


def features(node: Node) -> set[str]:
    """Names of the Ion features that ``node`` exercises (for coverage assertions)."""
    out = {f"depth:{min(node.depth(), MAX_DEPTH)}"}
    for n in node.walk():
        out.add(n.kind)
        if n.annotations:
            out.add(f"annotations:{len(n.annotations)}")
            if "$0" in n.annotations:
                out.add("annotation:$0")
        if n.kind in ("list", "sexp", "struct") and not n.payload:
            out.add(f"{n.kind}:empty")
        if n.kind == "sexp" and any(
            c.payload[0] == "operator" for c in n.payload if c.kind == "symbol"
        ):
            out.add("sexp:operator")
        if n.kind == "struct":
            names = [name for name, _ in n.payload]
            if len(set(names)) < len(names):
                out.add("struct:duplicate field names")
            if "$0" in names:
                out.add("struct:$0 field name")
        out |= _scalar_features(n)
    return out
