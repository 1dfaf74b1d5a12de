"""Source.read: the whole object, at most MAX_READ_BYTES + 1 bytes of it, without allocating
the limit up front (``read(512 MiB + 1)`` of a 300-byte digest made a 512 MiB buffer)."""

from __future__ import annotations

import io
import tracemalloc
from pathlib import Path

from auditor.audit import source
from auditor.audit.source import Source


def test_a_small_object_is_read_whole_without_a_buffer_of_the_limit(tmp_path: Path) -> None:
    data = bytes(range(256)) * 3 + b"end"
    (tmp_path / "digest.json").write_bytes(data)
    src = Source.parse(str(tmp_path))
    tracemalloc.start()
    try:
        got = src.read(src.location("digest.json"))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert got == data
    assert peak < 4 * 1024 * 1024, peak  # (it was 512 MiB)


def test_reads_stop_at_the_limit_and_span_chunks() -> None:
    data = b"abcdefghij" * 300_000  # 3 MB: three chunks of a MiB and a part
    assert source._read_up_to(io.BytesIO(data), len(data) + 1) == data
    assert source._read_up_to(io.BytesIO(data), len(data)) == data
    assert source._read_up_to(io.BytesIO(data), 2_500_001) == data[:2_500_001]
    assert source._read_up_to(io.BytesIO(data), 1) == b"a"
    assert source._read_up_to(io.BytesIO(b""), 10) == b""


class _Trickle(io.RawIOBase):
    """Gives at most 7 bytes a read, as a socket or pipe may."""

    def __init__(self, data: bytes) -> None:
        self.data, self.pos = data, 0

    def read(self, n: int = -1) -> bytes:
        out = self.data[self.pos : self.pos + min(n, 7)]
        self.pos += len(out)
        return out


def test_short_reads_are_read_on_to_the_end() -> None:
    data = bytes(range(200))
    assert source._read_up_to(_Trickle(data), 1000) == data
    assert source._read_up_to(_Trickle(data), 50) == data[:50]
