"""Reading one data object as it streams: its bytes, its values, the writer's byte layout.

:class:`Tap` reads the object in chunks of :data:`CHUNK` bytes, hashing and counting them (over
the size cap the object is unreadable); :func:`ion_items` and :func:`json_items` turn it into
its top-level values, one at a time, each with its byte span, resynchronising after a damaged
value (see :mod:`auditor.audit.objects`); :class:`WriterBytes` checks, value by value, that the
bytes are exactly the ones this project's exporter writes. The errors a read raises are here:
:class:`DamageError` (one value is not a usable block), :class:`UnreadableError` (the rest of
the object cannot be read) and :class:`ReadError` (the bytes themselves cannot be fetched).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator
from typing import Any

from auditor import ion
from auditor.audit.model import FAILED, MALFORMED, ObjectSpec
from auditor.formats import canonical_ion

CHUNK = 1 << 16  # bytes read at a time


class DamageError(Exception):
    """A value of a readable object that is not a usable block (becomes a failed issue)."""

    def __init__(self, check: str, message: str, locator: str = "") -> None:
        super().__init__(message)
        self.check = check
        self.message = message
        self.locator = locator


class UnreadableError(Exception):
    """The rest of the object cannot be read (becomes its unreadable issue)."""

    def __init__(self, check: str, message: str, kind: str = MALFORMED) -> None:
        super().__init__(message)
        self.check = check
        self.message = message
        self.kind = kind


class ReadError(Exception):
    """Reading the object's bytes failed (the file system, the network), not its content."""


class Tap:
    """The object's bytes as they are read: their SHA-256 and size (over the cap: unreadable),
    and, for the writer's byte checks, the bytes read since the last :meth:`release` (at most
    ``keep`` of them: older ones are dropped, and :meth:`take` then returns None)."""

    def __init__(self, fp: ion.Readable, limit: int, keep: int = 0) -> None:
        self.fp = fp
        self.limit = limit
        self.sha = hashlib.sha256()
        self.size = 0
        self.keep = keep
        self.kept = bytearray()
        self.kept_from = 0  # input offset of kept[0]
        self.pending = b""  # read ahead by readline

    def _raw(self, n: int) -> bytes:
        try:
            data = self.fp.read(n)
        except Exception as e:  # files, S3 bodies and sockets raise many types
            raise ReadError(f"cannot be read ({type(e).__name__}: {e})") from e
        if not isinstance(data, bytes | bytearray):
            raise ReadError("cannot be read (the source returned no bytes)")
        data = bytes(data)
        self.size += len(data)
        if self.size > self.limit:
            raise UnreadableError("too-large", f"larger than {self.limit} bytes")
        self.sha.update(data)
        if self.keep:
            self.kept += data
            if len(self.kept) > self.keep:
                drop = len(self.kept) - self.keep
                del self.kept[:drop]
                self.kept_from += drop
        return data

    def read(self, n: int = -1) -> bytes:
        if self.pending:
            data, self.pending = self.pending[: max(n, 0) or None], self.pending[max(n, 0) or 0 :]
            if n < 0:
                data, self.pending = data + self.pending, b""
            return data
        return self._raw(CHUNK if n < 0 else n)

    def readline(self, limit: int) -> tuple[bytes, bool]:
        """The next line (without its newline) and whether it ended in one; a line longer than
        ``limit`` is returned cut at ``limit`` bytes with False, the rest of it discarded."""
        parts: list[bytes] = []
        size = 0
        while True:
            buf = self.pending or self._raw(CHUNK)
            self.pending = b""
            if not buf:
                return b"".join(parts), False
            at = buf.find(b"\n")
            if at >= 0:
                self.pending = buf[at + 1 :]
                buf = buf[:at]
            if size < limit:
                parts.append(buf[: limit - size])
            size += len(buf)
            if at >= 0:
                return b"".join(parts), size <= limit

    def take(self, start: int, end: int) -> bytes | None:
        """The bytes ``[start, end)`` of the object, if still kept."""
        if start < self.kept_from or end > self.kept_from + len(self.kept):
            return None
        return bytes(self.kept[start - self.kept_from : end - self.kept_from])

    def release(self, upto: int) -> None:
        """Forget the bytes before ``upto``."""
        drop = min(max(0, upto - self.kept_from), len(self.kept))
        del self.kept[:drop]
        self.kept_from += drop

    def drain(self) -> None:
        """Read the rest (for the object's SHA-256 after a stop)."""
        self.pending = b""
        while self._raw(1 << 20):
            pass


Item = tuple[Any, DamageError | None, int, int]  # (value, damage, start, end)
Loads = Callable[[bytes], Any]  # one JSON line -> its value; raises ValueError


def ion_items(
    tap: Tap,
    spec: ObjectSpec,
    binary: bool,
    limits: ion.Limits,
    on_value: ion.ValueBytes | None = None,
) -> Iterator[Item]:
    """Each top-level Ion value (or damaged stretch), resynchronising; raises UnreadableError.
    ``on_value``: see :func:`auditor.ion.stream_items` (Ion binary only)."""
    kind = "binary" if binary else "text"
    try:
        for value, start, end, error in ion.stream_items(
            tap, spec.key, limits=limits, chunk_size=CHUNK, binary=binary, on_value=on_value
        ):  # fmt: skip
            if error is not None:
                damage = DamageError(
                    "not-ion", f"does not read as Ion {kind} ({error.problem})", error.locator
                )
                yield None, damage, start, end
            else:
                yield value, None, start, end
    except ion.IonError as e:
        if e.reason == "truncated":
            raise UnreadableError(
                "truncated", f"truncated: the object ends inside a value ({e})"
            ) from None
        if e.reason == "budget":
            raise UnreadableError("budget", f"over its parse budget ({e.problem}; {e.locator}; "
                              "see --parse-budget)") from None  # fmt: skip
        if e.reason == "limit" and "Limits.max_bytes" in e.problem:
            raise UnreadableError("too-large", f"{e.problem} ({e.locator})") from None
        if binary and e.offset < 4:
            raise UnreadableError("not-ion", f"not Ion binary ({e.problem})") from None
        yield None, DamageError("not-ion", f"does not read as Ion {kind} ({e.problem})",
                                e.locator), e.offset, tap.size  # fmt: skip
        raise UnreadableError(
            "unreadable-tail", "the rest of the object cannot be read after a damaged value "
            f"({e})", kind=FAILED,
        ) from None  # fmt: skip


def json_items(tap: Tap, spec: ObjectSpec, loads: Loads, limit: int) -> Iterator[Item]:
    """Each line of a JSON Lines object, parsed by ``loads`` (:meth:`JsonRules.loads
    <auditor.audit.jsonrules.JsonRules.loads>`): a value, or damage; blank lines are skipped (a
    run of them is one layout damage under the writer's rules). Raises UnreadableError
    (truncated)."""
    offset = 0
    line_no = 0
    blank_from: int | None = None
    while True:
        line, newline = tap.readline(limit)
        line_no += 1
        start, end = offset, offset + len(line)
        offset = end + newline  # the true length only when the line was not cut
        if not newline and not line:
            break
        if not line.strip():
            if blank_from is None:
                blank_from = line_no
            continue
        where = f"{spec.key} at line {line_no}"
        if blank_from is not None and spec.writer_bytes:
            yield None, DamageError("layout", f"a blank line before this block (line "
                                    f"{blank_from})", where), start, end  # fmt: skip
        blank_from = None
        if len(line) >= limit and not newline:
            yield None, DamageError("not-json", f"a line over {limit} bytes", where), start, end
            continue
        try:
            value = loads(line)
        except (ValueError, RecursionError) as e:
            if not newline and _json_truncated(line, loads):
                raise UnreadableError(
                    "truncated", f"truncated: the object ends inside a value ({where}: "
                    f"{_short(e)})",
                ) from None  # fmt: skip
            yield None, DamageError("not-json", f"does not read as JSON ({_short(e)})",
                                    where), start, end  # fmt: skip
            continue
        damage = None
        if spec.writer_bytes and not newline:
            damage = DamageError("layout", "the object does not end with a newline", where)
        yield value, damage, start, end
        if not newline:
            break
    if blank_from is not None and spec.writer_bytes:
        yield None, DamageError("layout", f"blank lines at the end (from line {blank_from})",
                                f"{spec.key} at line {blank_from}"), offset, offset  # fmt: skip


def _json_truncated(line: bytes, loads: Loads) -> bool:
    """A last line that fails is truncated unless dropping its last byte does not help."""
    try:
        return not isinstance(loads(line[:-1]), dict)
    except (ValueError, RecursionError):
        return True


def _short(e: BaseException) -> str:
    text = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
    return text[:160]


class WriterBytes:
    """The writer's exact bytes, checked value by value as the object streams past."""

    def __init__(self, tap: Tap, fmt: str, key: str) -> None:
        self.tap = tap
        self.key = key
        self.binary = fmt == "binary"
        self.encoder = ion.BinaryEncoder() if self.binary else None
        self.end = 0  # where the last value ended
        self.header: bytes | None = None
        self.first = True
        self.shared = False  # set by check: the last value is on the previous value's line

    def check(self, value: Any, start: int, end: int) -> DamageError | None:
        tap = self.tap
        gap = tap.take(self.end, start)
        first, self.first = self.first, False
        previous_end, self.end = self.end, end
        if self.binary:
            assert self.encoder is not None
            if first:
                self.header = gap
            try:
                encoded = self.encoder.encode(value)
            except ValueError:
                encoded = b""
            got = tap.take(start, end)
            tap.release(end)
            if (not first and gap != b"") or got != encoded:
                at = start
                if got is not None and got != encoded:
                    at += next(
                        (i for i, (a, b) in enumerate(zip(encoded, got, strict=False)) if a != b),
                        min(len(encoded), len(got)),
                    )
                return DamageError(
                    "layout", f"the object's bytes are not the writer's encoding of its blocks"
                    f" (first difference at byte {at})", f"{self.key} at byte {at}",
                )  # fmt: skip
            return None
        got = tap.take(start, end)
        tap.release(end)
        if got is None:  # read past: its line ran on (the reader yields a line's values at its end)
            return DamageError("layout", f"not the writer's layout on this block's line: more "
                               f"than {tap.keep} bytes from its start (byte {start}) before the"
                               " line ends (its bytes could not be compared)")  # fmt: skip
        if gap is None or gap != (b"" if first else b"\n"):
            if gap is not None and b"\n" not in gap and not first:
                self.shared = True  # the previous block's line holds this value too
                return None
            if gap is not None and gap.strip() == b"" and gap.count(b"\n") > 1:
                return DamageError("layout", "an empty line before this block")
            return DamageError("layout", "not the writer's layout before this block "
                               f"(bytes {previous_end}-{start})")  # fmt: skip
        if got != canonical_ion(value).encode():
            return DamageError("layout", "not the writer's canonical Ion text")
        return None

    def skip(self, end: int) -> None:
        """A damaged stretch ends at ``end`` (its bytes are not checked)."""
        self.end = end
        self.tap.release(end)

    def finish(self, size: int) -> str | None:
        """After the last value: the problem with the object's first or last bytes, if any."""
        tail = self.tap.take(self.end, size)
        if self.binary:
            assert self.encoder is not None
            if self.header is not None and self.header != self.encoder.header():
                return "its version marker and symbol table are not the writer's"
            if tail != b"":
                return "bytes after the last block"
            return None
        if tail != b"\n" and not self.first:
            return "the object does not end with a newline" if tail == b"" else (
                "not the writer's layout after the last block"
            )  # fmt: skip
        return None
