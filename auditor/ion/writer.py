"""Ion writers: one canonical compact text, and Ion binary streams.

Both write exactly what amazon.ion 0.15's C extension writes
(``simpleion.dumps(v, binary=False, omit_version_marker=True)`` and
``simpleion.dumps(values, binary=True, sequence_as_stream=True)``) for every value it writes
correctly, so ledgers, receipt bundles and exports written that way keep their canonical forms:

- text: ``{a:1,b:[x,'y z']}``; strings escape ``"``, ``\\``, and control characters (``\\0``,
  ``\\a`` … ``\\r``, else ``\\xHH``); other characters are written raw (UTF-8); symbols are
  unquoted when they are identifiers other than ``null``/``true``/``false``/``nan`` and ``$N``;
  floats are ``%.20g`` with ``e+0`` appended when there is no exponent (``0e0``, ``-0e0``,
  ``nan``, ``±inf`` as such); decimals are the General Decimal Arithmetic scientific string
  with ``d`` for ``E`` and ``d0`` appended when there is neither point nor exponent; clobs escape
  every byte outside 0x20..0x7E (``\\xHH``); timestamps keep their precision and offset.
- binary: the IVM, then (when a symbol other than a system symbol occurs) one local symbol table
  listing the symbols in the order the C extension interns them (a container's field name and
  annotations before its contents; a scalar's own symbol before its field name and annotations),
  then the values with minimal lengths; ``0e0`` is ``40``, other floats 8 bytes.

Where amazon.ion writes wrongly we write the correct value: decimals with an exponent outside
-6176..6111 and timestamps with more than 9 fraction digits (the C extension corrupts both),
symbols whose text is ``$<digits>`` (its pure-Python text writer leaves them unquoted), and NaN
(we write the canonical quiet NaN ``7FF8000000000000``; the C extension writes the payload
``7FFEFEFEFEFEFEFE`` it gives a NaN read from text). Values with no Ion image are refused with
``ValueError``: a str with lone surrogates, a non-finite Decimal, an unknown Python type, and
two top-level values Ion reserves as system values: a struct annotated ``$ion_symbol_table``
first (it would read back as a symbol table) and the symbol ``$ion_1_0`` (an IVM or a NOP).
"""

from __future__ import annotations

import base64
import functools
import re
import struct
from collections.abc import Callable, Iterable
from decimal import Decimal
from typing import Any

from auditor.ion.symbols import SYSTEM_IDS
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

_IDENTIFIER = re.compile(r"[A-Za-z_$][A-Za-z0-9_$]*\Z")
_SID_FORM = re.compile(r"\$[0-9]+\Z")
_KEYWORDS = frozenset(("null", "true", "false", "nan"))
_NULL_NAMES = {t: f"null.{t.name.lower()}" for t in IonType if t is not IonType.NULL}
_IVM = b"\xe0\x01\x00\xea"


def _escape_table(quote: str, clob: bool) -> dict[int, str]:
    table: dict[int, str] = {}
    for code in range(0x20):
        table[code] = f"\\x{code:02X}"
    table.update({0: "\\0", 7: "\\a", 8: "\\b", 9: "\\t", 10: "\\n", 11: "\\v", 12: "\\f",
                  13: "\\r", ord("\\"): "\\\\", ord(quote): "\\" + quote})  # fmt: skip
    if clob:
        for code in range(0x7F, 0x100):
            table[code] = f"\\x{code:02X}"
    return table


_STRING_ESCAPES = _escape_table('"', False)
_SYMBOL_ESCAPES = _escape_table("'", False)
_CLOB_ESCAPES = _escape_table('"', True)
_NEEDS_ESCAPE = re.compile(r'[\x00-\x1f"\\]')
_NEEDS_SYMBOL_ESCAPE = re.compile(r"[\x00-\x1f'\\]")


def _check_str(text: str) -> None:
    if not text.isascii():
        try:
            text.encode("utf-8")
        except UnicodeEncodeError as e:
            raise ValueError(f"not valid Unicode text ({e.reason}): {text!r}") from None


def symbol_text(text: str | None) -> str:
    """A symbol token as Ion text (unquoted when it is a plain identifier)."""
    if text is None:
        return "$0"
    if _IDENTIFIER.match(text) and text not in _KEYWORDS and not _SID_FORM.match(text):
        return text
    _check_str(text)
    if _NEEDS_SYMBOL_ESCAPE.search(text):
        text = text.translate(_SYMBOL_ESCAPES)
    return f"'{text}'"


def string_text(text: str) -> str:
    _check_str(text)
    if _NEEDS_ESCAPE.search(text):
        text = text.translate(_STRING_ESCAPES)
    return f'"{text}"'


def float_text(f: float) -> str:
    if f != f:
        return "nan"
    if f in (float("inf"), float("-inf")):
        return "+inf" if f > 0 else "-inf"
    if f == 0:
        return "-0e0" if struct.pack(">d", f)[0] & 0x80 else "0e0"
    text = "%.20g" % f  # noqa: UP031 - C's %.20g, as ion-c writes it
    return text if "e" in text else text + "e+0"


def decimal_text(d: Decimal) -> str:
    if not d.is_finite():
        raise ValueError(f"{d} is not an Ion decimal")
    text = str(d)
    if "E" in text:
        return text.replace("E", "d")
    return text if "." in text else text + "d0"


def int_text(n: int) -> str:
    if n.bit_length() > 14000:  # beyond Python's int -> str limit: Decimal has none
        return str(Decimal(n))
    return str(n)


def dumps_text(value: Any) -> str:
    """One value as compact Ion text, without an IVM (amazon.ion's canonical form)."""
    out: list[str] = []
    _text(value, out, top=True)
    return "".join(out)


def _text(v: Any, out: list[str], top: bool = False) -> None:
    t = type(v)
    if t is str:
        out.append(string_text(v))
    elif t is dict:
        if not v:
            out.append("{}")
            return
        out.append("{")
        first = True
        for name, item in v.items():
            if not first:
                out.append(",")
            first = False
            if name is not None and type(name) is not str:
                raise ValueError(f"a struct field name must be str or None, not {name!r}")
            out.append(symbol_text(name))
            out.append(":")
            _text(item, out)
        out.append("}")
    elif t is Decimal:
        out.append(decimal_text(v))
    elif t is int:
        out.append(int_text(v))
    elif t is bool:
        out.append("true" if v else "false")
    elif t is Timestamp:
        out.append(v.ion_text())
    elif t is list:
        out.append("[")
        for i, item in enumerate(v):
            if i:
                out.append(",")
            _text(item, out)
        out.append("]")
    elif t is Symbol:
        text = v.text
        if top and text == "$ion_1_0":
            raise ValueError("a top-level symbol $ion_1_0 is a system value in Ion (a NOP)")
        out.append(symbol_text(text))
    elif v is None:
        out.append("null")
    elif t is float:
        out.append(float_text(v))
    elif t is bytes:
        out.append("{{" + base64.b64encode(v).decode("ascii") + "}}")
    elif t is Annotated:
        if top and v.annotations[0] == "$ion_symbol_table" and _is_struct(v.value):
            raise ValueError("a top-level struct annotated $ion_symbol_table is a symbol table")
        for a in v.annotations:
            out.append(symbol_text(a))
            out.append("::")
        _text(v.value, out)
    elif t is SExp:
        out.append("(")
        for i, item in enumerate(v.items):
            if i:
                out.append(" ")
            _text(item, out)
        out.append(")")
    elif t is Clob:
        out.append('{{"' + v.data.decode("latin-1").translate(_CLOB_ESCAPES) + '"}}')
    elif t is TypedNull:
        out.append(_NULL_NAMES[v.ion_type])
    else:
        raise ValueError(f"not an Ion value: {t.__name__}")


def _is_struct(v: Any) -> bool:
    return type(v) is dict or v == TypedNull(IonType.STRUCT)


# -- binary -------------------------------------------------------------------------------------


def _var_uint(n: int) -> bytes:
    if n < 0x80:
        return bytes((0x80 | n,))
    out = [0x80 | (n & 0x7F)]
    n >>= 7
    while n:
        out.append(n & 0x7F)
        n >>= 7
    return bytes(reversed(out))


def _var_int(n: int, negative: bool) -> bytes:
    groups = [n & 0x7F]
    n >>= 7
    while n:
        groups.append(n & 0x7F)
        n >>= 7
    if groups[-1] & 0x40:
        groups.append(0)
    groups[0] |= 0x80
    if negative:
        groups[-1] |= 0x40
    return bytes(reversed(groups))


def _int_bytes(n: int, negative: bool) -> bytes:
    """Int: sign-and-magnitude, empty for +0."""
    if n == 0:
        return b"\x80" if negative else b""
    body = n.to_bytes((n.bit_length() >> 3) + 1, "big")  # room for the sign bit
    return bytes((body[0] | 0x80,)) + body[1:] if negative else body


_SMALL_VAR_UINT = [bytes((0x80 | n,)) for n in range(128)]
_SMALL_VAR_INT = {n: _var_int(abs(n), n < 0) for n in range(-63, 64)}
_HEADS = [[bytes((t << 4 | length,)) for length in range(14)] for t in range(16)]
_TYPED_NULLS = {
    IonType.BOOL: b"\x1f", IonType.INT: b"\x2f", IonType.FLOAT: b"\x4f", IonType.DECIMAL: b"\x5f",
    IonType.TIMESTAMP: b"\x6f", IonType.SYMBOL: b"\x7f", IonType.STRING: b"\x8f",
    IonType.CLOB: b"\x9f", IonType.BLOB: b"\xaf", IonType.LIST: b"\xbf", IonType.SEXP: b"\xcf",
    IonType.STRUCT: b"\xdf",
}  # fmt: skip
_PACK_DOUBLE = struct.Struct(">d").pack
_NAN = b"\x48\x7f\xf8\x00\x00\x00\x00\x00\x00"


def _framed(t: int, body: bytes) -> bytes:
    n = len(body)
    if n < 14:
        return _HEADS[t][n] + body
    return bytes((t << 4 | 14,)) + _var_uint(n) + body


def dumps_binary(values: Iterable[Any]) -> bytes:
    """An Ion binary stream of ``values`` (IVM, local symbol table if needed, values)."""
    encoder = BinaryEncoder()
    body = [encoder.encode(value) for value in values]
    return encoder.header() + b"".join(body)


class BinaryEncoder:
    """Encodes top-level values one at a time under one growing local symbol table, so that
    ``header() + b"".join(encode(v) for v in values)`` is :func:`dumps_binary` of ``values``
    (the table lists the symbols in the order the values first use them). A reader can check a
    stream value by value this way, then its header once all values are known."""

    def __init__(self) -> None:
        table: dict[str | None, int] = {None: 0}
        table.update(SYSTEM_IDS)
        local: list[str] = []
        self.local = local

        def intern(text: str | None) -> int:
            sid = table.get(text)
            if sid is None:
                assert text is not None
                _check_str(text)
                sid = len(local) + 10
                table[text] = sid
                local.append(text)
            return sid

        self._encode = _fast_encoder(table, intern, _binary_encoder(intern))

    def encode(self, value: Any) -> bytes:
        """The bytes of one top-level value (its symbols interned). Raises ``ValueError`` for a
        value with no Ion image or one Ion reserves as a system value."""
        if (
            type(value) is Annotated
            and value.annotations[0] == "$ion_symbol_table"
            and _is_struct(value.value)
        ):
            raise ValueError("a top-level struct annotated $ion_symbol_table is a symbol table")
        if type(value) is Symbol and value.text == "$ion_1_0":
            raise ValueError("a top-level symbol $ion_1_0 cannot be written in Ion binary")
        return self._encode(value)

    def header(self) -> bytes:
        """The IVM and, when any symbol beyond the system symbols was used, the local symbol
        table of every symbol interned so far."""
        if not self.local:
            return _IVM
        return _header(tuple(self.local))


@functools.lru_cache(maxsize=256)
def _header(local: tuple[str, ...]) -> bytes:
    """IVM + the local symbol table of ``local`` (cached: documents of one shape share it)."""
    strings = b"".join(_framed(8, s.encode("utf-8")) for s in local)
    lst_struct = _framed(13, b"\x87" + _framed(11, strings))
    return _IVM + _framed(14, b"\x81\x83" + lst_struct)


_INT_BYTES = [b"\x20"] + [_framed(2, n.to_bytes(1, "big")) for n in range(1, 256)]


@functools.lru_cache(maxsize=1024)
def _timestamp_value(ts: Timestamp) -> bytes:
    """A timestamp's framed bytes (cached: a transaction's revisions share their txTime)."""
    return _framed(6, _timestamp_bytes(ts))


def _fast_encoder(
    table: dict[str | None, int],
    intern: Callable[[str | None], int],
    exact: Callable[[Any, Any], tuple[int, bytes]],
) -> Callable[[Any], bytes]:
    """``encode(value) -> bytes`` for a top-level value: the same bytes and the same symbol
    order as ``exact`` (:func:`_binary_encoder`), with the common types (structs, lists,
    strings, ints, decimals, and the scalars without symbols) encoded inline. Values that
    carry symbols of their own (symbols, annotations, sexps) take ``exact``, because the order
    in which a value's own symbols and its field name are interned depends on the value."""
    heads = _HEADS
    string_head, struct_head, list_head = heads[8], heads[13], heads[11]
    var_uint, small = _var_uint, _SMALL_VAR_UINT
    int_bytes = _INT_BYTES
    table_get = table.get

    def field_sid(name: Any) -> int:
        sid = table_get(name)
        if sid is None:
            if type(name) is not str:
                raise ValueError(f"a struct field name must be str or None: {name!r}")
            sid = intern(name)
        return sid

    def value(v: Any, t: type) -> bytes:
        """A value without symbols of its own (not a Symbol, Annotated or SExp)."""
        if t is str:
            b = v.encode("utf-8") if v.isascii() else _utf8(v)
            n = len(b)
            return string_head[n] + b if n < 14 else b"\x8e" + var_uint(n) + b
        if t is dict:
            return struct(v)
        if t is int:
            if 0 <= v < 256:
                return int_bytes[v]  # type: ignore[no-any-return]
            if v > 0:
                return _framed(2, v.to_bytes((v.bit_length() + 7) >> 3, "big"))
            return _framed(3, (-v).to_bytes(((-v).bit_length() + 7) >> 3, "big"))
        if t is Decimal:
            return _framed(5, _decimal_bytes(v))
        if t is list:
            return sequence(v)
        if t is Timestamp:
            return _timestamp_value(v)
        return exact(v, None)[1]

    def struct(v: dict[Any, Any]) -> bytes:
        parts: list[bytes] = []
        append = parts.append
        for name, item in v.items():
            t = type(item)
            if t is Symbol or t is Annotated or t is SExp:
                sid, data = exact(item, name)
            else:
                sid = field_sid(name)
                data = value(item, t)
            append(small[sid] if sid < 128 else var_uint(sid))
            append(data)
        body = b"".join(parts)
        n = len(body)
        return struct_head[n] + body if n < 14 else b"\xde" + var_uint(n) + body

    def sequence(v: list[Any]) -> bytes:
        parts: list[bytes] = []
        append = parts.append
        for item in v:
            t = type(item)
            if t is Symbol or t is Annotated or t is SExp:
                append(exact(item, None)[1])
            else:
                append(value(item, t))
        body = b"".join(parts)
        n = len(body)
        return list_head[n] + body if n < 14 else b"\xbe" + var_uint(n) + body

    def top(v: Any) -> bytes:
        t = type(v)
        if t is Symbol or t is Annotated or t is SExp:
            return exact(v, None)[1]
        return value(v, t)

    return top


def _binary_encoder(
    intern: Callable[[str | None], int],
) -> Callable[[Any, Any], tuple[int, bytes]]:
    """``encode(value, field)`` -> (field SID or 0, bytes); ``field`` is the struct field name
    (or None outside structs: then the SID returned is meaningless)."""
    absent = object()

    def scalar(v: Any) -> bytes:
        t = type(v)
        if t is str:
            return _framed(8, v.encode("utf-8")) if v.isascii() else _framed(8, _utf8(v))
        if t is Decimal:
            return _framed(5, _decimal_bytes(v))
        if t is int:
            if v == 0:
                return b"\x20"
            if v > 0:
                return _framed(2, v.to_bytes((v.bit_length() + 7) >> 3, "big"))
            return _framed(3, (-v).to_bytes(((-v).bit_length() + 7) >> 3, "big"))
        if t is bool:
            return b"\x11" if v else b"\x10"
        if t is Timestamp:
            return _framed(6, _timestamp_bytes(v))
        if t is Symbol:
            sid = intern(v.text)
            return _framed(7, sid.to_bytes((sid.bit_length() + 7) >> 3, "big"))
        if v is None:
            return b"\x0f"
        if t is float:
            if v != v:
                return _NAN
            if v == 0 and not _PACK_DOUBLE(v)[0] & 0x80:
                return b"\x40"
            return b"\x48" + _PACK_DOUBLE(v)
        if t is bytes:
            return _framed(10, v)
        if t is Clob:
            return _framed(9, v.data)
        if t is TypedNull:
            return _TYPED_NULLS[v.ion_type]
        raise ValueError(f"not an Ion value: {t.__name__}")

    def encode(v: Any, field: Any) -> tuple[int, bytes]:
        annotations: tuple[str | None, ...] = ()
        if type(v) is Annotated:
            annotations = v.annotations
            v = v.value
        t = type(v)
        if t is dict or t is list or t is SExp:
            sid = intern(field) if field is not absent else 0
            ann = [intern(a) for a in annotations]
            if t is dict:
                parts = []
                for name, item in v.items():
                    if name is not None and type(name) is not str:
                        raise ValueError(f"a struct field name must be str or None: {name!r}")
                    fsid, data = encode(item, name)
                    parts.append((_SMALL_VAR_UINT[fsid] if fsid < 128 else _var_uint(fsid)) + data)
                out = _framed(13, b"".join(parts))
            else:
                items = v if t is list else v.items
                out = _framed(
                    11 if t is list else 12, b"".join([encode(x, absent)[1] for x in items])
                )
        else:
            out = scalar(v)
            sid = intern(field) if field is not absent else 0
            ann = [intern(a) for a in annotations]
        if ann:
            names = b"".join(map(_var_uint, ann))
            out = _framed(14, _var_uint(len(names)) + names + out)
        return sid, out

    def top(v: Any, field: Any) -> tuple[int, bytes]:
        return encode(v, absent if field is None else field)

    return top


def _utf8(text: str) -> bytes:
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError as e:
        raise ValueError(f"not valid Unicode text ({e.reason})") from None


def _decimal_bytes(d: Decimal) -> bytes:
    text = str(d)
    if len(text) < 60 and "E" not in text and "N" not in text and "I" not in text:
        negative = text[0] == "-"
        point = text.find(".")
        places = len(text) - point - 1 if point >= 0 else 0
        coefficient = int(text.replace(".", "").lstrip("-"))
        if coefficient == 0 and not negative and places == 0:
            return b""
        exponent_bytes = _SMALL_VAR_INT[-places] if places < 64 else _var_int(places, True)
        return exponent_bytes + _int_bytes(coefficient, negative)
    if not d.is_finite():
        raise ValueError(f"{d} is not an Ion decimal")
    sign, digits, exponent = d.as_tuple()
    assert isinstance(exponent, int)
    coefficient = int("".join(map(str, digits))) if len(digits) > 1 or digits[0] else 0
    if coefficient == 0 and not sign and exponent == 0:
        return b""
    out = _var_int(-exponent if exponent < 0 else exponent, exponent < 0)
    return out + _int_bytes(coefficient, bool(sign))


def _timestamp_bytes(ts: Timestamp) -> bytes:
    p = ts.precision
    offset = ts.offset
    out = b"\xc0" if offset is None else _var_int(abs(offset), offset < 0)
    year, month, day, hour, minute = ts.utc()
    out += _var_uint(year)
    if p >= TimestampPrecision.MONTH:
        out += bytes((0x80 | month,))
    if p >= TimestampPrecision.DAY:
        out += bytes((0x80 | day,))
    if p >= TimestampPrecision.MINUTE:
        out += bytes((0x80 | hour, 0x80 | minute))
    if p >= TimestampPrecision.SECOND:
        out += bytes((0x80 | ts.second,))
        if ts.fraction is not None:
            _, digits, exponent = ts.fraction.as_tuple()
            assert isinstance(exponent, int)
            coefficient = int("".join(map(str, digits)))
            out += _var_int(-exponent, True) + _int_bytes(coefficient, False)
    return out
