"""Find an export in its source and read its manifests (docs/formats.md §5).

Layout (QLDB's ExportJournalToS3, and this project's exporter, auditor/export.py)::

    <prefix><exportId>.started.manifest                  {ledgerName, exportId, ..., prefix,
                                                           outputFormat?}
    <prefix><exportId>.<strandId>.completed.manifest     {keys: [data object keys, in order]}
    <prefix><exportId>/<strandId>.<first>-<last>.<ext>   the data objects (keys as listed)
    <prefix><exportId>.checkpoint                        this project's writer only
    <prefix><exportId>.<strandId>.digest.json            this project's writer only

Keys are relocated to the source: a listed key that starts with the started manifest's
``prefix`` (or that contains ``<exportId>/``) is read at that relative path under the source, so
an export copied to another bucket or directory still verifies. A key that would leave the
source (``..``, an absolute path) is refused. Reports name each object by what was actually
read (:meth:`Source.shown`): its path relative to the export root for a directory, its S3 URL
for S3 — so a failure in an edited copy names the copy's file, whatever key the manifest lists
(older exports of this project listed the exporter's absolute paths).

Which rules apply is the caller's choice, never the export's: ``writer=True`` checks every block
with the writer's rules (``verify_block(writer_rules=True)``, exact layout and bytes), else
QLDB's rules; ``qldb_until=N`` (a ledger migrated from QLDB, docs/migration.md) QLDB's rules for
blocks 0..N and the writer's after N, with the exporter's exact bytes throughout. A checkpoint or
digest beside the manifests is only a digest to check, and the started manifest's
``importBoundary`` (what this project's exporter writes for a migrated ledger) is only reported:
the engine refuses to guess the rules when it is there and the caller gave none.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, overload

from auditor import budget, ion
from auditor.audit.keys import Keys, Seen
from auditor.audit.manifest import read_keys
from auditor.audit.model import FAILED, MALFORMED, MAX_ISSUES, Issue, ObjectSpec, Overflow
from auditor.audit.source import MissingObjectError, Source, SourceError
from proofs.ionvalue import Symbol

FORMATS = {"ION_TEXT": "ion_text", "ION_BINARY": "ion_binary", "JSON": "json"}
MAX_MANIFEST_BYTES = 64 * 1024 * 1024
MAX_KEYS = 1_000_000  # data objects one export lists (QLDB's are 100s of MB each)
_COMPLETED = re.compile(r"(?P<id>[A-Za-z0-9_-]{1,128})\.(?P<strand>[A-Za-z0-9]{1,64})"
                        r"\.completed\.manifest")  # fmt: skip
_OBJECT = re.compile(
    r"(?P<strand>[A-Za-z0-9]{1,64})\.(?P<first>[0-9]{1,19})-(?P<last>[0-9]{1,19})"
    r"\.(?P<ext>[A-Za-z0-9]{1,16})"
)


class LayoutError(Exception):
    """The source holds no usable export (exit 2). The message names the file and field."""


@dataclass(slots=True)
class Export:
    source: Source
    export_id: str
    strand_id: str
    completed_name: str
    completed_sha256: str
    started_name: str | None
    started: dict[str, Any] | None
    ledger_name: str | None
    output_format: str  # ION_TEXT | ION_BINARY | JSON | unknown
    writer_rules: bool
    rules_reason: str
    objects: Sequence[ObjectSpec]  # ObjectSpecs: made as they are asked for
    checkpoint_name: str | None
    digest_json_name: str | None
    qldb_until: int | None = None  # QLDB rules for blocks 0..N, writer rules after
    import_boundary: int | None = None  # what the started manifest declares (not trusted)
    issues: list[Issue] = field(default_factory=list)  # the first MAX_ISSUES
    overflow: Overflow = field(default_factory=Overflow)  # the others, counted
    notes: list[str] = field(default_factory=list)
    unlisted: list[str] = field(default_factory=list)

    @property
    def rules(self) -> str:
        """``writer``, ``qldb``, or ``qldb-until-N`` (QLDB rules to block N, writer's after)."""
        if self.qldb_until is not None:
            return f"qldb-until-{self.qldb_until}"
        return "writer" if self.writer_rules else "qldb"


class _Hashed:
    """A manifest's bytes as the reader takes them, hashed on the way (its SHA-256 keys the
    state file's progress record)."""

    def __init__(self, fp: ion.Readable) -> None:
        self.fp = fp
        self.sha = hashlib.sha256()

    def read(self, n: int, /) -> bytes:
        data = self.fp.read(n)
        self.sha.update(data)
        return data


def _read_manifest(source: Source, name: str, limits: ion.Limits | None = None) -> tuple[Any, str]:
    """The one struct of a manifest (Ion text; JSON is Ion text too), read as a stream within
    the per-input budget (:mod:`auditor.budget`; ``limits``: a deadline already running) and
    :data:`MAX_MANIFEST_BYTES`, and the SHA-256 of its bytes. Raises :class:`LayoutError`
    naming the file and the position."""
    where = source.shown(source.location(name))
    limits = limits or budget.limits(_MANIFEST_LIMITS)
    values = []
    try:
        with source.open(source.location(name)) as fp:
            hashed = _Hashed(fp)
            for value, _, _ in ion.stream(hashed, where, limits=limits, chunk_size=1 << 20):
                values.append(value)
                if len(values) > 1:
                    break
    except ion.IonError as e:
        raise LayoutError(f"{e.locator}: not an Ion or JSON manifest ({e.problem})") from e
    except SourceError as e:
        raise LayoutError(f"{where}: cannot read ({e})") from e
    except OSError as e:
        raise LayoutError(f"{where}: cannot read ({e.strerror or e})") from e
    if len(values) != 1 or type(values[0]) is not dict:
        raise LayoutError(f"{where}: expected one struct")
    return values[0], hashed.sha.hexdigest()


def _read_completed(source: Source, name: str) -> tuple[Keys | dict[Any, Any], str]:
    """The completed manifest's keys, packed as they are read when the manifest has the shape
    exporters write (:mod:`auditor.audit.manifest`), else its struct as the Ion reader reads it
    (:func:`_read_manifest`, which then gives the answer); and the SHA-256 of its bytes."""
    where = source.shown(source.location(name))
    limits = budget.limits(_MANIFEST_LIMITS)
    try:
        with source.open(source.location(name)) as fp:
            hashed = _Hashed(fp)
            keys = read_keys(hashed, limits, MAX_KEYS)
    except SourceError as e:
        raise LayoutError(f"{where}: cannot read ({e})") from e
    except OSError as e:
        raise LayoutError(f"{where}: cannot read ({e.strerror or e})") from e
    if keys is not None:
        return keys, hashed.sha.hexdigest()
    return _read_manifest(source, name, limits)  # within the same deadline


_MANIFEST_LIMITS = ion.Limits(
    max_bytes=MAX_MANIFEST_BYTES, max_value_bytes=MAX_MANIFEST_BYTES, max_depth=4,
    max_values=MAX_KEYS + 64,
)  # fmt: skip


def _text(value: Any) -> str | None:
    """A manifest's string (or symbol) field as text; None for anything else."""
    if type(value) is Symbol:
        return value.text
    return value if type(value) is str else None


def locate(
    source: Source,
    export_id: str | None = None,
    writer: bool = False,
    strand_id: str | None = None,
    *,
    qldb_until: int | None = None,
) -> Export:
    """Find the export (by ``export_id`` when the source holds several) and list its objects.

    Raises :class:`LayoutError` when there is no completed manifest (an export QLDB did not
    finish has none), when several exports or strands match, or when a manifest is unusable.
    """
    try:
        names = source.names()
    except SourceError as e:
        raise LayoutError(str(e)) from e
    found = [m for m in (_COMPLETED.fullmatch(n) for n in names) if m]
    if export_id is not None:
        found = [m for m in found if m["id"] == export_id]
    if strand_id is not None:
        found = [m for m in found if m["strand"] == strand_id]
    if not found:
        pending = [n for n in names if n.endswith(".started.manifest")]
        hint = " (a started manifest without it: the export did not complete)" if pending else ""
        which = f" for export {export_id}" if export_id else ""
        raise LayoutError(f"{source.url}: no completed manifest{which}{hint}")
    if len(found) > 1:
        listed = ", ".join(sorted(m.group(0) for m in found))
        raise LayoutError(
            f"{source.url}: several completed manifests ({listed}): choose one with --export-id"
            " (and --strand)"
        )
    match = found[0]
    export_id, strand = match["id"], match["strand"]
    completed_name = match.group(0)
    manifest, manifest_sha256 = _read_completed(source, completed_name)
    started_name: str | None = f"{export_id}.started.manifest"
    started: dict[str, Any] | None = None
    notes: list[str] = []
    if started_name in names:
        value, _ = _read_manifest(source, started_name)
        started = dict(value)
    else:
        started_name = None
        notes.append("no started manifest: the output format is taken from the objects")
    output_format = _text(started.get("outputFormat")) if started else None
    output_format = output_format or ("ION_TEXT" if started else "unknown")
    if output_format not in FORMATS and output_format != "unknown":
        raise LayoutError(
            f"{source.shown(source.location(started_name or ''))}: outputFormat: unknown "
            f"(expected ION_TEXT, ION_BINARY or JSON, got {output_format})"
        )
    checkpoint = f"{export_id}.checkpoint"
    has_checkpoint = checkpoint in names
    reason = "writer rules" if writer else "QLDB rules"
    if qldb_until is not None:
        writer = True  # the exporter's exact bytes; the writer's rules after the boundary
        reason = f"QLDB rules for blocks 0-{qldb_until}, writer rules after (--qldb-until)"
    digest_json = f"{export_id}.{strand}.digest.json"
    export = Export(
        source=source,
        export_id=export_id,
        strand_id=strand,
        completed_name=completed_name,
        completed_sha256=manifest_sha256,
        started_name=started_name,
        started=started,
        ledger_name=_text(started.get("ledgerName")) if started else None,
        output_format=output_format,
        writer_rules=writer,
        rules_reason=reason,
        objects=[],
        checkpoint_name=checkpoint if has_checkpoint else None,
        digest_json_name=digest_json if digest_json in names else None,
        qldb_until=qldb_until,
        import_boundary=_boundary(started, source, started_name),
        notes=notes,
    )
    _objects(export, manifest)
    return export


def _boundary(started: dict[str, Any] | None, source: Source, name: str | None) -> int | None:
    """The started manifest's ``importBoundary`` (this project's exports of migrated ledgers)."""
    if started is None or "importBoundary" not in started:
        return None
    value = started["importBoundary"]
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        where = source.shown(source.location(name or ""))
        raise LayoutError(f"{where}: importBoundary: expected a sequenceNo, got {value!r}")
    return int(value)


def _relative(key: str, prefix: str | None, export_id: str) -> str | None:
    """The key's path relative to the export's prefix, or None if it would leave the source."""
    rel = key
    if prefix and key.startswith(prefix):
        rel = key[len(prefix) :]
    elif f"{export_id}/" in key:
        rel = key[key.index(f"{export_id}/") :]
    parts = rel.split("/")
    if not rel or rel.startswith(("/", "\\")) or ".." in parts or "" in parts or "\\" in rel:
        return None
    return rel


def _writer_from(export: Export) -> int | None:
    if export.qldb_until is not None:
        return export.qldb_until + 1
    return 0 if export.writer_rules else None


class ObjectSpecs(Sequence[ObjectSpec]):
    """The data objects the completed manifest lists, once each, in its order: each
    :class:`ObjectSpec` is made when it is asked for, from the packed keys (so a manifest of a
    million keys does not hold a million specs). Duplicate keys (reported by :func:`locate`)
    are left out, as a list of specs would."""

    def __init__(self, export: Export, keys: Keys, duplicates: list[int]) -> None:
        self._export = export
        self._keys = keys
        self._duplicates = duplicates  # key indexes, ascending
        self._prefix = _prefix(export)
        self._fmt = FORMATS.get(export.output_format)
        self._writer_from = _writer_from(export)

    def __len__(self) -> int:
        return len(self._keys) - len(self._duplicates)

    @overload
    def __getitem__(self, i: int) -> ObjectSpec: ...
    @overload
    def __getitem__(self, i: slice) -> list[ObjectSpec]: ...
    def __getitem__(self, i: int | slice) -> ObjectSpec | list[ObjectSpec]:
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(len(self)))]
        if i < 0:
            i += len(self)
        if not 0 <= i < len(self):
            raise IndexError("object index out of range")
        return next(self.iter_from(i))

    def __iter__(self) -> Iterator[ObjectSpec]:
        return self.iter_from(0)

    def iter_from(self, start: int) -> Iterator[ObjectSpec]:
        """The specs from index ``start`` on (a resumed run starts past the first ones)."""
        duplicates = iter(self._duplicates)
        skip = next(duplicates, -1)
        index = 0
        for k, key in enumerate(self._keys):
            if k == skip:
                skip = next(duplicates, -1)
                continue
            if index >= start:
                yield self._spec(index, key)
            index += 1

    def _spec(self, index: int, key: str) -> ObjectSpec:
        export = self._export
        rel = _relative(key, self._prefix, export.export_id)
        assert rel is not None  # locate refused the manifest otherwise
        name = _OBJECT.fullmatch(rel.rsplit("/", 1)[-1])
        first, last = (None, None) if name is None else (int(name["first"]), int(name["last"]))
        return ObjectSpec(
            index=index, key=export.source.shown_relative(rel),
            location=export.source.location(rel),
            fmt=self._fmt or ("json" if rel.endswith(".json") else "ion"),
            writer_from=self._writer_from, strand_id=export.strand_id,
            name_first=first, name_last=last,
        )  # fmt: skip


def _prefix(export: Export) -> str | None:
    return _text(export.started.get("prefix")) if export.started else None


def _pack(where: str, manifest: Keys | dict[Any, Any]) -> tuple[Keys, int | None]:
    """The manifest's keys packed (:class:`Keys`), each ``str`` let go as it is packed, and the
    index of the first one that is not text (None: all are)."""
    if isinstance(manifest, Keys):
        return manifest, None  # read packed (only strings, at most MAX_KEYS)
    keys = manifest.get("keys")
    if not isinstance(keys, list):
        raise LayoutError(f"{where}: keys: expected a list of data object keys")
    if len(keys) > MAX_KEYS:
        raise LayoutError(f"{where}: keys: more than {MAX_KEYS}")
    packed = Keys()
    for index, raw in enumerate(keys):
        key = _text(raw)
        if key is None:
            return packed, index
        packed.append(key)
        keys[index] = None
    return packed, None


def _objects(export: Export, manifest: Keys | dict[Any, Any]) -> None:
    """Check every key (in manifest order: the first bad one is the error), note duplicates
    and names that do not fit, find the objects beside the export that the manifest does not
    list, and give the export its :class:`ObjectSpecs`."""
    where = export.source.shown(export.source.location(export.completed_name))
    keys, not_text = _pack(where, manifest)
    if isinstance(manifest, dict):
        manifest.pop("keys", None)
    prefix = _prefix(export)
    try:
        present = export.source.listing(export.export_id)
    except (SourceError, MissingObjectError, OSError):
        present = []
    unused = set(present)
    seen = Seen(keys)
    duplicates: list[int] = []
    issues = _Issues(export)
    for index, key in enumerate(keys):
        rel = _relative(key, prefix, export.export_id)
        if rel is None:
            raise LayoutError(f"{where}: keys[{index}]: {key!r} is outside the export")
        if not seen.add(index, key):
            issues.add(
                Issue(FAILED, "duplicate-object", f"{key}: listed twice in the completed manifest",
                      object_key=key, locator=f"{where}: keys[{index}]")
            )  # fmt: skip
            duplicates.append(index)
            continue
        unused.discard(rel)
        name = _OBJECT.fullmatch(rel.rsplit("/", 1)[-1])
        if name is None:
            read = export.source.shown_relative(rel)
            issues.add(
                Issue(MALFORMED, "object-name",
                      f"{read}: the name is not <strandId>.<first>-<last>.<ext>",
                      object_key=read, locator=f"{where}: keys[{index}]")
            )  # fmt: skip
        else:
            first, last = int(name["first"]), int(name["last"])
            if name["strand"] != export.strand_id or first > last:
                read = export.source.shown_relative(rel)
                issues.add(
                    Issue(FAILED, "object-name",
                          f"{read}: the name does not fit the strand {export.strand_id}",
                          seq=first, strand_id=export.strand_id, object_key=read,
                          locator=f"{where}: keys[{index}]")
                )  # fmt: skip
    if not_text is not None:
        raise LayoutError(f"{where}: keys[{not_text}]: expected a string")
    export.objects = ObjectSpecs(export, keys, duplicates)
    export.unlisted = [p for p in present if p in unused]


class _Issues:
    """The export's issues: the first :data:`MAX_ISSUES` kept, the rest in its overflow."""

    def __init__(self, export: Export) -> None:
        self.export = export

    def add(self, issue: Issue) -> None:
        if len(self.export.issues) < MAX_ISSUES:
            self.export.issues.append(issue)
        else:
            self.export.overflow.add(issue)
