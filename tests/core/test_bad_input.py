# SPDX-License-Identifier: GPL-3.0-or-later
"""The bad-input corpus for photo loading: each case is one clear sentence, never a crash.

The corpus is generated here (no binary junk in the repository). Every case
must raise FaceFromPhotoError whose message is one sentence: it names the
problem, says what to do, ends with a full stop and has no line breaks or
traceback text.
"""

from __future__ import annotations

import os
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest

from core.errors import FaceFromPhotoError
from core.image_io import load_photo


def _png(width: int, height: int) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(kind + data) & 0xFFFFFFFF
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)

    raw = zlib.compress(b"\x00" * 64)
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", raw) + chunk(b"IEND", b"")


def _encoded(ext: str, shape: tuple[int, ...] = (64, 64, 3)) -> bytes:
    import cv2

    rng = np.random.default_rng(0)
    ok, buf = cv2.imencode(ext, rng.integers(0, 256, shape, dtype=np.uint8))
    assert ok
    return buf.tobytes()


def _make(tmp_path: Path, case: str) -> Path:
    """Write the corpus file for ``case`` and return the path to load."""
    p = tmp_path / "photo.jpg"
    if case == "missing file":
        return tmp_path / "nowhere" / "photo.jpg"
    if case == "folder given as file":
        (tmp_path / "photos.jpg").mkdir()
        return tmp_path / "photos.jpg"
    if case == "zero-byte file":
        p.write_bytes(b"")
    elif case == "text file named .jpg":
        p.write_text("This is not a photo, it is a shopping list.\n" * 20)
    elif case == "truncated JPEG":
        p.write_bytes(_encoded(".jpg", (256, 256, 3))[:3000])
    elif case == "JPEG header only":
        p.write_bytes(_encoded(".jpg")[:20])
    elif case == "truncated PNG":
        p = tmp_path / "photo.png"
        p.write_bytes(_encoded(".png", (256, 256, 3))[:5000])
    elif case == "1x1 image":
        p = tmp_path / "dot.png"
        p.write_bytes(_encoded(".png", (1, 1, 3)))
    elif case == "16x16 image":
        p = tmp_path / "tiny.png"
        p.write_bytes(_encoded(".png", (16, 16, 3)))
    elif case == "decompression bomb PNG":
        p = tmp_path / "bomb.png"
        p.write_bytes(_png(100_000, 100_000))
    elif case == "PNG with zero width":
        p = tmp_path / "zero.png"
        p.write_bytes(_png(0, 100))
    elif case == "GIF image":
        p = tmp_path / "anim.gif"
        p.write_bytes(b"GIF89a" + b"\x40\x00\x40\x00" + b"\x00" * 64)
    elif case == "HEIC photo":
        p = tmp_path / "iphone.heic"
        p.write_bytes(b"\x00\x00\x00\x18ftypheic" + b"\x00" * 64)
    elif case == "random bytes":
        p.write_bytes(np.random.default_rng(1).integers(0, 256, 4096, dtype=np.uint8).tobytes())
    else:
        raise AssertionError(case)
    return p


# case -> words the sentence must contain (what is wrong, and what to do).
CASES: dict[str, tuple[str, ...]] = {
    "missing file": ("does not exist", "check the path"),
    "folder given as file": ("is a folder", "choose an image file"),
    "zero-byte file": ("is empty (0 bytes)", "choose another photo"),
    "text file named .jpg": ("is not an image", "JPEG or PNG"),
    "truncated JPEG": ("is truncated", "re-export or re-download"),
    "JPEG header only": ("damaged or incomplete", "re-export or re-download"),
    "truncated PNG": ("damaged or incomplete", "re-export or re-download"),
    "1x1 image": ("1 x 1 pixels", "too small", "at least 32 pixels"),
    "16x16 image": ("16 x 16 pixels", "too small"),
    "decompression bomb PNG": ("10000 megapixels", "downscale it below"),
    "PNG with zero width": ("damaged or incomplete",),
    "GIF image": ("is a GIF image", "export it as JPEG or PNG"),
    "HEIC photo": ("HEIC/AVIF", "export it as JPEG or PNG"),
    "random bytes": ("is not an image",),
}


def _assert_one_sentence(message: str) -> None:
    assert message and (message[0].isupper() or message[0] == "'") and message.endswith("."), message
    assert "\n" not in message and "Traceback" not in message
    assert message.count(". ") == 0, f"more than one sentence: {message}"


@pytest.mark.parametrize("case", list(CASES))
def test_bad_photo_gives_one_clear_sentence(tmp_path: Path, case: str) -> None:
    path = _make(tmp_path, case)
    with pytest.raises(FaceFromPhotoError) as info:
        load_photo(path)
    message = str(info.value)
    _assert_one_sentence(message)
    for words in CASES[case]:
        assert words in message, f"{case}: {message!r} lacks {words!r}"
    if case not in ("missing file", "folder given as file"):
        assert path.name in message


def test_unreadable_file_says_permission(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "locked.png"
    path.write_bytes(_encoded(".png"))
    real_open = os.open

    def locked(file, *args, **kwargs):  # root ignores chmod, so refuse like the OS would
        if str(file) == str(path):
            raise PermissionError(13, "Permission denied", str(file))
        return real_open(file, *args, **kwargs)

    monkeypatch.setattr(os, "open", locked)  # core.photo_input opens photos with os.open
    with pytest.raises(FaceFromPhotoError) as info:
        load_photo(path)
    assert str(info.value) == f"'{path}' cannot be read (permission denied); check the file's permissions."
