# SPDX-License-Identifier: GPL-3.0-or-later
"""A batch of people: one sub-folder per person (the command line's ``--people DIR``).

::

    DIR/
      Ann/        front.jpg left.jpg right.jpg   -> <out>/Ann.<format>, one head
      Bob Smith/  bob.png                        -> <out>/Bob Smith.<format>
      notes.txt                                  (files directly in DIR are not used)

Each sub-folder is one batch item named after the folder; its photos are read when its
turn comes (:func:`folder_photos`), so an empty or unreadable folder fails that item with
one sentence and the batch goes on. Hidden folders (``.name``) and the output folder are
not people.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

from .console import printable
from .errors import FaceFromPhotoError


def _same_folder(a: Path, b: Path) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return os.path.normcase(os.path.abspath(a)) == os.path.normcase(os.path.abspath(b))


def person_folders(root: str | os.PathLike[str], *, exclude: Iterable[str | os.PathLike[str]] = ()
                   ) -> list[Path]:
    """The sub-folders of ``root``, one per person, sorted by name.

    Parameters
    ----------
    root : path
        The folder given to ``--people``.
    exclude : paths
        Folders that are not people even when inside ``root`` (the output folder).

    Raises
    ------
    FaceFromPhotoError
        When ``root`` is missing, not a folder, unreadable or has no sub-folder.
    """
    path = Path(os.fspath(root))
    shown = printable(path)
    if not path.exists():
        raise FaceFromPhotoError(f"The folder '{shown}' given to --people does not exist; check the path.")
    if not path.is_dir():
        raise FaceFromPhotoError(
            f"'{shown}' is not a folder; give --people a folder with one sub-folder of photos per person."
        )
    try:
        entries = sorted(path.iterdir(), key=lambda p: p.name.casefold())
    except OSError as e:
        raise FaceFromPhotoError(f"The folder '{shown}' cannot be read ({e.strerror or e}); "
                                 "check its permissions.") from None
    skip = [Path(os.fspath(e)) for e in exclude]
    folders = [p for p in entries if p.is_dir() and not p.name.startswith(".")
               and not any(_same_folder(p, s) for s in skip)]
    if not folders:
        raise FaceFromPhotoError(
            f"The folder '{shown}' has no sub-folders; put each person's photos in a sub-folder named "
            "after them."
        )
    return folders


def photos_in(folder: str | os.PathLike[str], extensions: Iterable[str]) -> list[Path]:
    """The entries of ``folder`` named like photos (``extensions``, any case) that are not folders, sorted.

    A FIFO or a link to a device named like a photo is listed too: the batch reports it
    in one sentence (``core.photo_input``) rather than skipping it unseen.

    Raises
    ------
    FaceFromPhotoError
        When the folder cannot be read.
    """
    path = Path(os.fspath(folder))
    suffixes = {e.lower() for e in extensions}
    try:
        return sorted(q for q in path.iterdir() if q.suffix.lower() in suffixes and not q.is_dir())
    except OSError as e:
        raise FaceFromPhotoError(f"The folder '{printable(path)}' cannot be read ({e.strerror or e}); "
                                 "check its permissions.") from None


def folder_photos(folder: str | os.PathLike[str], extensions: Iterable[str]) -> list[Path]:
    """A person's photos (:func:`photos_in`), or one sentence when the folder holds none.

    Raises
    ------
    FaceFromPhotoError
        When the folder holds no photo or cannot be read.
    """
    photos = photos_in(folder, extensions)
    if not photos:
        raise FaceFromPhotoError(
            f"The folder '{printable(Path(os.fspath(folder)).name)}' holds no photos (JPEG, PNG, TIFF, "
            "BMP or WebP); put the person's photos in it."
        )
    return photos
