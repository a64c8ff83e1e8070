# SPDX-License-Identifier: GPL-3.0-or-later
"""The one way a photo file is read: regular files only, never blocking, never unbounded.

A path given as a photo may name anything: a named pipe (FIFO) that nobody
writes to (``open`` would wait forever), a symlink to ``/dev/zero`` or
``/dev/urandom`` (``read`` would never end), a socket, a folder, or a regular
file whose size changes while it is read. :func:`read_photo_bytes`

1. ``stat``\\s the path (following symlinks) and refuses anything that is not
   a regular file, before opening it;
2. opens it with ``O_NONBLOCK`` (a FIFO swapped in after the ``stat`` cannot
   block the open) and ``fstat``\\s the open descriptor, so what is read is the
   file that was checked;
3. reads at most ``limit + 1`` bytes, so the size limit holds for the bytes
   actually read, whatever the file system reports as its size (``/proc``
   files report 0).

Every refusal is a :class:`~core.errors.FaceFromPhotoError` with one sentence
naming the photo and what to do.
"""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path

from .errors import FaceFromPhotoError

MAX_FILE_BYTES = 512 * 1024 * 1024  # largest photo file read
CHUNK_BYTES = 1 << 20  # read size
_NONBLOCK = getattr(os, "O_NONBLOCK", 0)  # an open that cannot wait for a FIFO's writer (POSIX)

_KINDS = (
    (stat.S_ISFIFO, "a named pipe (FIFO)"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
    (stat.S_ISDIR, "a folder"),
)


def file_kind(mode: int) -> str:
    """What a ``st_mode`` describes, in words ("a named pipe (FIFO)", ...; "a regular file")."""
    if stat.S_ISREG(mode):
        return "a regular file"
    for test, words in _KINDS:
        if test(mode):
            return words
    return "not a regular file"


def _not_a_file(p: Path, mode: int) -> FaceFromPhotoError:
    kind = file_kind(mode)
    if stat.S_ISDIR(mode):
        return FaceFromPhotoError(f"'{p}' is a folder, not a photo; choose an image file.")
    what = f"links to {kind} ({os.path.realpath(p)})" if p.is_symlink() else f"is {kind}"
    return FaceFromPhotoError(f"'{p}' {what}, not a photo file; give the path of a regular image file.")


def _too_large(name: str, size: int, limit: int) -> FaceFromPhotoError:
    what = f"{size / 2**20:.0f} MB" if size > limit + 1 else f"more than {limit // 2**20} MB"
    return FaceFromPhotoError(
        f"'{name}' is {what}, larger than the {limit // 2**20} MB this add-on reads; "
        "save a smaller JPEG or PNG and try again."
    )


def read_photo_bytes(path: str | os.PathLike[str], *, limit: int = MAX_FILE_BYTES) -> bytes:
    """All bytes of a photo file, read only if it is a regular file of at most ``limit`` bytes.

    Parameters
    ----------
    path : str or path-like
        The photo; symlinks are followed (to a regular file only).
    limit : int
        Largest number of bytes read; a file that yields more is refused,
        whatever size its ``stat`` reports.

    Returns
    -------
    bytes
        The file's content, ``len <= limit``.

    Raises
    ------
    FaceFromPhotoError
        Missing, a folder, a FIFO, a device or socket (also behind a symlink),
        unreadable, or larger than ``limit``.
    """
    p = Path(os.fspath(path))
    name = p.name or str(p)
    try:
        st = os.stat(p)
    except FileNotFoundError:
        if p.is_symlink():
            raise FaceFromPhotoError(
                f"The photo '{p}' is a link to a file that does not exist; check the path and try again."
            ) from None
        raise FaceFromPhotoError(f"The photo '{p}' does not exist; check the path and try again.") from None
    except OSError as e:
        raise _cannot_read(p, e) from None
    if not stat.S_ISREG(st.st_mode):
        raise _not_a_file(p, st.st_mode)
    if st.st_size > limit:
        raise _too_large(name, st.st_size, limit)
    flags = os.O_RDONLY | _NONBLOCK | getattr(os, "O_BINARY", 0) | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(p, flags)
    except OSError as e:
        raise _cannot_read(p, e) from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):  # swapped after the first check
            raise _not_a_file(p, st.st_mode)
        chunks: list[bytes] = []
        total = 0
        while total <= limit:
            chunk = os.read(fd, min(CHUNK_BYTES, limit + 1 - total))
            if not chunk:
                break
            chunks.append(chunk)
            total += len(chunk)
        if total > limit:
            raise _too_large(name, total, limit)
        return b"".join(chunks)
    except OSError as e:
        raise _cannot_read(p, e) from None
    finally:
        os.close(fd)


def _cannot_read(p: Path, e: OSError) -> FaceFromPhotoError:
    if isinstance(e, PermissionError):
        return FaceFromPhotoError(f"'{p}' cannot be read (permission denied); check the file's permissions.")
    if e.errno == errno.ELOOP:
        return FaceFromPhotoError(f"'{p}' is a link that loops back on itself; give the photo's real path.")
    if e.errno == errno.ENAMETOOLONG:
        return FaceFromPhotoError(f"The photo path '{p}' is too long; move the photo to a shorter path.")
    return FaceFromPhotoError(f"'{p}' cannot be read ({e.strerror or e}); check the file and try again.")
