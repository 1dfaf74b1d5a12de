"""auditor.formats: the documented JSON -> Ion rule, Ion text/binary input, stream records.

The rule (formats.py docstring): numbers without fraction or exponent -> ints, with a fraction or
an exponent -> decimals with exactly the digits written (never floats); ``metadata.txTime`` -> a
timestamp with the precision and offset written; ``metadata.version`` must be an int; duplicate
keys and NaN/Infinity are refused. Equivalence is checked with Ion Hash against the same value
written in Ion text.
"""

from __future__ import annotations

import base64
import dataclasses
import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from amazon.ion import simpleion

import proofs
from auditor import formats, ion
from auditor.formats import BlockInput, Digest, Receipt, RevisionInput
from proofs import MalformedError, ion_hash

ROOT = Path(__file__).resolve().parents[2]
ARTEFACTS = ROOT / "fixtures" / "qldb" / "artefacts"
HASH = "fTbev2Z6saXsywdS482tVs8JKUYfNGvBt+Cz0lqd+0U="


def json_revision(data: str = '{"k": "v"}', metadata: str | None = None) -> bytes:
    """A JSON history revision with ``data`` and ``metadata`` written as raw JSON text."""
    metadata = metadata or (
        '{"id": "G3Oi84WQpSA3ppyitpjObh", "version": 0, '
        '"txTime": "2021-06-13T07:31:02.230Z", "txId": "HgXB2kkD0LDL2o7OIIKSXo"}'
    )
    return (
        '{"blockAddress": {"strandId": "1HqUNaR8u8s13eFiSzGZl9", "sequenceNo": 19}, '
        f'"hash": "{HASH}", "data": {data}, "metadata": {metadata}}}'
    ).encode()


def revision_of(data: bytes) -> Any:
    (artefact,) = formats.parse(data, "rev.json")
    assert isinstance(artefact, RevisionInput)
    assert artefact.kind == "json-revision"
    return artefact.revision


def data_of(json_text: str) -> Any:
    return revision_of(json_revision(data=json_text))["data"]


def walk(value: Any) -> list[Any]:
    if isinstance(value, dict):
        return [x for v in value.values() for x in [v, *walk(v)]]
    if isinstance(value, list):
        return [x for v in value for x in [v, *walk(v)]]
    return []


# -- numbers -------------------------------------------------------------------------------------
def test_fraction_becomes_an_exact_decimal() -> None:
    data = data_of('{"price": 89000.50}')
    price = data["price"]
    assert type(price) is Decimal
    assert str(price) == "89000.50"
    assert price.as_tuple().exponent == -2
    assert ion_hash(price) == ion_hash(simpleion.loads("89000.50"))
    assert ion_hash(price) != ion_hash(simpleion.loads("89000.5"))
    assert ion_hash(price) != ion_hash(89000.5)  # never a float


@pytest.mark.parametrize(
    ("json_number", "ion_text"),
    [
        ("1e5", "1d5"),
        ("1E5", "1d5"),
        ("1e-2", "1d-2"),
        ("2.50e3", "2.50d3"),
        ("-0.0", "-0.0"),
        ("0.10", "0.10"),
        ("123456789012345678901234567890.123", "123456789012345678901234567890.123"),
    ],
)
def test_exponent_or_fraction_becomes_a_decimal(json_number: str, ion_text: str) -> None:
    value = data_of(f'{{"n": {json_number}}}')["n"]
    assert isinstance(value, Decimal)
    expected = simpleion.loads(ion_text)
    assert isinstance(expected, Decimal)
    assert ion_hash(value) == ion_hash(expected)


@pytest.mark.parametrize("json_number", ["0", "2021", "-7", "18446744073709551617"])
def test_integers_stay_integers(json_number: str) -> None:
    value = data_of(f'{{"n": {json_number}}}')["n"]
    assert type(value) is int
    assert value == int(json_number)
    assert ion_hash(value) == ion_hash(simpleion.loads(json_number))
    assert ion_hash(value) != ion_hash(simpleion.loads(json_number + "."))  # 2021 vs 2021.


def test_no_float_anywhere_in_a_json_revision() -> None:
    data = data_of('{"a": 1.5, "b": [2.25, {"c": 3e2}], "d": 4, "e": true, "f": null, "g": "1.5"}')
    assert not any(isinstance(v, float) for v in walk(data))
    assert (data["e"], data["f"], data["g"]) == (True, None, "1.5")
    ion = simpleion.loads('{a: 1.5, b: [2.25, {c: 3d2}], d: 4, e: true, f: null, g: "1.5"}')
    assert ion_hash(data) == ion_hash(ion)


def test_strings_in_data_stay_strings() -> None:
    data = data_of('{"date": "2021-05-22", "t": "2021-06-13T07:31:02.230Z", "sym": "PENDING"}')
    assert all(type(v) is str for v in data.values())
    assert ion_hash(data) == ion_hash(
        simpleion.loads('{date: "2021-05-22", t: "2021-06-13T07:31:02.230Z", sym: "PENDING"}')
    )


# -- txTime ----------------------------------------------------------------------------------------
TX_TIMES = [
    "2021-06-13T07:31:02.230Z",
    "2021-06-13T07:31:02.23Z",
    "2021-06-13T07:31:02.2300Z",
    "2021-06-13T07:31:02Z",
    "2021-06-13T07:31Z",
    "2021-06-13T07:31:02.123456Z",
    "2021-06-13T07:31:02.123456789Z",
    "2021-06-13T13:01:02.230+05:30",
    "2021-06-13T07:31:02.230-00:00",
    "2021-06-13T",
]


def metadata_text(tx_time: str, *, as_ion: bool) -> str:
    time = tx_time if as_ion else f'"{tx_time}"'
    if as_ion:
        return (
            f'{{id:"G3Oi84WQpSA3ppyitpjObh",version:0,txTime:{time},txId:"HgXB2kkD0LDL2o7OIIKSXo"}}'
        )
    return (
        f'{{"id": "G3Oi84WQpSA3ppyitpjObh", "version": 0, "txTime": {time}, '
        '"txId": "HgXB2kkD0LDL2o7OIIKSXo"}'
    )


@pytest.mark.parametrize("tx_time", TX_TIMES)
def test_tx_time_keeps_its_fraction_digits_and_offset(tx_time: str) -> None:
    metadata = revision_of(json_revision(metadata=metadata_text(tx_time, as_ion=False)))["metadata"]
    assert type(metadata["txTime"]) is ion.Timestamp
    assert ion_hash(metadata) == ion_hash(simpleion.loads(metadata_text(tx_time, as_ion=True)))


def test_tx_time_variants_hash_differently() -> None:
    hashes = {}
    for tx_time in TX_TIMES:
        revision = revision_of(json_revision(metadata=metadata_text(tx_time, as_ion=False)))
        hashes[tx_time] = ion_hash(revision["metadata"])
    assert len(set(hashes.values())) == len(TX_TIMES)  # precision and offset both count


def test_tx_time_z_and_plus_zero_are_the_same_timestamp() -> None:
    z = revision_of(json_revision(metadata=metadata_text("2021-06-13T07:31:02.230Z", as_ion=False)))
    plus = revision_of(
        json_revision(metadata=metadata_text("2021-06-13T07:31:02.230+00:00", as_ion=False))
    )
    assert ion_hash(z["metadata"]) == ion_hash(plus["metadata"])


def test_real_revision_json_gives_the_real_hash() -> None:
    (artefact,) = formats.load(str(ARTEFACTS / "revision-G3Oi-v0.json"))
    assert isinstance(artefact, RevisionInput)
    assert proofs.revision_hash(artefact.revision) == bytes(artefact.revision["hash"])
    assert isinstance(artefact.revision["hash"], bytes)


@pytest.mark.parametrize(
    ("tx_time", "problem"),
    [
        ('"yesterday"', "not a timestamp"),
        ('"2021-13-01T00:00Z"', "not a timestamp"),
        ('"abc"', "not a timestamp"),
        ("20210613", "ISO-8601"),
        ('"2021-06-13T07:31:02.230Z 1"', ""),
    ],
)
def test_tx_time_must_be_a_timestamp(tx_time: str, problem: str) -> None:
    metadata = metadata_text("X", as_ion=False).replace('"X"', tx_time)
    with pytest.raises(MalformedError) as caught:
        revision_of(json_revision(metadata=metadata))
    assert "metadata.txTime" in caught.value.locator
    assert problem in str(caught.value)


# -- version and other typed fields ----------------------------------------------------------------
@pytest.mark.parametrize("version", ["0.0", "0e0", '"0"', "true", "null", "[0]"])
def test_version_must_be_an_int(version: str) -> None:
    metadata = metadata_text("2021-06-13T07:31:02.230Z", as_ion=False).replace(
        '"version": 0', f'"version": {version}'
    )
    with pytest.raises(MalformedError) as caught:
        revision_of(json_revision(metadata=metadata))
    assert caught.value.reason == "not-an-int"
    assert caught.value.locator.endswith("metadata.version")


@pytest.mark.parametrize("sequence", ["19.0", '"19"', "-1", "true"])
def test_block_address_sequence_number_must_be_an_int(sequence: str) -> None:
    data = json_revision().replace(b'"sequenceNo": 19', f'"sequenceNo": {sequence}'.encode())
    with pytest.raises(MalformedError) as caught:
        formats.parse(data, "rev.json")
    assert "sequenceNo" in caught.value.locator


@pytest.mark.parametrize("hash_text", ['"abc"', '"' + "A" * 42 + '=="', "19", '"%%%"'])
def test_revision_hash_must_be_32_bytes_of_base64(hash_text: str) -> None:
    data = json_revision().replace(f'"{HASH}"'.encode(), hash_text.encode())
    with pytest.raises(MalformedError) as caught:
        formats.parse(data, "rev.json")
    assert "hash" in caught.value.locator


# -- refused JSON --------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "document",
    [
        b'{"RevisionHash": "a", "RevisionHash": "b"}',
        json_revision(data='{"k": 1, "k": 2}'),
        json_revision(metadata='{"id": "a", "id": "b", "version": 0}'),
    ],
    ids=["top-level", "in-data", "in-metadata"],
)
def test_duplicate_keys_are_rejected(document: bytes) -> None:
    with pytest.raises(MalformedError) as caught:
        formats.parse(document, "dup.json")
    assert caught.value.reason == "not-json"
    assert "duplicate key" in str(caught.value)
    assert str(caught.value).startswith("dup.json")


@pytest.mark.parametrize("constant", ["NaN", "Infinity", "-Infinity"])
def test_nan_and_infinity_are_rejected(constant: str) -> None:
    with pytest.raises(MalformedError) as caught:
        formats.parse(json_revision(data=f'{{"n": {constant}}}'), "nan.json")
    assert caught.value.reason == "not-json"
    assert constant.lstrip("-") in str(caught.value)


def test_unknown_json_object_names_its_keys() -> None:
    with pytest.raises(MalformedError) as caught:
        formats.parse(b'{"Foo": 1, "Bar": 2}', "x.json")
    assert caught.value.reason == "unknown-format"
    assert "Bar, Foo" in str(caught.value)


def test_oversized_input_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "big.json"
    path.write_bytes(b" " * 101)
    monkeypatch.setattr(formats, "MAX_INPUT_BYTES", 100)
    with pytest.raises(MalformedError) as caught:
        formats.load(str(path))
    assert caught.value.reason == "too-large"


# -- Ion input and stream records ----------------------------------------------------------------
def stream_record(name: str) -> Any:
    return simpleion.loads((ARTEFACTS / name).read_text())


def test_ion_binary_stream_record_is_accepted() -> None:
    record = stream_record("stream-revision-details-D35q-v0.ion")
    data = simpleion.dumps(record, binary=True)
    assert data.startswith(ion.IVM)
    (artefact,) = formats.parse(data, "record.10n")
    assert isinstance(artefact, RevisionInput)
    assert artefact.kind == "stream-revision-details"
    assert proofs.verify_revision(artefact.revision).actual == bytes(
        record["payload"]["revision"]["hash"]
    )


def test_ion_binary_block_summary_is_accepted() -> None:
    data = simpleion.dumps(stream_record("stream-block-summary-HbD9-3.ion"), binary=True)
    (artefact,) = formats.parse(data, "summary.10n")
    assert isinstance(artefact, BlockInput)
    assert artefact.kind == "stream-block-summary"
    proofs.verify_block(artefact.block)


def test_ion_binary_garbage_after_the_marker_is_malformed() -> None:
    with pytest.raises(MalformedError) as caught:
        formats.parse(ion.IVM + b"\xff\xff\xff", "bad.10n")
    assert caught.value.reason == "not-ion"


@pytest.mark.parametrize(
    ("name", "kind"),
    [
        ("stream-revision-details-D35q-v0.ion", "stream-revision-details"),
        ("stream-block-summary-HbD9-3.ion", "stream-block-summary"),
    ],
)
def test_stream_records_with_and_without_envelope(name: str, kind: str) -> None:
    record = stream_record(name)
    with_envelope = formats.parse((ARTEFACTS / name).read_bytes(), name)
    without = formats.parse(simpleion.dumps(record["payload"], binary=False).encode(), name)
    only_type = formats.parse(
        simpleion.dumps({"recordType": record["recordType"], "payload": record["payload"]}),
        name,
    )
    for (artefact,) in (with_envelope, without, only_type):
        assert artefact.kind == kind
    (a,), (b,) = with_envelope, without
    if isinstance(a, RevisionInput):
        assert isinstance(b, RevisionInput)
        assert proofs.revision_hash(a.revision) == proofs.revision_hash(b.revision)
    else:
        assert isinstance(a, BlockInput)
        assert isinstance(b, BlockInput)
        assert proofs.verify_block(a.block).block_hash == proofs.verify_block(b.block).block_hash


@pytest.mark.parametrize("record_type", ["CONTROL", "SOMETHING_NEW"])
def test_control_records_are_rejected_clearly(record_type: str) -> None:
    text = (
        '{qldbStreamArn:"arn:aws:qldb:us-east-1:1:stream/x/y",'
        f'recordType:"{record_type}",payload:{{controlRecordType:"CREATED"}}}}'
    )
    with pytest.raises(MalformedError) as caught:
        formats.parse(text.encode(), "control.ion")
    assert caught.value.reason == "stream-record-type"
    assert caught.value.locator == "control.ion: recordType"
    assert record_type in str(caught.value)
    assert "nothing to verify" in str(caught.value)


def test_several_ion_values_give_several_artefacts() -> None:
    text = (ARTEFACTS / "revision-KmA3-100.ion").read_text()
    artefacts = formats.parse((text + "\n" + text).encode(), "two.ion")
    assert [a.kind for a in artefacts] == ["ion-revision", "ion-revision"]


def test_ion_revision_without_metadata_names_the_field() -> None:
    with pytest.raises(MalformedError) as caught:
        formats.parse(b"{hash:{{" + HASH.encode() + b"}}, data:{a:1}}", "r.ion")
    assert caught.value.locator == "r.ion: metadata"


# -- the JSON outputs of AWS tools ---------------------------------------------------------------
def test_kvs_receipt() -> None:
    (receipt,) = formats.load(str(ARTEFACTS / "receipt-1HqU-19-tip35.json"))
    assert isinstance(receipt, Receipt)
    assert receipt.kind == "kvs-ledger-metadata"
    assert str(receipt.block_address) == "1HqUNaR8u8s13eFiSzGZl9/19"
    assert receipt.revision_hash == base64.b64decode(HASH)
    assert [len(p) for p in receipt.proof] == [32] * 9
    assert receipt.digest is not None
    assert str(receipt.digest.tip) == "1HqUNaR8u8s13eFiSzGZl9/35"
    assert receipt.document_id == "G3Oi84WQpSA3ppyitpjObh"
    with pytest.raises(dataclasses.FrozenInstanceError):
        receipt.proof = ()  # type: ignore[misc]


def test_get_digest_and_load_digest() -> None:
    digest = formats.load_digest(str(ARTEFACTS / "digest-1HqU-19-tip35.json"))
    assert isinstance(digest, Digest)
    assert digest.tip.sequence_no == 35
    with pytest.raises(MalformedError) as caught:
        formats.load_digest(str(ARTEFACTS / "receipt-1HqU-19-tip35.json"))
    assert caught.value.reason == "not-a-digest"


def test_get_block_and_get_revision() -> None:
    (block,) = formats.load(str(ARTEFACTS / "getblock-KmA3-100-tip123.json"))
    assert isinstance(block, BlockInput)
    assert (block.kind, len(block.proof or ())) == ("get-block", 7)
    (revision,) = formats.load(str(ARTEFACTS / "getrevision-KmA3-100-tip123.json"))
    assert isinstance(revision, RevisionInput)
    assert (revision.kind, len(revision.proof or ())) == ("get-revision", 10)
    doc = json.loads((ARTEFACTS / "getrevision-KmA3-100-tip123.json").read_text())
    del doc["Proof"]
    (no_proof,) = formats.parse(json.dumps(doc).encode(), "r.json")
    assert isinstance(no_proof, RevisionInput)
    assert no_proof.proof is None


def test_ion_text_field_with_two_values_is_malformed() -> None:
    doc = json.loads((ARTEFACTS / "getrevision-KmA3-100-tip123.json").read_text())
    doc["Proof"]["IonText"] += " []"
    with pytest.raises(MalformedError) as caught:
        formats.parse(json.dumps(doc).encode(), "r.json")
    assert caught.value.locator == "r.json: Proof.IonText"
