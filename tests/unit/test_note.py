"""proofs.note: C2SP signed notes parsed exactly, every signature line judged and listed, trust
sets without duplicates, checkpoints; and proofs.errors.b64decode. Keys are made at test time."""

from __future__ import annotations

import base64

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from proofs import MalformedError, VerificationError
from proofs.errors import b64decode
from proofs.note import (
    MAX_NOTE_BYTES,
    MAX_SIGNATURES,
    Checkpoint,
    NoteResult,
    Status,
    VerifierKey,
    check_note,
    checkpoint_text,
    key_id,
    key_set,
    parse_checkpoint,
    parse_note,
    parse_vkey,
    split_note,
    valid_name,
    verify_note,
)

TEXT = "qldb-audit/v1/carmaker/strand\n3\n" + base64.b64encode(bytes(32)).decode() + "\n"


class Signer:
    def __init__(self, name: str) -> None:
        self.name = name
        self.private = Ed25519PrivateKey.generate()
        public = self.private.public_key().public_bytes(
            serialization.Encoding.Raw, serialization.PublicFormat.Raw
        )
        self.key = VerifierKey(name, key_id(name, public), public)

    def line(self, text: str, *, kid: bytes | None = None, name: str | None = None) -> str:
        raw = (kid or self.key.key_id) + self.private.sign(text.encode())
        return f"— {name or self.name} {base64.b64encode(raw).decode()}\n"


CARMAKER, DEALER, OTHER = Signer("carmaker"), Signer("dealer"), Signer("other")


def signed(text: str = TEXT, *signers: Signer) -> str:
    return text + "\n" + "".join(s.line(text) for s in signers or (CARMAKER,))


def test_a_note_verifies_and_lists_every_line() -> None:
    note = signed(TEXT, CARMAKER, OTHER, DEALER, CARMAKER)
    result = verify_note(note, [CARMAKER.key, DEALER.key])
    assert result
    assert result.text == TEXT
    assert [(s.index, s.name, s.status) for s in result.signatures] == [
        (0, "carmaker", Status.VERIFIED),
        (1, "other", Status.UNTRUSTED),
        (2, "dealer", Status.VERIFIED),
        (3, "carmaker", Status.VERIFIED),
    ]
    assert result.signatures[0].key == CARMAKER.key
    assert result.signatures[0].key_id == CARMAKER.key.key_id
    assert result.signatures[1].key is None
    assert result.signatures[1].key_id == OTHER.key.key_id
    assert result.verified_keys() == (CARMAKER.key, DEALER.key)
    assert result.trusted_signers == ("carmaker", "dealer")
    assert result.untrusted_signers == ("other",)
    assert check_note(note, [CARMAKER.key, DEALER.key]) == result
    assert check_note(note.encode(), [CARMAKER.key, DEALER.key]) == result


def test_a_result_is_true_only_with_a_verified_and_no_invalid_signature() -> None:
    assert not verify_note(signed(TEXT, OTHER), [CARMAKER.key])
    assert not verify_note(signed(TEXT, OTHER), [])
    assert verify_note(signed(TEXT, OTHER, CARMAKER), [CARMAKER.key])
    bad = TEXT + "\n" + CARMAKER.line("another text\n") + DEALER.line(TEXT)
    result = check_note(bad, [CARMAKER.key, DEALER.key])
    assert [s.status for s in result.signatures] == [Status.INVALID, Status.VERIFIED]
    assert not result
    assert not NoteResult(TEXT, ())


def test_a_bad_signature_by_a_trusted_key_refutes_the_note() -> None:
    bad = TEXT + "\n" + OTHER.line(TEXT) + CARMAKER.line("another text\n")
    with pytest.raises(VerificationError) as e:
        verify_note(bad, [CARMAKER.key])
    assert e.value.reason == "note-signature"
    assert e.value.locator == "note signature 1 by carmaker"
    assert e.value.expected == str(CARMAKER.key)
    line = base64.b64decode(bad.split(" ")[-1])
    assert e.value.actual == base64.b64encode(line[4:]).decode()  # the signature, no key id
    # the same line is only listed when its key is not trusted
    assert check_note(bad, [DEALER.key]).untrusted_signers == ("other", "carmaker")


def test_a_key_counts_only_by_its_name_and_key_id() -> None:
    """C2SP: a line sharing the name or the key id (not both) with a trusted key is not
    checked, and listed as not trusted; it never verifies as that key."""
    impostor = Signer("carmaker")  # the same name, another key: another key id
    assert impostor.key.key_id != CARMAKER.key.key_id
    result = verify_note(signed(TEXT, impostor), [CARMAKER.key])
    assert [s.status for s in result.signatures] == [Status.UNTRUSTED]
    assert not result
    renamed = TEXT + "\n" + DEALER.line(TEXT, name="carmaker")  # dealer's key, carmaker's name
    assert [s.status for s in check_note(renamed, [CARMAKER.key, DEALER.key]).signatures] == [
        Status.UNTRUSTED
    ]
    # carmaker's key id under the dealer's name and key: a trusted pair, a bad signature
    forged = TEXT + "\n" + DEALER.line(TEXT, kid=CARMAKER.key.key_id, name="carmaker")
    with pytest.raises(VerificationError):
        verify_note(forged, [CARMAKER.key])


def test_duplicate_keys_in_a_trust_set_are_an_error() -> None:
    with pytest.raises(MalformedError) as e:
        verify_note(signed(TEXT, DEALER), [CARMAKER.key, DEALER.key, CARMAKER.key])
    assert e.value.reason == "duplicate-key"
    assert e.value.locator == "trusted keys"
    twin = VerifierKey("carmaker", CARMAKER.key.key_id, OTHER.key.public_key)
    with pytest.raises(MalformedError, match="given twice"):
        key_set([CARMAKER.key, twin])
    assert key_set([CARMAKER.key, DEALER.key]) == {
        ("carmaker", CARMAKER.key.key_id): CARMAKER.key,
        ("dealer", DEALER.key.key_id): DEALER.key,
    }
    # the same name with another key id is another key
    assert len(key_set([CARMAKER.key, Signer("carmaker").key])) == 2


@pytest.mark.parametrize(
    "control", ["\t", "\r", "\x00", "\x01", "\x0b", "\x0c", "\x1b", "\x1f"], ids=repr
)
def test_control_characters_other_than_newline_are_malformed(control: str) -> None:
    text = TEXT.replace("\n3\n", f"\n3{control}\n")
    for note in (signed(text), signed(TEXT)[:-1] + control + "\n"):
        with pytest.raises(MalformedError) as e:
            verify_note(note, [CARMAKER.key])
        assert e.value.reason == "note-control"
    with pytest.raises(MalformedError) as e:
        verify_note(signed(text), [CARMAKER.key])
    assert e.value.locator == "note line 2"
    assert e.value.problem == f"control character U+{ord(control):04X}"
    with pytest.raises(MalformedError):  # CRLF line ends too
        verify_note(signed(TEXT).replace("\n", "\r\n"), [CARMAKER.key])


def test_other_characters_are_text() -> None:
    """Only ASCII controls are refused: DEL, C1 controls and any Unicode are text."""
    text = "origin é — \x7f \x85 \u2028 ✓\nnext\n\nafter an empty line\n"
    assert verify_note(signed(text), [CARMAKER.key]).text == text


@pytest.mark.parametrize(
    "note",
    [
        TEXT,  # no signatures
        TEXT + "\n",  # a blank line, no signatures
        signed()[:-1],  # no final newline
        "\n" + CARMAKER.line(TEXT),  # no text
        signed().replace("\n\n", "\n"),  # no blank line
        signed() + "\n",  # a blank line after the signatures
        signed() + "more text\n",
        signed().replace("— ", "– "),  # en dash
        signed().replace("— ", "—"),
        signed().replace("— ", "-- "),
        signed().replace("— ", "—  "),  # an empty name
        signed().replace("— carmaker ", "— carmaker  "),
        signed()[:-1] + " \n",  # trailing space
        signed()[:-1] + " extra\n",
        signed().replace("carmaker ", "car maker "),
        signed().replace("— carmaker", "— car+maker"),
        signed().replace("— carmaker", "— car\u00a0maker"),  # a Unicode space
        signed().replace("— carmaker", "— car\u3000maker"),
        TEXT + "\n— carmaker " + base64.b64encode(b"1234").decode() + "\n",  # 4 bytes only
        TEXT + "\n— carmaker \n",
    ],
)
def test_malformed_notes(note: str) -> None:
    with pytest.raises(MalformedError) as e:
        verify_note(note, [CARMAKER.key])
    assert e.value.reason.startswith(("note-", "not-base64"))
    with pytest.raises(MalformedError):
        parse_note(note)


def test_the_text_ends_at_the_last_blank_line() -> None:
    # a note whose text holds a blank line: the text is everything before the last one
    text = "first\n\nsecond\n"
    assert verify_note(signed(text), [CARMAKER.key]).text == text
    # two signature blocks: the first becomes text, and its signature no longer covers it
    two = signed(TEXT) + "\n" + CARMAKER.line(TEXT)
    assert parse_note(two)[0] == signed(TEXT)
    with pytest.raises(VerificationError):
        verify_note(two, [CARMAKER.key])


def test_base64_must_be_strict_and_canonical() -> None:
    line = CARMAKER.line(TEXT)
    encoded = line.split(" ")[2][:-1]
    assert encoded.endswith("=")
    last = encoded[-2]
    sibling = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
    stray = sibling[sibling.index(last) ^ 1]  # same 6-bit group, another (ignored) low bit
    for bad in (
        encoded[:-2] + stray + "=",  # non-canonical: stray bits
        encoded.rstrip("="),  # no padding
        encoded.replace("+", "-").replace("/", "_") if "+" in encoded or "/" in encoded else "*",
        encoded[:10] + "\n" + encoded[10:],
    ):
        with pytest.raises(MalformedError) as e:
            parse_note(TEXT + "\n— carmaker " + bad + "\n")
        assert e.value.reason in {"not-base64", "note-control"}


def test_signature_limits() -> None:
    assert len(check_note(signed(TEXT, *[OTHER] * 16), []).signatures) == 16
    assert len(check_note(signed(TEXT, *[OTHER] * MAX_SIGNATURES), []).signatures) == 100
    with pytest.raises(MalformedError) as e:
        check_note(signed(TEXT, *[OTHER] * (MAX_SIGNATURES + 1)), [])
    assert e.value.reason == "note-format"
    big = "x" * MAX_NOTE_BYTES + "\n"
    for note in (signed(big), signed(big).encode()):
        with pytest.raises(MalformedError) as e:
            check_note(note, [])
        assert e.value.reason == "note-size"


def test_notes_must_be_utf8() -> None:
    with pytest.raises(MalformedError) as e:
        check_note(b"\xff" + signed().encode(), [])
    assert e.value.reason == "note-encoding"
    with pytest.raises(MalformedError) as e:
        check_note("\ud800" + signed(), [])
    assert e.value.reason == "note-encoding"


def test_split_note_is_parse_note_as_tuples() -> None:
    text, lines = split_note(signed(TEXT, CARMAKER, OTHER))
    assert text == TEXT
    assert [(name, kid) for name, kid, _ in lines] == [
        ("carmaker", CARMAKER.key.key_id),
        ("other", OTHER.key.key_id),
    ]
    assert all(len(signature) == 64 for _, _, signature in lines)


def test_key_names() -> None:
    for good in ("carmaker", "example.com/log", "a", "caf\u00e9", "a—b"):
        assert valid_name(good), good
    for bad in ("", "a b", "a+b", "a\tb", "a\u00a0b", "a\u2003b", "a\x01b", "a\nb"):
        assert not valid_name(bad), bad
        with pytest.raises(MalformedError):
            VerifierKey(bad, bytes(4), bytes(32))


def test_verifier_keys() -> None:
    text = str(CARMAKER.key)
    assert parse_vkey(text) == CARMAKER.key
    assert parse_vkey(f"  {text}\n") == CARMAKER.key
    name, hex_id, encoded = text.split("+", 2)
    raw = base64.b64decode(encoded)
    not_ed25519 = base64.b64encode(bytes([2]) + raw[1:]).decode()
    upper = [f"{name}+{hex_id.upper()}+{encoded}"] if hex_id.upper() != hex_id else []
    for bad in (
        *upper,  # an id in capitals (when it has a letter: a random key's id may have none)
        f"{name}+{hex_id}",
        f"{name}+{hex_id[:6]}+{encoded}",
        f"other+{hex_id}+{encoded}",  # the id does not match the name
        f"{name}+{hex_id}+{not_ed25519}",
        f"{name}+{hex_id}+{base64.b64encode(raw[:-1]).decode()}",
        f"{name}+{hex_id}+{encoded}=",
        f"{name}+{hex_id}+{encoded[:-1]}",
        f"a b+{hex_id}+{encoded}",
    ):
        with pytest.raises(MalformedError) as e:
            parse_vkey(bad)
        assert e.value.reason in {"vkey", "not-base64"}, bad
    with pytest.raises(MalformedError):
        VerifierKey("carmaker", bytes(3), bytes(32))
    with pytest.raises(MalformedError):
        VerifierKey("carmaker", bytes(4), bytes(31))


# -- checkpoints -------------------------------------------------------------------------------
CHECKPOINT = Checkpoint("carmaker", "7Xd9s", 41, bytes(range(32)), "2025-07-31T12:00:00Z")


def test_checkpoint_round_trip() -> None:
    text = checkpoint_text(CHECKPOINT)
    assert text == (
        "qldb-audit/v1/carmaker/7Xd9s\n42\n"
        + base64.b64encode(bytes(range(32))).decode()
        + "\ntime 2025-07-31T12:00:00Z\n"
    )
    assert parse_checkpoint(text) == CHECKPOINT
    fraction = text.replace("12:00:00Z", "12:00:00.123456789Z")
    assert parse_checkpoint(fraction).time == "2025-07-31T12:00:00.123456789Z"


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ("\n42\n", "\n٤٢\n"),  # Arabic-Indic digits are digits to str.isdigit
        ("\n42\n", "\n042\n"),
        ("\n42\n", "\n0\n"),
        ("\n42\n", "\n-42\n"),
        ("\n42\n", "\n+42\n"),
        ("\n42\n", "\n42 \n"),
        ("\n42\n", f"\n{2**64 + 1}\n"),
        ("qldb-audit/v1/", "qldb-audit/v2/"),
        ("carmaker/7Xd9s", "carmaker"),
        ("carmaker/7Xd9s", "carmaker/7Xd9s/x"),
        ("carmaker/7Xd9s", "/7Xd9s"),
        ("carmaker/7Xd9s", "car maker/7Xd9s"),
        ("carmaker/7Xd9s", "car+maker/7Xd9s"),
        ("time ", "time  "),
        ("time ", "Time "),
        ("12:00:00Z", "12:00:00+00:00"),
        ("12:00:00Z", "12:00Z"),
        ("2025-07-31T", "2025-07-31 "),
        ("=\n", "\n"),  # the digest's padding
        ("Z\n", "Z\nextra\n"),
        ("Z\n", "Z"),
    ],
)
def test_malformed_checkpoints(old: str, new: str) -> None:
    text = checkpoint_text(CHECKPOINT)
    assert old in text
    with pytest.raises(MalformedError) as e:
        parse_checkpoint(text.replace(old, new, 1))
    assert e.value.reason in {"checkpoint", "not-base64", "hash-length"}


def test_a_checkpoint_digest_is_32_bytes() -> None:
    text = checkpoint_text(CHECKPOINT).replace(
        base64.b64encode(bytes(range(32))).decode(), base64.b64encode(bytes(31)).decode()
    )
    with pytest.raises(MalformedError) as e:
        parse_checkpoint(text)
    assert e.value.reason == "hash-length"
    assert parse_checkpoint(checkpoint_text(CHECKPOINT).replace("\n42\n", f"\n{2**64}\n"))


# -- base64 ------------------------------------------------------------------------------------
def test_b64decode_is_strict_and_canonical() -> None:
    assert b64decode("AAECAw==", "f") == bytes([0, 1, 2, 3])
    assert b64decode("", "f") == b""
    for bad in ("AAECAw", "AAECAx==", "AAEC Aw==", "AAECAw==\n", "AAE-Aw==", "AAECAw===", "é"):
        with pytest.raises(MalformedError) as e:
            b64decode(bad, "file.json: field")
        assert (e.value.reason, e.value.locator) == ("not-base64", "file.json: field"), bad
    with pytest.raises(MalformedError, match="got a bytes"):
        b64decode(b"AAECAw==", "f")


# -- tests that kill the mutants tools/mutate.py found (see tools/mutate.toml) ------------------
def test_statuses_are_stable_words() -> None:
    assert [s.value for s in Status] == ["verified", "invalid", "untrusted"]


def test_an_invalid_line_is_never_a_verified_key() -> None:
    bad = TEXT + "\n" + CARMAKER.line("another text\n") + DEALER.line(TEXT)
    result = check_note(bad, [CARMAKER.key, DEALER.key])
    assert result.signatures[0].key == CARMAKER.key
    assert result.verified_keys() == (DEALER.key,)
    assert result.trusted_signers == ("dealer",)


def test_the_note_size_limit_is_64_kib_exactly() -> None:
    assert MAX_NOTE_BYTES == 65536
    line = CARMAKER.line("x\n")
    filler = 65536 - len(("\n\n" + line).encode())
    for size, ok in ((filler, True), (filler + 1, False)):
        text = "x" * size + "\n"
        note = text + "\n" + CARMAKER.line(text)
        assert len(note.encode()) == 65536 + (not ok)
        for form in (note, note.encode()):
            if ok:
                assert check_note(form, [CARMAKER.key])
            else:
                with pytest.raises(MalformedError, match="larger than 65536 bytes"):
                    check_note(form, [CARMAKER.key])


def test_the_shortest_text_and_signature() -> None:
    # the text "\n" (one empty line), and a signature of one byte after the key id
    note = "\n\n" + CARMAKER.line("\n")
    assert verify_note(note, [CARMAKER.key]).text == "\n"
    short = "\n\n— other " + base64.b64encode(b"\x00\x00\x00\x00\x01").decode() + "\n"
    [line] = check_note(short, []).signatures
    assert (line.key_id, line.signature, line.status) == (bytes(4), b"\x01", Status.UNTRUSTED)


def test_a_control_character_is_located_by_line() -> None:
    with pytest.raises(MalformedError) as e:
        parse_note("\n\tx\n\n" + CARMAKER.line("\n\tx\n"))
    assert e.value.locator == "note line 2"


def test_verifier_keys_whose_base64_holds_a_plus() -> None:
    signer = next(s for s in (Signer("plus") for _ in range(200)) if "+" in str(s.key)[14:])
    assert parse_vkey(str(signer.key)) == signer.key
    with pytest.raises(MalformedError) as e:
        parse_vkey("a b+" + str(signer.key).removeprefix("plus+"))
    assert e.value.problem == "expected name+keyid+base64key"


def test_checkpoint_digest_errors_name_the_digest() -> None:
    with pytest.raises(MalformedError) as e:
        checkpoint_text(Checkpoint("carmaker", "s", 0, bytes(31), "2025-07-31T12:00:00Z"))
    assert e.value.locator == "checkpoint digest"
    text = checkpoint_text(CHECKPOINT)
    digest = base64.b64encode(bytes(range(32))).decode()
    for bad, reason in ((base64.b64encode(bytes(31)).decode(), "hash-length"),
                        (digest[:-1], "not-base64")):  # fmt: skip
        with pytest.raises(MalformedError) as e:
            parse_checkpoint(text.replace(digest, bad))
        assert (e.value.locator, e.value.reason) == ("checkpoint digest", reason)
