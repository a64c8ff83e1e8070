# SPDX-License-Identifier: GPL-3.0-or-later
"""The bundled sample photo is there, readable, and has its source recorded."""

from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_sample_photo_is_a_real_png_with_its_source_noted() -> None:
    photo = ROOT / "examples" / "astronaut.png"
    data = photo.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width = int.from_bytes(data[16:20], "big")
    height = int.from_bytes(data[20:24], "big")
    assert (width, height) == (512, 512)
    notes = (ROOT / "examples" / "README.md").read_text()
    assert "astronaut.png" in notes and "public domain" in notes.lower()
