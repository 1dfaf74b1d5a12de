"""Where an export lives: a directory, or ``s3://bucket/prefix`` (boto3).

A :class:`Source` is a small frozen value that pickles to worker processes and Dask workers;
each process opens its own S3 client on first use (``boto3.client("s3")``, so the endpoint,
region and credentials come from the standard AWS settings, e.g. ``AWS_ENDPOINT_URL``).

Errors: :class:`MissingObjectError` (no such object) and :class:`SourceError` (anything else
that stops a read or a listing: a missing bucket, permissions, the network).
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from auditor.extras import require
from auditor.ion import Readable

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

MAX_READ_BYTES = 512 * 1024 * 1024
MAX_LISTED_KEYS = 1_000_000
_READ_CHUNK = 1 << 20


def _read_up_to(fp: Readable, limit: int) -> bytes:
    """At most ``limit`` bytes of ``fp``, read a MiB at a time: ``read(limit)`` would allocate
    ``limit`` bytes first, 512 MiB for a digest of a few hundred."""
    chunks: list[bytes] = []
    left = limit
    while left > 0:
        chunk = fp.read(min(_READ_CHUNK, left))
        if not chunk:
            break
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


class SourceError(Exception):
    """A read or listing failed for a reason other than bad content."""


class MissingObjectError(SourceError):
    """The object does not exist."""


_clients = threading.local()


def _s3() -> S3Client:
    client: S3Client | None = getattr(_clients, "s3", None)
    if client is None:
        import boto3  # only S3 sources pay for importing the AWS SDK

        client = boto3.client("s3")
        _clients.s3 = client
    return client


@dataclass(frozen=True, slots=True)
class Source:
    """An export's location: ``root`` is a directory path, or an S3 prefix in ``bucket``."""

    url: str
    bucket: str  # "" for a directory
    root: str  # directory path with a trailing separator, or an S3 prefix ("" or ending "/")

    @classmethod
    def parse(cls, url: str) -> Source:
        """Raises :class:`SourceError` for a location that cannot hold an export."""
        if url.startswith("s3://"):
            bucket, _, prefix = url.removeprefix("s3://").partition("/")
            if not bucket:
                raise SourceError(f"{url}: expected s3://bucket[/prefix]")
            if prefix and not prefix.endswith("/"):
                prefix += "/"
            require("s3", f"{url}: an s3:// source")
            return cls(url, bucket, prefix)
        if "://" in url:
            raise SourceError(f"{url}: expected a directory or s3://bucket/prefix")
        if not os.path.isdir(url):
            raise SourceError(f"{url}: not a directory")
        return cls(url, "", os.path.abspath(url).rstrip(os.sep) + os.sep)

    @property
    def is_s3(self) -> bool:
        return bool(self.bucket)

    def location(self, relative: str) -> str:
        """The path or key of ``relative`` (a key relative to the export's prefix)."""
        if self.is_s3:
            return self.root + relative
        return self.root + relative.replace("/", os.sep)

    def shown_relative(self, relative: str) -> str:
        """:meth:`shown` of :meth:`location` of ``relative``, a key already checked to stay
        inside the source (no ``..``, no empty part, not absolute): without touching paths."""
        if self.is_s3:
            return f"s3://{self.bucket}/{self.root}{relative}"
        return relative

    def shown(self, location: str) -> str:
        """How reports name what was read at ``location``: its S3 URL, or for a directory its
        path relative to the export root (the SOURCE the report names), never the machine's."""
        if self.is_s3:
            return f"s3://{self.bucket}/{location}"
        relative = os.path.relpath(location, self.root)
        if relative == ".." or relative.startswith(".." + os.sep) or os.path.isabs(relative):
            return location
        return relative.replace(os.sep, "/")

    def names(self) -> list[str]:
        """Names of the objects directly under the root (manifests, checkpoints, digests)."""
        if not self.is_s3:
            try:
                return sorted(
                    n for n in os.listdir(self.root) if os.path.isfile(os.path.join(self.root, n))
                )
            except OSError as e:
                raise SourceError(f"{self.url}: cannot list ({e.strerror})") from e
        return [k[len(self.root) :] for k in self._list(self.root, delimiter=True)]

    def listing(self, relative_dir: str) -> list[str]:
        """Keys (relative to the root) of every object under ``relative_dir``."""
        if not self.is_s3:
            base = self.location(relative_dir)
            out = []
            for directory, _, files in os.walk(base):
                for name in files:
                    path = os.path.join(directory, name)
                    out.append(os.path.relpath(path, self.root).replace(os.sep, "/"))
            return sorted(out)
        prefix = self.root + relative_dir.rstrip("/") + "/"
        return [k[len(self.root) :] for k in self._list(prefix, delimiter=False)]

    def _list(self, prefix: str, delimiter: bool) -> list[str]:
        from botocore.exceptions import BotoCoreError, ClientError

        keys: list[str] = []
        kwargs: dict[str, Any] = {"Bucket": self.bucket, "Prefix": prefix}
        if delimiter:
            kwargs["Delimiter"] = "/"
        try:
            for page in _s3().get_paginator("list_objects_v2").paginate(**kwargs):
                keys += [entry["Key"] for entry in page.get("Contents", [])]
                if len(keys) > MAX_LISTED_KEYS:
                    raise SourceError(f"s3://{self.bucket}/{prefix}: more than "
                                      f"{MAX_LISTED_KEYS} objects")  # fmt: skip
        except ClientError as e:
            code = e.response.get("Error", {}).get("Code", "error")
            raise SourceError(f"s3://{self.bucket}/{prefix}: cannot list ({code})") from e
        except BotoCoreError as e:
            raise SourceError(f"s3://{self.bucket}/{prefix}: cannot list ({e})") from e
        return keys

    @contextlib.contextmanager
    def open(self, location: str) -> Iterator[Readable]:
        """The object at ``location`` as a binary file-like object, read as a stream (closed
        on exit). Raises :class:`MissingObjectError` or :class:`SourceError` when it cannot be
        opened; errors while reading come from the object's ``read``."""
        if not self.is_s3:
            try:
                f = open(location, "rb")  # noqa: SIM115 - closed below
            except FileNotFoundError as e:
                raise MissingObjectError(f"{location}: not found") from e
            except OSError as e:
                raise SourceError(f"{location}: cannot read ({e.strerror})") from e
            with f:
                yield f
            return
        with self._s3_errors(location):
            body = _s3().get_object(Bucket=self.bucket, Key=location)["Body"]
        try:
            yield body
        finally:
            body.close()

    @contextlib.contextmanager
    def _s3_errors(self, location: str) -> Iterator[None]:
        """S3's errors for the object at ``location``: a missing key is
        :class:`MissingObjectError`, any other :class:`SourceError` naming the object."""
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            yield
        except ClientError as e:
            code = e.response.get("Error", {}).get("Code", "error")
            if code in ("NoSuchKey", "404", "NotFound"):
                raise MissingObjectError(f"s3://{self.bucket}/{location}: not found") from e
            raise SourceError(f"s3://{self.bucket}/{location}: cannot read ({code})") from e
        except BotoCoreError as e:
            raise SourceError(f"s3://{self.bucket}/{location}: cannot read ({e})") from e

    def read(self, location: str) -> bytes:
        """The bytes at ``location`` (a path or key from :meth:`location`)."""
        if not self.is_s3:
            try:
                with open(location, "rb") as f:
                    data = _read_up_to(f, MAX_READ_BYTES + 1)
            except FileNotFoundError as e:
                raise MissingObjectError(f"{location}: not found") from e
            except OSError as e:
                raise SourceError(f"{location}: cannot read ({e.strerror})") from e
            return data
        with self._s3_errors(location):
            body = _s3().get_object(Bucket=self.bucket, Key=location)["Body"]
            try:
                data = _read_up_to(body, MAX_READ_BYTES + 1)
            finally:
                body.close()
        return bytes(data)
