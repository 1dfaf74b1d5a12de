"""Differential-testing oracle: ionhash 1.2.1 and pyqldb 3.2.4 on amazon.ion 0.9.3.

Runs under the ORACLE interpreter (``make oracle`` creates ``.venv-oracle``), never under the
project's own environment, and imports nothing from this repository. Start it with ``python -I``
so that neither the script's folder nor PYTHON* variables leak into ``sys.path``.

Protocol (UTF-8 lines over stdin/stdout; exactly one response line per request line, flushed):

``H <base64 Ion binary>``
    ``<hex>``: SHA-256 Ion Hash of the single value, by ``ionhash.fast_value_hasher.hash_value``
    (the code path behind ``value.ion_hash('SHA256')`` and pyqldb's ``QldbHash.to_qldb_hash``).
``R <base64 Ion binary>``
    ``<hex>``: the same hash by ionhash's other code path, the streaming ``hasher.hash_reader``
    wrapped around amazon.ion's binary reader.
``T <base64 Ion binary>``
    ``<Ion text>`` of the value as amazon.ion 0.9.3 reads it (for diagnostics).
``D <hex a> <hex b>``
    ``<hex>``: ``QldbHash(a).dot(QldbHash(b))``; write ``-`` for an empty hash.
``V``
    ``amazon.ion=<version> ionhash=<version> pyqldb=<version>``.

Any failure gives ``E <exception type>: <message>`` on one line instead.
"""

from __future__ import annotations

import base64
import binascii
import sys
import traceback
from importlib import metadata
from io import BytesIO

from amazon.ion import simpleion
from amazon.ion.core import IonEventType
from amazon.ion.reader import NEXT_EVENT, blocking_reader
from amazon.ion.reader_binary import binary_reader
from amazon.ion.reader_managed import managed_reader
from ionhash.fast_value_hasher import hash_value
from ionhash.hasher import HashEvent, hash_reader, hashlib_hash_function_provider
from pyqldb.util.qldb_hash import QldbHash

SHA256 = hashlib_hash_function_provider("SHA256")


def _value(payload: str):
    return simpleion.loads(base64.b64decode(payload, validate=True))


def _hash(payload: str) -> str:
    return hash_value(_value(payload), SHA256).hex()


def _hash_stream(payload: str) -> str:
    data = base64.b64decode(payload, validate=True)
    reader = hash_reader(
        blocking_reader(managed_reader(binary_reader(), None), BytesIO(data)), SHA256
    )
    values = 0
    depth = 0
    while True:
        event = reader.send(NEXT_EVENT)
        kind = event.event_type
        if kind is IonEventType.STREAM_END:
            break
        if kind is IonEventType.CONTAINER_START:
            depth += 1
        elif kind is IonEventType.CONTAINER_END:
            depth -= 1
        if depth == 0 and kind is not IonEventType.VERSION_MARKER:
            values += 1
    if values != 1:
        raise ValueError(f"expected exactly one top-level value, read {values}")
    return reader.send(HashEvent.DIGEST).hex()


def _text(payload: str) -> str:
    text = simpleion.dumps(_value(payload), binary=False)
    return text.replace("\r", "\\r").replace("\n", "\\n")


def _hash_arg(arg: str) -> bytes:
    return b"" if arg == "-" else binascii.unhexlify(arg)


def _dot(a: str, b: str) -> str:
    return QldbHash(_hash_arg(a)).dot(QldbHash(_hash_arg(b))).get_qldb_hash().hex()


def _versions() -> str:
    return " ".join(
        f"{name}={metadata.version(name)}" for name in ("amazon.ion", "ionhash", "pyqldb")
    )


COMMANDS = {"H": _hash, "R": _hash_stream, "T": _text, "D": _dot, "V": _versions}


def handle(line: str) -> str:
    command, *args = line.split()
    function = COMMANDS.get(command)
    if function is None:
        raise ValueError(f"unknown command {command!r}")
    return function(*args)


def main() -> int:
    out = sys.stdout
    for raw in sys.stdin:
        line = raw.strip()
        if not line:
            continue
        try:
            response = handle(line)
        except Exception as error:  # noqa: BLE001 - every failure becomes an "E" line
            last = traceback.extract_tb(error.__traceback__)[-1:]
            where = f" (at {last[0].filename}:{last[0].lineno})" if last else ""
            message = f"{type(error).__name__}: {error}{where}"
            response = "E " + message.replace("\r", " ").replace("\n", " ")
        out.write(response + "\n")
        out.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
