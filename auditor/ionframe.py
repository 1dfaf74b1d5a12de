"""Framing of Ion binary, checked before amazon.ion parses untrusted bytes.

amazon.ion's C extension can loop forever on some damaged lengths (e.g. a local symbol table
whose list length is off by two), so every Ion binary input from a file or an export object
passes :func:`check_framing` first.
"""

from __future__ import annotations

ION_BINARY_MARKER = b"\xe0\x01\x00\xea"


def varuint(data: bytes, p: int, end: int) -> tuple[int, int]:
    value = 0
    while True:
        if p >= end:
            raise ValueError("a length runs past its container")
        byte = data[p]
        p += 1
        value = (value << 7) | (byte & 0x7F)
        if byte & 0x80:
            return value, p
        if value > 1 << 40:
            raise ValueError("a length is too large")


def check_framing(data: bytes) -> str | None:
    """Walk the framing of Ion binary (type descriptors, lengths, struct field ids, annotation
    wrappers) without decoding any value; return the first problem, or None.

    amazon.ion's C extension can loop forever on some damaged lengths (e.g. a local symbol
    table whose list length is off by two), so a damaged object must never reach it: each
    container's children must exactly fill it, each annotation wrapper must hold one value.
    """
    # (end, kind, values seen): kind 0 = top level / list / sexp, 1 = struct, 2 = annotation
    stack: list[tuple[int, int, int]] = [(len(data), 0, 0)]
    pos = 0
    try:
        while stack:
            end, kind, count = stack[-1]
            if pos == end:
                if kind == 2 and count != 1:
                    return "an annotation wrapper without its value"
                stack.pop()
                continue
            if pos > end:
                return "a value runs past its container"
            if kind == 2 and count == 1:
                return "an annotation wrapper holds more than one value"
            stack[-1] = (end, kind, count + 1)
            if kind == 1:
                _, pos = varuint(data, pos, end)  # the field name's symbol id
            elif len(stack) == 1 and data[pos : pos + 4] == ION_BINARY_MARKER:
                pos += 4
                continue
            descriptor = data[pos]
            pos += 1
            code, low = descriptor >> 4, descriptor & 0x0F
            if code == 15:
                return "a reserved type code"
            if code == 1 or low == 15:  # bools and nulls have no body
                if code == 1 and low not in (0, 1, 15):
                    return "a bad bool"
                continue
            if low == 14 or (code == 13 and low == 1):
                length, pos = varuint(data, pos, end)
            else:
                length = low
            body_end = pos + length
            if body_end > end:
                return "a value runs past its container"
            if code in (11, 12, 13):
                stack.append((body_end, 1 if code == 13 else 0, 0))
            elif code == 14:
                if length == 0:
                    return "an empty annotation wrapper"
                annotations, pos = varuint(data, pos, body_end)
                if pos + annotations >= body_end:
                    return "annotations run past their wrapper"
                pos += annotations
                stack.append((body_end, 2, 0))
            else:
                pos = body_end
    except ValueError as e:
        return str(e)
    except IndexError:
        return "a value runs past the end of the object"
    return None
