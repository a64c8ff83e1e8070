# SPDX-License-Identifier: GPL-3.0-or-later
"""Progress and message lines of the batch command that can never fail a photo.

The batch prints a line per photo and stage; what it prints to is not its
business: stdout may be a pipe whose reader has gone (``| head -1``:
``BrokenPipeError``), a full device (``> /dev/full``: ``ENOSPC``), or a
terminal whose encoding cannot show a file name (a name that is not valid
UTF-8 arrives as lone surrogates, ``UnicodeEncodeError``). :class:`Console`
writes each line best-effort: the first failure silences that stream for the
rest of the run (its descriptor is pointed at the null device, so the
interpreter's final flush cannot fail either), and the photos go on.
:func:`printable` makes any text one safe line: bytes of a non-UTF-8 file
name become ``\\xNN``, control characters become escapes.
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Callable
from typing import Any, TextIO

# lone surrogates (undecodable bytes of a file name) and every non-printable character
_UNSAFE = re.compile(r"[\x00-\x1f\x7f-\x9f\ud800-\udfff\u2028\u2029\u200b-\u200f\u202a-\u202e]")


def _escape(match: re.Match[str]) -> str:
    c = match.group()
    code = ord(c)
    if 0xDC80 <= code <= 0xDCFF:  # os.fsdecode's surrogateescape of the byte code - 0xDC00
        return f"\\x{code - 0xDC00:02x}"
    return c.encode("unicode_escape").decode("ascii") if code < 0x10000 else f"\\U{code:08x}"


def printable(text: object) -> str:
    """``text`` as one line of printable characters.

    Undecodable file-name bytes (``\\udcNN`` surrogates) become ``\\xNN``;
    newlines, tabs, escape sequences and other control or bidirectional
    characters become their backslash escapes. Printable text is unchanged.
    """
    return _UNSAFE.sub(_escape, str(text))


def safe_name(text: str) -> str:
    """A file-name stem or Blender name for ``text``, valid UTF-8 and without control characters.

    Undecodable bytes 0xA0..0xFF of a file name (``\\udcNN``) are read as
    Latin-1 (``caf\\xe9`` -> ``café``); other undecodable bytes, control and
    format characters become ``_``.
    """

    def one(match: re.Match[str]) -> str:
        code = ord(match.group())
        return chr(code - 0xDC00) if 0xDCA0 <= code <= 0xDCFF else "_"

    return _UNSAFE.sub(one, text)


class Console:
    """Best-effort line writer for stdout or stderr (chosen when a line is written).

    Parameters
    ----------
    stream : callable returning a text stream
        Looked up per line (``lambda: sys.stdout``), so redirections made
        after the console was created are honoured.
    """

    def __init__(self, stream: Callable[[], TextIO | Any]) -> None:
        self._stream = stream
        self.failed: str | None = None  # why the stream was silenced

    def line(self, text: object) -> None:
        """Write ``printable(text)`` and a newline, flushed; never raises for the stream's sake."""
        if self.failed is not None:
            return
        stream = self._stream()
        if stream is None:
            return
        safe = printable(text)
        try:
            encoding = getattr(stream, "encoding", None) or "utf-8"
            safe = safe.encode(encoding, "backslashreplace").decode(encoding)
        except LookupError:
            safe = safe.encode("ascii", "backslashreplace").decode("ascii")
        try:
            stream.write(safe + "\n")
            stream.flush()
        except (OSError, ValueError) as e:  # EPIPE, ENOSPC, EIO; ValueError: closed file
            self.failed = f"{type(e).__name__}: {e}"
            _silence(stream)


def _silence(stream: Any) -> None:
    """Point the stream's descriptor at the null device and drop its buffer."""
    try:
        fd = stream.fileno()
    except (OSError, ValueError, AttributeError):
        return
    try:
        null = os.open(os.devnull, os.O_WRONLY)
    except OSError:
        return
    try:
        os.dup2(null, fd)
    except OSError:
        pass
    finally:
        os.close(null)
    try:
        stream.flush()  # the buffered rest now goes to the null device
    except (OSError, ValueError):
        pass


def stdout_console() -> Console:
    """A :class:`Console` for ``sys.stdout`` (one per batch run)."""
    return Console(lambda: sys.stdout)


def stderr_console() -> Console:
    """A :class:`Console` for ``sys.stderr`` (one per batch run)."""
    return Console(lambda: sys.stderr)
