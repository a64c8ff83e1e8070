# SPDX-License-Identifier: GPL-3.0-or-later
"""core.pipeline: options, stages, progress, cancel, scale, and end-to-end runs.

Most tests replace the network by an analytic one (a sphere-cap head), so the
pipeline's own logic is tested without weights. The end-to-end tests with the
shipped network skip when core/weights/face_net.pt is absent.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from core import pipeline
from core.errors import FaceFromPhotoError
from core.models import MODELS, model_weights
from core.pipeline import Cancelled, Reconstruction, ReconstructOptions, reconstruct

ROOT = Path(__file__).resolve().parents[2]
WEIGHTS = ROOT / "core" / "weights" / "face_net.pt"
needs_weights = pytest.mark.skipif(
    not WEIGHTS.is_file(), reason="core/weights/face_net.pt is absent (produced by the training issue)"
)


def sphere_maps(s: int, radius_frac: float = 0.38) -> SimpleNamespace:
    """Maps of a sphere cap centred in an S x S crop: exact normals, W, depth; disk mask."""
    c = (s - 1) / 2.0
    i, j = np.mgrid[0:s, 0:s].astype(np.float64)
    x, y = j - c, c - i  # camera frame: x right, y up
    r = radius_frac * s
    rho2 = x**2 + y**2
    mask = rho2 < (0.97 * r) ** 2
    z = np.sqrt(np.clip(r**2 - rho2, 1e-9, None))
    normals = np.stack([x / r, y / r, z / r], axis=-1)
    normals[~mask] = (0.0, 0.0, 1.0)
    grad = np.where(mask, np.sqrt(rho2) / z, 0.0)
    depth = np.where(mask, z - np.median(z[mask]), 0.0)
    return SimpleNamespace(
        normals=normals.astype(np.float32), grad_mag=grad.astype(np.float32), mask=mask,
        mask_prob=mask.astype(np.float32), depth=depth.astype(np.float32),
        corr=np.zeros((s, s, 3), np.float32),
    )


@pytest.fixture
def fake_network(monkeypatch: pytest.MonkeyPatch) -> list[np.ndarray]:
    """Replace the network by the sphere; returns the list of crops it was given."""
    seen: list[np.ndarray] = []

    def predict(crop: np.ndarray, model: object) -> SimpleNamespace:
        seen.append(crop)
        return sphere_maps(crop.shape[0])

    monkeypatch.setattr(pipeline, "get_model", lambda weights=None, device="auto": (object(), "0" * 64))
    monkeypatch.setattr(pipeline, "_predict", predict)
    return seen


# --------------------------------------------------------------------------- options


def test_default_options_are_valid_and_frozen() -> None:
    options = ReconstructOptions()
    assert options.resolution == 128 and options.lam == 0.1 and options.geometry == "normals"
    with pytest.raises(AttributeError):
        options.lam = 0.2  # type: ignore[misc]
    assert ReconstructOptions(crop_box=[1, 2, 3, 4]).crop_box == (1.0, 2.0, 3.0, 4.0)
    assert ReconstructOptions().to_dict()["device"] == "auto"
    # Numbers from numpy (e.g. a UI or a sweep script) are accepted and stored as plain Python numbers.
    numpy_options = ReconstructOptions(
        resolution=np.int64(256), lam=np.float32(0.2), smoothing_iterations=np.int32(2)
    )
    assert type(numpy_options.resolution) is int and type(numpy_options.lam) is float
    assert numpy_options.smoothing_iterations == 2


@pytest.mark.parametrize(
    ("kwargs", "words"),
    [
        ({"resolution": 200}, "use 128 or 256"),
        ({"lam": -0.1}, "lam = -0.1 is out of range"),
        ({"lam": float("nan")}, "out of range"),
        ({"geometry": "voxels"}, "use 'normals' or 'depth'"),
        ({"smoothing_iterations": -1}, "whole number from 0 to 100"),
        ({"smoothing_factor": 2.0}, "out of range"),
        ({"detail_strength": 1.0}, "out of range"),
        ({"target_faces": 5}, "from 100 to 2000000"),
        ({"device": "tpu"}, "'auto', 'cpu', 'cuda' or 'mps'"),
        ({"face_index": -1}, "0 for the largest face"),
        ({"crop_box": (0, 0, -5, 10)}, "positive width and height"),
        ({"crop_box": (0, 0, 5)}, "(x, y, width, height)"),
    ],
)
def test_bad_options_are_one_sentence(kwargs: dict, words: str) -> None:
    with pytest.raises(FaceFromPhotoError) as info:
        ReconstructOptions(**kwargs)
    assert words in str(info.value) and str(info.value).endswith(".")


def test_importing_the_pipeline_does_not_import_cv2_or_torch() -> None:
    script = "import sys, core.pipeline, core.batch; print('cv2' in sys.modules, 'torch' in sys.modules)"
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=ROOT)
    assert proc.stdout.strip() == "False False", proc.stderr


# --------------------------------------------------------------------------- stages with the analytic network


def test_end_to_end_with_analytic_network(sample_photo: Path, fake_network: list) -> None:
    calls: list[tuple[float, str]] = []
    rec = reconstruct(sample_photo, ReconstructOptions(), progress=lambda f, m: calls.append((f, m)))
    assert isinstance(rec, Reconstruction)
    # Progress: one call per stage in order, increasing, then 1.0.
    fractions = [f for f, _ in calls]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0 and len(calls) == len(pipeline.STAGES) + 1
    assert set(rec.timings) == set(pipeline.STAGES) | {"total"}
    # The network saw a 128 px crop of her head.
    assert fake_network[0].shape == (128, 128, 3) and rec.crop.shape == (128, 128, 3)
    assert rec.face is not None and rec.face.kind == "frontal"
    assert rec.face.landmarks5 is not None and rec.face.landmarks5.shape == (5, 2)
    # The crop is turned by her (small) roll; the texture square is the same square.
    assert abs(rec.crop_transform.angle) < 0.1 and rec.texture_transform.angle == rec.crop_transform.angle
    # Mesh in metres: the sphere's mask spans 0.74 S rows -> 0.22 m tall.
    v = rec.mesh.vertices
    assert v.dtype == np.float32 and rec.mesh.triangles.dtype == np.int32
    assert np.ptp(v[:, 2]) == pytest.approx(pipeline.HEAD_HEIGHT_M, rel=0.05)
    # The face looks toward -Y: the sphere's front (centre) is the most negative Y.
    centre = np.argmin(np.hypot(v[:, 0], v[:, 2]))
    assert v[centre, 1] == pytest.approx(v[:, 1].min(), abs=2e-3)
    # Texture crop at the photo's own resolution (the square is ~200 photo px), detail in [-1, 1].
    assert 128 <= rec.texture.shape[0] <= pipeline.TEXTURE_MAX_SIDE
    assert rec.detail.shape == rec.texture.shape[:2] and np.abs(rec.detail).max() <= 1.0
    assert rec.smoothed_vertices is not None and rec.smoothed_vertices.shape == v.shape
    uv = rec.photo_uvs()
    assert uv.shape == (len(v), 2) and 0.2 < uv[:, 0].mean() < 0.7 and 0.5 < uv[:, 1].mean() < 0.9
    assert rec.source == str(sample_photo) and rec.model_sha256 == "0" * 64


def test_depth_geometry_and_resolution_256(sample_rgb: np.ndarray, fake_network: list) -> None:
    options = ReconstructOptions(geometry="depth", resolution=256, smoothing_iterations=0)
    rec = reconstruct(sample_rgb, options)
    assert rec.crop.shape == (256, 256, 3) and rec.smoothed_vertices is None
    assert np.nanmedian(rec.depth) == pytest.approx(0.0, abs=1e-4)
    assert np.isnan(rec.depth[0, 0])


def test_normals_and_depth_geometry_agree_on_the_sphere(sample_rgb: np.ndarray, fake_network: list) -> None:
    a = reconstruct(sample_rgb, ReconstructOptions(geometry="normals")).depth
    b = reconstruct(sample_rgb, ReconstructOptions(geometry="depth")).depth
    both = np.isfinite(a) & np.isfinite(b)
    assert np.nanmedian(np.abs(a[both] - b[both])) < 1.0  # px, on a sphere of radius ~49 px


def test_target_faces_reduces_the_mesh(sample_rgb: np.ndarray, fake_network: list) -> None:
    full = reconstruct(sample_rgb, ReconstructOptions()).mesh
    coarse = reconstruct(sample_rgb, ReconstructOptions(target_faces=3000)).mesh
    assert len(coarse.triangles) <= 3000 < len(full.triangles)


def test_crop_box_skips_detection_and_is_in_original_pixels(fake_network: list) -> None:
    noise = np.random.default_rng(0).integers(0, 256, (300, 400, 3), dtype=np.uint8)
    with pytest.raises(FaceFromPhotoError, match="No face was found.*crop box"):
        reconstruct(noise)
    rec = reconstruct(noise, ReconstructOptions(crop_box=(100, 50, 200, 160)))
    assert rec.face is None
    t = rec.crop_transform
    assert t.angle == 0.0
    assert (t.x0, t.y0, t.side) == pytest.approx((100.0, 30.0, 200.0))
    with pytest.raises(FaceFromPhotoError, match="lies outside the photo"):
        reconstruct(noise, ReconstructOptions(crop_box=(1000, 50, 20, 20)))


def test_face_index_chooses_the_face(sample_rgb: np.ndarray, fake_network: list) -> None:
    canvas = np.concatenate([sample_rgb, sample_rgb[:, ::-1]], axis=1)
    first = reconstruct(canvas, ReconstructOptions(face_index=0)).face
    second = reconstruct(canvas, ReconstructOptions(face_index=1)).face
    assert {first.center[0] < 512, second.center[0] < 512} == {True, False}
    with pytest.raises(FaceFromPhotoError, match="only 2 faces"):
        reconstruct(canvas, ReconstructOptions(face_index=2))


@pytest.mark.parametrize("stop_at", range(len(pipeline.STAGES)))
def test_should_stop_cancels_between_stages(sample_rgb: np.ndarray, fake_network: list, stop_at: int) -> None:
    messages: list[str] = []
    asked = iter(range(100))
    with pytest.raises(Cancelled) as info:
        reconstruct(
            sample_rgb, progress=lambda f, m: messages.append(m), should_stop=lambda: next(asked) >= stop_at
        )
    assert isinstance(info.value, FaceFromPhotoError)
    assert str(info.value) == "The reconstruction was cancelled."
    assert len(messages) == stop_at  # stages before the stop ran, none after


def test_empty_predicted_mask_is_a_clear_error(
    sample_rgb: np.ndarray, monkeypatch: pytest.MonkeyPatch
) -> None:
    def nothing(crop: np.ndarray, model: object) -> SimpleNamespace:
        maps = sphere_maps(crop.shape[0])
        maps.mask = np.zeros_like(maps.mask)
        return maps

    monkeypatch.setattr(pipeline, "get_model", lambda weights=None, device="auto": (object(), ""))
    monkeypatch.setattr(pipeline, "_predict", nothing)
    with pytest.raises(FaceFromPhotoError, match="network found no head"):
        reconstruct(sample_rgb)


def test_bad_photo_argument_type() -> None:
    with pytest.raises(FaceFromPhotoError, match="file path or an image array"):
        reconstruct(12345)  # type: ignore[arg-type]


def test_pixel_size_falls_back_to_the_crop_framing() -> None:
    mask = np.zeros((128, 128), bool)
    mask[60:70, 60:70] = True  # implausibly short head
    assert pipeline._pixel_size(mask) == pytest.approx(pipeline.HEAD_HEIGHT_M * 1.3 / 128)
    mask[10:110, 40:90] = True
    assert pipeline._pixel_size(mask) == pytest.approx(pipeline.HEAD_HEIGHT_M / 100)


def test_unavailable_device_is_a_clear_error(sample_rgb: np.ndarray) -> None:
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    with pytest.raises(FaceFromPhotoError, match="device 'cuda'.*choose 'auto' or 'cpu'"):
        reconstruct(sample_rgb, ReconstructOptions(device="cuda"))


def test_missing_weights_file_is_a_clear_error(sample_rgb: np.ndarray, tmp_path: Path) -> None:
    pytest.importorskip("core.predict", reason="core/predict.py not written yet")
    with pytest.raises(FaceFromPhotoError):
        reconstruct(sample_rgb, ReconstructOptions(weights=str(tmp_path / "none.pt")))


# --------------------------------------------------------------------------- with the shipped network


@needs_weights
def test_sample_photo_end_to_end_with_the_network(sample_photo: Path) -> None:
    pipeline.clear_model_cache()
    rec = reconstruct(sample_photo, ReconstructOptions(device="cpu"))
    mesh = rec.mesh
    assert rec.maps.mask.mean() > 0.2  # the head fills a good part of the crop
    assert 5_000 < len(mesh.triangles) < 40_000
    assert np.isfinite(mesh.vertices).all()
    assert np.ptp(mesh.vertices[:, 2]) == pytest.approx(pipeline.HEAD_HEIGHT_M, rel=0.25)
    assert len(rec.model_sha256) == 64
    # Nose in front: the mesh points nearest the crop centre are closer to the viewer (more -Y)
    # than the mesh's median.
    v = mesh.vertices
    centre = np.hypot(v[:, 0], v[:, 2]) < 0.02
    assert np.median(v[centre, 1]) < np.median(v[:, 1])


@needs_weights
def test_the_model_is_cached_between_calls(sample_rgb: np.ndarray) -> None:
    pipeline.clear_model_cache()
    first = pipeline.get_model(None, "cpu")
    assert pipeline.get_model(None, "cpu") is first
    cold = reconstruct(sample_rgb, ReconstructOptions(device="cpu"))
    warm = reconstruct(sample_rgb, ReconstructOptions(device="cpu"))
    assert warm.model_sha256 == cold.model_sha256
    np.testing.assert_array_equal(warm.mesh.triangles, cold.mesh.triangles)


@needs_weights
def test_weights_file_changed_on_disk_is_reloaded(tmp_path: Path, sample_rgb: np.ndarray) -> None:
    import shutil

    copy = tmp_path / "face_net.pt"
    shutil.copy(WEIGHTS, copy)
    shutil.copy(WEIGHTS.parent / "manifest.json", tmp_path / "manifest.json")
    _, sha = pipeline.get_model(str(copy), "cpu")
    with open(copy, "ab") as f:
        f.write(b"tampered")
    with pytest.raises(FaceFromPhotoError, match="do not match their manifest"):
        pipeline.get_model(str(copy), "cpu")
    pipeline.clear_model_cache()
    assert len(sha) == 64


@pytest.mark.skipif(not MODELS["large"].is_file(), reason="the large network's weights are not installed")
def test_the_large_network_has_sharper_normals_and_reconstructs(sample_photo: Path) -> None:
    manifests = {name: json.loads(p.with_name("manifest.json").read_text()) for name, p in MODELS.items()}
    metrics = {name: m["metrics"] for name, m in manifests.items()}
    # what core.models promises: finer relief (4.48 against 4.54 deg) at a mean error within 0.1 deg of
    # the standard network's (7.75 against 7.68 deg on the test set, docs/model-card.md), both within the
    # issue's 8 deg
    fine = {name: m["normal_by_frequency"]["fine_deg"] for name, m in metrics.items()}
    assert fine["large"] < fine["standard"]
    assert metrics["large"]["normal_mean_deg"] <= min(8.0, metrics["standard"]["normal_mean_deg"] + 0.1)
    pipeline.clear_model_cache()
    model, sha = pipeline.get_model(str(model_weights("large")), "cpu")
    assert sha == manifests["large"]["sha256"]
    assert sum(p.numel() for p in model.parameters()) > 4_500_000  # 5.1 M, BatchNorm folded
    rec = reconstruct(sample_photo, ReconstructOptions(device="cpu", weights=str(model_weights("large"))))
    assert rec.model_sha256 == manifests["large"]["sha256"] and rec.maps.mask.mean() > 0.2
    pipeline.clear_model_cache()
    with pytest.raises(FaceFromPhotoError, match="Unknown network 'huge'"):
        model_weights("huge")


# ------------------------------------------------------------------- real predict path, untrained weights


@pytest.fixture
def untrained_weights(tmp_path: Path) -> Path:
    """An untrained FaceNet saved the way the shipped weights are, its mask biased to 'head everywhere'."""
    import hashlib
    import json

    import torch

    from core.network import FaceNet

    torch.manual_seed(0)
    model = FaceNet()
    with torch.no_grad():
        model.decoders["mask_logits"].head.bias.fill_(8.0)
    path = tmp_path / "weights" / "face_net.pt"
    path.parent.mkdir()
    torch.save(model.state_dict(), path)
    sha = hashlib.sha256(path.read_bytes()).hexdigest()
    (path.parent / "manifest.json").write_text(json.dumps({"sha256": sha, "config": model.cfg.to_dict()}))
    return path


def test_real_predict_path_with_untrained_weights(sample_rgb: np.ndarray, untrained_weights: Path) -> None:
    pytest.importorskip("core.predict")
    pipeline.clear_model_cache()
    options = ReconstructOptions(weights=str(untrained_weights), device="cpu")
    rec = reconstruct(sample_rgb, options)
    assert rec.maps.normals.shape == (128, 128, 3) and rec.maps.mask.all()
    assert len(rec.model_sha256) == 64 and np.isfinite(rec.mesh.vertices).all()
    model = pipeline.get_model(str(untrained_weights), "cpu")
    assert pipeline.get_model(str(untrained_weights), "cpu") is model  # cached
    rec256 = reconstruct(sample_rgb, ReconstructOptions(weights=str(untrained_weights), resolution=256))
    assert rec256.maps.mask.shape == (256, 256)
    # Tampering with the file on disk is noticed (new size/mtime -> reload -> hash check).
    with open(untrained_weights, "ab") as f:
        f.write(b"tampered")
    with pytest.raises(FaceFromPhotoError, match="do not match their manifest"):
        reconstruct(sample_rgb, options)
    pipeline.clear_model_cache()


# --------------------------------------------------------------------------- template head output


def test_output_option_is_checked() -> None:
    assert ReconstructOptions().output == "relief"
    with pytest.raises(FaceFromPhotoError, match="output 'bust' is unknown"):
        ReconstructOptions(output="bust")
    with pytest.raises(FaceFromPhotoError, match="head_depth_weight"):
        ReconstructOptions(head_depth_weight=-1.0)
    with pytest.raises(FaceFromPhotoError, match="head texture size 512"):
        ReconstructOptions(head_texture_size=512)


def test_head_output_without_correspondences_is_one_sentence(
    sample_rgb: np.ndarray, fake_network: list
) -> None:
    # the analytic sphere has no correspondence map (all zeros): nothing to fit the head to
    with pytest.raises(FaceFromPhotoError, match="too few to fit the template head") as info:
        reconstruct(sample_rgb, ReconstructOptions(output="head"))
    assert str(info.value).count(". ") == 0


@needs_weights
def test_head_output_on_the_sample_photo(sample_photo: Path) -> None:
    relief = reconstruct(sample_photo, ReconstructOptions())
    assert relief.head is None and relief.landmarks68_px is None and "fit" not in relief.timings
    rec = reconstruct(sample_photo, ReconstructOptions(output="head", head_texture_size=1024))
    assert "fit" in rec.timings and "texture" in rec.timings and rec.head is not None
    assert rec.head.texture.tiles.shape == (2, 1024, 1024, 3)
    assert rec.head.detail_map.shape == (2, 1024, 1024) and rec.head.detail_map.dtype == np.float32
    assert np.abs(rec.head.detail_map).max() < 0.01  # m
    assert rec.head.vertices.shape == (26719, 3) and len(rec.head.expression_names) == 53
    assert (rec.head.expression >= 0).all() and (rec.head.expression <= 1).all()
    lm = rec.landmarks68_px
    assert lm.shape == (68, 3) and np.isfinite(lm).all()
    box = rec.face
    x, y = lm[:, 0], lm[:, 1]
    assert (x > box.x - box.w * 0.3).all() and (x < box.x + box.w * 1.3).all()
    assert (y > box.y - box.h * 0.3).all() and (y < box.y + box.h * 1.3).all()
    assert lm[36:42, 0].mean() < lm[42:48, 0].mean()  # subject's right eye on the image's left
    assert lm[36:48, 1].mean() < lm[30, 1] < lm[48:68, 1].mean()  # eyes, nose tip, mouth downwards
    assert lm[30, 2] > lm[0, 2] and lm[30, 2] > lm[16, 2]  # the nose is nearer than the jaw's ends
