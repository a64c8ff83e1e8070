# SPDX-License-Identifier: GPL-3.0-or-later
"""The real-photo benchmark (training.evaluate_real) on a few photos of ../shared/realdev.

The dev photos are copied into a temporary plain folder (jpg + mat, no index.csv), so the yaw must come
from Pose_Para; nothing of them is written inside the repository.
"""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from scipy.io import loadmat

from training.evaluate_real import (
    DEFAULT_FOLDER,
    band_table,
    contact_sheet,
    depth_at,
    evaluate,
    grid_sample,
    main,
    score_photo,
)
from training.real_landmarks import (
    BANDS,
    INNER,
    LANDMARK_PARTS,
    load_folder,
    nme_2d,
    nme_by_part,
    scored_landmarks,
)

if not (DEFAULT_FOLDER / "index.csv").is_file():
    pytest.skip(f"the real-photo dev set {DEFAULT_FOLDER} is absent (it lives in ../shared, outside the "
                "repository)", allow_module_level=True)

FRONTAL, MID, PROFILE = "image00213", "image00099", "image00010"  # |yaw| 5, 32, 69 degrees


def _index() -> dict[str, dict[str, str]]:
    with (DEFAULT_FOLDER / "index.csv").open(newline="") as f:
        return {row["name"]: row for row in csv.DictReader(f)}


@pytest.fixture(scope="module")
def plain_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("realdev_plain")
    for name in (FRONTAL, MID, PROFILE):
        for ext in (".jpg", ".mat"):
            shutil.copy(DEFAULT_FOLDER / (name + ext), folder / (name + ext))
    return folder


@pytest.fixture(scope="module")
def run(plain_folder: Path) -> tuple[dict, dict]:
    return evaluate(plain_folder, grid_names={FRONTAL, MID, PROFILE})


def test_a_plain_folder_gets_the_yaw_and_band_of_index_csv_from_pose_para(plain_folder: Path) -> None:
    index = _index()
    photos = load_folder(plain_folder)
    assert [p.name for p in photos] == sorted([FRONTAL, MID, PROFILE])
    for p in photos:
        assert p.yaw_deg == pytest.approx(float(index[p.name]["yaw_deg"]), abs=0.01)
        assert p.band == index[p.name]["yaw_bin"]


def test_the_json_has_every_band_and_a_record_per_photo(plain_folder: Path, tmp_path: Path) -> None:
    out = tmp_path / "report.json"
    main([str(plain_folder), "--out", str(out), "--threads", "1"])
    report = json.loads(out.read_text())
    bands = report["bands"]
    assert set(bands) == {b for b, _, _ in BANDS} | {"all", "band_mean"}
    assert [bands[b]["photos"] for b, _, _ in BANDS] == [1, 1, 1] and bands["all"]["photos"] == 3
    records = {r["name"]: r for r in report["photos"]}
    assert set(records) == {FRONTAL, MID, PROFILE}
    for r in records.values():
        assert r["status"] in ("ok", "no_face", "failed")
        assert ("depth_error_pct" in r) == (r["status"] == "ok")
        if r["status"] == "ok":  # the flat plane needs no reconstruction: every photo has it
            assert r["flat_error_all_pct"] == r["flat_error_pct"]
    assert bands["all"]["found"] == sum(r["status"] != "no_face" for r in records.values())
    assert records[FRONTAL]["status"] == "ok" and not records[FRONTAL]["wrong_face"]
    assert report["options"]["resolution"] == 128  # the artist's defaults


def test_the_flat_baseline_is_the_rms_of_the_centred_ground_truth_depth(run: tuple[dict, dict]) -> None:
    report, _ = run
    pt = loadmat(str(DEFAULT_FOLDER / f"{FRONTAL}.mat"))["pt3d_68"].astype(float)  # (3, 68), MATLAB px
    z = pt[2, 17:68]  # a near-frontal face hides none of its inner landmarks
    eye = np.linalg.norm(pt[:, 36] - pt[:, 45])
    by_hand = 100 * np.sqrt(np.mean((z - np.median(z)) ** 2)) / eye
    record = next(r for r in report["photos"] if r["name"] == FRONTAL)
    assert record["n_scored"] == 51
    assert record["flat_error_pct"] == pytest.approx(by_hand, rel=1e-9)
    assert 0 < record["depth_error_pct"] < record["flat_error_pct"]  # the product beats a plane there


def test_a_turned_face_hides_some_inner_landmarks_and_the_jaw_is_never_scored() -> None:
    photos = {p.name: p for p in load_folder(DEFAULT_FOLDER)}
    frontal = scored_landmarks(photos[FRONTAL].landmarks)
    profile = scored_landmarks(photos[PROFILE].landmarks)
    assert frontal[INNER].all() and not frontal[:17].any()
    assert not profile[:17].any() and 0 < (~profile[INNER]).sum() < len(INNER) // 2


def test_depth_at_reads_the_depth_map_back_at_crop_pixel_centres(run: tuple[dict, dict]) -> None:
    _, kept = run
    _, result = kept[FRONTAL]
    s = result.depth.shape[0]
    i, j = np.nonzero(np.isfinite(result.depth))
    pick = np.linspace(0, len(i) - 1, 50).astype(int)
    xy = result.crop_transform.to_photo(np.stack([j[pick] + 0.5, i[pick] + 0.5], axis=1))  # 450 px photo
    depth, inside = depth_at(result, xy)
    photo_px_per_map_px = result.crop_transform.scale * result.crop.shape[0] / s
    assert inside.all()
    np.testing.assert_allclose(depth, result.depth[i[pick], j[pick]] * photo_px_per_map_px, rtol=1e-6)


def test_landmarks_from_the_ground_truth_give_nme_zero(run: tuple[dict, dict]) -> None:
    _, kept = run
    photo, result = kept[FRONTAL]
    assert result.photo_size == result.original_size
    result.landmarks68_px = photo.landmarks.copy()  # what a perfect template fit would return
    record = score_photo(photo, result)
    assert record["nme_pct"] == pytest.approx(0.0, abs=1e-12)
    assert record["landmark_depth_error_pct"] == pytest.approx(0.0, abs=1e-9)
    shifted = photo.landmarks + [2.0, 0.0, 0.0]
    w, h = np.ptp(photo.landmarks[:, :2], axis=0)
    assert nme_2d(shifted, photo.landmarks) == pytest.approx(200.0 / np.sqrt(w * h))
    jaw_only = photo.landmarks.copy()
    jaw_only[:17, 1] += 4.0  # the jaw 4 px low, the rest exact
    parts = nme_by_part(jaw_only, photo.landmarks)
    assert parts["jaw"] == pytest.approx(400.0 / np.sqrt(w * h))
    assert all(v == 0.0 for k, v in parts.items() if k != "jaw")
    counts = {k: b - a for k, (a, b) in LANDMARK_PARTS.items()}
    assert sum(parts[k] * counts[k] for k in parts) / 68 == pytest.approx(nme_2d(jaw_only, photo.landmarks))
    del result.landmarks68_px


def test_the_table_and_the_contact_sheet(run: tuple[dict, dict]) -> None:
    report, kept = run
    table = band_table(report["bands"])
    assert all(f"| {b}° |" in table for b, _, _ in BANDS) and "| all |" in table
    names = grid_sample([p for p, _ in kept.values()], per_band=1)
    assert names == [FRONTAL, MID, PROFILE]
    cell = 64
    sheet = contact_sheet([kept[n] for n in names], cell=cell)
    assert sheet.shape == (3 * cell, 3 * cell, 3) and sheet.dtype == np.uint8
    for row, name in enumerate(names):
        front = sheet[row * cell:(row + 1) * cell, cell:2 * cell].astype(int)
        if kept[name][1] is None:  # no reconstruction: dark red cells (with a white "no face")
            assert ((front[..., 0] > front[..., 1]) | (front.min(axis=2) > 200)).all()
        else:  # a grey head on black
            grey = (front.max(axis=2) - front.min(axis=2) <= 1) & (front[..., 0] > 30)
            assert grey.mean() > 0.1
