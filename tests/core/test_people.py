# SPDX-License-Identifier: GPL-3.0-or-later
"""core.people: the sub-folders of ``--people DIR`` and each person's photos, or one sentence."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.errors import FaceFromPhotoError
from core.people import folder_photos, person_folders, photos_in

EXTENSIONS = (".jpg", ".png")


def test_person_folders_sorted_without_hidden_or_output(tmp_path: Path) -> None:
    for name in ("bob", "Ann", ".thumbnails", "out"):
        (tmp_path / name).mkdir()
    (tmp_path / "loose.jpg").write_bytes(b"x")
    folders = person_folders(tmp_path, exclude=[tmp_path / "out"])
    assert [f.name for f in folders] == ["Ann", "bob"]
    assert [p.name for p in photos_in(tmp_path, EXTENSIONS)] == ["loose.jpg"]


@pytest.mark.parametrize("case", ["missing", "file", "no_subfolders"])
def test_person_folders_refuse_with_one_sentence(tmp_path: Path, case: str) -> None:
    root = tmp_path / "people"
    if case == "file":
        root.write_text("not a folder")
    elif case == "no_subfolders":
        root.mkdir()
        (root / "a.jpg").write_bytes(b"x")
    with pytest.raises(FaceFromPhotoError) as info:
        person_folders(root)
    message = str(info.value)
    assert "people" in message and message.endswith(".") and "\n" not in message


def test_folder_photos_lists_photos_or_says_there_are_none(tmp_path: Path) -> None:
    ann = tmp_path / "Ann"
    ann.mkdir()
    (ann / "notes.txt").write_text("not a photo")
    (ann / "sub.jpg").mkdir()  # a folder named like a photo is not one
    with pytest.raises(FaceFromPhotoError, match="'Ann' holds no photos"):
        folder_photos(ann, EXTENSIONS)
    (ann / "b.PNG").write_bytes(b"x")
    (ann / "a.jpg").write_bytes(b"x")
    assert [p.name for p in folder_photos(ann, EXTENSIONS)] == ["a.jpg", "b.PNG"]
