"""Ion 1.0 text reader (the amazon-ion/ion-docs specification of text, symbols, strings and
clobs, and the ANTLR grammar IonText.g4), in pure Python.

Recursive descent over a ``str``; every step consumes at least one character, so it cannot
hang. Decisions where the specification leaves room (each follows the grammar or both
amazon.ion implementations):

- numbers, timestamps and ``±inf`` must be followed by a stop character (``{}[](),"'``,
  whitespace, a comment, or the end); trailing commas in lists and structs are accepted;
- field names may be identifiers (type names such as ``int`` included, keywords ``null``,
  ``true``, ``false``, ``nan`` not), ``$N``, quoted symbols, strings or long strings;
- in an sexp, operators are the longest run of the 19 operator characters (``(--1)`` is ``--``
  and ``1``), cut before a comment; ``-`` followed by a digit starts a number;
- ``\\uD834\\uDD1E`` (an escaped surrogate pair) is the one code point it encodes; a lone
  surrogate, a code point above U+10FFFF, raw control characters other than whitespace, and in
  clobs raw non-ASCII or ``\\u``/``\\U`` escapes are malformed; raw CR LF and CR in long
  strings and long clobs read as LF;
- blobs must be canonical base64 (no non-zero padding bits);
- ``$ion_1_0`` unquoted and unannotated at top level is the IVM (resets the symbol table);
  ``$ion_X_Y`` for another version is refused; other spellings of the symbol ``$ion_1_0`` at top
  level (``'$ion_1_0'``, ``$2``) are NOPs; a top-level struct whose first annotation is
  ``$ion_symbol_table`` is a local symbol table; neither is yielded.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Iterator
from decimal import Decimal, InvalidOperation
from typing import Any

from auditor.ion.limits import Budget, Fail, Limits, digits_limit
from auditor.ion.symbols import (
    ION_1_0,
    ION_SYMBOL_TABLE,
    apply_local_table,
    out_of_range,
    system_table,
    unknown_text,
)
from proofs.ionvalue import (
    Annotated,
    Clob,
    IonType,
    SExp,
    Symbol,
    Timestamp,
    TimestampPrecision,
    TypedNull,
)

CHUNK = 65536  # characters between two budget checks inside a large value

_WS = re.compile(r"(?:[ \t\n\r\v\f]+|//[^\n\r]*|/\*.*?\*/)*", re.S)
_IDENT = re.compile(r"[A-Za-z_$][A-Za-z0-9_$]*")
_SID = re.compile(r"\$[0-9]+\Z")
_IVM_LIKE = re.compile(r"\$ion_[0-9]+_[0-9]+\Z")
_NUMBER = re.compile(
    r"""-?(?:
        0[xX](?P<hex>[0-9a-fA-F](?:_?[0-9a-fA-F])*)
      | 0[bB](?P<bin>[01](?:_?[01])*)
      | (?P<int>0|[1-9](?:_?[0-9])*)(?P<frac>\.(?:[0-9](?:_?[0-9])*)?)?
        (?:(?P<e>[eE])|(?P<d>[dD]))?(?(e)(?P<fexp>[+-]?[0-9]+)|(?(d)(?P<dexp>[+-]?[0-9]+)))
    )""",
    re.X,
)
_TIMESTAMP = re.compile(
    r"([0-9]{4})(?:T|-([0-9]{2})(?:T|-([0-9]{2})(?:T(?:([0-9]{2}):([0-9]{2})"
    r"(?::([0-9]{2})(?:\.([0-9]+))?)?(Z|[+-][0-9]{2}:[0-9]{2}))?)?))"
)
_OPERATOR = re.compile(r"[!#%&*+\-./;<=>?@^`|~]+")
_SHORT_PLAIN = re.compile(r'[^"\\\x00-\x08\x0a\x0d-\x1f]*')
_SYMBOL_PLAIN = re.compile(r"[^'\\\x00-\x08\x0a\x0d-\x1f]*")
_LONG_PLAIN = re.compile(r"(?:[^'\\\x00-\x08\x0e-\x1f]|'(?!''))*")
_BLOB_BODY = re.compile(r"[^}]*")
_B64_WS = re.compile(r"[ \t\n\r\v\f]+")
_B64 = re.compile(r"[A-Za-z0-9+/]*(?:[AEIMQUYcgkosw048]=|[AQgw]==)?\Z")
_STOP = frozenset("{}[](),\"' \t\n\r\v\f")
_WS_START = frozenset(" \t\n\r\v\f/")
_FIELD_FAST = re.compile(r"[ \t\n\r]*([A-Za-z_][A-Za-z0-9_$]*)[ \t\n\r]*:(?!:)[ \t\n\r]*")
_SIMPLE_NUMBER = re.compile(r"-?(?:0|[1-9][0-9]*)(\.[0-9]*)?")
_TOKEN_END = re.compile(r"[{}\[\](),\"' \t\n\r\v\f/]")
_SIMPLE_STOP = frozenset(",}]) \t\n\r")
_IDENT_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_$")
_NULL_TYPES = {t.name.lower(): TypedNull(t) for t in IonType if t is not IonType.NULL}
_NULL_TYPES["null"] = None  # type: ignore[assignment]
_KEYWORDS = {"null": None, "true": True, "false": False, "nan": float("nan")}
_ESCAPES = {
    "a": "\a", "b": "\b", "t": "\t", "n": "\n", "f": "\f", "r": "\r", "v": "\v", "?": "?",
    "0": "\0", "'": "'", '"': '"', "/": "/", "\\": "\\",
}  # fmt: skip
_PRECISION = (TimestampPrecision.YEAR, TimestampPrecision.MONTH, TimestampPrecision.DAY)
_SYMBOL_ZERO = Symbol(None)


class NeedMore(Exception):  # noqa: N818 - control flow of the streaming reader
    """The value continues past the end of the buffer (streaming only)."""


class Parser:
    """One text document (or a buffer of one, for streaming). ``value_at(pos)`` parses the
    top-level value at ``pos`` and returns (value, end)."""

    def __init__(self, text: str, limits: Limits, budget: Budget, final: bool = True) -> None:
        self.s = text
        self.end = len(text)
        self.final = final
        self.limits = limits
        self.budget = budget
        self.texts = system_table()
        self.next_check = CHUNK
        self.digits_bound = digits_limit(limits.max_digits)

    # -- helpers ---------------------------------------------------------------------------
    def eof(self, pos: int, what: str) -> Fail:
        if not self.final:
            raise NeedMore
        return Fail("truncated", f"the input ends inside {what}", pos)

    def ws(self, pos: int) -> int:
        if pos < self.end and self.s[pos] not in _WS_START:
            return pos
        m = _WS.match(self.s, pos)
        pos = m.end()  # type: ignore[union-attr]
        if self.final and self.s.startswith("/*", pos):
            raise Fail("truncated", "a block comment that never ends", pos)
        if pos < self.end and self.s[pos] == "/" and not self.final:
            nxt = self.s[pos + 1 : pos + 2]
            if nxt in ("", "*", "/"):
                raise NeedMore  # a comment that may continue past the buffer
        if pos == self.end and not self.final:
            raise NeedMore
        return pos

    def checkpoint(self, pos: int, held: int) -> None:
        self.next_check = pos + CHUNK
        self.budget.check(pos, held)

    def stop_after(self, pos: int, what: str) -> None:
        """A number/timestamp/special float ends here: the next character must stop it."""
        if pos >= self.end:
            if not self.final:
                raise NeedMore
            return
        c = self.s[pos]
        if c in _STOP:
            return
        if c == "/":
            nxt = self.s[pos + 1 : pos + 2]
            if nxt in ("*", "/"):
                return
            if not nxt and not self.final:
                raise NeedMore
        raise Fail("not-ion", f"{what} followed by {c!r}", pos)

    def resolve(self, sid: int, pos: int) -> str | None:
        texts = self.texts
        if sid >= len(texts):
            raise out_of_range(sid, len(texts), pos)
        text = texts[sid]
        if text is None and sid:
            raise unknown_text(sid, pos)
        return text

    # -- values ----------------------------------------------------------------------------
    def value(self, pos: int, depth: int, in_sexp: bool) -> tuple[Any, int]:
        """The (annotated) value at ``pos`` (whitespace already skipped)."""
        s = self.s
        annotations: list[str | None] | None = None
        result: Any = None
        while True:
            if pos >= self.end:
                raise self.eof(pos, "a value")
            c = s[pos]
            if c == "'" and pos + 3 > self.end and not self.final:
                raise NeedMore
            if c == "'" and not s.startswith("'''", pos):
                text, after = self.quoted(pos + 1, "'", _SYMBOL_PLAIN)
                following = self.ws(after) if after < self.end or not self.final else after
                if s.startswith("::", following):
                    annotations = self.annotate(annotations, text, pos)
                    pos = self.ws(following + 2)
                    continue
                result = Symbol(text)
                pos = after
                break
            if c in _IDENT_CHARS and not ("0" <= c <= "9"):
                m = _IDENT.match(s, pos)
                after = m.end()  # type: ignore[union-attr]
                if after == self.end and not self.final:
                    raise NeedMore
                word = m.group()  # type: ignore[union-attr]
                if after < self.end and s[after] not in _WS_START and s[after] != ":":
                    result, pos = self.word(word, pos, after)
                    break
                following = self.ws(after) if after < self.end or not self.final else after
                if s.startswith("::", following):
                    if word in _KEYWORDS:
                        raise Fail("not-ion", f"the keyword {word!r} cannot be an annotation", pos)
                    annotations = self.annotate(annotations, self.symbol_text(word, pos), pos)
                    pos = self.ws(following + 2)
                    continue
                result, pos = self.word(word, pos, after)
                break
            result, pos = self.entity(c, pos, depth, in_sexp)
            break
        if annotations is not None:
            if type(result) is Annotated:  # pragma: no cover - entities are never annotated
                raise Fail("not-ion", "nested annotations", pos)
            result = Annotated(tuple(annotations), result)
        return result, pos

    def annotate(
        self, annotations: list[str | None] | None, text: str | None, pos: int
    ) -> list[str | None]:
        if annotations is None:
            annotations = []
        annotations.append(text)
        if len(annotations) > self.limits.max_annotations:
            raise Fail(
                "limit",
                f"more than {self.limits.max_annotations} annotations (Limits.max_annotations)",
                pos,
            )
        return annotations

    def symbol_text(self, word: str, pos: int) -> str | None:
        if word[0] == "$" and _SID.match(word):
            return self.resolve(int(word[1:]), pos)
        return word

    def word(self, word: str, pos: int, after: int) -> tuple[Any, int]:
        """An identifier: a keyword, a typed null, a SID or a symbol."""
        if word in _KEYWORDS:
            if word == "null" and after < self.end and self.s[after] == ".":
                m = _IDENT.match(self.s, after + 1)
                if m is None or m.group() not in _NULL_TYPES:
                    raise Fail("not-ion", "null. must be followed by an Ion type name", after)
                end = m.end()
                if end == self.end and not self.final:
                    raise NeedMore
                return _NULL_TYPES[m.group()], end
            return _KEYWORDS[word], after
        if word[0] == "$" and _SID.match(word):
            sid = int(word[1:])
            return (_SYMBOL_ZERO if sid == 0 else Symbol(self.resolve(sid, pos))), after
        return Symbol(word), after

    def entity(self, c: str, pos: int, depth: int, in_sexp: bool) -> tuple[Any, int]:
        s = self.s
        if c == '"':
            text, pos = self.quoted(pos + 1, '"', _SHORT_PLAIN)
            return text, pos
        if c == "{":
            if s.startswith("{{", pos):
                return self.lob(pos)
            return self.struct(pos, depth)
        if c == "[":
            return self.sequence(pos, depth, "]")
        if c == "(":
            return self.sequence(pos, depth, ")")
        if c == "'":  # a long string: the quoted-symbol case was taken by value()
            return self.long_strings(pos)
        if "0" <= c <= "9" or c == "-":
            if c == "-" and s.startswith("-inf", pos):
                end = pos + 4
                if end >= self.end or s[end] not in _IDENT_CHARS:
                    if not in_sexp:
                        self.stop_after(end, "-inf")
                    return float("-inf"), end
            if (
                c != "-"
                and pos + 4 < self.end
                and s[pos + 4] in "-T"
                and s[pos : pos + 4].isascii()
                and s[pos : pos + 4].isdigit()
            ):
                return self.timestamp(pos)
            if pos + 4 >= self.end and not self.final:
                raise NeedMore
            if c == "-" and (pos + 1 >= self.end or not "0" <= s[pos + 1] <= "9"):
                if in_sexp:
                    return self.operator(pos)
                raise Fail("not-ion", "'-' must start a number here", pos)
            return self.number(pos)
        if c == "+":
            if s.startswith("+inf", pos):
                end = pos + 4
                if end >= self.end or s[end] not in _IDENT_CHARS:
                    if not in_sexp:
                        self.stop_after(end, "+inf")
                    return float("inf"), end
            if in_sexp:
                return self.operator(pos)
            raise Fail("not-ion", "'+' must start +inf here", pos)
        if in_sexp and c in "!#%&*./;<=>?@^`|~":
            return self.operator(pos)
        raise Fail("not-ion", f"unexpected {c!r}", pos)

    def operator(self, pos: int) -> tuple[Symbol, int]:
        m = _OPERATOR.match(self.s, pos)
        run = m.group()  # type: ignore[union-attr]
        cut = len(run)
        for marker in ("//", "/*"):
            at = run.find(marker)
            if at >= 0:
                cut = min(cut, at)
        if cut == 0:  # pragma: no cover - ws() consumed the comment
            raise Fail("not-ion", "unexpected comment", pos)
        end = pos + cut
        if end == self.end and not self.final:
            raise NeedMore
        return Symbol(run[:cut]), end

    def token_complete(self, pos: int) -> None:
        """Streaming: a number or timestamp must end inside the buffer."""
        if not self.final and _TOKEN_END.search(self.s, pos) is None:
            raise NeedMore

    def number(self, pos: int) -> tuple[Any, int]:
        self.token_complete(pos)
        s = self.s
        m = _SIMPLE_NUMBER.match(s, pos)
        if m is not None:
            end = m.end()
            if end < self.end and s[end] in _SIMPLE_STOP and end - pos <= self.limits.max_digits:
                text = m.group()
                if m.group(1) is None:
                    return int(text), end
                return Decimal(text), end
        m = _NUMBER.match(self.s, pos)
        if m is None:
            raise Fail("not-ion", "not a number", pos)
        end = m.end()
        self.stop_after(end, "a number")
        text = m.group()
        negative = text[0] == "-"
        groups = m.groupdict()
        if groups["hex"] is not None or groups["bin"] is not None:
            digits = groups["hex"] or groups["bin"]
            n = int(digits.replace("_", ""), 16 if groups["hex"] is not None else 2)
            if n >= self.digits_bound:
                raise self.too_many_digits(pos)
            return (-n if negative else n), end
        if groups["e"] is not None:
            return float(text.replace("_", "")), end
        if groups["frac"] is None and groups["d"] is None:
            digits = groups["int"].replace("_", "")
            if len(digits) > self.limits.max_digits:
                raise self.too_many_digits(pos)
            n = int(digits)
            return (-n if negative else n), end
        body = text.replace("_", "")
        if groups["d"] is not None:
            body = body.replace("d", "E").replace("D", "E")
        try:
            d = Decimal(body)
        except InvalidOperation:  # an exponent beyond what Python's Decimal holds
            raise Fail(
                "limit",
                f"decimal exponent beyond ±{self.limits.max_exponent} (Limits.max_exponent)",
                pos,
            ) from None
        _, coefficient, exponent = d.as_tuple()
        if len(coefficient) > self.limits.max_digits:
            raise self.too_many_digits(pos)
        if not isinstance(exponent, int) or abs(exponent) > self.limits.max_exponent:
            raise Fail(
                "limit",
                f"decimal exponent beyond ±{self.limits.max_exponent} (Limits.max_exponent)",
                pos,
            )
        return d, end

    def too_many_digits(self, pos: int) -> Fail:
        return Fail("limit", f"more than {self.limits.max_digits} digits (Limits.max_digits)", pos)

    def timestamp(self, pos: int) -> tuple[Timestamp, int]:
        self.token_complete(pos)
        m = _TIMESTAMP.match(self.s, pos)
        if m is None:
            raise Fail("not-ion", "not a timestamp", pos)
        end = m.end()
        self.stop_after(end, "a timestamp")
        year, month, day, hour, minute, second, fraction, offset = m.groups()
        try:
            if hour is None:
                count = 1 + (month is not None) + (day is not None)
                return Timestamp(
                    int(year), int(month or 1), int(day or 1), precision=_PRECISION[count - 1]
                ), end
            if offset == "Z":
                minutes: int | None = 0
            else:
                minutes = int(offset[1:3]) * 60 + int(offset[4:6])
                if offset[0] == "-":
                    minutes = None if minutes == 0 else -minutes
                if int(offset[1:3]) > 23 or int(offset[4:6]) > 59:
                    raise ValueError("offset out of range")
            frac = None
            if fraction is not None:
                if len(fraction) > self.limits.max_digits:
                    raise self.too_many_digits(pos)
                if len(fraction) > self.limits.max_exponent:
                    raise Fail("limit", "timestamp fraction beyond Limits.max_exponent", pos)
                frac = Decimal("0." + fraction)
            return Timestamp(
                int(year), int(month), int(day), int(hour), int(minute), int(second or 0),
                frac, minutes,
                TimestampPrecision.MINUTE if second is None else TimestampPrecision.SECOND,
            ), end  # fmt: skip
        except ValueError as e:
            raise Fail("not-ion", f"invalid timestamp ({e})", pos) from None

    # -- text ------------------------------------------------------------------------------
    def quoted(self, pos: int, quote: str, plain: re.Pattern[str]) -> tuple[str, int]:
        """The body of a short string (``"``) or quoted symbol (``'``) starting at ``pos``."""
        s = self.s
        m = plain.match(s, pos)
        end = m.end()  # type: ignore[union-attr]
        if end < self.end and s[end] == quote:
            text = s[pos:end]
            self.check_text(text, pos)
            return text, end + 1
        parts = [s[pos:end]]
        pos = end
        while True:
            if pos >= self.end:
                raise self.eof(pos, "a quoted string or symbol")
            c = s[pos]
            if c == quote:
                break
            if c == "\\":
                piece, pos = self.escape(pos, False)
                parts.append(piece)
            else:
                raise Fail("not-ion", f"unescaped control character {c!r} in quoted text", pos)
            m = plain.match(s, pos)
            end = m.end()  # type: ignore[union-attr]
            parts.append(s[pos:end])
            pos = end
        text = _join_surrogates("".join(parts), pos)
        self.check_text(text, pos)
        return text, pos + 1

    def check_text(self, text: str, pos: int) -> None:
        if len(text) > self.limits.max_text:
            raise Fail("limit", f"a text over {self.limits.max_text} characters", pos)

    def escape(self, pos: int, clob: bool) -> tuple[str, int]:
        """The character an escape at ``pos`` (a backslash) stands for, and where it ends."""
        s = self.s
        if pos + 1 >= self.end:
            raise self.eof(pos, "an escape")
        c = s[pos + 1]
        simple = _ESCAPES.get(c)
        if simple is not None:
            return simple, pos + 2
        if c == "\n":
            return "", pos + 2
        if c == "\r":
            if pos + 2 >= self.end and not self.final:
                raise NeedMore
            return "", pos + 3 if s.startswith("\n", pos + 2) else pos + 2
        size = {"x": 2, "u": 4, "U": 8}.get(c)
        if size is None or (clob and c != "x"):
            raise Fail("not-ion", f"invalid escape \\{c}", pos)
        digits = s[pos + 2 : pos + 2 + size]
        if len(digits) < size and not self.final:
            raise NeedMore
        if len(digits) < size or not all(ch in "0123456789abcdefABCDEF" for ch in digits):
            raise Fail("not-ion", f"invalid escape \\{c}{digits}", pos)
        code = int(digits, 16)
        if code > 0x10FFFF:
            raise Fail("not-ion", f"escape \\{c}{digits} is beyond U+10FFFF", pos)
        return chr(code), pos + 2 + size

    def long_strings(self, pos: int) -> tuple[str, int]:
        parts = []
        while True:
            text, pos = self.long_body(pos + 3, clob=False)
            parts.append(text)
            after = pos
            if after >= self.end and self.final:
                break
            nxt = self.ws(after)
            if not self.s.startswith("'''", nxt):
                if nxt + 3 > self.end and not self.final:
                    raise NeedMore
                break
            pos = nxt
        text = "".join(parts)
        self.check_text(text, pos)
        return text, after

    def long_body(self, pos: int, clob: bool) -> tuple[str, int]:
        """The text of one ``'''…'''`` (``pos`` after the opening quotes), newlines
        normalised, escapes decoded; surrogate escapes joined within this segment."""
        s = self.s
        parts = []
        while True:
            m = _LONG_PLAIN.match(s, pos)
            end = m.end()  # type: ignore[union-attr]
            raw = s[pos:end]
            if "\r" in raw:
                raw = raw.replace("\r\n", "\n").replace("\r", "\n")
            parts.append(raw)
            pos = end
            if pos >= self.end:
                raise self.eof(pos, "a long string")
            c = s[pos]
            if c == "'":
                if pos + 3 > self.end and not self.final:
                    raise NeedMore
                if s.startswith("'''", pos):
                    return _join_surrogates("".join(parts), pos), pos + 3
                raise self.eof(pos, "a long string")  # a lone quote at the very end
            if c == "\\":
                piece, pos = self.escape(pos, clob)
                parts.append(piece)
                continue
            raise Fail("not-ion", f"unescaped control character {c!r} in a long string", pos)

    def lob(self, pos: int) -> tuple[Any, int]:
        s = self.s
        start = pos
        pos += 2
        m = _B64_WS.match(s, pos)
        if m is not None:
            pos = m.end()
        if pos < self.end and (s[pos] == '"' or s.startswith("'''", pos)):
            return self.clob(pos, start)
        m = _BLOB_BODY.match(s, pos)
        end = m.end()  # type: ignore[union-attr]
        if not s.startswith("}}", end):
            if end + 2 > self.end:
                raise self.eof(start, "a blob")
            raise Fail("not-ion", "a blob must end with }}", end)
        body = _B64_WS.sub("", s[pos:end])
        if len(body) % 4 or not _B64.match(body):
            raise Fail("not-ion", "a blob that is not canonical base64", start)
        if len(body) // 4 * 3 > self.limits.max_text:
            raise Fail("limit", f"a blob over {self.limits.max_text} bytes", start)
        try:
            return base64.b64decode(body, validate=True), end + 2
        except binascii.Error:  # pragma: no cover - the pattern admits only valid base64
            raise Fail("not-ion", "invalid base64", start) from None

    def clob(self, pos: int, start: int) -> tuple[Clob, int]:
        s = self.s
        if s[pos] == '"':
            text, pos = self.quoted_clob(pos + 1)
        else:
            parts = []
            while True:
                part, pos = self.long_body(pos + 3, clob=True)
                parts.append(part)
                m = _B64_WS.match(s, pos)
                if m is not None:
                    pos = m.end()
                if not s.startswith("'''", pos):
                    break
            text = "".join(parts)
        m = _B64_WS.match(s, pos)
        if m is not None:
            pos = m.end()
        if not s.startswith("}}", pos):
            if pos + 2 > self.end:
                raise self.eof(start, "a clob")
            raise Fail("not-ion", "a clob must end with }} (no comments or other text)", pos)
        if not s[start:pos].isascii():
            raise Fail("not-ion", "raw non-ASCII in a clob (only ASCII and \\x escapes)", start)
        data = text.encode("latin-1")
        if len(data) > self.limits.max_text:
            raise Fail("limit", f"a clob over {self.limits.max_text} bytes", start)
        return Clob(data), pos + 2

    def quoted_clob(self, pos: int) -> tuple[str, int]:
        s = self.s
        parts = []
        while True:
            m = _SHORT_PLAIN.match(s, pos)
            end = m.end()  # type: ignore[union-attr]
            parts.append(s[pos:end])
            pos = end
            if pos >= self.end:
                raise self.eof(pos, "a clob")
            c = s[pos]
            if c == '"':
                return "".join(parts), pos + 1
            if c == "\\":
                piece, pos = self.escape(pos, True)
                parts.append(piece)
                continue
            raise Fail("not-ion", f"unescaped control character {c!r} in a clob", pos)

    # -- containers ------------------------------------------------------------------------
    def enter(self, pos: int, depth: int) -> int:
        if depth >= self.limits.max_depth:
            raise Fail(
                "too-deep", f"nested deeper than {self.limits.max_depth} (Limits.max_depth)", pos
            )
        return depth + 1

    def sequence(self, pos: int, depth: int, close: str) -> tuple[Any, int]:
        depth = self.enter(pos, depth)
        in_sexp = close == ")"
        out: list[Any] = []
        pos = self.ws(pos + 1)
        s = self.s
        expect_value = True
        while True:
            if pos >= self.end:
                raise self.eof(pos, "a list or sexp")
            c = s[pos]
            if c == close:
                pos += 1
                break
            if not in_sexp:
                if c == ",":
                    if expect_value:
                        raise Fail("not-ion", "a list element is missing before ','", pos)
                    expect_value = True
                    pos = self.ws(pos + 1)
                    continue
                if not expect_value:
                    raise Fail("not-ion", f"expected ',' or ']' in a list, got {c!r}", pos)
            if pos > self.next_check:
                self.checkpoint(pos, len(out))
            if c == '"' and not in_sexp:  # a short string without escapes, read inline
                m = _SHORT_PLAIN.match(s, pos + 1)
                stop = m.end()  # type: ignore[union-attr]
                if stop < self.end and s[stop] == '"' and stop - pos <= self.limits.max_text:
                    out.append(s[pos + 1 : stop])
                    expect_value = False
                    pos = stop + 1
                    if pos < self.end and s[pos] == ",":
                        expect_value = True
                        pos = self.ws(pos + 1)
                    else:
                        pos = self.ws(pos)
                    continue
            try:
                item, pos = self.value(pos, depth, in_sexp)
            except Fail as e:
                e.path.append(len(out))
                raise
            out.append(item)
            expect_value = False
            pos = self.ws(pos)
        self.close(out, pos)
        return (SExp(tuple(out)) if in_sexp else out), pos

    def close(self, out: Any, pos: int) -> None:
        budget = self.budget
        budget.values += len(out)
        if budget.values > budget.max_values:
            budget.check(pos)

    def struct(self, pos: int, depth: int) -> tuple[dict[Any, Any], int]:
        depth = self.enter(pos, depth)
        out: dict[Any, Any] = {}
        s = self.s
        end = self.end
        max_text = self.limits.max_text
        pos += 1
        while True:
            m = _FIELD_FAST.match(s, pos)
            if m is not None:
                name: str | None = m.group(1)
                if name in _KEYWORDS:
                    raise Fail("not-ion", f"the keyword {name!r} cannot be a field name", pos)
                at = m.start(1)
                pos = m.end()
            else:
                pos = self.ws(pos)
                if pos >= end:
                    raise self.eof(pos, "a struct")
                if s[pos] == "}":
                    pos += 1
                    break
                at = pos
                name, pos = self.field_name(pos)
                pos = self.ws(pos)
                if not s.startswith(":", pos) or s.startswith("::", pos):
                    raise Fail("not-ion", "expected ':' after a field name", pos)
                pos = self.ws(pos + 1)
            if pos > self.next_check:
                self.checkpoint(pos, len(out))
            if name in out:
                raise Fail("duplicate-field", f"duplicate field name {name!r}", at)
            try:
                c = s[pos] if pos < end else ""
                if c == '"':
                    m = _SHORT_PLAIN.match(s, pos + 1)
                    stop = m.end()  # type: ignore[union-attr]
                    if stop < end and s[stop] == '"' and stop - pos <= max_text:
                        out[name] = s[pos + 1 : stop]
                        pos = stop + 1
                    else:
                        out[name], pos = self.quoted(pos + 1, '"', _SHORT_PLAIN)
                elif "0" <= c <= "9" and not (pos + 4 < end and s[pos + 4] in "-T"):
                    out[name], pos = self.number(pos)
                elif c == "{" and not s.startswith("{{", pos):
                    out[name], pos = self.struct(pos, depth)
                else:
                    out[name], pos = self.value(pos, depth, False)
            except Fail as e:
                e.path.append(name)
                raise
            if pos < end and s[pos] == ",":
                pos += 1
                continue
            pos = self.ws(pos)
            if pos >= end:
                raise self.eof(pos, "a struct")
            c = s[pos]
            if c == ",":
                pos += 1
            elif c == "}":
                pos += 1
                break
            else:
                raise Fail("not-ion", f"expected ',' or '}}' in a struct, got {c!r}", pos)
        self.close(out, pos)
        return out, pos

    def field_name(self, pos: int) -> tuple[str | None, int]:
        s = self.s
        c = s[pos]
        if c == '"':
            return self.quoted(pos + 1, '"', _SHORT_PLAIN)
        if c == "'":
            if s.startswith("'''", pos):
                return self.long_strings(pos)
            return self.quoted(pos + 1, "'", _SYMBOL_PLAIN)
        m = _IDENT.match(s, pos)
        if m is None:
            raise Fail("not-ion", f"expected a field name, got {c!r}", pos)
        word = m.group()
        if m.end() == self.end and not self.final:
            raise NeedMore
        if word in _KEYWORDS:
            raise Fail("not-ion", f"the keyword {word!r} cannot be a field name unquoted", pos)
        return self.symbol_text(word, pos), m.end()

    # -- top level -------------------------------------------------------------------------
    def top(self, pos: int) -> tuple[Any, int, bool]:
        """(value, end, is_user_value) of the top-level value at ``pos`` (after whitespace)."""
        s = self.s
        m = _IDENT.match(s, pos)
        if m is not None and s[pos] == "$" and _IVM_LIKE.match(m.group()):
            after = m.end()
            if after == self.end and not self.final:
                raise NeedMore
            following = self.ws(after) if after < self.end or not self.final else after
            if not s.startswith("::", following):
                if m.group() != ION_1_0:
                    raise Fail("not-ion", f"unsupported Ion version marker {m.group()}", pos)
                self.texts = system_table()
                return None, after, False
        value, end = self.value(pos, 0, False)
        if type(value) is Annotated and value.annotations[0] == ION_SYMBOL_TABLE:
            inner = value.value
            if type(inner) is dict or inner == TypedNull(IonType.STRUCT):
                self.texts = apply_local_table(
                    self.texts, inner if type(inner) is dict else None, self.limits, pos
                )
                return None, end, False
        if type(value) is Symbol and value.text == ION_1_0:
            return None, end, False
        return value, end, True


def _join_surrogates(text: str, pos: int) -> str:
    """Join escaped UTF-16 surrogate pairs; refuse lone surrogates."""
    for ch in text:
        if "\ud800" <= ch <= "\udfff":
            break
    else:
        return text
    try:
        return text.encode("utf-16", "surrogatepass").decode("utf-16")
    except UnicodeDecodeError:
        raise Fail("not-ion", "a lone surrogate code point", pos) from None


def iter_text(
    text: str, limits: Limits, budget: Budget, cumulative: bool
) -> Iterator[tuple[Any, int, int]]:
    """(value, start, end) — character indexes — of each top-level user value of ``text``."""
    parser = Parser(text, limits, budget)
    pos = 0
    end = len(text)
    max_value = limits.max_value_bytes
    while True:
        pos = parser.ws(pos)
        if pos >= end:
            return
        budget.check(pos)
        if not cumulative:
            budget.values = 0
        value, after, user = parser.top(pos)
        if after - pos > max_value:
            raise Fail(
                "limit", f"a top-level value over {max_value} bytes (Limits.max_value_bytes)", pos
            )
        if user:
            budget.values += 1
            if budget.values > budget.max_values:
                budget.check(pos)
            yield value, pos, after
        pos = after
