# SPDX-License-Identifier: GPL-3.0-or-later
"""Fuzzing: random bytes and odd images through loading and the pipeline up to mesh arrays.

The only allowed outcomes are a result or FaceFromPhotoError. With the shipped
weights absent, the network is replaced by the analytic sphere of
test_pipeline.py's kind, so detection, cropping, integration, meshing and
detail still run on every example.
"""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core import pipeline
from core.errors import FaceFromPhotoError
from core.image_io import decode_photo, load_photo
from core.pipeline import ReconstructOptions, reconstruct

ROOT = Path(__file__).resolve().parents[2]
HAS_WEIGHTS = (ROOT / "core" / "weights" / "face_net.pt").is_file()
FUZZ = settings(
    max_examples=50, deadline=None, derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
MAGIC = [
    b"\xff\xd8\xff", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", b"BM", b"II*\x00", b"MM\x00*",
    b"RIFF\x00\x00\x00\x00WEBPVP8 ",
]
RANDOM_BYTES = st.one_of(
    st.binary(max_size=512), st.builds(lambda m, b: m + b, st.sampled_from(MAGIC), st.binary(max_size=256))
)


def _encode(image: np.ndarray, ext: str) -> bytes:
    import cv2

    ok, buf = cv2.imencode(ext, image)
    assert ok
    return buf.tobytes()


@st.composite
def odd_images(draw: st.DrawFn) -> np.ndarray:
    h = draw(st.integers(1, 160))
    w = draw(st.integers(1, 160))
    channels = draw(st.sampled_from([None, 1, 3, 4]))
    dtype = draw(st.sampled_from([np.uint8, np.uint16]))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    shape = (h, w) if channels is None else (h, w, channels)
    top = np.iinfo(dtype).max
    kind = draw(st.sampled_from(["noise", "flat", "gradient"]))
    if kind == "noise":
        return rng.integers(0, top, shape, dtype=dtype, endpoint=True)
    if kind == "flat":
        return np.full(shape, rng.integers(0, top), dtype=dtype)
    ramp = np.linspace(0, top, w, dtype=np.float64)[None, :].repeat(h, 0)
    return (ramp if channels is None else np.repeat(ramp[..., None], channels, 2)).astype(dtype)


@st.composite
def odd_files(draw: st.DrawFn) -> bytes:
    image = draw(odd_images())
    ext = draw(st.sampled_from([".png", ".jpg", ".bmp", ".tif", ".webp"]))
    if ext in (".jpg", ".bmp", ".webp"):
        image = (image >> 8).astype(np.uint8) if image.dtype == np.uint16 else image
    if ext == ".jpg" and image.ndim == 3 and image.shape[2] == 4:
        image = image[..., :3]
    data = bytearray(_encode(image, ext))
    mutation = draw(st.sampled_from(["none", "truncate", "flip", "append"]))
    if mutation == "truncate":
        data = data[: draw(st.integers(0, len(data)))]
    elif mutation == "flip":
        for _ in range(draw(st.integers(1, 8))):
            k = draw(st.integers(0, len(data) - 1))
            data[k] = draw(st.integers(0, 255))
    elif mutation == "append":
        data += draw(st.binary(max_size=64))
    return bytes(data)


@FUZZ
@given(RANDOM_BYTES)
def test_random_bytes_only_load_or_raise_our_error(data: bytes) -> None:
    try:
        result = decode_photo(data, "fuzz.jpg")
    except FaceFromPhotoError as e:
        assert str(e) and "\n" not in str(e)
        return
    assert result.image.ndim == 3 and result.image.shape[2] == 3 and result.image.dtype == np.uint8


@FUZZ
@given(odd_files())
def test_odd_image_files_only_load_or_raise_our_error(tmp_path: Path, data: bytes) -> None:
    path = tmp_path / "odd photo é.img"
    path.write_bytes(data)
    try:
        image = load_photo(path)
    except FaceFromPhotoError as e:
        assert str(e) and "\n" not in str(e)
        return
    assert image.ndim == 3 and image.shape[2] == 3 and image.dtype == np.uint8 and min(image.shape[:2]) >= 32


def _sphere(crop: np.ndarray, model: object) -> SimpleNamespace:
    s = crop.shape[0]
    c = (s - 1) / 2.0
    i, j = np.mgrid[0:s, 0:s].astype(np.float64)
    x, y, r = j - c, c - i, 0.38 * s
    mask = x**2 + y**2 < (0.97 * r) ** 2
    z = np.sqrt(np.clip(r**2 - x**2 - y**2, 1e-9, None))
    n = np.where(mask[..., None], np.stack([x / r, y / r, z / r], -1), (0.0, 0.0, 1.0)).astype(np.float32)
    return SimpleNamespace(
        normals=n, grad_mag=np.where(mask, np.hypot(x, y) / z, 0).astype(np.float32),
        mask=mask, mask_prob=mask.astype(np.float32),
        depth=np.where(mask, z, 0).astype(np.float32), corr=np.zeros((s, s, 3), np.float32),
    )


@pytest.fixture
def network(monkeypatch: pytest.MonkeyPatch) -> None:
    if not HAS_WEIGHTS:
        monkeypatch.setattr(pipeline, "get_model", lambda weights=None, device="auto": (object(), ""))
        monkeypatch.setattr(pipeline, "_predict", _sphere)


@st.composite
def pipeline_inputs(draw: st.DrawFn) -> tuple[np.ndarray, tuple[float, float, float, float] | None]:
    """An odd image (often holding the sample face) and maybe a crop box inside or across it."""
    import cv2

    side = draw(st.one_of(st.integers(64, 320), st.integers(16, 64)))
    aspect = draw(st.floats(0.5, 2.0))
    h, w = side, max(1, round(side * aspect))
    base = draw(st.sampled_from(["face", "face", "noise", "flat"]))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    if base == "face":
        rgb = cv2.resize(_sample(), (w, h), interpolation=cv2.INTER_AREA)
    elif base == "noise":
        rgb = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
    else:
        rgb = np.full((h, w, 3), rng.integers(0, 256), np.uint8)
    form = draw(st.sampled_from(["rgb", "grey", "rgba", "uint16", "float"]))
    if form == "grey":
        image = rgb.mean(axis=2).astype(np.uint8)
    elif form == "rgba":
        image = np.concatenate([rgb, rng.integers(0, 256, (h, w, 1), dtype=np.uint8)], axis=2)
    elif form == "uint16":
        image = rgb.astype(np.uint16) * 257
    elif form == "float":
        image = rgb.astype(np.float32) / 255.0
    else:
        image = rgb
    box = None
    if draw(st.booleans()):
        fx, fy = draw(st.floats(-0.3, 0.9)), draw(st.floats(-0.3, 0.9))
        fw, fh = draw(st.floats(0.01, 1.5)), draw(st.floats(0.01, 1.5))
        box = (fx * w, fy * h, fw * w, fh * h)
    return image, box


_SAMPLE: list[np.ndarray] = []


def _sample() -> np.ndarray:
    import cv2

    if not _SAMPLE:
        _SAMPLE.append(cv2.imread(str(ROOT / "examples" / "astronaut.png"))[..., ::-1].copy())
    return _SAMPLE[0]


@settings(FUZZ, max_examples=30)
@given(case=pipeline_inputs(), geometry=st.sampled_from(["normals", "depth"]))
def test_pipeline_on_odd_images_gives_mesh_or_our_error(network: None, case, geometry: str) -> None:
    image, box = case
    options = ReconstructOptions(crop_box=box, geometry=geometry, device="cpu")
    try:
        rec = reconstruct(image, options)
    except FaceFromPhotoError as e:
        assert str(e) and "\n" not in str(e)
        return
    assert rec.mesh.vertices.ndim == 2 and np.isfinite(rec.mesh.vertices).all()
    assert rec.mesh.triangles.max() < len(rec.mesh.vertices)
    assert rec.detail.shape == rec.texture.shape[:2]
