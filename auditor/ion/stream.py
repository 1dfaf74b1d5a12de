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
import re
from collections.abc import Callable, Generator, Iterator
from typing import Any, Protocol

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

_LINE_ENDS = re.compile(r"[ \t\r\v\f]*\n")  # blanks to the end of the line
_HEADER = 32  # bytes that always hold a type descriptor and its length


class Readable(Protocol):
    """What the streaming readers read from: a binary file, a socket body, an S3 body."""

    def read(self, n: int, /) -> bytes: ...


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


Item = tuple[Any, int, int, "IonError | None"]
"""``(value, start, end, None)`` for a value; ``(None, start, end, error)`` for a damaged one
(resynchronising streams only): ``start``/``end`` are the input byte offsets of the damage."""


ValueBytes = Callable[[bytes, list[str | None]], None]
"""``on_value(data, texts)``: a user value's bytes and the symbol table they were read under."""


def stream_binary(
    fp: Readable,
    head: bytes,
    where: str,
    limits: Limits,
    chunk: int,
    resync: bool = False,
    on_value: ValueBytes | None = None,
) -> Iterator[Item]:
    """Top-level values of Ion binary. With ``resync``, a value whose header frames but whose
    body does not decode is yielded as damage and reading goes on at the next top-level value
    (its length is in its header); a header that does not frame, a value running past the end
    (``truncated``), the input size and the deadline still end the stream with an error.
    ``on_value`` is called with each user value's bytes and symbol table just before it is
    yielded (not for damage)."""
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
                raise _too_large(limits, len(buf))

    def skip(end: int, what: str) -> None:
        """Discard input up to ``end`` (relative to buf) without keeping it."""
        nonlocal base, pos
        if end <= len(buf):
            pos = end
            return
        left = end - len(buf)
        base += len(buf)
        del buf[:]
        pos = 0
        while left > 0:
            data = fp.read(min(left, 1 << 20))
            if not data:
                raise Fail("truncated", f"{what} runs past the end of the input", 0)
            left -= len(data)
            base += len(data)
            if base > limits.max_bytes:
                raise _too_large(limits, 0)

    try:
        if not head.startswith(IVM):
            raise Fail("not-ion", "Ion binary must start with the version marker E0 01 00 EA", 0)
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
            start = base + pos
            if td < 0x0F:  # NOP pad: skip without keeping it
                skip(pos + size, "a NOP pad")
                continue
            if size > limits.max_value_bytes:  # skipped unread when resynchronising
                problem = Fail(
                    "limit", f"a top-level value over {limits.max_value_bytes} bytes "
                    "(Limits.max_value_bytes)", pos,
                )  # fmt: skip
                if not resync:
                    raise problem
                skip(pos + size, "a value")
                yield None, start, start + size, _error(problem, where, start)
                continue
            more(size)
            if len(buf) - pos < size:
                raise Fail("truncated", "a value runs past the end of the input", pos)
            data = bytes(buf[pos : pos + size])
            try:
                if body == stop and LENGTHS[td] == _NULL:
                    value: Any = NULLS[td >> 4]
                else:
                    value = Decoder(data, texts, limits, budget).value(td, body, stop, 0)
                if type(value) is Annotated and value.annotations[0] == ION_SYMBOL_TABLE:
                    inner = value.value
                    if type(inner) is dict or inner == TypedNull(IonType.STRUCT):
                        texts = apply_local_table(
                            texts, inner if type(inner) is dict else None, limits, 0
                        )
                        pos += size
                        continue
            except Fail as f:
                if not resync or f.fatal:
                    f.pos += pos
                    raise
                pos += size
                yield None, start, start + size, _error(f, where, start + f.pos)
                continue
            pos += size
            if type(value) is Symbol and value.text == ION_1_0:
                continue
            budget.values += 1
            budget.check(start - base)
            if on_value is not None:
                on_value(data, texts)
            yield value, start, start + size, None
    except Fail as f:
        raise _error(f, where, base + f.pos) from None


def _too_large(limits: Limits, pos: int) -> Fail:
    f = Fail("limit", f"larger than {limits.max_bytes} bytes (Limits.max_bytes)", pos)
    f.fatal = True
    return f


def _error(f: Fail, where: str, offset: int) -> IonError:
    return IonError(f.reason, where, f.message, offset, path=render_path(f.path))


class _TextBuffer:
    """Decoded text of the unread input, with the input offsets of its first character.

    Invalid UTF-8 does not raise while reading: the text decoded before it is kept and the
    buffer is *broken* there (``more`` then fails at ``len(s)``), so a resynchronising reader
    can still skip to the next line at the byte level (:meth:`skip_line`)."""

    def __init__(self, fp: Readable, head: bytes, limits: Limits, chunk: int) -> None:
        self.fp = fp
        self.chunk = chunk
        self.limits = limits
        self.decoder = codecs.getincrementaldecoder("utf-8")("strict")
        self.read_bytes = 0  # bytes read from the input so far
        self.s = ""
        self.char_base = 0  # characters dropped before s
        self.byte_base = 0  # input bytes before s[0]
        self.line_base = 0  # newlines before s[0]
        self.last_newline = -1  # character index (absolute) of the last dropped newline
        self.eof = False
        self.broken: bytes | None = None  # the undecodable bytes, from the first bad one
        self.line_mark = (0, 1)  # (absolute character index, its line) last asked for
        self.ascii = True  # s is ASCII (character offsets are byte offsets)
        self.feed(head)

    def feed(self, data: bytes) -> None:
        self.read_bytes += len(data)
        if self.read_bytes > self.limits.max_bytes:
            raise _too_large(self.limits, len(self.s))
        if not data:
            self.eof = True
        if self.broken is not None:
            self.broken += data
            return
        try:
            text = self.decoder.decode(data, final=not data)
        except UnicodeDecodeError as e:
            raw = bytes(e.object)
            text = raw[: e.start].decode("utf-8")
            self.broken = raw[e.start :]
            self.decoder.reset()
        self.ascii = self.ascii and text.isascii()
        self.s += text

    def more(self, at_least: int) -> None:
        if self.broken is not None:
            raise Fail("not-utf8", "not UTF-8 text (neither Ion binary nor Ion text)", len(self.s))
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
        if not self.ascii:
            self.ascii = self.s.isascii()

    def byte_offset(self, pos: int) -> int:
        if self.ascii:
            return self.byte_base + pos
        head = self.s[:pos]
        return self.byte_base + (pos if head.isascii() else len(head.encode("utf-8")))

    def line_column(self, pos: int) -> tuple[int, int]:
        line, column = line_column(self.s, pos)
        if line == 1:
            column = self.char_base + pos - self.last_newline
        return self.line_base + line, column

    def line_of(self, pos: int) -> int:
        """The 1-based line of ``s[pos]``, counting on from the last position asked for (so
        that asking for every value of a long line stays linear)."""
        at = self.char_base + pos
        mark, line = self.line_mark
        if self.char_base <= mark <= at:
            line += self.s.count("\n", mark - self.char_base, pos)
        else:
            line = self.line_column(pos)[0]
        self.line_mark = (at, line)
        return line

    def line_end(self, pos: int) -> int | None:
        """The index of the first newline at or after ``pos``, reading more text as needed
        (while the line stays within ``Limits.max_value_bytes``); None when the line runs to
        the end of the input, into undecodable bytes, or past that size."""
        while True:
            end = self.s.find("\n", pos)
            if end >= 0:
                return end
            if self.eof or self.broken is not None:
                return None
            if len(self.s) - pos > self.limits.max_value_bytes:
                return None
            pos = max(pos, len(self.s))
            self.more(self.chunk)

    def skip_line(self) -> bool:
        """Discard everything up to and including the next newline *byte* (past undecodable
        bytes too), then decode afresh from there. False at the end of the input."""
        pending = self.decoder.getstate()[0]  # an incomplete character: never a newline
        tail = pending + (self.broken or b"")
        self.byte_base += len(self.s.encode("utf-8", "surrogatepass"))
        self.char_base += len(self.s)
        self.s = ""
        self.ascii = True
        self.broken = None
        self.decoder.reset()
        while True:
            at = tail.find(b"\n")
            if at >= 0:
                self.byte_base += at + 1
                self.line_base += 1
                self.char_base += 1
                self.last_newline = self.char_base - 1
                rest = tail[at + 1 :]
                if rest:
                    self.read_bytes -= len(rest)
                    self.feed(rest)
                return True
            self.byte_base += len(tail)
            if self.eof:
                return False
            tail = self.fp.read(self.chunk)
            self.read_bytes += len(tail)
            if self.read_bytes > self.limits.max_bytes:
                raise _too_large(self.limits, 0)
            if not tail:
                self.eof = True
                return False


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
        if buffer.eof and buffer.broken is None:
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
        if buffer.eof and buffer.broken is None:
            if ends[0] == "*/":
                raise Fail("truncated", "the input ends inside a block comment", pos)
            return len(s)
        keep = max(pos, len(s) - 1)  # a '*' at the very end may start '*/'
        buffer.drop(keep)
        pos = 0
        buffer.more(buffer.chunk)


def stream_text(
    fp: Readable, head: bytes, where: str, limits: Limits, chunk: int, resync: bool = False
) -> Iterator[Item]:
    """Top-level values of Ion text. With ``resync``, reading goes on at the next line after
    a problem, and a line is the unit of damage: the values of a line are yielded once the
    line is complete, and a problem on a line makes the whole line one damage (so a damaged
    block of a one-block-per-line export is one damage, whatever it turns into). The lines
    from the start of the failed value to the end of the line where the problem is are each
    read on their own, so the reader stays linear; invalid UTF-8 is skipped up to the next
    newline byte. The input size and the deadline still end the stream with an error, and so
    does a value that the input ends inside (``truncated``)."""
    budget = Budget(limits)
    buffer = _TextBuffer(fp, head, limits, chunk)
    parser = Parser(buffer.s, limits, budget, final=False)
    pos = 0
    held: list[Item] = []  # values of the line not finished yet (resync only)
    held_line = 0

    def fail(f: Fail) -> IonError:
        line, column = buffer.line_column(f.pos)
        return IonError(
            f.reason, where, f.message, buffer.byte_offset(f.pos), line, column,
            render_path(f.path),
        )  # fmt: skip

    def hold(item: Item, first: int, last: int) -> Iterator[Item]:
        """Yield what the line before ``first`` held, then hold ``item`` (lines first-last)."""
        nonlocal held_line
        if item[3] is not None:  # damage: it takes the values of its line with it
            if held and first == held_line:
                item = (None, held[0][1], item[2], item[3])
                held.clear()
            yield from held
            held.clear()
            yield item
            return
        if held and (first > held_line or len(held) >= _HOLD):
            yield from held
            held.clear()
        held.append(item)
        held_line = last

    while True:
        start = -1  # inside a value: where it starts
        try:
            if held:
                # the held values' line ends here (blanks, then a newline): yield them now,
                # before the whitespace after them is read (it may be many MiB, and a
                # consumer checking the bytes of each value, WriterBytes, keeps a window)
                while pos >= len(buffer.s) and not buffer.eof and buffer.broken is None:
                    buffer.more(1)
                if _LINE_ENDS.match(buffer.s, pos):
                    yield from held
                    held.clear()
            pos = _skip_top(buffer, pos)
            start = pos
            if pos > chunk:
                buffer.drop(pos)
                pos = start = 0
            if pos >= len(buffer.s) and buffer.eof and buffer.broken is None:
                yield from held
                return
            budget.check(pos)
            budget.values = 0
            while True:
                parser.s = buffer.s
                parser.end = len(buffer.s)
                parser.final = buffer.eof and buffer.broken is None
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
                    buffer.more(pending)
            if after - pos > limits.max_value_bytes:
                raise Fail("limit", "a top-level value over Limits.max_value_bytes", pos)
        except Fail as f:
            if not resync or f.fatal:
                yield from held
                raise fail(f) from None
            if start < 0:  # between values (a comment, bytes that are not UTF-8)
                start = f.pos
            items = _resync(buffer, parser, start, max(f.pos, start), where)
            try:
                while True:
                    item, first, last = next(items)
                    yield from hold(item, first, last)
            except StopIteration as done:
                pos = done.value
            except Fail as g:
                yield from held
                raise fail(g) from None
            except IonError:
                yield from held
                raise
            if pos < 0:
                yield from held
                return
            continue
        if user:
            budget.values += 1
            try:
                budget.check(pos)
            except Fail as f:
                yield from held
                raise fail(f) from None
            item = (value, buffer.byte_offset(pos), buffer.byte_offset(after), None)
            if not resync:
                yield item
            else:
                first = buffer.line_of(pos)
                if held and (first > held_line or len(held) >= _HOLD):
                    yield from held
                    held.clear()
                held.append(item)
                held_line = buffer.line_of(after)
        pos = after


_HOLD = 64  # values of one line held at most (a line of many values is not one block)
Lined = tuple[Item, int, int]  # an item and the lines it starts and ends on


def _resync(
    buffer: _TextBuffer, parser: Parser, start: int, at: int, where: str
) -> Generator[Lined, None, int]:
    """After a problem (the value at ``start`` failed at ``at``): read each line from
    ``start`` to the end of the line holding ``at`` on its own, yield its values or its damage,
    and return where reading goes on (-1: at the end of the input)."""
    end = buffer.line_end(at) if at < len(buffer.s) else None
    stop = len(buffer.s) if end is None else end
    line_start = start
    line_no = buffer.line_of(start)
    held: Lined | None = None
    while line_start <= stop:
        cut = buffer.s.find("\n", line_start, stop)
        line_stop = stop if cut < 0 else cut
        last = cut < 0
        final = not last or end is not None or (buffer.eof and buffer.broken is None)
        for item in _line(buffer, parser, line_start, line_stop, final, where):
            if held is not None:
                yield held
            held = (item, line_no, line_no)
        line_start = line_stop + 1
        line_no += 1
        if last:
            break
    if end is not None or (buffer.eof and buffer.broken is None):
        if held is not None:
            yield held
        return -1 if end is None else end + 1
    # the line runs into undecodable bytes (or is too long): skip it at the byte level
    found = buffer.skip_line()
    if held is not None:
        (value, first, _, error), a, b = held
        resume = buffer.byte_base - found  # the newline byte is not part of the damage
        yield ((value, first, resume, error), a, b) if error is not None else held
    return 0 if found else -1


def _line(
    buffer: _TextBuffer, parser: Parser, start: int, stop: int, final: bool, where: str
) -> list[Item]:
    """The values of ``buffer.s[start:stop]`` read on their own, or, when anything on it does
    not read, one damage for the line. ``final``: the line is complete (else it runs on into
    bytes that cannot be read, so it is damage)."""
    text = buffer.s[start:stop]
    one = Parser(text, parser.limits, parser.budget, final=True)
    one.texts = parser.texts
    pos = 0
    out: list[Item] = []
    while True:
        try:
            pos = one.ws(pos)
            if pos >= len(text):
                if not final:
                    raise Fail("not-utf8", "not UTF-8 text (neither Ion binary nor Ion text)",
                               len(text))  # fmt: skip
                break
            parser.budget.check(pos)
            parser.budget.values = 0
            value, after, user = one.top(pos)
        except Fail as f:
            if not final and not f.fatal and f.pos >= len(text):  # it ran into the bad bytes
                f = Fail("not-utf8", "not UTF-8 text (neither Ion binary nor Ion text)", len(text))
            f.pos += start
            line, column = buffer.line_column(f.pos)
            error = IonError(
                f.reason, where, f.message, buffer.byte_offset(f.pos), line, column,
                render_path(f.path),
            )  # fmt: skip
            if f.fatal:
                raise error from None
            if final and buffer.eof and buffer.broken is None and stop == len(buffer.s):
                # the last line, and the input does not end with a newline: it ends inside a
                # value, unless the line reads without its last character (a stray byte)
                if f.reason != "truncated" and not _reads(text[:-1], parser):
                    error = IonError(
                        "truncated",
                        where,
                        f"the input ends inside a value ({f.message})",
                        error.offset,
                        line,
                        column,
                        error.path,
                    )
                    raise error from None
                if f.reason == "truncated":
                    raise error from None
            first = out[0][1] if out else buffer.byte_offset(start + pos)
            return [(None, first, buffer.byte_offset(stop), error)]
        if user:
            out.append(
                (value, buffer.byte_offset(start + pos), buffer.byte_offset(start + after), None)
            )
        pos = after
    parser.texts = one.texts
    return out


def _reads(text: str, parser: Parser) -> bool:
    """``text`` reads as Ion text on its own (under the parser's symbols)."""
    one = Parser(text, parser.limits, parser.budget, final=True)
    one.texts = parser.texts
    pos = 0
    try:
        while True:
            pos = one.ws(pos)
            if pos >= len(text):
                return True
            _, pos, _ = one.top(pos)
    except Fail:
        return False
