"""Journal export in QLDB's ExportJournalToS3 layout, to a directory or to S3.

``export(ledger, dest, ...)`` writes, in this order (QLDB's docs, "Journal export output";
docs/formats.md §5)::

    <prefix><exportId>.started.manifest                     the request, before any data
    <prefix><exportId>/<strandId>.<firstSeq>-<lastSeq>.<ext>  data objects, in sequence order
    <prefix><exportId>.checkpoint                           signed note of the digest at lastSeq
    <prefix><exportId>.<strandId>.digest.json               the same digest, GetDigest JSON shape
    <prefix><exportId>.<strandId>.completed.manifest        {keys: [...]}, always written last

A reader that finds the completed manifest can rely on every object it lists being complete;
an export that failed part-way leaves no completed manifest (QLDB's CANCELLED/FAILED state).

Data objects hold at most ``max_blocks_per_object`` consecutive blocks each:

- ``ion_text`` (``.ion``): one block per top-level value, each followed by a newline;
- ``ion_binary`` (``.ion``): one Ion version marker, then the blocks;
- ``json`` (``.json``): JSON Lines, one block per line, down-converted as in :func:`to_json`.

Decisions (where QLDB's docs leave room, or this tool differs):

- Manifests follow the output format like QLDB's: JSON for ``json``, Ion text otherwise (Ion
  readers parse both). ``outputFormat`` is always written (QLDB writes it only when requested).
- Destination ``s3://bucket/prefix``: ``bucket`` and ``prefix`` are written as given; a non-empty
  prefix not ending in ``/`` gets one, as in QLDB's example (``journalExport`` →
  ``journalExport/<exportId>...``). The client is ``boto3.client("s3")``, so the endpoint,
  region and credentials come from the standard AWS settings (``AWS_ENDPOINT_URL[_S3]``, ...).
- Destination directory: created if missing; it plays the bucket. The manifest says
  ``bucket: ""`` and ``prefix: ""``, and every key is the file's path relative to the directory
  (``<exportId>/<strandId>.<first>-<last>.<ext>``), so the export can be copied or moved and
  still names its own files, never the exporter's machine. Files are written to a temporary
  name, fsynced, then renamed, so no reader sees half an object.
- Time window: ``since``/``until`` are ISO-8601 (naive means UTC). The export is the run of
  consecutive blocks from the first block whose ``blockTimestamp`` is in ``[since, until)`` up
  to, not including, the next block at or after ``until``. With monotonic timestamps (the
  writer's clock is read inside each block's write transaction) this is exactly the blocks in
  the window; if a clock ever stepped back, a block inside that run stamped before ``since`` is
  kept so the exported chain has no holes. Without ``since`` the export starts at sequenceNo 0;
  without ``until`` it ends at the tip read when the export starts (later commits are not
  included). The manifest then records the genesis block's timestamp as
  ``inclusiveStartTime`` and the later of "now" and the tip's timestamp + 1 ms, rounded up to
  the millisecond, as ``exclusiveEndTime``. An empty selection is refused before anything is
  written.
- A ledger migrated from QLDB (``ledger import``) adds ``importBoundary`` (its last QLDB
  block) to the started manifest, so that ``verify export`` can tell the auditor to give
  ``--qldb-until`` (the rules are the auditor's input: the export's word is only a hint).
- The checkpoint covers blocks ``0..lastSeq``: for a windowed export, an auditor needs the
  earlier blocks too (or an older export) to recompute the digest.
- Export ids are 22 base62 characters from 16 random bytes, like QLDB's ids. A caller-chosen
  id must be 1-128 of ``[A-Za-z0-9_-]``; an id already present at the destination is refused.
- Memory: blocks are streamed from the ledger; only the current data object (at most
  ``max_blocks_per_object`` blocks) is held, so memory does not grow with the journal.

Errors: :class:`ExportError` with a machine-readable ``reason``. Usage and input errors are
raised before anything is written: ``format``, ``argument``, ``time``, ``window``, ``empty``,
``destination`` (including a missing S3 bucket), ``export-id``, ``exists``. Transport errors
(``write``) and a journal that does not read back as consecutive blocks (``journal``) may leave
a partial export, without its completed manifest.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
from collections.abc import Generator, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Protocol

from auditor import budget, ion
from auditor.atomic import write_atomic
from auditor.extras import require
from auditor.formats import canonical_ion as _ion_text
from auditor.jsonout import to_json
from proofs.ionvalue import Timestamp, TimestampPrecision

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

    from auditor.ledger import Ledger

__all__ = ["FORMATS", "ExportError", "ExportResult", "export", "new_export_id", "to_json"]


FORMATS = {"ion_text": "ION_TEXT", "ion_binary": "ION_BINARY", "json": "JSON"}
_EXTENSIONS = {"ion_text": "ion", "ion_binary": "ion", "json": "json"}
_CONTENT_TYPES = {
    "ion_text": "text/x-amzn-ion",
    "ion_binary": "application/x-amzn-ion",
    "json": "application/json",
}
_BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_EXPORT_ID = re.compile(r"[A-Za-z0-9_-]{1,128}")
_MS = timedelta(milliseconds=1)
_US = timedelta(microseconds=1)


class ExportError(Exception):
    """The export was refused or failed. ``reason`` is machine-readable (see the module doc);
    no exit code (``auditor/cli_ledger.py`` maps it: 2)."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class ExportResult:
    """What an export wrote. Keys are S3 object keys, or for a directory export paths relative
    to the directory (``/``-separated), as the manifests list them; :meth:`location` gives the
    file path or ``s3://`` URL of one."""

    destination: str  # the directory's absolute path, or s3://bucket
    export_id: str
    output_format: str  # ION_TEXT | ION_BINARY | JSON
    keys: tuple[str, ...]  # the data objects, in sequence order
    started_manifest: str
    completed_manifest: str
    checkpoint: str
    digest_json: str
    first_seq: int
    last_seq: int
    block_count: int

    def location(self, key: str) -> str:
        """Where ``key`` was written: a file path, or an ``s3://bucket/key`` URL."""
        if self.destination.startswith("s3://"):
            return f"{self.destination}/{key}"
        return os.path.join(self.destination, *key.split("/"))


def new_export_id() -> str:
    """22 base62 characters encoding 16 random bytes (QLDB's id shape)."""
    n = int.from_bytes(secrets.token_bytes(16), "big")
    digits = []
    for _ in range(22):
        n, r = divmod(n, 62)
        digits.append(_BASE62[r])
    return "".join(digits)


# -- destinations -----------------------------------------------------------------------------
class _Sink(Protocol):
    bucket: str
    prefix: str
    destination: str

    def taken(self, export_id: str) -> bool: ...

    def put(self, key: str, data: bytes, content_type: str) -> None: ...


class _DirectorySink:
    """Keys are ``/``-separated paths relative to the directory (``prefix`` is empty)."""

    def __init__(self, path: str) -> None:
        root = os.path.abspath(path)
        if os.path.exists(root) and not os.path.isdir(root):
            raise ExportError("destination", f"{path}: exists and is not a directory")
        try:
            os.makedirs(root, exist_ok=True)
        except OSError as e:
            raise ExportError("destination", f"{path}: cannot create ({e.strerror})") from e
        if not os.access(root, os.W_OK | os.X_OK):
            raise ExportError("destination", f"{path}: not writable")
        self.root = root
        self.bucket = ""
        self.prefix = ""
        self.destination = root

    def taken(self, export_id: str) -> bool:
        return any(name.startswith(export_id + ".") or name == export_id for name in self._names())

    def _names(self) -> list[str]:
        try:
            return os.listdir(self.root)
        except OSError as e:
            raise ExportError("write", f"{self.root}: cannot list ({e.strerror})") from e

    def put(self, key: str, data: bytes, content_type: str) -> None:
        path = os.path.join(self.root, *key.split("/"))
        try:
            os.makedirs(os.path.dirname(path), exist_ok=True)
            write_atomic(path, data, 0o600)
        except OSError as e:
            raise ExportError("write", f"{path}: cannot write ({e.strerror})") from e


class _S3Sink:
    def __init__(self, url: str) -> None:
        bucket, _, prefix = url.removeprefix("s3://").partition("/")
        if not bucket:
            raise ExportError("destination", f"{url}: expected s3://bucket[/prefix]")
        if prefix and not prefix.endswith("/"):
            prefix += "/"
        require("s3", f"{url}: an s3:// destination")
        import boto3  # only S3 exports pay for importing the AWS SDK

        self.bucket = bucket
        self.prefix = prefix
        self.destination = f"s3://{bucket}"
        self.client: S3Client = boto3.client("s3")

    def _call(self, what: str, call: Any) -> Any:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            return call()
        except ClientError as e:
            code = e.response.get("Error", {}).get("Code", "error")
            reason = "destination" if code == "NoSuchBucket" else "write"
            raise ExportError(reason, f"s3://{self.bucket}/{what}: {code} ({e})") from e
        except BotoCoreError as e:
            raise ExportError("write", f"s3://{self.bucket}/{what}: {e}") from e

    def taken(self, export_id: str) -> bool:
        where = self.prefix + export_id
        listing = self._call(
            where,
            lambda: self.client.list_objects_v2(Bucket=self.bucket, Prefix=where, MaxKeys=1000),
        )
        return any(
            key == where or key[len(where) :].startswith((".", "/"))
            for key in (entry["Key"] for entry in listing.get("Contents", []))
        )

    def put(self, key: str, data: bytes, content_type: str) -> None:
        self._call(
            key,
            lambda: self.client.put_object(
                Bucket=self.bucket, Key=key, Body=data, ContentType=content_type
            ),
        )


def _sink(dest: str) -> _Sink:
    if dest.startswith("s3://"):
        return _S3Sink(dest)
    if "://" in dest:
        raise ExportError("destination", f"{dest}: expected a directory or s3://bucket/prefix")
    if not dest:
        raise ExportError("destination", "destination: empty")
    return _DirectorySink(dest)


# -- selection --------------------------------------------------------------------------------
def _parse_time(text: str | None, name: str) -> datetime | None:
    if text is None:
        return None
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError as e:
        raise ExportError("time", f"{name}: not an ISO-8601 time (got {text!r})") from e
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _moment(block: Any, seq: int) -> datetime:
    """The block's ``blockTimestamp`` as a UTC datetime (fraction cut to microseconds)."""
    stamp = block.get("blockTimestamp") if type(block) is dict else None
    if type(stamp) is not Timestamp:
        raise ExportError("journal", f"block {seq}: no blockTimestamp")
    return ion.utc_datetime(stamp)


def _ion_timestamp(moment: datetime) -> Timestamp:
    """An Ion timestamp in UTC: milliseconds like QLDB's, microseconds when they are needed."""
    utc = moment.astimezone(UTC)
    fraction = f"{utc.microsecond // 1000:03d}" if utc.microsecond % 1000 == 0 else f"{utc:%f}"
    return Timestamp(
        utc.year, utc.month, utc.day, utc.hour, utc.minute, utc.second,
        Decimal("0." + fraction), 0, TimestampPrecision.SECOND,
    )  # fmt: skip


def _selected(
    ledger: Ledger, tip: int, since: datetime | None, until: datetime | None
) -> Generator[tuple[int, Any], None, None]:
    """(sequenceNo, parsed block) of the selected run, checked to be consecutive."""
    started = since is None and until is None
    for seq, blob in enumerate(ledger.blocks(0, tip)):
        block = _decode_block(blob, f"{ledger.path}: block {seq}")
        address: Any = block.get("blockAddress") if type(block) is dict else None
        found = (
            (address.get("strandId"), address.get("sequenceNo")) if type(address) is dict else None
        )
        if found != (ledger.strand_id, seq):
            raise ExportError(
                "journal",
                f"{ledger.path}: block {seq}: unexpected blockAddress "
                f"(expected {{strandId:{ledger.strand_id},sequenceNo:{seq}}}, "
                f"got {_ion_text(address) if address is not None else 'none'})",
            )
        if not started:
            moment = _moment(block, seq)
            in_window = (since is None or moment >= since) and (until is None or moment < until)
            if not in_window:
                continue
            started = True
        elif until is not None and _moment(block, seq) >= until:
            return
        yield seq, block


# -- export -----------------------------------------------------------------------------------
def _decode_block(blob: bytes, where: str) -> Any:
    """One block the ledger handed out (checked by it) as a value."""
    try:
        values = ion.loads(blob, where, limits=budget.limits())
    except ion.IonError as e:
        raise ExportError("journal", str(e)) from e
    if len(values) != 1:
        raise ExportError("journal", f"{where}: expected one block, got {len(values)} values")
    return values[0]


def _encode_object(fmt: str, blocks: list[Any]) -> bytes:
    if fmt == "ion_binary":
        return ion.dumps_binary(blocks)  # one version marker and symbol table, then the blocks
    if fmt == "json":
        return "".join(to_json(b) + "\n" for b in blocks).encode()
    return "".join(_ion_text(b) + "\n" for b in blocks).encode()


def _manifest(fmt: str, value: dict[str, Any]) -> bytes:
    if fmt == "json":
        return (to_json(value) + "\n").encode()
    return (_ion_text(value) + "\n").encode()


def export(
    ledger: Ledger,
    dest: str,
    format: str = "ion_text",
    since: str | None = None,
    until: str | None = None,
    *,
    max_blocks_per_object: int = 1000,
    export_id: str | None = None,
) -> ExportResult:
    """Export the ledger's journal blocks in QLDB's ExportJournalToS3 layout (module doc).

    ``format``: ``ion_text`` | ``ion_binary`` | ``json`` (case-insensitive). ``since``/``until``:
    ISO-8601, the window ``[since, until)`` on ``blockTimestamp``. ``dest``: a directory or
    ``s3://bucket/prefix``. Returns an :class:`ExportResult`.

    Raises :class:`ExportError`: before writing anything for a bad format (``format``), a
    ``max_blocks_per_object`` below 1 (``argument``), an unparsable time (``time``), ``since``
    not before ``until`` (``window``), no block in the window (``empty``), an unusable
    destination (``destination``), a malformed export id (``export-id``) or one already at the
    destination (``exists``); while writing, for a failed write (``write``) or blocks that do
    not read back consecutively (``journal``). Ledger read errors propagate as ``LedgerError``.
    """
    fmt = format.lower() if isinstance(format, str) else ""
    if fmt not in FORMATS:
        raise ExportError(
            "format", f"format: unknown (expected one of {', '.join(FORMATS)}, got {format!r})"
        )
    if isinstance(max_blocks_per_object, bool) or not isinstance(max_blocks_per_object, int):
        raise ExportError("argument", "max_blocks_per_object: expected an int")
    if max_blocks_per_object < 1:
        raise ExportError(
            "argument", f"max_blocks_per_object: must be at least 1 (got {max_blocks_per_object})"
        )
    start, end = _parse_time(since, "since"), _parse_time(until, "until")
    if start is not None and end is not None and start >= end:
        raise ExportError(
            "window", f"time window: since must be before until (got {since}, {until})"
        )
    if export_id is None:
        export_id = new_export_id()
    elif not _EXPORT_ID.fullmatch(export_id):
        raise ExportError("export-id", f"export id {export_id!r}: expected 1-128 of A-Za-z0-9_-")

    tip = ledger.tip()
    with contextlib.closing(_selected(ledger, tip, start, end)) as selection:
        first = next(selection, None)
        if first is None:
            raise ExportError(
                "empty",
                f"{ledger.name}: no block in [{since or 'the beginning'}, {until or 'the tip'}) "
                f"(the journal has blocks 0-{tip})",
            )
        sink = _sink(dest)
        if sink.taken(export_id):
            raise ExportError("exists", f"export {export_id}: already at {dest}")
        genesis_time = ledger.block(0)["blockTimestamp"] if start is None else None
        start_value = genesis_time if start is None else _ion_timestamp(start)
        if end is None:
            tip_time = _moment(ledger.block(tip), tip) + _MS
            latest = max(datetime.now(UTC), tip_time)
            end_value = _ion_timestamp(latest + (-latest.microsecond % 1000) * _US)
        else:
            end_value = _ion_timestamp(end)
        return _write(
            ledger, sink, fmt, export_id, start_value, end_value, _chain(first, selection),
            max_blocks_per_object,
        )  # fmt: skip


def _write(
    ledger: Ledger,
    sink: _Sink,
    fmt: str,
    export_id: str,
    start: Any,
    end: Any,
    blocks: Iterator[tuple[int, Any]],
    max_blocks_per_object: int,
) -> ExportResult:
    """Write the manifests, objects and checkpoint of a non-empty, consecutive selection."""
    output_format = FORMATS[fmt]
    base = sink.prefix + export_id
    started_key = base + ".started.manifest"
    started = {
        "ledgerName": ledger.name,
        "exportId": export_id,
        "inclusiveStartTime": start,
        "exclusiveEndTime": end,
        "bucket": sink.bucket,
        "prefix": sink.prefix,
        "objectEncryptionType": "NO_ENCRYPTION",
        "outputFormat": output_format,
    }
    if ledger.import_boundary is not None:  # migrated from QLDB: its blocks end there
        started["importBoundary"] = ledger.import_boundary
    manifest_type = _CONTENT_TYPES["json" if fmt == "json" else "ion_text"]
    sink.put(started_key, _manifest(fmt, started), manifest_type)

    strand = ledger.strand_id
    extension, content_type = _EXTENSIONS[fmt], _CONTENT_TYPES[fmt]
    keys: list[str] = []
    buffer: list[Any] = []
    first_seq = buffer_first = last_seq = -1
    count = 0

    def put_object() -> None:
        key = f"{base}/{strand}.{buffer_first}-{last_seq}.{extension}"
        sink.put(key, _encode_object(fmt, buffer), content_type)
        keys.append(key)
        buffer.clear()

    for seq, block in blocks:
        if not buffer:
            buffer_first = seq
        buffer.append(block)
        last_seq = seq
        first_seq = seq if count == 0 else first_seq
        count += 1
        if len(buffer) == max_blocks_per_object:
            put_object()
    if buffer:
        put_object()

    signed = ledger.digest(last_seq)
    checkpoint_key = base + ".checkpoint"
    sink.put(checkpoint_key, signed.checkpoint.encode(), "text/plain; charset=utf-8")
    digest_key = f"{base}.{strand}.digest.json"
    digest_text = json.dumps(signed.get_digest_json(), indent=2) + "\n"
    sink.put(digest_key, digest_text.encode(), "application/json")
    completed_key = f"{base}.{strand}.completed.manifest"
    sink.put(completed_key, _manifest(fmt, {"keys": list(keys)}), manifest_type)
    return ExportResult(
        destination=sink.destination,
        export_id=export_id,
        output_format=output_format,
        keys=tuple(keys),
        started_manifest=started_key,
        completed_manifest=completed_key,
        checkpoint=checkpoint_key,
        digest_json=digest_key,
        first_seq=first_seq,
        last_seq=last_seq,
        block_count=count,
    )


def _chain(first: tuple[int, Any], rest: Iterator[tuple[int, Any]]) -> Iterator[tuple[int, Any]]:
    yield first
    yield from rest
