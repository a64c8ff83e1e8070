# SPDX-License-Identifier: GPL-3.0-or-later
"""core.face_detect and core.crop: faces and landmarks on the sample photo, several faces, none,
a damaged detector model, border cuts."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from core import face_detect
from core.crop import CropTransform, crop_box_from_face, crop_square, face_roll
from core.errors import FaceFromPhotoError
from core.face_detect import FaceBox, find_faces, load_detector, select_face

# examples/astronaut.png, read off the photo by eye (x, y px): her right eye (image left), left eye,
# nose tip, right and left mouth corners.
ASTRONAUT_LANDMARKS = np.array(
    [[203.0, 103.0], [247.0, 103.0], [225.0, 125.0], [205.0, 143.0], [248.0, 142.0]]
)


def test_sample_photo_has_one_face_on_the_astronaut(sample_rgb: np.ndarray) -> None:
    faces = find_faces(sample_rgb)
    assert len(faces) == 1
    face = faces[0]
    assert face.kind == "frontal" and 0.8 < face.score <= 1.0
    cx, cy = face.center
    # Her face is in the upper middle of the portrait, about 100 px wide.
    assert 200 < cx < 250 and 90 < cy < 140 and 80 < face.side < 130


def test_five_landmarks_lie_on_her_eyes_nose_and_mouth(sample_rgb: np.ndarray) -> None:
    marks = find_faces(sample_rgb)[0].landmarks5
    assert marks is not None and marks.shape == (5, 2) and marks.dtype == np.float64
    # Eyes and nose within 6 px (a seventh of her eye distance of 44 px) of where they are in the
    # photo; the corners of her broad smile within 10 px (a quarter of the mouth's width).
    off = np.hypot(*(marks - ASTRONAUT_LANDMARKS).T)
    assert off[:3].max() < 6.0 and off[3:].max() < 10.0
    # YuNet's order: the subject's right eye first, on the image's left.
    assert marks[0, 0] < marks[2, 0] < marks[1, 0] and marks[3, 0] < marks[4, 0]


def test_landmarks_scale_with_the_photo(sample_rgb: np.ndarray) -> None:
    import cv2

    big = cv2.resize(sample_rgb, (1536, 1536), interpolation=cv2.INTER_LINEAR)
    marks = find_faces(big)[0].landmarks5
    assert marks is not None
    off = np.hypot(*(marks / 3.0 - ASTRONAUT_LANDMARKS).T)
    assert off[:3].max() < 6.0 and off[3:].max() < 10.0


def test_two_faces_largest_first_and_face_index(sample_rgb: np.ndarray) -> None:
    import cv2

    small = cv2.resize(sample_rgb, (384, 384), interpolation=cv2.INTER_AREA)
    canvas = np.full((512, 512 + 384, 3), 90, np.uint8)
    canvas[:, :512] = sample_rgb
    canvas[64:448, 512:] = small
    faces = find_faces(canvas)
    assert len(faces) == 2
    assert faces[0].area > faces[1].area
    assert faces[0].center[0] < 512 < faces[1].center[0]
    assert select_face(canvas, 1) == faces[1]
    with pytest.raises(FaceFromPhotoError, match="only 2 faces found"):
        select_face(canvas, 2)


@pytest.mark.parametrize("blur", [0.0, 2.0, 6.0])
def test_noise_has_no_face_and_the_error_suggests_a_crop_box(blur: float) -> None:
    import cv2

    noise = np.random.default_rng(3).integers(0, 256, (480, 640, 3), dtype=np.uint8)
    if blur:
        noise = cv2.GaussianBlur(noise, (0, 0), blur)
    assert find_faces(noise) == []
    with pytest.raises(FaceFromPhotoError, match="No face was found.*crop box"):
        select_face(noise)


def test_mirrored_face_is_still_found(sample_rgb: np.ndarray) -> None:
    faces = find_faces(np.ascontiguousarray(sample_rgb[:, ::-1]))
    assert len(faces) == 1
    assert 512 - 250 < faces[0].center[0] < 512 - 200
    assert faces[0].landmarks5 is not None
    nose = faces[0].landmarks5[2]
    assert np.abs(nose - (512 - ASTRONAUT_LANDMARKS[2, 0], ASTRONAUT_LANDMARKS[2, 1])).max() < 6


def _detector_copy(tmp_path: Path) -> Path:
    folder = tmp_path / "detector"
    shutil.copytree(face_detect.DETECTOR_DIR, folder)
    return folder / json.loads((folder / face_detect.MANIFEST_NAME).read_text())["file"]


def _one_sentence(message: str) -> bool:
    return message.endswith(".") and "\n" not in message and ". " not in message.rstrip(".")


def test_damaged_detector_model_gives_one_sentence(tmp_path: Path, sample_rgb: np.ndarray) -> None:
    model = _detector_copy(tmp_path)
    assert load_detector(model) is not None  # the intact copy loads
    data = bytearray(model.read_bytes())
    data[len(data) // 2] ^= 0xFF
    damaged = tmp_path / "damaged" / model.name
    shutil.copytree(model.parent, damaged.parent)
    damaged.write_bytes(bytes(data))
    with pytest.raises(FaceFromPhotoError, match="does not match its manifest.*reinstall") as err:
        find_faces(sample_rgb, model=damaged)
    assert _one_sentence(str(err.value))
    (truncated := tmp_path / "truncated").mkdir()
    shutil.copytree(model.parent, truncated, dirs_exist_ok=True)
    (truncated / model.name).write_bytes(bytes(data[:1000]))
    with pytest.raises(FaceFromPhotoError, match="does not match its manifest"):
        load_detector(truncated / model.name)


def test_missing_model_or_manifest_gives_one_sentence(tmp_path: Path) -> None:
    model = _detector_copy(tmp_path)
    (model.parent / face_detect.MANIFEST_NAME).unlink()
    with pytest.raises(FaceFromPhotoError, match="manifest .* is missing or unreadable") as err:
        load_detector(model)
    assert _one_sentence(str(err.value))
    model = _detector_copy(tmp_path / "again")
    model.unlink()
    with pytest.raises(FaceFromPhotoError, match="model .* is missing; reinstall") as err:
        load_detector(model)
    assert _one_sentence(str(err.value))


def test_a_file_opencv_cannot_read_gives_one_sentence(tmp_path: Path) -> None:
    # Not an ONNX graph, with a manifest that matches it: OpenCV's own error becomes a sentence.
    model = tmp_path / "yunet_x.onnx"
    model.write_bytes(b"not an onnx graph" * 64)
    manifest = {"file": model.name, "sha256": face_detect.file_sha256(model)}
    (tmp_path / face_detect.MANIFEST_NAME).write_text(json.dumps(manifest))
    with pytest.raises(FaceFromPhotoError, match="cannot be read by OpenCV") as err:
        load_detector(model)
    assert _one_sentence(str(err.value))


def test_shipped_manifest_matches_the_shipped_model() -> None:
    manifest = json.loads((face_detect.DETECTOR_DIR / face_detect.MANIFEST_NAME).read_text())
    model = face_detect.DETECTOR_DIR / manifest["file"]
    assert face_detect.file_sha256(model) == manifest["sha256"]
    assert "Apache License" in (face_detect.DETECTOR_DIR / "LICENSE").read_text()


def test_crop_frames_the_head(sample_rgb: np.ndarray) -> None:
    face = find_faces(sample_rgb)[0]
    center, side = crop_box_from_face(face)
    crop, t = crop_square(sample_rgb, center, side, 128)
    assert crop.shape == (128, 128, 3) and crop.dtype == np.uint8
    # Her head (top of the hair at y ~ 15, chin at y ~ 168 in the photo) fills most of the crop,
    # the chin inside with a margin; the skull alone is about 1 / 1.3 of the side (conventions.md).
    top, bottom = t.to_crop(np.array([[227.0, 15.0], [227.0, 168.0]]))[:, 1]
    assert -6 < top < 16 and 104 < bottom < 124
    assert 0.75 < (bottom - top) / 128 < 1.0
    # Without landmarks the box alone frames her head about as well.
    box_only = FaceBox(face.x, face.y, face.w, face.h, face.kind, face.score)
    (bx, by), bside = crop_box_from_face(box_only)
    assert abs(bx - center[0]) < 0.1 * side and abs(by - center[1]) < 0.1 * side
    assert 0.85 < bside / side < 1.15


def test_turned_crop_samples_where_its_transform_says() -> None:
    # Each pixel holds its own (x, y) index, so a crop pixel's value is where it was sampled.
    yy, xx = np.mgrid[0:400, 0:600].astype(np.float32)
    image = np.stack([xx, yy, np.zeros_like(xx)], axis=-1)  # (400, 600, 3)
    for angle in (0.3, -0.7):
        for side, size in ((200.0, 64), (100.0, 100)):
            crop, t = crop_square(image, (300.0, 200.0), side, size, angle=angle)
            assert t.angle == angle and t.center == pytest.approx((300.0, 200.0))
            ij = np.stack(np.mgrid[0:size, 0:size], axis=-1).reshape(-1, 2).astype(np.float64)
            xy = t.to_photo(ij[:, ::-1] + 0.5)  # pixel centres (u, v) -> photo (x, y)
            np.testing.assert_allclose(crop.reshape(-1, 3)[:, :2], xy - 0.5, atol=0.15)
            np.testing.assert_allclose(t.to_crop(xy), ij[:, ::-1] + 0.5, atol=1e-9)
            # The crop's rows run along the turned axis: one row down is (-sin a, cos a) * scale.
            step = t.to_photo(np.array([[0.0, 1.0]])) - t.to_photo(np.array([[0.0, 0.0]]))
            np.testing.assert_allclose(step[0], t.scale * np.array([-np.sin(angle), np.cos(angle)]))
            assert t.resized(32).angle == angle


def test_roll_turns_a_tilted_face_upright(sample_rgb: np.ndarray) -> None:
    import cv2

    face = find_faces(sample_rgb)[0]
    assert abs(np.degrees(face_roll(face))) < 6.0  # she holds her head about level
    assert face_roll(FaceBox(face.x, face.y, face.w, face.h)) == 0.0  # no landmarks, no roll
    reference, _ = crop_square(sample_rgb, *crop_box_from_face(face), 128, angle=face_roll(face))
    # The photo turned 30 deg counter-clockwise on screen: the crop turns back (negative angle).
    m = cv2.getRotationMatrix2D((256.0, 256.0), 30.0, 1.0)
    turned = cv2.warpAffine(sample_rgb, m, (512, 512), borderMode=cv2.BORDER_REPLICATE)
    tilted = find_faces(turned)[0]
    roll = np.degrees(face_roll(tilted))
    assert -35.0 < roll < -18.0  # YuNet's landmarks lean towards upright (reads about -23)
    center, side = crop_box_from_face(tilted)
    upright, _ = crop_square(turned, center, side, 128, angle=np.radians(roll))
    level, _ = crop_square(turned, center, side, 128)
    diff_upright = np.abs(upright.astype(float) - reference).mean()
    diff_level = np.abs(level.astype(float) - reference).mean()
    assert diff_upright < 0.6 * diff_level


def test_crop_transform_round_trip_and_pixels() -> None:
    # An image whose pixel value encodes its column: check the crop samples the right place.
    image = np.tile(np.arange(256, dtype=np.uint8)[None, :, None], (200, 1, 3))
    crop, t = crop_square(image, (100.0, 100.0), 64.0, 64)  # scale 1: a plain copy
    assert t.scale == 1.0 and (t.x0, t.y0) == (68.0, 68.0)
    np.testing.assert_array_equal(crop[10, :, 0], np.arange(68, 132))
    pts = np.array([[0.0, 0.0], [31.5, 12.25], [64.0, 64.0]])
    np.testing.assert_allclose(t.to_crop(t.to_photo(pts)), pts)
    uv = t.photo_uv(np.array([[0, 0]]))
    np.testing.assert_allclose(uv, [[68.5 / 256, 1 - 68.5 / 200]], rtol=1e-6)
    # Downsampling by 4: crop pixel j covers photo columns x0 + 4j ... x0 + 4j + 4.
    crop4, t4 = crop_square(image, (128.0, 100.0), 256.0, 64)
    assert t4.scale == 4.0
    np.testing.assert_allclose(crop4[32, 20:40, 0], 4 * np.arange(20, 40) + 1.5, atol=1.0)


def test_face_cut_by_the_border_gives_a_full_padded_crop(sample_rgb: np.ndarray) -> None:
    # Cut the photo through the middle of her face: only the right part of the face remains.
    cut = np.ascontiguousarray(sample_rgb[:, 215:])
    center, side = (0.0, 110.0), 200.0  # square centred on the photo's left edge
    for border in ("replicate", "constant"):
        crop, t = crop_square(cut, center, side, 128, border=border)
        assert crop.shape == (128, 128, 3)
        left = crop[:, :60]
        if border == "constant":
            assert (left == 128).all()
        else:  # replicated edge column: constant along each row
            assert (left == left[:, :1]).all()
        right = crop[:, 70:]
        assert right.std() > 10  # real photo content
    assert isinstance(t, CropTransform) and t.photo_size == (cut.shape[1], cut.shape[0])


def test_crop_entirely_outside_is_all_border() -> None:
    image = np.full((100, 100, 3), 7, np.uint8)
    crop, _ = crop_square(image, (-500.0, -500.0), 50.0, 32, border="constant")
    assert (crop == 128).all()
    crop, _ = crop_square(image, (-500.0, -500.0), 50.0, 32)
    assert (crop == 7).all()


def test_bad_crop_arguments_raise_value_error() -> None:
    image = np.zeros((50, 50, 3), np.uint8)
    with pytest.raises(ValueError):
        crop_square(image, (10.0, 10.0), 0.0, 32)
    with pytest.raises(ValueError):
        crop_square(image, (10.0, 10.0), 10.0, 32, border="wrap")
