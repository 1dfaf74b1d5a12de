"""Re-basing Ion binary: one value's bytes, read under one symbol table, written as a stream of
its own (IVM, a local symbol table of just its symbols, the value) without decoding it.

A journal export holds each block as one value under the data object's symbol table (thousands
of symbols: every document id is a field name). A ledger row holds one revision as a stream of
its own. :func:`split` makes those rows straight from the block's bytes: field names are
renumbered, containers re-framed, and every scalar's bytes copied as they are. For input written
the way :func:`auditor.ion.dumps_binary` writes (amazon.ion does too), the result is byte for
byte ``dumps_binary`` of the decoded value (the same symbol order: a field's name before its
contents); for any other valid input it decodes to the same value. Values holding symbols,
s-expressions, annotations or NOP pads are not re-based (None): their symbol order depends on
more than their field names, so the caller encodes the decoded value instead.

Only bytes the reader (:mod:`auditor.ion.binary`) has already decoded may be passed here: this
module frames, it does not validate.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from auditor.ion.binary import _BAD, _NULL, _VAR, LENGTHS, var_uint
from auditor.ion.limits import Fail
from auditor.ion.symbols import SYSTEM_IDS
from auditor.ion.writer import _HEADS, _IVM, _SMALL_VAR_UINT, _framed, _var_uint
from auditor.ion.writer import _header as _symbol_table

_EMPTY_LIST = b"\xb0"


class _NotRebasedError(Exception):
    """The value holds something :func:`split` leaves to the encoder."""


class _OtherShapeError(Exception):
    """A revision's field names do not follow the table the one before it built."""


def split(data: bytes, texts: Sequence[str | None], field: str) -> tuple[bytes, list[bytes]] | None:
    """For ``data``, the bytes of one top-level struct read under the symbol table ``texts``
    (``texts[sid]`` is a symbol's text): the stream of that struct with its field ``field``
    holding an empty list, and the stream of each element of that field's list. None when
    ``data`` is not such a struct (no such field, or it does not hold a list), or holds what is
    not re-based (see the module doc)."""
    try:
        return _Walker(data, texts).split(field)
    except (_NotRebasedError, _OtherShapeError, Fail, IndexError):  # (the last two: bytes the
        return None  # reader refuses; the one before: never raised walking a value afresh)


def rebase(data: bytes, texts: Sequence[str | None]) -> bytes | None:
    """The stream of the one value ``data`` (read under ``texts``), or None (module doc)."""
    walker = _Walker(data, texts)
    try:
        value, end = walker.value(0, len(data))
    except (_NotRebasedError, _OtherShapeError, Fail, IndexError):
        return None
    return walker.stream(value) if end == len(data) else None


class _Walker:
    """Walks one value's bytes; :meth:`value` re-bases one value into the current output
    stream, whose symbol table grows as field names are met (:meth:`reset` starts another).

    The revisions of a block mostly have one shape, so after the first one the next is walked
    with the symbol table the one before built (:meth:`again`): that is its own table exactly
    when its field names first occur in that table's order (then the table is cut to the
    symbols it used). The walk checks this as it goes and starts afresh
    (:class:`_OtherShapeError`) at the first name out of that order."""

    def __init__(self, data: bytes, texts: Sequence[str | None]) -> None:
        self.data = data
        self.texts = texts
        self.table: dict[str, int] = {}  # the output's symbol ids by text
        self.local: list[str] = []  # the output's local symbols, in order
        # the input's symbol id -> the output's (a VarUInt) and its index in ``local`` (-1 for
        # a system symbol or $0)
        self.remap: dict[int, tuple[bytes, int]] = {}
        self.name, self.value, self.again, self.used = self._functions()

    def reset(self) -> None:
        self.table.clear()
        self.local.clear()
        self.remap.clear()
        self.again()

    def stream(self, value: bytes) -> bytes:
        """The stream of ``value``: its table is the symbols of ``local`` the walk used."""
        used = self.used()
        return (_symbol_table(tuple(self.local[:used])) if used else _IVM) + value

    def split(self, field: str) -> tuple[bytes, list[bytes]] | None:
        data, value, name = self.data, self.value, self.name
        td, body, stop = _header(data, 0, len(data))
        if td >> 4 != 13 or LENGTHS[td] == _NULL or stop != len(data):
            return None
        parts: list[bytes] = []
        spans: list[tuple[int, int]] | None = None
        pos = body
        while pos < stop:
            old, pos = _field_sid(data, pos, stop)
            parts.append(name(old))
            if old < len(self.texts) and self.texts[old] == field:
                vtd, vbody, vstop = _header(data, pos, stop)
                if spans is not None or vtd >> 4 != 11 or LENGTHS[vtd] == _NULL:
                    return None
                spans = _items(data, vbody, vstop)
                parts.append(_EMPTY_LIST)
                pos = vstop
            else:
                piece, pos = value(pos, stop)
                parts.append(piece)
        if spans is None:
            return None
        frame = self.stream(_framed(13, b"".join(parts)))
        elements = []
        self.reset()
        for start, end in spans:
            try:
                piece, _ = value(start, end)
            except _OtherShapeError:
                self.reset()
                piece, _ = value(start, end)
            elements.append(self.stream(piece))
            self.again()
        return frame, elements

    def _functions(
        self,
    ) -> tuple[
        Callable[[int], bytes],
        Callable[[int, int], tuple[bytes, int]],
        Callable[[], None],
        Callable[[], int],
    ]:
        data, texts, table, local, remap = self.data, self.texts, self.table, self.local, self.remap
        lengths = LENGTHS
        struct_head, list_head = _HEADS[13], _HEADS[11]
        system, small = SYSTEM_IDS, _SMALL_VAR_UINT
        inline = _INLINE
        used = 0  # how many of ``local`` the value walked so far used, in their order

        def again() -> None:
            nonlocal used
            used = 0

        def count() -> int:
            return used

        def sid(old: int) -> tuple[bytes, int]:
            """The output's symbol id (a VarUInt) for the input's symbol id ``old``, and its
            index in ``local`` (added at its end when new; value() counts it as used)."""
            text = texts[old] if old < len(texts) else None
            if text is None:
                if old:  # unknown text: the reader refuses it; never guessed here
                    raise _NotRebasedError
                new = 0
            else:
                new = table.get(text)  # type: ignore[assignment]
                if new is None:
                    new = system.get(text)
                    if new is None:
                        new = len(local) + 10
                        local.append(text)
                    table[text] = new
            entry = (small[new] if new < 128 else _var_uint(new), new - 10 if new >= 10 else -1)
            remap[old] = entry
            return entry

        def name(old: int) -> bytes:
            """A top-level field name's output symbol id, walking afresh (every symbol so far
            used, in order)."""
            nonlocal used
            encoded = (remap.get(old) or sid(old))[0]
            used = len(local)
            return encoded

        def value(pos: int, end: int) -> tuple[bytes, int]:
            """The value at ``pos`` re-based, and where it ends."""
            nonlocal used
            td = data[pos]
            length = lengths[td]
            body = pos + 1
            if length < 0:
                if length == _NULL:
                    return data[pos:body], body  # a typed null (null.symbol has no symbol)
                if length != _VAR or body >= end:
                    raise _NotRebasedError
                b = data[body]
                if b & 0x80:
                    length = b & 0x7F
                    body += 1
                else:
                    length, body = var_uint(data, body, end)
            stop = body + length
            if stop > end:
                raise _NotRebasedError
            t = td >> 4
            if t == 13:
                parts: list[bytes] = []
                append = parts.append
                at = body
                while at < stop:
                    b = data[at]
                    if b & 0x80:
                        old = b & 0x7F
                        at += 1
                    else:
                        old, at = var_uint(data, at, stop)
                    entry = remap.get(old) or sid(old)  # a name before its contents
                    append(entry[0])
                    if entry[1] >= used:  # a local symbol not met before in this value:
                        if entry[1] != used:  # the next one of ``local``, or another shape
                            raise _OtherShapeError
                        used += 1
                    length = inline[data[at]]  # (a byte past ``stop`` is refused below)
                    if length == _VAR_SCALAR:  # (inline: most fields hold a scalar)
                        b = data[at + 1]
                        length = b & 0x7F if b & 0x80 else -1
                        skip = 2
                    else:
                        skip = 1
                    if length >= 0:
                        end_at = at + skip + length
                        if end_at > stop:
                            raise _NotRebasedError
                        append(data[at:end_at])
                        at = end_at
                    else:
                        piece, at = value(at, stop)
                        append(piece)
                out = b"".join(parts)
                n = len(out)
                if n < 14:
                    return struct_head[n] + out, stop
                return b"\xde" + (small[n] if n < 128 else _var_uint(n)) + out, stop
            if t == 11:
                pieces: list[bytes] = []
                at = body
                while at < stop:
                    piece, at = value(at, stop)
                    pieces.append(piece)
                out = b"".join(pieces)
                n = len(out)
                if n < 14:
                    return list_head[n] + out, stop
                return b"\xbe" + (small[n] if n < 128 else _var_uint(n)) + out, stop
            if t == 0 or t == 7 or t == 12 or t == 14:
                raise _NotRebasedError  # NOP pads, symbols, s-expressions, annotations
            return data[pos:stop], stop  # a scalar: its bytes do not depend on symbols

        return name, value, again, count


def _inline() -> tuple[int, ...]:
    """For each type descriptor, the body length of a scalar the struct loop copies inline;
    _VAR_SCALAR for a scalar whose VarUInt length follows; -1 for what value() must see
    (containers, NOP pads, symbols, s-expressions, annotations, illegal descriptors)."""
    out = []
    for td in range(256):
        t, length = td >> 4, LENGTHS[td]
        if td < 0x0F or t in (7, 11, 12, 13, 14) or length == _BAD:
            out.append(-1)
        elif length == _NULL:
            out.append(0)
        else:
            out.append(_VAR_SCALAR if length == _VAR else length)
    return tuple(out)


_VAR_SCALAR = -2
_INLINE = _inline()


def _header(data: bytes, pos: int, end: int) -> tuple[int, int, int]:
    """(descriptor, body start, body end) of the value at ``pos``."""
    td = data[pos]
    length = LENGTHS[td]
    pos += 1
    if length == _NULL:
        return td, pos, pos
    if length == _VAR:
        length, pos = var_uint(data, pos, end)
    elif length < 0:
        raise _NotRebasedError
    if pos + length > end:
        raise _NotRebasedError
    return td, pos, pos + length


def _field_sid(data: bytes, pos: int, end: int) -> tuple[int, int]:
    b = data[pos]
    if b & 0x80:
        return b & 0x7F, pos + 1
    return var_uint(data, pos, end)


def _items(data: bytes, pos: int, end: int) -> list[tuple[int, int]]:
    """The spans of the elements of a list whose body is ``data[pos:end]``."""
    spans = []
    while pos < end:  # (a NOP pad among them: the walker refuses it)
        _, _, stop = _header(data, pos, end)
        spans.append((pos, stop))
        pos = stop
    return spans
