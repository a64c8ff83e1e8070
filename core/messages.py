# SPDX-License-Identifier: GPL-3.0-or-later
"""One sentence for any exception that ends a photo, blaming the right cause.

The project's own :class:`~core.errors.FaceFromPhotoError` already is that
sentence. Everything else reaching the batch loop or the command line is
mapped here: a full disk (``ENOSPC``/``EDQUOT`` as ``OSError``, or an
exporter's ``RuntimeError`` quoting "No space left on device") says so; a
folder where a file was to be written (``IsADirectoryError``) says which; a
permission problem names the path; the rest is "Unexpected error (...)" with
the exception's first line, so a report entry or a printed line is never
more than one line.
"""

from __future__ import annotations

import errno

from .console import printable
from .errors import FaceFromPhotoError

_DISK_FULL_ERRNOS = {errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC)}
_DISK_FULL_TEXTS = ("no space left on device", "disk quota exceeded", "disk full", "not enough space")
MAX_DETAIL_CHARS = 200


def first_line(text: object, limit: int = MAX_DETAIL_CHARS) -> str:
    """The first non-empty line of ``text``, printable, cut to ``limit`` characters."""
    lines = [ln.strip() for ln in str(text).splitlines() if ln.strip()]
    line = printable(lines[0] if lines else "")
    return line if len(line) <= limit else line[: limit - 1] + "…"


def is_disk_full(exc: BaseException) -> bool:
    """True for ``ENOSPC``/``EDQUOT`` or an error whose text says the disk is full."""
    if isinstance(exc, OSError) and exc.errno in _DISK_FULL_ERRNOS:
        return True
    text = str(exc).lower()
    return any(words in text for words in _DISK_FULL_TEXTS)


def error_sentence(exc: BaseException) -> str:
    """One line for the user: what went wrong and what to do.

    Parameters
    ----------
    exc : exception
        Whatever ended the photo or the run.

    Returns
    -------
    str
        ``str(exc)`` for :class:`FaceFromPhotoError` (newlines escaped);
        otherwise a sentence by cause, ending in a full stop.
    """
    if isinstance(exc, FaceFromPhotoError):
        return printable(str(exc))
    where = f" ('{printable(exc.filename)}')" if isinstance(exc, OSError) and exc.filename else ""
    if is_disk_full(exc):
        return f"The disk is full{where}; free some space or choose another output folder, then run again."
    if isinstance(exc, IsADirectoryError):
        return (f"A folder is in the way of a file to be written{where}; remove or rename it, "
                "or choose another output folder.")
    if isinstance(exc, PermissionError):
        return f"Permission was denied{where}; choose a folder you can write to."
    detail = first_line(exc) or "no details"
    return f"Unexpected error ({type(exc).__name__}: {detail.rstrip('.')}); please report this bug."
