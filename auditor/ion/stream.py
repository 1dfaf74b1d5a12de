"""Streaming readers: Ion binary or text from a file-like object, in flat memory.

Binary: each top-level value's length is read from its header, then exactly that many bytes
(never more than ``Limits.max_value_bytes``); NOP pads are skipped by reading and discarding.
Text: the buffer holds the unread part of the current top-level value only; whitespace and
comments between values are discarded as they are read (a comment of any length costs one
chunk of memory); a value cut by the end of the buffer is parsed again once more text arrived,
and the buffer at least doubles each time, so the time stays linear in the value's size.
"""

from __future__ import annotations

import codecs
from collections.abc import Iterator
from typing import IO, Any

from auditor.ion.binary import (
    _BAD,
    _NULL,
    _VAR,
    IVM,
    LENGTHS,
    NULLS,
    Decoder,
    bad_descriptor,
    var_uint,
)
from auditor.ion.limits import Budget, Fail, IonError, Limits, line_column, render_path
from auditor.ion.symbols import ION_1_0, ION_SYMBOL_TABLE, apply_local_table, system_table
from auditor.ion.text import _WS, NeedMore, Parser
from proofs.ionvalue import Annotated, IonType, Symbol, TypedNull

_HEADER = 32  # bytes that always hold a type descriptor and its length


def _top_header(window: bytes) -> tuple[int, int, int]:
    """(descriptor, body start, body end) of the value starting ``window`` (ends unchecked)."""
    td = window[0]
    length = LENGTHS[td]
    if length == _BAD:
        raise bad_descriptor(td, 0)
    if length == _NULL:
        return td, 1, 1
    if length == _VAR:
        length, body = var_uint(window, 1, len(window))
        return td, body, body + length
    return td, 1, 1 + length


def stream_binary(
    fp: IO[bytes], head: bytes, where: str, limits: Limits, chunk: int
) -> Iterator[tuple[Any, int, int]]:
    buf = bytearray(head)
    base = 0  # input offset of buf[0]
    pos = 4
    texts = system_table()
    budget = Budget(limits)
    eof = False

    def more(need: int) -> None:
        nonlocal eof
        while not eof and len(buf) - pos < need:
            data = fp.read(max(chunk, need - (len(buf) - pos)))
            if not data:
                eof = True
            buf.extend(data)
            if base + len(buf) > limits.max_bytes:
                raise Fail("limit", f"larger than {limits.max_bytes} bytes (Limits.max_bytes)",
                           len(buf))  # fmt: skip

    try:
        while True:
            if pos > chunk:
                del buf[:pos]
                base += pos
                pos = 0
            more(_HEADER)
            if pos >= len(buf):
                return
            budget.check(pos)
            budget.values = 0
            if buf[pos] == 0xE0:
                if bytes(buf[pos : pos + 4]) != IVM:
                    raise Fail("not-ion", "an Ion version marker other than Ion 1.0's", pos)
                pos += 4
                texts = system_table()
                continue
            try:
                td, body, stop = _top_header(bytes(buf[pos : pos + _HEADER]))
            except Fail as f:
                f.pos += pos
                raise
            size = stop
            if td < 0x0F:  # NOP pad: skip without keeping it
                end = pos + size
                if end <= len(buf):
                    pos = end
                    continue
                skip = end - len(buf)
                new_base = base + end
                del buf[:]
                pos = 0
                base = new_base - skip
                while skip > 0:
                    data = fp.read(min(skip, 1 << 20))
                    if not data:
                        raise Fail("truncated", "a NOP pad runs past the end of the input", 0)
                    skip -= len(data)
                    base += len(data)
                    if base > limits.max_bytes:
                        raise Fail("limit", f"larger than {limits.max_bytes} bytes", 0)
                continue
            if size > limits.max_value_bytes:
                raise Fail(
                    "limit", f"a top-level value over {limits.max_value_bytes} bytes "
                    "(Limits.max_value_bytes)", pos,
                )  # fmt: skip
            more(size)
            if len(buf) - pos < size:
                raise Fail("truncated", "a value runs past the end of the input", pos)
            data = bytes(buf[pos : pos + size])
            start = base + pos
            try:
                if body == stop and LENGTHS[td] == _NULL:
                    value: Any = NULLS[td >> 4]
                else:
                    value = Decoder(data, texts, limits, budget).value(td, body, stop, 0)
            except Fail as f:
                f.pos += pos
                raise
            pos += size
            if type(value) is Annotated and value.annotations[0] == ION_SYMBOL_TABLE:
                inner = value.value
                if type(inner) is dict or inner == TypedNull(IonType.STRUCT):
                    texts = apply_local_table(
                        texts, inner if type(inner) is dict else None, limits, pos
                    )
                    continue
            if type(value) is Symbol and value.text == ION_1_0:
                continue
            budget.values += 1
            budget.check(start - base)
            yield value, start, start + size
    except Fail as f:
        raise IonError(f.reason, where, f.message, base + f.pos, path=render_path(f.path)) from None


class _TextBuffer:
    """Decoded text of the unread input, with the input offsets of its first character."""

    def __init__(self, fp: IO[bytes], head: bytes, limits: Limits, chunk: int) -> None:
        self.fp = fp
        self.chunk = chunk
        self.limits = limits
        self.decoder = codecs.getincrementaldecoder("utf-8")("strict")
        self.read_bytes = 0  # bytes given to the decoder so far
        self.s = ""
        self.char_base = 0  # characters dropped before s
        self.byte_base = 0  # input bytes before s[0]
        self.line_base = 0  # newlines before s[0]
        self.last_newline = -1  # character index (absolute) of the last dropped newline
        self.eof = False
        self.feed(head)

    def feed(self, data: bytes) -> None:
        pending = len(self.decoder.getstate()[0])
        try:
            text = self.decoder.decode(data, final=not data)
        except UnicodeDecodeError as e:
            offset = self.read_bytes - pending + e.start
            raise IonError("not-utf8", "", "neither Ion binary nor UTF-8 text", offset) from None
        self.read_bytes += len(data)
        if self.read_bytes > self.limits.max_bytes:
            raise Fail("limit", f"larger than {self.limits.max_bytes} bytes", len(self.s))
        if not data:
            self.eof = True
        self.s += text

    def more(self, at_least: int) -> None:
        if self.eof:
            return
        self.feed(self.fp.read(max(self.chunk, at_least)))

    def drop(self, pos: int) -> None:
        """Forget the first ``pos`` characters."""
        gone = self.s[:pos]
        newlines = gone.count("\n")
        if newlines:
            self.last_newline = self.char_base + gone.rfind("\n")
        self.line_base += newlines
        self.byte_base += pos if gone.isascii() else len(gone.encode("utf-8"))
        self.char_base += pos
        self.s = self.s[pos:]

    def byte_offset(self, pos: int) -> int:
        head = self.s[:pos]
        return self.byte_base + (pos if head.isascii() else len(head.encode("utf-8")))

    def line_column(self, pos: int) -> tuple[int, int]:
        line, column = line_column(self.s, pos)
        if line == 1:
            column = self.char_base + pos - self.last_newline
        return self.line_base + line, column


def _skip_top(buffer: _TextBuffer, pos: int) -> int:
    """Skip whitespace and comments at top level, reading more as needed (a long comment is
    discarded chunk by chunk). Returns the position of the next value, or len(s) at EOF."""
    while True:
        s = buffer.s
        pos = _WS.match(s, pos).end()  # type: ignore[union-attr]
        size = len(s)
        if pos < size:
            if s.startswith("/*", pos):  # a block comment not closed in the buffer
                pos = _skip_until(buffer, pos + 2, "*/")
                continue
            if s[pos] == "/" and pos + 1 == size and not buffer.eof:
                buffer.more(1)
                continue
            # a line comment cut by the buffer end was consumed up to it: check the tail
            return pos
        line = s.rfind("//", 0, size)
        if line >= 0 and s.find("\n", line) < 0 and s.find("\r", line) < 0 and not buffer.eof:
            # maybe inside a line comment: keep reading until its end
            buffer.drop(line)
            pos = _skip_until(buffer, 2, "\n", "\r")
            continue
        if buffer.eof:
            return pos
        buffer.drop(pos)
        pos = 0
        buffer.more(buffer.chunk)


def _skip_until(buffer: _TextBuffer, pos: int, *ends: str) -> int:
    """Discard text up to the first of ``ends`` (block comment end, or a newline)."""
    while True:
        s = buffer.s
        found = [i for i in (s.find(e, pos) for e in ends) if i >= 0]
        if found:
            end = min(found)
            return end + (len(ends[0]) if ends[0] == "*/" else 0)
        if buffer.eof:
            if ends[0] == "*/":
                raise Fail("truncated", "the input ends inside a block comment", pos)
            return len(s)
        keep = max(pos, len(s) - 1)  # a '*' at the very end may start '*/'
        buffer.drop(keep)
        pos = 0
        buffer.more(buffer.chunk)


def stream_text(
    fp: IO[bytes], head: bytes, where: str, limits: Limits, chunk: int
) -> Iterator[tuple[Any, int, int]]:
    budget = Budget(limits)
    buffer = _TextBuffer(fp, head, limits, chunk)
    parser = Parser(buffer.s, limits, budget, final=False)
    pos = 0
    try:
        while True:
            try:
                pos = _skip_top(buffer, pos)
            except IonError as e:
                raise IonError(e.reason, where, e.problem, e.offset) from None
            if pos > chunk:
                buffer.drop(pos)
                pos = 0
            if pos >= len(buffer.s) and buffer.eof:
                return
            budget.check(pos)
            budget.values = 0
            while True:
                parser.s = buffer.s
                parser.end = len(buffer.s)
                parser.final = buffer.eof
                parser.next_check = pos + 65536
                budget.values = 0
                try:
                    value, after, user = parser.top(pos)
                    break
                except NeedMore:
                    pending = len(buffer.s) - pos
                    if pending > limits.max_value_bytes:
                        raise Fail(
                            "limit", f"a top-level value over {limits.max_value_bytes} bytes "
                            "(Limits.max_value_bytes)", pos,
                        ) from None  # fmt: skip
                    try:
                        buffer.more(pending)
                    except IonError as e:
                        raise IonError(e.reason, where, e.problem, e.offset) from None
            if after - pos > limits.max_value_bytes:
                raise Fail("limit", "a top-level value over Limits.max_value_bytes", pos)
            if user:
                budget.values += 1
                budget.check(pos)
                start = buffer.byte_offset(pos)
                yield value, start, buffer.byte_offset(after)
            pos = after
    except Fail as f:
        line, column = buffer.line_column(f.pos)
        raise IonError(
            f.reason, where, f.message, buffer.byte_offset(f.pos), line, column,
            render_path(f.path),
        ) from None  # fmt: skip
