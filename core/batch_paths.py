# SPDX-License-Identifier: GPL-3.0-or-later
"""Checks of a batch's output paths against its inputs, before anything is written.

A batch must never write over a photo it was given or over a file that is
not its own: ``--report a.jpg b.jpg`` would otherwise take the photo
``a.jpg`` as the report path and replace it with JSON. The rules:

- the report path ends in ``.json``, is a regular file or absent, is not
  one of the input photos, and, when it exists, is a report of this add-on
  (:func:`is_report`; one cut short by a hard kill still counts; with
  ``--resume`` any ``.json`` file, which the batch sets aside as damaged);
- the output folder is not one of the input photos (nor any other file),
  and its path is valid UTF-8 (Blender's glTF exporter cannot write elsewhere);
- an output file of a photo is neither one of the input photos nor a folder
  (checked per photo by :func:`output_problem`: that photo fails with one
  sentence, the batch goes on).

Paths are compared as files (``os.path.samefile`` when both exist, else the
absolute normalised paths), so ``./a.jpg`` and ``a.jpg`` are the same photo.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterable, Mapping
from pathlib import Path

from .console import printable
from .errors import FaceFromPhotoError

REPORT_SUFFIX = ".json"
_SURROGATE = re.compile(r"[\ud800-\udfff]")  # undecodable bytes of a non-UTF-8 file name
MAX_REPORT_PEEK_BYTES = 64 * 1024 * 1024  # an existing report larger than this is not read


def _key(path: Path) -> str:
    return os.path.normcase(os.path.abspath(path))


class InputSet:
    """The input photos, for "is this path one of them?" in O(1) per check."""

    def __init__(self, photos: Iterable[str | os.PathLike[str]]) -> None:
        self._paths = {_key(Path(p)) for p in photos}
        self._ids: set[tuple[int, int]] = set()
        for p in self._paths:
            try:
                st = os.stat(p)
            except OSError:
                continue
            self._ids.add((st.st_dev, st.st_ino))

    def __contains__(self, path: object) -> bool:
        p = Path(os.fspath(path))  # type: ignore[call-overload]
        if _key(p) in self._paths:
            return True
        try:
            st = os.stat(p)
        except OSError:
            return False
        return (st.st_dev, st.st_ino) in self._ids


REPORT_START = b'{\n  "version": '  # how core.batch.write_json_atomic begins every report


def is_report(path: Path) -> bool:
    """True when ``path`` holds a report of this add-on, complete or cut short.

    A report is a regular file holding a JSON object with a ``"photos"``
    list, or (a report damaged by a hard kill or a full disk) a file that
    begins as every report begins, ``{"version": ...`` as the batch writes it.
    """
    try:
        if not path.is_file() or path.stat().st_size > MAX_REPORT_PEEK_BYTES:
            return False
        raw = path.read_bytes()
    except OSError:
        return False
    if raw.startswith(REPORT_START):
        return True
    try:
        data = json.loads(raw)
    except ValueError:
        return False
    return isinstance(data, dict) and isinstance(data.get("photos"), list)


def check_report_path(report: str | os.PathLike[str], inputs: InputSet, *, resume: bool = False) -> Path:
    """The report path, or one sentence saying why it would destroy something.

    Parameters
    ----------
    report : path
        ``--report``, or the default ``<output>/report.json``.
    inputs : InputSet
        The batch's photos.
    resume : bool
        With ``--resume`` an existing ``.json`` file that is not a readable
        report is accepted: the batch sets it aside as ``<name>.damaged``
        (never loses it) and rebuilds what it listed.

    Raises
    ------
    FaceFromPhotoError
        When the path is one of the input photos, a folder or another
        non-regular file (a FIFO would block the read), an existing file that
        is not a report of this add-on (``--report a.jpg b.jpg``), or does
        not end in ``.json``.
    """
    path = Path(os.fspath(report))
    shown = printable(path)
    if path in inputs:
        raise FaceFromPhotoError(
            f"The report path '{shown}' is one of the input photos; give --report a new .json file name."
        )
    if path.is_dir():
        raise FaceFromPhotoError(
            f"The report path '{shown}' is a folder; give --report a .json file name inside it."
        )
    exists = path.exists() or path.is_symlink()
    if exists and not path.is_file():
        raise FaceFromPhotoError(
            f"The report path '{shown}' is not a regular file; give --report a new .json file name."
        )
    json_name = path.suffix.lower() == REPORT_SUFFIX
    if exists and not is_report(path) and not (resume and json_name):  # e.g. `--report a.jpg b.jpg`
        raise FaceFromPhotoError(
            f"The report path '{shown}' is an existing file that is not a report of this add-on; "
            "give --report a new .json file name so that file is kept."
        )
    if not json_name:
        raise FaceFromPhotoError(
            f"The report path '{shown}' does not end in .json; give --report a .json file name."
        )
    return path


def check_output_folder(out_dir: str | os.PathLike[str], inputs: InputSet) -> Path:
    """The output folder, or one sentence when it is one of the photos or another file."""
    path = Path(os.fspath(out_dir))
    shown = printable(path)
    if path in inputs:
        raise FaceFromPhotoError(
            f"The output folder '{shown}' is one of the input photos; give -o a folder."
        )
    if (path.exists() or path.is_symlink()) and not path.is_dir():
        raise FaceFromPhotoError(
            f"The output folder '{shown}' exists and is not a folder; give -o a folder."
        )
    if _SURROGATE.search(os.path.abspath(path)):  # Blender's glTF exporter cannot write there
        raise FaceFromPhotoError(
            f"The output folder '{shown}' has a name that is not valid UTF-8, which Blender's exporters "
            "cannot write to; give -o a folder whose name is valid UTF-8."
        )
    return path


def output_problem(outputs: Mapping[str, Path], inputs: InputSet) -> str | None:
    """The sentence why a photo's outputs cannot be written, or None when they can.

    An output that is one of the input photos, or a folder standing where the
    output file goes, is never written to (with or without ``--overwrite``).
    """
    for path in outputs.values():
        shown = printable(path)
        if path in inputs:
            return (f"The output '{shown}' is one of the input photos; choose another output folder "
                    "so no photo is overwritten.")
        if path.is_dir():
            return (f"The output '{shown}' is a folder; remove or rename it, "
                    "or choose another output folder.")
    return None
