"""Amazon Ion Hash, specification 1.0 (amazon-ion/ion-hash, docs/spec.md).

``H(v) = h(s(v))`` where ``h`` is the hash function (SHA-256 for QLDB) and ``s`` frames a value:

- scalar:     ``0B ‖ TQ ‖ escape(representation) ‖ 0E`` (representation = minimal Ion binary
  body: UInt/Int magnitudes, 8-byte floats, VarInt exponent + Int coefficient for decimals,
  UTC timestamp fields with the offset, UTF-8 text, raw LOB bytes; TQ = type << 4 | qualifier)
- list, sexp: ``0B ‖ B0|C0 ‖ s(child) … ‖ 0E`` (children framed, not hashed, not re-escaped)
- struct:     ``0B ‖ D0 ‖ escape(sorted(h(s(name) ‖ s(value)) for each field) joined) ‖ 0E``
  (digests sorted as unsigned bytes, duplicate fields kept, so field order never matters)
- annotated:  ``0B ‖ E0 ‖ s(annotation) … ‖ s(unannotated value) ‖ 0E``

``escape`` puts 0x0C before every 0x0B, 0x0E and 0x0C byte. Field names and annotations are
framed as symbols; symbol ID 0 (``$0``, unknown text) is ``0B 71 0E``.

Input: values as ``amazon.ion.simpleion.loads`` returns them (``IonPy*`` types, text or binary
source, C extension or not), or plain Python values with this mapping: ``None`` → null,
``bool`` → bool, ``int`` → int, ``float`` → float, ``decimal.Decimal`` → decimal, ``str`` →
string, ``bytes`` → blob, ``list``/``tuple`` → list, ``dict`` → struct,
``amazon.ion.core.Timestamp`` → timestamp, ``SymbolToken`` → symbol. A plain ``datetime`` is
refused: its Ion precision would be a guess. The project's own value model
(:mod:`proofs.ionvalue`: ``Symbol``, ``Clob``, ``SExp``, ``TypedNull``, ``Annotated``,
``Timestamp``; a struct key ``None`` is the field name ``$0``) hashes the same way.

Everything here is one function, :func:`ion_hash`, so that a native hasher can replace it.
"""

from __future__ import annotations

import hashlib
import math
import struct
from collections.abc import Callable
from datetime import datetime
from decimal import MAX_EMAX, MAX_PREC, MIN_EMIN, Context, Decimal
from typing import Any

import proofs.ionvalue as iv
from proofs.errors import MalformedError

HashFunction = Callable[[bytes], bytes]

_sha256 = hashlib.sha256
_pack_double = struct.Struct(">d").pack

# Ion type code (amazon.ion IonType value) -> type/qualifier byte of its null.
_NULL_TQ = {0: 0x0F, 1: 0x1F, 2: 0x2F, 3: 0x4F, 4: 0x5F, 5: 0x6F, 6: 0x7F,
            7: 0x8F, 8: 0x9F, 9: 0xAF, 10: 0xBF, 11: 0xCF, 12: 0xDF}  # fmt: skip
_NULLS = {code: bytes((0x0B, tq, 0x0E)) for code, tq in _NULL_TQ.items()}
_FALSE = b"\x0b\x10\x0e"
_TRUE = b"\x0b\x11\x0e"
_SYMBOL_ZERO = b"\x0b\x71\x0e"
_END = b"\x0e"

# Timestamp precision (amazon.ion TimestampPrecision value) for MONTH, DAY, MINUTE, SECOND (YEAR,
# 0, is below them all).
_MONTH, _DAY, _MINUTE, _SECOND = 1, 2, 3, 4
_MAX_CACHED_NAMES = 4096


def _escape(data: bytes) -> bytes:
    # int operands: `bytes in bytes` first tries the int protocol, which costs ~100 ns to fail
    if 11 in data or 14 in data or 12 in data:
        return (
            data.replace(b"\x0c", b"\x0c\x0c")
            .replace(b"\x0b", b"\x0c\x0b")
            .replace(b"\x0e", b"\x0c\x0e")
        )
    return data


def _escape_text(text: str) -> bytes:
    data = text.encode("utf-8")
    # UTF-8 puts the three framing bytes only where the text has those ASCII control characters.
    return data if text.isprintable() else _escape(data)


def _magnitude(n: int) -> bytes:
    """UInt: big-endian magnitude without leading zero bytes (0 is empty)."""
    return n.to_bytes((n.bit_length() + 7) >> 3, "big")


def _signed(n: int, negative: bool) -> bytes:
    """Int: sign-and-magnitude, the sign in the top bit of the first byte (-0 is 0x80)."""
    if n == 0:
        return b"\x80" if negative else b""
    body = n.to_bytes((n.bit_length() >> 3) + 1, "big")  # always leaves room for the sign bit
    return bytes((body[0] | 0x80,)) + body[1:] if negative else body


def _var_uint(n: int) -> bytes:
    out = [0x80 | (n & 0x7F)]
    n >>= 7
    while n:
        out.append(n & 0x7F)
        n >>= 7
    return bytes(reversed(out))


def _var_int(n: int, negative_zero: bool = False) -> bytes:
    negative = n < 0 or negative_zero
    n = -n if n < 0 else n
    groups = [n & 0x7F]
    n >>= 7
    while n:
        groups.append(n & 0x7F)
        n >>= 7
    if groups[-1] & 0x40:  # no room for the sign bit in the leading group
        groups.append(0)
    groups[0] |= 0x80
    if negative:
        groups[-1] |= 0x40
    return bytes(reversed(groups))


_VAR_INT_SMALL = {e: _var_int(e) for e in range(-64, 64)}
_EXACT = Context(prec=MAX_PREC, Emax=MAX_EMAX, Emin=MIN_EMIN)


def _decimal_repr(d: Decimal) -> bytes:
    text = str(d)
    if len(text) < 300 and "E" not in text and "N" not in text and "I" not in text:
        # Plain notation keeps every digit: the exponent is minus the digits after the point.
        sign = text[0] == "-"
        point = text.find(".")
        exponent = point + 1 - len(text) if point >= 0 else 0
        coefficient = int(text.replace(".", "").lstrip("-"))
    else:
        signed, _, exponent = d.as_tuple()  # type: ignore[assignment]
        if not isinstance(exponent, int):
            raise MalformedError("decimal-special", "", f"{d} is not an Ion decimal")
        sign = bool(signed)
        # Scaling by -exponent is exact in an unbounded context and costs nothing for huge
        # exponents (no 10**exponent integer); int() of a Decimal has no digit-count limit.
        coefficient = int(d.copy_abs().scaleb(-exponent, _EXACT))
    exp = _VAR_INT_SMALL.get(exponent) or _var_int(exponent)
    if coefficient == 0 and not sign:
        return b"" if exponent == 0 else exp
    return exp + _signed(coefficient, sign)


def _timestamp_repr(ts: Any) -> bytes:
    precision = getattr(ts, "precision", None)
    if precision is None:
        raise MalformedError(
            "timestamp-precision",
            "",
            "a timestamp without Ion precision (use amazon.ion's Timestamp)",
        )
    precision = int(precision)
    offset = ts.utcoffset()
    if offset is None:
        out = b"\xc0"  # unknown offset: VarInt -0
        utc = ts
    else:
        minutes = int(offset.total_seconds()) // 60
        out = _VAR_INT_SMALL.get(minutes) or _var_int(minutes)
        utc = datetime(ts.year, ts.month, ts.day, ts.hour, ts.minute, ts.second) - offset
    out += _var_uint(utc.year)
    if precision >= _MONTH:
        out += bytes((0x80 | utc.month,))
    if precision >= _DAY:
        out += bytes((0x80 | utc.day,))
    if precision >= _MINUTE:
        out += bytes((0x80 | utc.hour, 0x80 | utc.minute))
    if precision >= _SECOND:
        out += bytes((0x80 | utc.second,))
        fraction = ts.fractional_seconds
        if fraction is None:  # older amazon.ion: microseconds + digit count
            places = ts.fractional_precision
            if places:  # (None or 0: no fraction)
                fraction = Decimal(ts.microsecond // 10 ** (6 - places)).scaleb(-places)
        if fraction is not None:
            _, digits, exponent = fraction.as_tuple()
            coefficient = int("".join(map(str, digits)))
            if coefficient or exponent < 0:  # 0 with exponent >= 0 means "no fraction"
                out += (_VAR_INT_SMALL.get(exponent) or _var_int(exponent)) + _signed(
                    coefficient, False
                )
    return out


def _model_timestamp_repr(ts: iv.Timestamp) -> bytes:
    """Representation of a :class:`proofs.ionvalue.Timestamp` (UTC fields, then the offset)."""
    precision = ts.precision
    offset = ts.offset
    out = b"\xc0" if offset is None else (_VAR_INT_SMALL.get(offset) or _var_int(offset))
    year, month, day, hour, minute = ts.utc()
    out += _var_uint(year)
    if precision >= _MONTH:
        out += bytes((0x80 | month,))
    if precision >= _DAY:
        out += bytes((0x80 | day,))
    if precision >= _MINUTE:
        out += bytes((0x80 | hour, 0x80 | minute))
    if precision >= _SECOND:
        out += bytes((0x80 | ts.second,))
        if ts.fraction is not None:  # the model keeps only fractions with a digit
            _, digits, exponent = ts.fraction.as_tuple()
            coefficient = int("".join(map(str, digits)))
            out += (_VAR_INT_SMALL.get(exponent) or _var_int(exponent)) + _signed(  # type: ignore[arg-type]
                coefficient, False
            )
    return out


def _float_repr(f: float) -> bytes:
    if f == 0.0:
        return b"\x80" + bytes(7) if math.copysign(1.0, f) < 0 else b""
    if f != f:
        return b"\x7f\xf8\x00\x00\x00\x00\x00\x00"
    return _pack_double(f)


def _make_serializer(digest: HashFunction | None) -> Callable[[Any], bytes]:
    """Build s(v) for one hash function (closures keep the hot loop free of attribute lookups)."""
    from amazon.ion import simple_types as st
    from amazon.ion.core import SymbolToken, Timestamp

    names: dict[str | None, bytes] = {}  # field name / annotation text -> framed symbol
    table: dict[type, Callable[[Any], bytes]] = {}
    # exact types whose values cannot carry ``ion_annotations`` (builtins, proofs.ionvalue's
    # slotted classes): s(v) without looking for annotations (a failed getattr is slow)
    plain: dict[type, Callable[[Any], bytes]] = {}

    def name(text: str | None) -> bytes:
        framed = names.get(text)
        if framed is None:
            framed = _SYMBOL_ZERO if text is None else b"\x0b\x70" + _escape_text(text) + _END
            if len(names) >= _MAX_CACHED_NAMES:
                names.clear()
            names[text] = framed
        return framed

    def token(tok: Any) -> bytes:
        if isinstance(tok, str):
            return name(tok)
        text = getattr(tok, "text", None)
        if text is None and getattr(tok, "sid", None) != 0:
            raise MalformedError("symbol-unknown-text", "", f"symbol with unknown text ({tok!r})")
        return name(text)

    def value(v: Any) -> bytes:
        f = plain.get(type(v))
        if f is not None:
            return f(v)
        f = table.get(type(v)) or resolve(type(v))
        annotations = getattr(v, "ion_annotations", None)
        if annotations:
            return b"\x0b\xe0" + b"".join([token(a) for a in annotations]) + f(v) + _END
        return f(v)

    def null(v: Any) -> bytes:
        return _NULLS[int(v.ion_type)]

    def boolean(v: Any) -> bytes:
        return _TRUE if v else _FALSE

    def integer(v: int) -> bytes:
        if v >= 0:  # (0 is 0B 20 0E: an empty magnitude)
            return b"\x0b\x20" + _escape(v.to_bytes((v.bit_length() + 7) >> 3, "big")) + _END
        return b"\x0b\x30" + _escape(_magnitude(-v)) + _END

    def symbol(v: Any) -> bytes:
        return token(v) if v.text is None else b"\x0b\x70" + _escape_text(v.text) + _END

    def string(v: str) -> bytes:
        data = v.encode("utf-8")
        return b"\x0b\x80" + (data if v.isprintable() else _escape(data)) + _END

    def lob(v: Any) -> bytes:
        tq = b"\x0b\x90" if getattr(v, "ion_type", None) == 8 else b"\x0b\xa0"  # clob, blob
        return tq + _escape(bytes(v)) + _END

    def sequence(v: Any) -> bytes:
        tq = b"\x0b\xc0" if getattr(v, "ion_type", None) == 11 else b"\x0b\xb0"  # sexp, list
        return tq + b"".join(map(value, v)) + _END

    if digest is None:

        def fields(pairs: Any) -> bytes:
            hashes = [
                _sha256((names.get(k) or name(k)) + (plain.get(type(x)) or value)(x)).digest()
                for k, x in pairs
            ]
            hashes.sort()
            return b"\x0b\xd0" + _escape(b"".join(hashes)) + _END

    else:

        def fields(pairs: Any) -> bytes:
            hashes = [digest(name(k) + value(x)) for k, x in pairs]
            hashes.sort()
            return b"\x0b\xd0" + _escape(b"".join(hashes)) + _END

    def multimap(v: Any) -> bytes:
        # IonPyDict keeps {name: [values]}; reading it directly skips a generator per field.
        store = getattr(v, "_IonPyDict__store", None)
        if store is None:
            return fields(v.iteritems())
        return fields([(k, x) for k, values in store.items() for x in values])

    # s(v) of recent timestamps by identity (a block's revisions share one txTime object when
    # read by auditor.ion); each entry keeps its timestamp alive, so no other object can have
    # its id while the entry is there.
    stamps: dict[int, tuple[iv.Timestamp, bytes]] = {}

    def timestamp(v: iv.Timestamp) -> bytes:
        hit = stamps.get(id(v))
        if hit is not None:
            return hit[1]
        framed = b"\x0b\x60" + _escape(_model_timestamp_repr(v)) + _END
        if len(stamps) >= _MAX_CACHED_NAMES:
            stamps.clear()
        stamps[id(v)] = (v, framed)
        return framed

    def annotated(v: iv.Annotated) -> bytes:
        inner = v.value
        f = table.get(type(inner)) or resolve(type(inner))
        return b"\x0b\xe0" + b"".join([name(a) for a in v.annotations]) + f(inner) + _END

    by_type: list[tuple[type, Callable[[Any], bytes]]] = [
        (iv.Symbol, lambda v: name(v.text)),
        (iv.Timestamp, timestamp),
        (iv.Annotated, annotated),
        (iv.SExp, lambda v: b"\x0b\xc0" + b"".join(map(value, v.items)) + _END),
        (iv.Clob, lambda v: b"\x0b\x90" + _escape(v.data) + _END),
        (iv.TypedNull, lambda v: _NULLS[int(v.ion_type)]),
        (st.IonPyNull, null),
        (st.IonPyBool, boolean),
        (st.IonPyDict, multimap),
        (st.IonPyBytes, lob),
        (bool, boolean),
        (int, integer),
        (float, lambda v: b"\x0b\x40" + _escape(_float_repr(v)) + _END),
        (Decimal, lambda v: b"\x0b\x50" + _escape(_decimal_repr(v)) + _END),
        (Timestamp, lambda v: b"\x0b\x60" + _escape(_timestamp_repr(v)) + _END),
        (SymbolToken, symbol),
        (str, string),
        (bytes, lob),
        (bytearray, lob),
        (list, sequence),
        (tuple, sequence),
        (dict, lambda v: fields(v.items())),
        (type(None), lambda v: _NULLS[0]),
    ]

    def resolve(kind: type) -> Callable[[Any], bytes]:
        for base, f in by_type:
            if issubclass(kind, base):
                table[kind] = f
                return f
        raise MalformedError("ion-type", "", f"not an Ion value: {kind.__name__}")

    for kind in (str, int, bool, float, Decimal, bytes, bytearray, list, tuple, dict, type(None),
                 iv.Symbol, iv.Timestamp, iv.Annotated, iv.SExp, iv.Clob,
                 iv.TypedNull):  # fmt: skip
        plain[kind] = resolve(kind)
    return value


_DEFAULT = _make_serializer(None)


def ion_hash(value: Any, hash_function: HashFunction | None = None) -> bytes:
    """Return the Ion Hash of ``value``; SHA-256 (32 bytes) unless ``hash_function`` is given.

    ``hash_function`` maps bytes to a digest; the official suite's "identity" hasher is
    ``lambda b: b``. Raises :class:`proofs.MalformedError` for a value that is not Ion data
    (unknown Python type, a plain ``datetime``, a symbol whose text is unknown, a NaN decimal).
    """
    if hash_function is None:
        return _sha256(_DEFAULT(value)).digest()
    return hash_function(_make_serializer(hash_function)(value))
