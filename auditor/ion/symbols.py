"""Ion 1.0 symbol tables: the system table, local symbol tables, imports.

A symbol table is a list ``texts`` indexed by symbol ID: ``texts[0]`` is ``None`` (``$0``),
``texts[1:10]`` the system symbols, then each import's ``max_id`` IDs, then local symbols.
``None`` at an ID other than 0 means the text is unknown (a ``null`` slot, a non-string entry of
``symbols``, or an ID of a shared table this reader cannot resolve): reading such a symbol is
malformed input (``symbol-unknown-text``), since its hash cannot be computed (Ion Hash §symbols).

Shared symbol tables: this reader has no catalog. Following the symbols specification, an
import with a valid ``max_id`` allocates that many IDs with unknown text (so data that never uses
them reads fine, and data that does is refused when it uses one); an import without a valid
``max_id`` must be found in a catalog, so it is refused (``symbol-import``). Imports named
``$ion`` are ignored. A local table whose ``imports`` is the symbol ``$ion_symbol_table`` appends
to the current table.
"""

from __future__ import annotations

from typing import Any

from auditor.ion.limits import Fail, Limits
from proofs.ionvalue import Symbol

SYSTEM_TEXTS: tuple[str | None, ...] = (
    None, "$ion", "$ion_1_0", "$ion_symbol_table", "name", "version", "imports", "symbols",
    "max_id", "$ion_shared_symbol_table",
)  # fmt: skip
SYSTEM_IDS = {text: sid for sid, text in enumerate(SYSTEM_TEXTS) if text is not None}
ION_SYMBOL_TABLE = "$ion_symbol_table"
ION_1_0 = "$ion_1_0"


def system_table() -> list[str | None]:
    return list(SYSTEM_TEXTS)


def apply_local_table(
    current: list[str | None], table: Any, limits: Limits, pos: int
) -> list[str | None]:
    """The symbol table after the local symbol table ``table`` (a parsed struct, a dict, or
    ``None`` for ``null.struct``). May extend ``current`` in place (``imports:
    $ion_symbol_table``) and returns the table in force from now on."""
    if table is None:
        return system_table()
    imports = table.get("imports")
    if imports == Symbol(ION_SYMBOL_TABLE):
        texts = current
    else:
        texts = system_table()
        if isinstance(imports, list):
            for entry in imports:
                _import(texts, entry, limits, pos)
    symbols = table.get("symbols")
    if isinstance(symbols, list):
        if len(texts) + len(symbols) > limits.max_symbols + 1:
            raise _too_many(limits, pos)
        texts.extend(s if isinstance(s, str) else None for s in symbols)
    return texts


def _import(texts: list[str | None], entry: Any, limits: Limits, pos: int) -> None:
    if not isinstance(entry, dict):
        return
    name = entry.get("name")
    if not isinstance(name, str) or not name or name == "$ion":
        return
    version = entry.get("version")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        version = 1
    max_id = entry.get("max_id")
    if not isinstance(max_id, int) or isinstance(max_id, bool) or max_id < 0:
        raise Fail(
            "symbol-import",
            f"imports shared symbol table {name!r} version {version} without a max_id; "
            "this reader has no catalog of shared tables",
            pos,
        )
    if len(texts) + max_id > limits.max_symbols + 1:
        raise _too_many(limits, pos)
    texts.extend([None] * max_id)


def _too_many(limits: Limits, pos: int) -> Fail:
    return Fail(
        "too-many-symbols",
        f"a symbol table larger than {limits.max_symbols} symbols (Limits.max_symbols)",
        pos,
    )


def unknown_text(sid: int, pos: int) -> Fail:
    return Fail(
        "symbol-unknown-text",
        f"symbol ${sid} has no known text (a null slot, or a shared symbol table this reader "
        "does not have)",
        pos,
    )


def out_of_range(sid: int, size: int, pos: int) -> Fail:
    return Fail(
        "symbol-out-of-range",
        f"symbol ${sid} is not in the current symbol table (largest ID is ${size - 1})",
        pos,
    )
