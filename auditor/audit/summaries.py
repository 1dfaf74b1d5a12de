"""The per-object summaries of an audit (the report's ``objects``), packed, spilled to disk.

An export of a million objects has a million summaries; as ``dict`` objects they cost about
300 bytes each. :class:`Summaries` keeps each as one ``marshal`` record (about 60 bytes: a
tuple of the ten values, exact for every value ``marshal`` carries), in memory up to
:data:`SPILL_BYTES`, then in an anonymous temporary file (removed when it is closed, and by the
system when the process ends). Nothing a verdict rests on is read back from it: the report's
counts by status are kept in memory as the summaries are added. If the temporary file cannot
be written, the records stay in memory.
"""

from __future__ import annotations

import marshal
import tempfile
import weakref
from collections.abc import Iterator
from typing import IO, Any

FIELDS = ("key", "first", "last", "blocks", "bytes", "sha256", "seconds", "status", "skipped",
          "issues")  # fmt: skip
SPILL_BYTES = 4 * 1024 * 1024  # records kept in memory before they go to the temporary file
_CHUNK = 1024 * 1024


class Summaries:
    """A list of summary dicts (keys :data:`FIELDS`): ``append``, ``len``, iterate (each
    iteration reads them again, in order); ``by_status`` counts them by their ``status``."""

    __slots__ = ("__weakref__", "_buffer", "_count", "_file", "_spilled", "by_status")

    def __init__(self) -> None:
        self._buffer = bytearray()
        self._count = 0
        self._file: IO[bytes] | None = None
        self._spilled = 0  # bytes in the file
        self.by_status: dict[Any, int] = {}  # in the order statuses first came

    def append(self, summary: dict[str, Any]) -> None:
        s = summary
        record = marshal.dumps((s["key"], s["first"], s["last"], s["blocks"], s["bytes"],
                                s["sha256"], s["seconds"], s["status"], s["skipped"],
                                s["issues"]))  # fmt: skip
        self._buffer += len(record).to_bytes(4, "little")
        self._buffer += record
        self._count += 1
        status = s["status"]
        self.by_status[status] = self.by_status.get(status, 0) + 1
        if len(self._buffer) >= SPILL_BYTES:
            self._spill()

    def _spill(self) -> None:
        try:
            if self._file is None:
                # lives as long as the summaries (no name: only this process holds it)
                self._file = tempfile.TemporaryFile(prefix="qldb-audit-objects-")  # noqa: SIM115
                weakref.finalize(self, self._file.close)  # closed when the summaries go
            self._file.seek(0, 2)
            self._file.write(self._buffer)
            self._file.flush()
        except OSError:
            return  # no room on disk: the records stay in memory
        self._spilled += len(self._buffer)
        self._buffer = bytearray()

    def __len__(self) -> int:
        return self._count

    def __iter__(self) -> Iterator[dict[str, Any]]:
        pending = b""
        for chunk in self._chunks():
            data = memoryview(pending + chunk)
            at = 0
            while at + 4 <= len(data):
                n = int.from_bytes(data[at : at + 4], "little")
                if at + 4 + n > len(data):
                    break
                # what this process wrote (marshal builds values, it runs no code)
                values = marshal.loads(data[at + 4 : at + 4 + n])  # noqa: S302
                yield dict(zip(FIELDS, values, strict=True))
                at += 4 + n
            pending = bytes(data[at:])
        if pending:  # pragma: no cover - only if the file was changed under us
            raise OSError("the audit's temporary file of object summaries was truncated")

    def _chunks(self) -> Iterator[bytes]:
        if self._file is not None:
            offset = 0
            while offset < self._spilled:
                self._file.seek(offset)
                data = self._file.read(min(_CHUNK, self._spilled - offset))
                if not data:  # pragma: no cover - only if the file was changed under us
                    raise OSError("the audit's temporary file of object summaries was truncated")
                offset += len(data)
                yield data
        yield bytes(self._buffer)

    def to_json(self) -> list[dict[str, Any]]:
        return list(self)

    @classmethod
    def from_json(cls, value: Any) -> Summaries:
        """From :meth:`to_json` (or a copy of ``value`` if it is :class:`Summaries`); raises
        ``ValueError`` if it is not a list of summaries."""
        if isinstance(value, Summaries):
            value = iter(value)
        elif not isinstance(value, list):
            raise ValueError("objects: expected a list")
        out = cls()
        for summary in value:
            if not isinstance(summary, dict) or set(summary) != set(FIELDS):
                raise ValueError("objects: expected summaries")
            if not isinstance(summary["status"], str):
                raise ValueError("objects: status: expected a string")
            out.append(summary)
        return out
