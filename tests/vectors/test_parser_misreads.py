"""Genuine revisions that amazon.ion's C extension misreads must still verify.

The C extension (amazon.ion >= 0.15) reads ``2001-02-03T04:05:06.5000000000Z`` as ``.000000000Z``
and ``0d99999`` as ``0d+6111``, and refuses a value with 11 annotations; the ionhash oracle's
amazon.ion 0.9.3 keeps only 6 fraction digits. So the expected hashes here come from a small
reference serializer written from the Ion Hash specification (1.0) in this file — a second,
independent implementation for exactly the types these revisions use — and the revisions are
checked through the CLI and the API: their content hash must be *proven* (never refuted).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from auditor import verify
from auditor.cli import main
from auditor.verify import Policy


# -- a reference Ion Hash for strings, symbols, ints, decimals, timestamps, annotations, structs
def _escape(data: bytes) -> bytes:
    out = bytearray()
    for byte in data:
        if byte in (0x0B, 0x0E, 0x0C):
            out.append(0x0C)
        out.append(byte)
    return bytes(out)


def _scalar(tq: int, representation: bytes) -> bytes:
    return b"\x0b" + bytes([tq]) + _escape(representation) + b"\x0e"


def _var_uint(n: int) -> bytes:
    groups = [n & 0x7F]
    while n >> 7:
        n >>= 7
        groups.append(n & 0x7F)
    groups[0] |= 0x80
    return bytes(reversed(groups))


def _var_int(n: int) -> bytes:
    magnitude, groups = abs(n), []
    while True:
        groups.append(magnitude & 0x7F)
        magnitude >>= 7
        if not magnitude:
            break
    if groups[-1] & 0x40:
        groups.append(0)
    if n < 0:
        groups[-1] |= 0x40
    groups[0] |= 0x80
    return bytes(reversed(groups))


def symbol(text: str) -> bytes:
    return _scalar(0x70, text.encode())


def string(text: str) -> bytes:
    return _scalar(0x80, text.encode())


def integer(n: int) -> bytes:
    return _scalar(0x20, n.to_bytes((n.bit_length() + 7) // 8, "big")) if n else b"\x0b\x20\x0e"


def decimal(coefficient: int, exponent: int) -> bytes:
    body = _var_int(exponent)
    if coefficient:
        body += coefficient.to_bytes(coefficient.bit_length() // 8 + 1, "big")
    return _scalar(0x50, body)


def timestamp_utc(year: int, month: int, day: int, hms: tuple[int, int, int],
                  fraction: tuple[int, int] | None) -> bytes:  # fmt: skip
    body = _var_int(0) + _var_uint(year) + bytes([0x80 | month, 0x80 | day])
    body += bytes([0x80 | hms[0], 0x80 | hms[1], 0x80 | hms[2]])
    if fraction is not None:
        coefficient, exponent = fraction
        body += _var_int(exponent) + coefficient.to_bytes(coefficient.bit_length() // 8 + 1, "big")
    return _scalar(0x60, body)


def annotated(annotations: list[str], value: bytes) -> bytes:
    return b"\x0b\xe0" + b"".join(symbol(a) for a in annotations) + value + b"\x0e"


def struct(fields: dict[str, bytes]) -> bytes:
    hashes = sorted(hashlib.sha256(symbol(k) + v).digest() for k, v in fields.items())
    return b"\x0b\xd0" + _escape(b"".join(hashes)) + b"\x0e"


def ion_hash(serialized: bytes) -> bytes:
    return hashlib.sha256(serialized).digest()


def dot(a: bytes, b: bytes) -> bytes:
    def key(h: bytes) -> list[int]:
        return [x - 256 if x > 127 else x for x in reversed(h)]

    first, second = (a, b) if key(a) < key(b) else (b, a)
    return hashlib.sha256(first + second).digest()


METADATA_TEXT = '{id:"3Vh4Q8bUjTb6tnNE2Klt7u",version:2,txTime:2021-06-13T07:31:02.230Z,txId:"Tx1"}'
METADATA = struct({
    "id": string("3Vh4Q8bUjTb6tnNE2Klt7u"), "version": integer(2),
    "txTime": timestamp_utc(2021, 6, 13, (7, 31, 2), (230, -3)), "txId": string("Tx1"),
})  # fmt: skip
ANNOTATIONS = [chr(ord("a") + i) for i in range(11)]
CASES = {
    # (data as Ion text, the data's reference serialization); a fraction is a decimal:
    # .5000000000 is 5000000000 x 10**-10, all ten digits count
    "timestamp-10-fraction-digits": (
        "{paidAt:2001-02-03T04:05:06.5000000000Z}",
        struct({"paidAt": timestamp_utc(2001, 2, 3, (4, 5, 6), (5_000_000_000, -10))}),
    ),
    "timestamp-12-fraction-digits": (
        "{paidAt:2001-02-03T04:05:06.000000000001Z}",
        struct({"paidAt": timestamp_utc(2001, 2, 3, (4, 5, 6), (1, -12))}),
    ),
    "decimal-exponent-99999": ("{amount:0d99999}", struct({"amount": decimal(0, 99999)})),
    "decimal-exponent-minus-7000": ("{amount:15d-7001}", struct({"amount": decimal(15, -7001)})),
    "eleven-annotations": (
        "{tag:" + "::".join(ANNOTATIONS) + "::1}",
        struct({"tag": annotated(ANNOTATIONS, integer(1))}),
    ),
}


def _revision(data_text: str, serialized: bytes) -> str:
    stated = dot(ion_hash(serialized), ion_hash(METADATA))
    blob = "{{" + __import__("base64").b64encode(stated).decode() + "}}"
    return f"{{hash:{blob},data:{data_text},metadata:{METADATA_TEXT}}}\n"


def test_the_reference_serializer_agrees_with_a_published_vector() -> None:
    # awslabs/amazon-qldb-driver-rust ion_compat.rs: IonHash_SHA256("hello world")
    assert ion_hash(string("hello world")).hex().startswith("82c4010b")


@pytest.mark.parametrize("name", sorted(CASES))
def test_genuine_values_the_c_extension_misreads_verify(name: str, tmp_path: Path) -> None:
    text, serialized = CASES[name]
    path = tmp_path / f"{name}.ion"
    path.write_text(_revision(text, serialized))
    result = CliRunner().invoke(main, ["verify", "revision", str(path), "--json"])
    assert result.exit_code == 3, result.stdout  # recomputed; no digest was supplied
    (item,) = json.loads(result.stdout)["items"]
    (content,) = [c for c in item["claims"] if c["name"] == "content-hash"]
    assert content["status"] == "proven"
    (v,) = verify.check_bytes(path.read_bytes(), name, "revision", Policy())
    assert v.status == "not-proven"
    assert [c.status for c in v.claims if c.name == "content-hash"] == ["proven"]
    # and any change of the value is refuted (one more digit, or one annotation less)
    if "::" in text:
        other = text.replace("a::", "", 1)
    elif "T04:05:06" in text:
        other = text.replace("T04:05:06", "T04:05:07", 1)
    else:
        other = text[:-2] + ("8" if text[-2] != "8" else "7") + "}"
    changed = path.read_text().replace(text, other, 1)
    assert changed != path.read_text()
    (v,) = verify.check_bytes(changed.encode(), name, "revision", Policy())
    assert v.status == "refuted"
