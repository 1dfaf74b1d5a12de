"""A completed manifest's keys read as they stream in, for the shape every exporter writes.

QLDB and this project's exporter write a completed manifest as ``{keys:["k1","k2",...]}`` (Ion
text, or the same as JSON: ``{"keys": [...]}``). :func:`read_keys` reads exactly that shape one
chunk at a time and packs each key as it is read (:class:`auditor.audit.keys.Keys`), so that a
manifest of a million keys never holds a million ``str`` objects, nor all of its text, at once.

It is a fast path, not a second Ion reader: it accepts only what the Ion reader
(:mod:`auditor.ion`) reads as that one struct, with the same keys: JSON's whitespace (space,
tab, LF, CR), one field ``keys`` (an identifier or a string), a list of short strings without
escapes (the characters the Ion reader takes as they are), trailing commas where Ion allows
them. Anything else — other whitespace, a comment, an escape, an annotation, another field, a
symbol table, Ion binary, bytes that are not UTF-8, more than ``max_keys`` keys, a string over
the text limit, an input over ``max_bytes``, the deadline passed — returns ``None``, and the
caller reads the manifest again with the Ion reader, whose answer (the value, or the error and
its position) is then the one used. tests/unit/test_audit_manifest_reader.py holds it to that
against the Ion reader, change by change.
"""

from __future__ import annotations

import codecs
import re
import time

from auditor.audit.keys import Keys
from auditor.ion import Limits, Readable

_WS = re.compile(r"[ \t\n\r]*")
_PLAIN = re.compile(r'[^"\\\x00-\x08\x0a\x0d-\x1f]*')  # what the Ion reader takes unescaped
_RUN = re.compile(r'(?:[ \t\n\r]*"[^"\\\x00-\x08\x0a\x0d-\x1f]*"[ \t\n\r]*,)+')
_STRING = re.compile(r'"([^"\\\x00-\x08\x0a\x0d-\x1f]*)"')
CHUNK = 1 << 16  # bytes read at a time (larger chunks only cost memory)


class _Unusual(Exception):  # noqa: N818 - control flow: not the simple shape
    pass


class _Text:
    """The decoded text not consumed yet (``s[pos:]``), read ``CHUNK`` bytes at a time."""

    def __init__(self, fp: Readable, limits: Limits) -> None:
        self.fp = fp
        self.limits = limits
        self.decoder = codecs.getincrementaldecoder("utf-8")("strict")
        self.s = ""
        self.pos = 0
        self.read = 0
        self.eof = False

    def fill(self) -> bool:
        """Read more (forgetting what was consumed); False at the end of the input."""
        if self.eof:
            return False
        data = self.fp.read(CHUNK)
        self.read += len(data)
        deadline = self.limits.deadline
        if self.read > self.limits.max_bytes or (
            deadline is not None and time.monotonic() > deadline
        ):
            raise _Unusual
        try:
            text = self.decoder.decode(data, final=not data)
        except UnicodeDecodeError:
            raise _Unusual from None
        self.eof = not data
        self.s = self.s[self.pos :] + text
        self.pos = 0
        return True

    def peek(self) -> str:
        """The next character after whitespace ('' at the end of the input)."""
        while True:
            self.pos = _WS.match(self.s, self.pos).end()  # type: ignore[union-attr]
            if self.pos < len(self.s):
                return self.s[self.pos]
            if not self.fill():
                return ""

    def take(self, c: str) -> None:
        if self.peek() != c:
            raise _Unusual
        self.pos += 1

    def string(self) -> str:
        """The plain short string at ``pos`` (its opening quote)."""
        while True:
            stop = _PLAIN.match(self.s, self.pos + 1).end()  # type: ignore[union-attr]
            if stop < len(self.s):
                if self.s[stop] != '"' or stop - self.pos > self.limits.max_text:
                    raise _Unusual  # an escape or a character to check: the Ion reader's
                text = self.s[self.pos + 1 : stop]
                self.pos = stop + 1
                return text
            if stop - self.pos > self.limits.max_text or not self.fill():
                raise _Unusual


def read_keys(fp: Readable, limits: Limits, max_keys: int) -> Keys | None:
    """The keys of ``fp``'s completed manifest if it has the simple shape (reading all of it),
    else None (see the module docstring)."""
    text = _Text(fp, limits)
    keys = Keys()
    try:
        text.take("{")
        if text.peek() == '"':
            if text.string() != "keys":
                raise _Unusual
        else:  # an identifier: anything but ':' after it is for the Ion reader (take)
            while len(text.s) < text.pos + 4 and text.fill():
                pass
            if text.s[text.pos : text.pos + 4] != "keys":
                raise _Unusual
            text.pos += 4
        text.take(":")
        text.take("[")
        while True:
            run = _RUN.match(text.s, text.pos)  # many keys at once: `"k1", "k2",`
            if run is not None:
                texts = _STRING.findall(text.s, text.pos, run.end())
                if len(keys) + len(texts) > max_keys:
                    raise _Unusual
                if max(map(len, texts)) >= limits.max_text:
                    raise _Unusual
                keys.extend(texts)
                text.pos = run.end()
                continue
            c = text.peek()
            if c == "]":
                break
            if c != '"':
                raise _Unusual
            keys.append(text.string())
            if len(keys) > max_keys:
                raise _Unusual
            c = text.peek()
            if c == "]":
                break
            text.take(",")
        text.pos += 1
        if text.peek() == ",":
            text.pos += 1
        text.take("}")
        if text.peek() != "":
            raise _Unusual
    except _Unusual:
        return None
    return keys
