"""Journal export end to end: writer → export (a directory, and S3 through a real moto server on
loopback) → read every object back and check it the way an offline auditor would: manifests,
object names, consecutive blocks, ``proofs.verify_block`` on every Ion block, the hash chain
across objects, the digest as the Merkle root of the block hashes, and the signed checkpoint."""

from __future__ import annotations

import base64
import json
import math
import os
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from io import BytesIO
from pathlib import Path
from typing import Any

import pytest
from amazon.ion import simpleion
from amazon.ion.core import IonEventType
from amazon.ion.reader import NEXT_EVENT, blocking_reader
from amazon.ion.reader_binary import binary_reader

import proofs
from auditor import export as export_module
from auditor import ion
from auditor.export import ExportError, ExportResult, export, new_export_id, to_json
from auditor.ledger import Ledger
from proofs.note import parse_checkpoint, parse_vkey, verify_note
from tests.integration.audit_support import free_port, moto_server, use_s3

FORMATS = ["ion_text", "ion_binary", "json"]
IVM = b"\xe0\x01\x00\xea"
START = datetime(2024, 3, 1, 12, 0, 0, tzinfo=UTC)
STEP = timedelta(milliseconds=1500)
OBJECT_NAME = re.compile(
    r"(?P<strand>[0-9A-Za-z]{22})\.(?P<first>[0-9]+)-(?P<last>[0-9]+)\.(?P<ext>[a-z]+)"
)


# -- the ledger -------------------------------------------------------------------------------
def stepping_clock() -> Callable[[], datetime]:
    """Every call is 1.5 s after the previous one, so block timestamps are known in advance."""
    calls = iter(range(1_000_000))
    return lambda: START + next(calls) * STEP


@pytest.fixture(scope="module")
def ledger(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Ledger]:
    path = str(tmp_path_factory.mktemp("ledger") / "books.db")
    ledger = Ledger.create(path, "books", tables=["invoices", "people"], clock=stepping_clock())
    ledger.put("invoices", "inv-1", {"amount": Decimal("10.50"), "note": "café ☕", "n": 1})
    ledger.put("invoices", "inv-1", {"amount": Decimal("12.00"), "lines": [{"qty": 2}]})
    ledger.put_many(
        "people",
        [
            ("alice", {"name": "Alice", "age": 31, "photo": b"\x00\x01\xfe\xff"}),
            ("bob", "a plain string"),
            ("carol", {"big": 2**70, "tiny": Decimal("1E-9"), "sci": Decimal("5E+3"),
                       "neg0": Decimal("-0.00"), "five": Decimal("5"), "none": None,
                       "flag": True, "nested": {"deep": [[1], [2, [3]]]}}),
        ],
    )  # fmt: skip
    rich = ion.loads(  # every Ion type the ledger stores (floats are refused: use decimals)
        "{when: 2024-03-01T12:00:00.1234567+05:30, year: 2024T, minute: 2024-03-01T12:00-00:00,"
        ' sym: hello, clob: {{"cl\\xffob"}}, tagged: note::"x", sx: (a b 1),'
        " n: null.timestamp, nine: 2024-01-01T00:00:00.123456789Z, dollar: '$4', '$5': 1,"
        " ann: '$10'::1, big: 1.234567890123456789012345678901234567890}",
        "rich",
    )[0]
    ledger.put("invoices", "rich", rich)
    ledger.put("invoices", "inv-1", {"amount": Decimal("13.37")})
    ledger.delete("people", "bob")
    ledger.redact("invoices", "inv-1", 0)
    for i in range(4):
        ledger.put("people", f"p{i}", {"i": i})
    ledger.verify_journal()
    yield ledger
    ledger.close()


def block_time(ledger: Ledger, seq: int) -> datetime:
    return ion.utc_datetime(ledger.block(seq)["blockTimestamp"])


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


# -- reading an export back -------------------------------------------------------------------
@dataclass
class Store:
    """Every object at a destination: ``get(key)`` and the list of keys."""

    keys: list[str]
    get: Callable[[str], bytes]


def directory_store(root: Path) -> Store:
    """Keys relative to the directory, ``/``-separated: what a directory export's manifests
    list (the directory plays the bucket)."""
    keys = sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file())
    return Store(keys, lambda key: (root / key).read_bytes())


def parse_manifest(data: bytes, fmt: str) -> Any:
    if fmt == "json":
        assert data.endswith(b"\n")
        return json.loads(data)
    (value,) = ion.loads(data, "manifest")
    assert proofs.ion_hash(value) == proofs.ion_hash(simpleion.loads(data.decode()))  # oracle
    return value


def read_objects(data: bytes, fmt: str) -> list[Any]:
    """The blocks of one data object; for JSON, each line parsed with exact decimals. Ion is
    read by the project's reader and, as an independent check, by amazon.ion (the same Ion
    hash for every block, and amazon.ion writes the same bytes back)."""
    if fmt == "ion_binary":
        assert data.startswith(IVM)
        values = ion.loads(data, "object")
        oracle = list(simpleion.loads(data, single_value=False))
        assert simpleion.dumps(oracle, binary=True, sequence_as_stream=True) == data
    else:
        text = data.decode()
        assert text.endswith("\n")
        lines = text[:-1].split("\n")
        if fmt == "json":
            return [json.loads(line, parse_float=Decimal, object_pairs_hook=list) for line in lines]
        assert not text.startswith("$ion_1_0")
        values = ion.loads(data, "object")
        assert len(values) == len(lines)  # one block per line
        oracle = list(simpleion.loads(text, single_value=False))
        assert [simpleion.dumps(v, binary=False, omit_version_marker=True) for v in oracle] == lines
    assert [proofs.ion_hash(v) for v in values] == [proofs.ion_hash(v) for v in oracle]
    return values


def b64(text: str) -> bytes:
    return base64.b64decode(text, validate=True)


def pairs_to_dict(pairs: Any) -> Any:
    """A JSON value parsed with object_pairs_hook=list, back to plain dicts and lists."""
    if isinstance(pairs, list) and all(isinstance(p, tuple) for p in pairs) and pairs:
        return {k: pairs_to_dict(v) for k, v in pairs}
    if isinstance(pairs, list):
        return [pairs_to_dict(v) for v in pairs]
    return pairs


def ion_timestamp_text(value: ion.Timestamp) -> str:
    """The timestamp's Ion text as amazon.ion writes it (an independent writer)."""
    text: str = simpleion.dumps(
        simpleion.loads(value.ion_text()), binary=False, omit_version_marker=True
    )
    return text


def assert_down_converted(value: Any, js: Any, where: str) -> None:
    """A reference for the JSON down-conversion, written independently of ``to_json``: the
    JSON value (parsed with exact decimals and ordered pairs) matches the Ion value type by
    type and digit by digit."""
    if type(value) is ion.Annotated:
        value = value.value  # annotations are dropped
    kind = type(value)
    if value is None or kind is ion.TypedNull:
        assert js is None, where
    elif kind is bool:
        assert js is value, where
    elif kind is int:
        assert type(js) is int, where
        assert js == value, where
    elif kind is Decimal:
        assert isinstance(js, Decimal), where
        assert js.as_tuple() == value.as_tuple(), f"{where}: {js} vs {value}"
    elif kind is float:
        assert js == (Decimal(repr(value)) if math.isfinite(value) else None), where
    elif kind is ion.Timestamp:
        assert js == ion_timestamp_text(value), where
    elif kind is str:
        assert js == value, where
    elif kind is ion.Symbol:
        assert js == value.text, where
    elif kind is bytes:
        assert b64(js) == value, where
    elif kind is ion.Clob:
        assert js.encode("latin-1") == value.data, where
    elif kind in (list, ion.SExp):
        items = value.items if kind is ion.SExp else value
        assert isinstance(js, list), where
        assert len(js) == len(items), where
        for i, (a, b) in enumerate(zip(items, js, strict=True)):
            assert_down_converted(a, b, f"{where}[{i}]")
    elif kind is dict:
        fields = list(value.items())
        assert isinstance(js, list), where
        assert [k for k, _ in js] == [k for k, _ in fields], where
        for (name, a), (_, b) in zip(fields, js, strict=True):
            assert_down_converted(a, b, f"{where}.{name}")
    else:
        pytest.fail(f"{where}: unexpected Ion type {kind}")


def check_export(
    store: Store,
    result: ExportResult,
    ledger: Ledger,
    fmt: str,
    *,
    max_blocks: int,
    bucket: str,
    prefix: str,
) -> list[bytes]:
    """Everything an offline auditor checks; returns the exported block hashes."""
    base = prefix + result.export_id
    strand = ledger.strand_id
    assert result.started_manifest == base + ".started.manifest"
    assert result.completed_manifest == f"{base}.{strand}.completed.manifest"
    assert result.checkpoint == base + ".checkpoint"
    assert result.digest_json == f"{base}.{strand}.digest.json"

    # exactly the expected objects, no temporary leftovers
    mine = [k for k in store.keys if k.startswith(base)]
    expected = {result.started_manifest, result.completed_manifest, result.checkpoint}
    expected |= {result.digest_json, *result.keys}
    assert set(mine) == expected

    started = parse_manifest(store.get(result.started_manifest), fmt)
    assert started["ledgerName"] == ledger.name
    assert started["exportId"] == result.export_id
    assert started["bucket"] == bucket
    assert started["prefix"] == prefix
    assert started["objectEncryptionType"] == "NO_ENCRYPTION"
    assert started["outputFormat"] == fmt.upper() == result.output_format
    if fmt != "json":
        assert type(started["inclusiveStartTime"]) is ion.Timestamp
    start = datetime.fromisoformat(str(started["inclusiveStartTime"]).replace("Z", "+00:00"))
    end = datetime.fromisoformat(str(started["exclusiveEndTime"]).replace("Z", "+00:00"))
    assert start <= block_time(ledger, result.first_seq)
    assert block_time(ledger, result.last_seq) < end

    completed = parse_manifest(store.get(result.completed_manifest), fmt)
    assert list(completed["keys"]) == list(result.keys)
    data_keys = sorted(k for k in mine if k.startswith(base + "/"))
    assert sorted(result.keys) == data_keys

    previous = (
        b"" if result.first_seq == 0 else bytes(ledger.block(result.first_seq - 1)["blockHash"])
    )
    hashes: list[bytes] = []
    seq = result.first_seq
    ext = "json" if fmt == "json" else "ion"
    for key in result.keys:
        assert key.startswith(base + "/")
        name = OBJECT_NAME.fullmatch(key[len(base) + 1 :])
        assert name is not None, key
        assert name["strand"] == strand
        assert name["ext"] == ext
        blocks = read_objects(store.get(key), fmt)
        assert 1 <= len(blocks) <= max_blocks
        assert int(name["first"]) == seq
        assert int(name["last"]) == seq + len(blocks) - 1
        for block in blocks:
            where = f"{key} block {seq}"
            original = ledger.block(seq)
            if fmt == "json":
                assert_down_converted(original, block, where)
                block = pairs_to_dict(block)
                assert block["blockAddress"] == {"strandId": strand, "sequenceNo": seq}
                entries = [b64(h) for h in block["entriesHashList"]]
                entries_hash, block_hash = b64(block["entriesHash"]), b64(block["blockHash"])
                assert proofs.merkle_root(entries) == entries_hash, where
                assert b64(block["previousBlockHash"]) == previous, where
                assert proofs.dot(entries_hash, previous) == block_hash, where
            else:
                checked = proofs.verify_block(block, where)
                assert (checked.strand_id, checked.sequence_no) == (strand, seq)
                assert bytes(block["previousBlockHash"]) == previous, where
                assert proofs.ion_hash(block) == proofs.ion_hash(original), where
                block_hash = checked.block_hash
            hashes.append(block_hash)
            previous = block_hash
            seq += 1
    assert seq - 1 == result.last_seq
    assert len(hashes) == result.block_count == result.last_seq - result.first_seq + 1

    # the digest at lastSeq is the Merkle root of every block hash up to it
    earlier = [bytes(ledger.block(i)["blockHash"]) for i in range(result.first_seq)]
    root = proofs.merkle_root(earlier + hashes)
    note = store.get(result.checkpoint).decode()
    checked_note = verify_note(note, [parse_vkey(ledger.vkey)])
    assert checked_note.trusted_signers == (parse_vkey(ledger.vkey).name,)
    checkpoint = parse_checkpoint(checked_note.text)
    assert (checkpoint.ledger, checkpoint.strand_id) == (ledger.name, strand)
    assert checkpoint.tip == result.last_seq
    assert checkpoint.digest == root

    digest = json.loads(store.get(result.digest_json))
    assert b64(digest["Digest"]) == root
    (address,) = ion.loads(digest["DigestTipAddress"]["IonText"], "DigestTipAddress")
    assert (address["strandId"], address["sequenceNo"]) == (strand, result.last_seq)
    return hashes


# -- directory exports ------------------------------------------------------------------------
@pytest.mark.parametrize("fmt", FORMATS)
def test_directory_export_verifies(ledger: Ledger, tmp_path: Path, fmt: str) -> None:
    dest = tmp_path / "exports"
    result = export(ledger, str(dest), fmt, max_blocks_per_object=4)
    assert (result.first_seq, result.last_seq) == (0, ledger.tip())
    assert len(result.keys) == -(-(ledger.tip() + 1) // 4) > 1
    assert re.fullmatch(r"[0-9A-Za-z]{22}", result.export_id)
    hashes = check_export(
        directory_store(dest), result, ledger, fmt, max_blocks=4, bucket="",
        prefix="",
    )  # fmt: skip
    assert proofs.merkle_root(hashes) == ledger.digest().digest


def version_markers(data: bytes) -> int:
    reader = blocking_reader(binary_reader(), BytesIO(data))
    count = 0
    while (event := reader.send(NEXT_EVENT)).event_type is not IonEventType.STREAM_END:
        count += event.event_type is IonEventType.VERSION_MARKER
    return count


def test_ion_binary_objects_have_one_version_marker(ledger: Ledger, tmp_path: Path) -> None:
    result = export(ledger, str(tmp_path), "ion_binary", max_blocks_per_object=3)
    for key in result.keys:
        data = Path(result.location(key)).read_bytes()
        assert data.startswith(IVM)
        assert version_markers(data) == 1
        assert len(simpleion.loads(data, single_value=False)) == 3 or key == result.keys[-1]


def test_completed_manifest_is_written_last(
    ledger: Ledger, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    order: list[str] = []
    put = export_module._DirectorySink.put

    def recording(self: Any, key: str, data: bytes, content_type: str) -> None:
        order.append(key)
        put(self, key, data, content_type)

    monkeypatch.setattr(export_module._DirectorySink, "put", recording)
    result = export(ledger, str(tmp_path), max_blocks_per_object=5)
    assert order[0] == result.started_manifest
    assert order[1 : 1 + len(result.keys)] == list(result.keys)
    assert order[-1] == result.completed_manifest
    assert set(order[-3:-1]) == {result.checkpoint, result.digest_json}


def test_failed_write_leaves_no_completed_manifest(
    ledger: Ledger, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    put = export_module._DirectorySink.put
    calls: list[str] = []

    def failing(self: Any, key: str, data: bytes, content_type: str) -> None:
        calls.append(key)
        if len(calls) == 3:
            raise ExportError("write", f"{key}: cannot write (disk full)")
        put(self, key, data, content_type)

    monkeypatch.setattr(export_module._DirectorySink, "put", failing)
    with pytest.raises(ExportError) as info:
        export(ledger, str(tmp_path), export_id="half", max_blocks_per_object=2)
    assert info.value.reason == "write"
    names = os.listdir(tmp_path)
    assert "half.started.manifest" in names
    assert not [n for n in names if n.endswith(".completed.manifest")]


def test_time_window(ledger: Ledger, tmp_path: Path) -> None:
    since, until = block_time(ledger, 4), block_time(ledger, 9)
    result = export(ledger, str(tmp_path), "json", iso(since), iso(until), max_blocks_per_object=2)
    assert (result.first_seq, result.last_seq, result.block_count) == (4, 8, 5)
    check_export(
        directory_store(tmp_path), result, ledger, "json", max_blocks=2, bucket="",
        prefix="",
    )  # fmt: skip
    started = json.loads(Path(result.location(result.started_manifest)).read_text())
    assert started["inclusiveStartTime"] == since.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
    assert started["exclusiveEndTime"] == until.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def test_window_bounds_are_inclusive_then_exclusive(ledger: Ledger, tmp_path: Path) -> None:
    just_after_3 = iso(block_time(ledger, 3) + timedelta(microseconds=1))
    only_since = export(ledger, str(tmp_path), "ion_binary", since=just_after_3)
    assert (only_since.first_seq, only_since.last_seq) == (4, ledger.tip())
    only_until = export(ledger, str(tmp_path), until=iso(block_time(ledger, 2)))
    assert (only_until.first_seq, only_until.last_seq) == (0, 1)
    five = block_time(ledger, 5)
    one = export(
        ledger, str(tmp_path), "ion_text", iso(five), iso(five + timedelta(milliseconds=1))
    )
    assert (one.first_seq, one.last_seq, len(one.keys)) == (5, 5, 1)
    check_export(
        directory_store(tmp_path), one, ledger, "ion_text", max_blocks=1000, bucket="",
        prefix="",
    )  # fmt: skip


def test_one_block_per_object(ledger: Ledger, tmp_path: Path) -> None:
    result = export(ledger, str(tmp_path), "ion_text", max_blocks_per_object=1)
    assert len(result.keys) == ledger.tip() + 1
    assert [Path(k).name.split(".")[1] for k in result.keys] == [
        f"{i}-{i}" for i in range(ledger.tip() + 1)
    ]


def test_export_ids_are_fresh(ledger: Ledger, tmp_path: Path) -> None:
    ids = {new_export_id() for _ in range(200)}
    assert len(ids) == 200
    assert all(re.fullmatch(r"[0-9A-Za-z]{22}", i) for i in ids)
    a = export(ledger, str(tmp_path))
    b = export(ledger, str(tmp_path))
    assert a.export_id != b.export_id


# -- JSON down-conversion ---------------------------------------------------------------------
def test_to_json_vector() -> None:
    (value,) = ion.loads(
        r"""{a: null, b: null.int, c: true, d: -12345678901234567890, e: 1.50, f: 5., g: 0d5,
        h: -0.00, i: 1.5e0, j: nan, k: +inf, l: 2024T, m: 2024-03-01T12:00:00.1234567+05:30,
        n: 2024-03-01T12:00:00.000+00:00, o: sym, p: "stré\"", q: {{aGVsbG8=}},
        r: {{"cl\xffob"}}, s: (a b 1), t: ann::[1, {u: 2}], 'quoted field': x,
        v: 2024-03-01T12:00-00:00, w: 1.2d-9, x: $0, y: 1e-300, z: 2024-03-01T}""",
        "vector",
    )
    assert to_json(value) == (
        '{"a":null,"b":null,"c":true,"d":-12345678901234567890,"e":1.50,"f":5e0,"g":0e+5,'
        '"h":-0.00,"i":1.5,"j":null,"k":null,"l":"2024T","m":"2024-03-01T12:00:00.1234567+05:30",'
        '"n":"2024-03-01T12:00:00.000Z","o":"sym","p":"stré\\"","q":"aGVsbG8=","r":"clÿob",'
        '"s":["a","b",1],"t":[1,{"u":2}],"quoted field":"x","v":"2024-03-01T12:00-00:00",'
        '"w":1.2e-9,"x":null,"y":1e-300,"z":"2024-03-01"}'
    )
    parsed = json.loads(to_json(value), parse_float=Decimal, object_pairs_hook=list)
    assert_down_converted(value, parsed, "vector")


def test_to_json_deep_nesting_and_plain_values() -> None:
    deep: Any = 0
    for _ in range(5000):
        deep = [deep]
    assert to_json(deep) == "[" * 5000 + "0" + "]" * 5000
    assert to_json({"k": [Decimal("7"), b"\x00", "s", None, False]}) == (
        '{"k":[7e0,"AA==","s",null,false]}'
    )
    with pytest.raises(TypeError, match="object: not an Ion value"):
        to_json({"k": object()})


# -- S3 through a real moto server on loopback ------------------------------------------------
@pytest.fixture(scope="session")
def moto_endpoint(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    yield from moto_server(tmp_path_factory.mktemp("moto"))


@pytest.fixture
def s3(moto_endpoint: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Any:
    client = use_s3(monkeypatch, moto_endpoint, tmp_path)
    yield client
    client.close()


def s3_store(client: Any, bucket: str) -> Store:
    keys: list[str] = []
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        keys += [entry["Key"] for entry in page.get("Contents", [])]

    def get(key: str) -> bytes:
        body = client.get_object(Bucket=bucket, Key=key)["Body"]
        try:
            data: bytes = body.read()
        finally:
            body.close()
        return data

    return Store(sorted(keys), get)


@pytest.mark.parametrize("fmt", FORMATS)
def test_s3_export_verifies(ledger: Ledger, s3: Any, fmt: str) -> None:
    bucket = f"journal-{fmt.replace('_', '-')}"
    s3.create_bucket(Bucket=bucket)
    result = export(ledger, f"s3://{bucket}/some/prefix/", fmt, max_blocks_per_object=5)
    assert all(k.startswith("some/prefix/" + result.export_id) for k in result.keys)
    hashes = check_export(
        s3_store(s3, bucket), result, ledger, fmt, max_blocks=5, bucket=bucket,
        prefix="some/prefix/",
    )  # fmt: skip
    assert proofs.merkle_root(hashes) == ledger.digest().digest
    head = s3.head_object(Bucket=bucket, Key=result.keys[0])
    assert head["ContentType"] == {
        "ion_text": "text/x-amzn-ion", "ion_binary": "application/x-amzn-ion",
        "json": "application/json",
    }[fmt]  # fmt: skip


def test_s3_prefix_gets_a_slash_and_ids_do_not_collide(ledger: Ledger, s3: Any) -> None:
    s3.create_bucket(Bucket="journal-prefix")
    result = export(ledger, "s3://journal-prefix/journalExport", export_id="fixed")
    assert result.started_manifest == "journalExport/fixed.started.manifest"
    store = s3_store(s3, "journal-prefix")
    check_export(
        store, result, ledger, "ion_text", max_blocks=1000, bucket="journal-prefix",
        prefix="journalExport/",
    )  # fmt: skip
    with pytest.raises(ExportError) as info:
        export(ledger, "s3://journal-prefix/journalExport/", export_id="fixed")
    assert info.value.reason == "exists"
    assert s3_store(s3, "journal-prefix").keys == store.keys
    # an id that only shares a prefix with an existing one is free
    other = export(ledger, "s3://journal-prefix/journalExport/", export_id="fix")
    assert other.export_id == "fix"


def test_s3_missing_bucket(ledger: Ledger, s3: Any) -> None:
    with pytest.raises(ExportError) as info:
        export(ledger, "s3://no-such-bucket/x/")
    assert info.value.reason == "destination"
    assert "NoSuchBucket" in str(info.value)


# -- refusals ---------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("kwargs", "reason"),
    [
        ({"format": "parquet"}, "format"),
        ({"format": "ION"}, "format"),
        ({"max_blocks_per_object": 0}, "argument"),
        ({"max_blocks_per_object": 1.5}, "argument"),
        ({"max_blocks_per_object": True}, "argument"),
        ({"since": "yesterday"}, "time"),
        ({"since": "2024-03-01T12:00:05Z", "until": "2024-03-01T12:00:05Z"}, "window"),
        ({"since": "2030-01-01T00:00:00Z"}, "empty"),
        ({"until": "2024-03-01T11:00:00Z"}, "empty"),
        ({"export_id": "../escape"}, "export-id"),
        ({"export_id": ""}, "export-id"),
    ],
)
def test_refused_before_writing(
    ledger: Ledger, tmp_path: Path, kwargs: dict[str, Any], reason: str
) -> None:
    dest = tmp_path / "not-created"
    with pytest.raises(ExportError) as info:
        export(ledger, str(dest), **kwargs)
    assert info.value.reason == reason
    assert str(info.value).split(":")[0]  # "<subject>: <problem>"
    assert not dest.exists()


def test_format_names_are_case_insensitive(ledger: Ledger, tmp_path: Path) -> None:
    assert export(ledger, str(tmp_path), "JSON").output_format == "JSON"


def test_unwritable_destinations(ledger: Ledger, tmp_path: Path) -> None:
    a_file = tmp_path / "a-file"
    a_file.write_text("not a directory")
    for dest, reason in [
        (str(a_file), "destination"),
        (str(a_file / "below"), "destination"),
        ("gs://bucket/prefix", "destination"),
        ("s3:///prefix", "destination"),
        ("", "destination"),
    ]:
        with pytest.raises(ExportError) as info:
            export(ledger, dest)
        assert info.value.reason == reason, dest
    assert a_file.read_text() == "not a directory"


def test_export_id_collision_in_a_directory(ledger: Ledger, tmp_path: Path) -> None:
    export(ledger, str(tmp_path), export_id="same")
    before = sorted(os.listdir(tmp_path))
    with pytest.raises(ExportError) as info:
        export(ledger, str(tmp_path), "json", export_id="same")
    assert info.value.reason == "exists"
    assert sorted(os.listdir(tmp_path)) == before


def test_s3_unreachable_endpoint(ledger: Ledger, s3: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{free_port()}")
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    with pytest.raises(ExportError) as info:
        export(ledger, "s3://journal/x/")
    assert info.value.reason == "write"


def test_directory_write_failure_is_an_export_error(tmp_path: Path) -> None:
    sink = export_module._DirectorySink(str(tmp_path / "out"))
    (tmp_path / "out" / "blocker").write_text("")  # a file where a directory must go
    with pytest.raises(ExportError) as info:
        sink.put("blocker/sub/object.ion", b"data", "text/x-amzn-ion")
    assert info.value.reason == "write"
    assert not list(tmp_path.rglob(".partial-*"))


class GappedLedger:
    """A stand-in whose journal skips sequenceNo 1, as a damaged store would."""

    def __init__(self, real: Ledger) -> None:
        self.real = real
        self.name, self.strand_id, self.path = real.name, real.strand_id, "gapped.db"
        self.import_boundary = None  # not migrated from QLDB

    def tip(self) -> int:
        return 3

    def block(self, seq: int) -> Any:
        return self.real.block(seq)

    def blocks(self, first: int = 0, last: int | None = None) -> Iterator[bytes]:
        for seq in (0, 2, 3):
            yield ion.dumps_binary([self.real.block(seq)])


def test_a_gap_in_the_journal_stops_the_export(ledger: Ledger, tmp_path: Path) -> None:
    with pytest.raises(ExportError) as info:
        export(GappedLedger(ledger), str(tmp_path), export_id="gap")  # type: ignore[arg-type]
    assert info.value.reason == "journal"
    assert "block 1" in str(info.value)
    assert sorted(os.listdir(tmp_path)) == ["gap.started.manifest"]
