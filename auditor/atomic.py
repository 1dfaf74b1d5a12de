"""Files that appear whole or not at all.

:func:`write_atomic` writes a temporary file in the target's directory, fsyncs it, renames it
over the target and fsyncs the directory: a reader (or a crash) sees the old file or the new
one, never half of it, and a failed write (a full disk) leaves nothing behind.
:func:`publish` moves a finished temporary file to a name that must not exist yet (a hard link,
so two publishers cannot both win).
"""

from __future__ import annotations

import contextlib
import errno
import os
import tempfile


def fsync_directory(directory: str) -> None:
    fd = os.open(directory or ".", os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def temporary_path(path: str, suffix: str = "") -> str:
    """A new empty file ``.partial-<name>.<random><suffix>`` beside ``path`` (same directory,
    so a rename is atomic), mode 0600."""
    directory, name = os.path.split(os.path.abspath(path))
    fd, temporary = tempfile.mkstemp(prefix=f".partial-{name}.", suffix=suffix, dir=directory)
    os.close(fd)
    return temporary


def write_atomic(
    path: str, data: bytes, mode: int | None = None, *, exclusive: bool = False
) -> None:
    """Write ``data`` to ``path`` all at once (see the module doc), with ``mode`` (default: what
    ``open`` would give, 0666 less the umask). ``exclusive``: fail with ``FileExistsError`` if
    ``path`` exists (never overwrite). Raises ``OSError``."""
    if mode is None:
        umask = os.umask(0o022)
        os.umask(umask)
        mode = 0o666 & ~umask
    temporary = temporary_path(path)
    try:
        with open(temporary, "wb") as f:
            os.fchmod(f.fileno(), mode)
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        if exclusive:
            publish(temporary, path)
        else:
            os.replace(temporary, path)
            fsync_directory(os.path.dirname(os.path.abspath(path)))
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)


def publish(temporary: str, path: str) -> None:
    """Give the finished file ``temporary`` the name ``path``, which must not exist
    (``FileExistsError`` otherwise); ``temporary`` is gone afterwards."""
    try:
        os.link(temporary, path)
    except OSError as e:
        if e.errno not in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EMLINK):
            raise
        # a file system without hard links: check, then rename (not race-free, but the best
        # such a file system offers)
        if os.path.lexists(path):
            raise FileExistsError(errno.EEXIST, os.strerror(errno.EEXIST), path) from e
        os.rename(temporary, path)
    else:
        os.unlink(temporary)
    fsync_directory(os.path.dirname(os.path.abspath(path)))
