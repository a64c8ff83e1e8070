# SPDX-License-Identifier: GPL-3.0-or-later
"""core.image_io: every common format comes out as upright 8-bit RGB, with bounded memory."""

from __future__ import annotations

import io
import json
import struct
import subprocess
import sys
import textwrap
import zlib
from pathlib import Path

import numpy as np
import pytest

from core.errors import FaceFromPhotoError
from core.image_io import (
    MAX_WORKING_SIDE,
    NEUTRAL_GREY,
    as_photo,
    decode_photo,
    load_photo,
    load_photo_info,
    read_header,
)

ROOT = Path(__file__).resolve().parents[2]


def _halves(h: int = 64, w: int = 96) -> np.ndarray:
    """(h, w, 3) uint8: left half red, right half blue."""
    image = np.zeros((h, w, 3), np.uint8)
    image[:, : w // 2] = (220, 30, 30)
    image[:, w // 2 :] = (30, 30, 220)
    return image


def test_sample_photo_loads_as_rgb(sample_photo: Path, sample_rgb: np.ndarray) -> None:
    image = load_photo(sample_photo)
    assert image.shape == (512, 512, 3) and image.dtype == np.uint8 and image.flags.c_contiguous
    np.testing.assert_array_equal(image, sample_rgb)
    # RGB order: the astronaut's suit is orange (red > blue).
    suit = image[400:450, 60:120].reshape(-1, 3).mean(axis=0)
    assert suit[0] > suit[2] + 60


@pytest.mark.parametrize(
    ("ext", "params", "tol"),
    [(".png", (), 0), (".bmp", (), 0), (".tif", (), 0), (".webp", (101,), 0), (".jpg", (95,), 12)],
)
def test_common_formats_round_trip(write_image, ext: str, params: tuple, tol: int) -> None:
    import cv2

    flag = {".webp": cv2.IMWRITE_WEBP_QUALITY, ".jpg": cv2.IMWRITE_JPEG_QUALITY}.get(ext)
    image = _halves()
    path = write_image("photo" + ext, image, *((flag, *params) if flag else ()))
    loaded = load_photo(path)
    assert loaded.shape == image.shape and loaded.dtype == np.uint8
    error = np.abs(loaded.astype(int) - image)
    assert error[:, 4:44].max() <= tol and error[:, 52:].max() <= tol  # JPEG blurs colour edges


def test_sixteen_bit_png_is_scaled_to_eight_bits(write_image) -> None:
    image16 = np.zeros((40, 50, 3), np.uint16)
    image16[..., 0] = 65535
    image16[..., 1] = 32896  # 128.5 * 256
    image16[..., 2] = 1000
    loaded = load_photo(write_image("deep.png", image16))
    assert loaded.dtype == np.uint8
    np.testing.assert_allclose(loaded[0, 0], (255, 128, 4), atol=1)


def test_sixteen_bit_grey_png(write_image) -> None:
    grey = np.tile(np.linspace(0, 65535, 64).astype(np.uint16), (48, 1))
    loaded = load_photo(write_image("grey16.png", grey))
    assert loaded.shape == (48, 64, 3)
    np.testing.assert_array_equal(loaded[..., 0], loaded[..., 2])
    assert loaded[0, 0, 0] == 0 and loaded[0, -1, 0] == 255


@pytest.mark.parametrize("ext", [".png", ".jpg"])
def test_greyscale_becomes_three_equal_channels(write_image, ext: str) -> None:
    grey = np.tile(np.arange(0, 256, 4, dtype=np.uint8), (40, 1))
    loaded = load_photo(write_image("grey" + ext, grey))
    assert loaded.shape == (40, 64, 3)
    np.testing.assert_array_equal(loaded[..., 0], loaded[..., 1])
    np.testing.assert_array_equal(loaded[..., 1], loaded[..., 2])


def test_rgba_transparency_is_composited_on_neutral_grey(write_image) -> None:
    rgba = np.zeros((40, 60, 4), np.uint8)
    rgba[..., :3] = (250, 10, 10)
    rgba[:, :20, 3] = 0  # transparent
    rgba[:, 20:40, 3] = 255  # opaque
    rgba[:, 40:, 3] = 128  # half
    loaded = load_photo(write_image("alpha.png", rgba))
    assert loaded.shape == (40, 60, 3)
    np.testing.assert_array_equal(loaded[0, 0], (NEUTRAL_GREY,) * 3)
    np.testing.assert_array_equal(loaded[0, 30], (250, 10, 10))
    np.testing.assert_allclose(loaded[0, 50], (189, 69, 69), atol=1)


def test_cmyk_jpeg_comes_out_in_the_right_colours(tmp_path: Path) -> None:
    pil = pytest.importorskip("PIL.Image", reason="Pillow writes the CMYK JPEG (tests only)")
    image = _halves()
    path = tmp_path / "cmyk.jpg"
    pil.fromarray(image).convert("CMYK").save(path, "JPEG", quality=95)
    assert pil.open(path).mode == "CMYK"
    loaded = load_photo(path)
    assert loaded.shape == image.shape
    assert np.abs(loaded.astype(int) - image)[:, 4:44].max() <= 12
    assert np.abs(loaded.astype(int) - image)[:, 52:].max() <= 12


def _exif_orientation_segment(orientation: int) -> bytes:
    """APP1 'Exif' segment holding a one-entry IFD0 with the Orientation tag (0x0112)."""
    tiff = b"MM\x00\x2a" + struct.pack(">I", 8)
    tiff += struct.pack(">H", 1) + struct.pack(">HHIHH", 0x0112, 3, 1, orientation, 0) + struct.pack(">I", 0)
    payload = b"Exif\x00\x00" + tiff
    return b"\xff\xe1" + struct.pack(">H", len(payload) + 2) + payload


def test_exif_rotated_jpeg_comes_out_upright(write_image) -> None:
    stored = _halves(64, 96)  # wide: left red, right blue
    path = write_image("rotated.jpg", stored)
    data = path.read_bytes()
    path.write_bytes(data[:2] + _exif_orientation_segment(6) + data[2:])
    loaded = load_photo(path)
    # Orientation 6: rotate 90 degrees clockwise to display -> tall, red on top, blue below.
    assert loaded.shape == (96, 64, 3)
    top, bottom = loaded[10:40].reshape(-1, 3).mean(0), loaded[56:86].reshape(-1, 3).mean(0)
    assert top[0] > 150 > top[2] and bottom[2] > 150 > bottom[0]
    assert load_photo_info(path).original_size == (64, 96)


def test_non_ascii_path_with_spaces(write_image) -> None:
    path = write_image("фото лица/mi foto ñ 写真.png", _halves())
    assert " " in str(path) and not str(path).isascii()
    assert load_photo(path).shape == (64, 96, 3)


def test_header_parser_reads_sizes_without_decoding(write_image, tmp_path: Path) -> None:
    image = np.zeros((37, 53, 3), np.uint8)
    for ext in (".png", ".jpg", ".bmp", ".tif", ".webp"):
        header = read_header(write_image("h" + ext, image).read_bytes())
        assert (header.width, header.height) == (53, 37), ext
    lossy = write_image("lossy.webp", image, 1, 50)  # IMWRITE_JPEG_QUALITY id is 1; webp quality id 64
    assert read_header(lossy.read_bytes()).width == 53


def test_large_jpeg_is_decoded_reduced_and_downscaled(write_image) -> None:
    import cv2

    big = np.zeros((3000, 7000, 3), np.uint8)
    big[:, ::50] = 255
    path = write_image("wide.jpg", big, cv2.IMWRITE_JPEG_QUALITY, 80)
    info = load_photo_info(path)
    assert max(info.image.shape[:2]) <= MAX_WORKING_SIDE
    assert info.original_size == (7000, 3000)
    assert info.scale == pytest.approx(info.image.shape[1] / 7000)
    full = load_photo(path, max_side=None)
    assert full.shape == (3000, 7000, 3)


def test_arrays_are_accepted_in_rgb_order() -> None:
    image = _halves()
    np.testing.assert_array_equal(as_photo(image).image, image)
    np.testing.assert_array_equal(as_photo(image.astype(np.float32) / 255.0).image, image)
    grey = as_photo(image[..., 0]).image
    assert grey.shape == (64, 96, 3)
    with pytest.raises(FaceFromPhotoError, match="too small"):
        as_photo(np.zeros((8, 8, 3), np.uint8))


def test_decode_photo_from_bytes(write_image) -> None:
    data = write_image("b.png", _halves()).read_bytes()
    assert decode_photo(data).image.shape == (64, 96, 3)


# --------------------------------------------------------------------------- bounded memory

_MEASURE = textwrap.dedent(
    """
    import json, resource, sys
    import numpy as np, cv2
    from core.errors import FaceFromPhotoError
    from core.image_io import load_photo_info
    base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    try:
        info = load_photo_info(sys.argv[1])
        result = {"shape": list(info.image.shape), "original": list(info.original_size)}
    except FaceFromPhotoError as e:
        result = {"error": str(e)}
    result["peak_growth_mb"] = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - base) / 1024
    print(json.dumps(result))
    """
)

_MAKE_JPEG = textwrap.dedent(
    """
    import sys, numpy as np, cv2
    h, w = int(sys.argv[2]), int(sys.argv[3])
    image = np.zeros((h, w, 3), np.uint8)
    image[::40] = 200
    image[:, ::40, 1] = 120
    ok, buf = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, 85])
    buf.tofile(sys.argv[1])
    """
)


def _measure(path: Path) -> dict:
    proc = subprocess.run(
        [sys.executable, "-c", _MEASURE, str(path)], capture_output=True, text=True, cwd=ROOT, timeout=120
    )
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _make_jpeg(path: Path, h: int, w: int) -> Path:
    subprocess.run([sys.executable, "-c", _MAKE_JPEG, str(path), str(h), str(w)], check=True, timeout=120)
    return path


def test_24_megapixel_jpeg_loads_with_small_peak_memory(tmp_path: Path) -> None:
    result = _measure(_make_jpeg(tmp_path / "24mp.jpg", 4000, 6000))
    assert result["original"] == [6000, 4000]
    assert max(result["shape"][:2]) <= MAX_WORKING_SIDE
    assert result["peak_growth_mb"] < 150, result  # the full-size RGB alone is 72 MB


def test_12000_square_jpeg_is_downscaled_with_bounded_memory(tmp_path: Path) -> None:
    result = _measure(_make_jpeg(tmp_path / "12k.jpg", 12000, 12000))
    assert result.get("shape", [0])[:2] == [MAX_WORKING_SIDE, MAX_WORKING_SIDE], result
    assert result["peak_growth_mb"] < 300, result  # full decode would peak above 800 MB


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    crc = zlib.crc32(kind + data) & 0xFFFFFFFF
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)


def _png_declaring(width: int, height: int, rows: int = 4) -> bytes:
    """A small PNG whose header declares ``width x height`` px (a decompression bomb)."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    raw = zlib.compress(b"\x00" * (rows * (1 + 3 * min(width, 4096))), 9)
    chunks = _png_chunk(b"IHDR", ihdr) + _png_chunk(b"IDAT", raw) + _png_chunk(b"IEND", b"")
    return b"\x89PNG\r\n\x1a\n" + chunks


def test_12000_square_png_is_refused_before_decoding(tmp_path: Path) -> None:
    path = tmp_path / "12k.png"
    path.write_bytes(_png_declaring(12000, 12000))
    result = _measure(path)
    assert "144 megapixels" in result["error"] and "downscale it below 100 megapixels" in result["error"]
    assert result["peak_growth_mb"] < 20


def test_decompression_bomb_png_is_refused_before_decoding(tmp_path: Path) -> None:
    path = tmp_path / "bomb.png"
    path.write_bytes(_png_declaring(60000, 60000))
    assert path.stat().st_size < 50_000
    result = _measure(path)
    assert "3600 megapixels" in result["error"]
    assert result["peak_growth_mb"] < 20


def test_bomb_check_uses_sixteen_bit_depth() -> None:
    ihdr = struct.pack(">IIBBBBB", 9000, 9000, 16, 6, 0, 0, 0)  # 81 MP RGBA 16-bit = 648 MB decoded
    data = b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", ihdr) + _png_chunk(b"IEND", b"")
    with pytest.raises(FaceFromPhotoError, match="81 megapixels, 16-bit"):
        decode_photo(data, "deep.png")


def test_pillow_is_not_needed_by_core() -> None:
    script = (
        "import sys; sys.modules['PIL'] = None; import core.image_io, core.pipeline, core.batch; print('ok')"
    )
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=ROOT)
    assert proc.stdout.strip() == "ok", proc.stderr
    _ = io  # io is used by other tests' helpers
