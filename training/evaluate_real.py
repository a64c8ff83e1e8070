# SPDX-License-Identifier: GPL-3.0-or-later
"""Score the product on real photos with 3D landmarks (AFLW2000-3D layout), per |yaw| band.

    .venv/bin/python -m training.evaluate_real [FOLDER] [--limit N] [--out report.json] [--grid sheet.png]

Each photo goes through ``core.pipeline.reconstruct`` with the default options, as an artist's would
(the network is loaded once and cached by the pipeline). The reconstruction's depth map lives in the
crop's pixel grid; it is put back into photo pixels through the crop geometry the result carries
(``crop_transform.to_crop``, whatever detector chose the crop) and sampled bilinearly at the ground-truth
landmarks' ``(x, y)``::

    photo (x, y) ──► working photo ──► crop (u, v) ──► depth map [i, j] = (v - ½, u - ½)
    depth (map px) × photo px per map px ──► photo px, larger = nearer, like pt3d_68's z

Outside the predicted mask the depth map is extended by its nearest valid pixel, so every scored
landmark gets a value (the share that fell outside is reported as ``outside_mask``).

Scores (training.real_landmarks): faces found ("No face was found" counts as not found; any other
error of the product counts as found but failed), the depth error at the scored landmarks beside the
flat plane on the same photos, and the slope of the ground truth against our depth. When the result
carries ``landmarks68_px`` ((68, 3) float: working-photo px in core.crop's continuous coordinates, x
right, y down, z larger = nearer in the same px scale), also the 2D NME of those landmarks and the
depth error of their own z.

The JSON holds one record per photo and one summary per band and overall; the markdown table is
printed. The dev photos are for measuring only: never commit the JSON's photo names' pictures or the
``--grid`` sheet of them.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import statistics
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from training.real_landmarks import (
    BANDS,
    LANDMARK_PARTS,
    LandmarkPhoto,
    depth_error,
    depth_slope,
    eye_distance,
    flat_error,
    load_folder,
    nme_2d,
    nme_by_part,
    scored_landmarks,
)

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_FOLDER = ROOT.parent / "shared" / "realdev" / "aflw2000_3d"

PEER_3DDFA_V2_DEPTH = {"0-30": 4.2, "30-60": 4.3, "60-90": 5.2}
"""Depth error at landmarks (%) of 3DDFA_V2 (trained on real photos + licensed BFM) per band, issue 45."""

PEER_3DDFA_V2_NME_ALL = 3.5
"""3DDFA_V2's published 2D NME (%) over all 2000 AFLW2000-3D images (mean of the band means)."""

GRID_PER_BAND = 4
"""Photos per band on the contact sheet: the first ones by name among those evaluated."""

ON_FACE_MARGIN = 0.2
"""Without a detected face box (a caller's crop box), the crop holds the ground-truth face when its nose
tip (landmark 30) lies in the crop's middle, ``[m, 1 - m]`` of its side along both axes; otherwise the crop
is on another face or a false one (``wrong_face``). With a detected face, the nose tip must lie in its box."""

ON_FACE_BOX_MARGIN = 0.25
"""With a detected face, its box grown by this fraction of its side on every side must hold the nose tip."""

GRID_CELL = 160  # px, side of each contact-sheet cell
GRID_TURN_DEG = 45.0  # the second view of the result


def _no_face(message: str) -> bool:
    return message.lower().startswith("no face")


def depth_at(result: Any, xy: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The reconstruction's depth at photo points, in photo px.

    Parameters
    ----------
    result : core.pipeline.Reconstruction
        Uses ``depth`` (S, S) (map px, NaN outside the mask), ``crop`` (the network's input, its side is
        the crop's), ``crop_transform`` (crop px -> working-photo px), ``photo_size`` and
        ``original_size``.
    xy : (n, 2) float
        Points in the upright full-resolution photo, continuous px (core.crop's convention).

    Returns
    -------
    depth : (n,) float64
        Bilinear samples of the depth map (extended outside the mask by its nearest valid pixel),
        times the photo px per map px; larger = nearer; NaN when the map has no valid pixel.
    inside : (n,) bool
        The nearest map pixel lies in the predicted mask.
    """
    from scipy import ndimage

    depth = np.asarray(result.depth, dtype=np.float64)
    valid = np.isfinite(depth)
    n = len(xy)
    if not valid.any():
        return np.full(n, np.nan), np.zeros(n, dtype=bool)
    nearest = ndimage.distance_transform_edt(~valid, return_distances=False, return_indices=True)
    filled = depth[nearest[0], nearest[1]]

    (ow, oh), (pw, ph) = result.original_size, result.photo_size
    to_working = np.array([pw / ow, ph / oh])
    transform = result.crop_transform
    uv = transform.to_crop(np.asarray(xy, dtype=np.float64)[:, :2] * to_working)  # (n, 2) crop px
    side = depth.shape[0]
    uv = uv * (side / np.asarray(result.crop).shape[0])  # crop px -> map px
    unit = transform.to_photo(np.array([[0.0, 0.0], [1.0, 0.0]]))
    photo_px_per_map_px = float(np.linalg.norm(unit[1] - unit[0])) * np.asarray(result.crop).shape[0] / side
    photo_px_per_map_px /= to_working[0]  # working px -> original px

    fi = np.clip(uv[:, 1] - 0.5, 0, side - 1)
    fj = np.clip(uv[:, 0] - 0.5, 0, side - 1)
    i0 = np.minimum(np.floor(fi).astype(int), side - 2)
    j0 = np.minimum(np.floor(fj).astype(int), side - 2)
    ti, tj = fi - i0, fj - j0
    value = (
        filled[i0, j0] * (1 - ti) * (1 - tj)
        + filled[i0, j0 + 1] * (1 - ti) * tj
        + filled[i0 + 1, j0] * ti * (1 - tj)
        + filled[i0 + 1, j0 + 1] * ti * tj
    )
    in_map = (uv[:, 0] >= 0) & (uv[:, 0] <= side) & (uv[:, 1] >= 0) & (uv[:, 1] <= side)
    inside = in_map & valid[np.rint(fi).astype(int), np.rint(fj).astype(int)]
    return value * photo_px_per_map_px, inside


def _on_face(result: Any, nose_xy: np.ndarray) -> bool:
    """The detected face holds the point (original photo px).

    With a detected face (``result.face``, working-photo px), the point must lie inside its box grown
    by :data:`ON_FACE_BOX_MARGIN`; the crop itself is centred on the head, behind a turned face, so its
    middle is not the test. Without one (a caller's crop box), the point must lie in the crop's middle
    (:data:`ON_FACE_MARGIN`).
    """
    (ow, oh), (pw, ph) = result.original_size, result.photo_size
    xy = np.asarray(nose_xy, dtype=np.float64)[:2] * [pw / ow, ph / oh]
    face = getattr(result, "face", None)
    if face is not None:
        # A profile's nose tip sits at its box's edge.
        mx, my = ON_FACE_BOX_MARGIN * face.w, ON_FACE_BOX_MARGIN * face.h
        return bool(face.x - mx <= xy[0] <= face.x + face.w + mx
                    and face.y - my <= xy[1] <= face.y + face.h + my)
    uv = result.crop_transform.to_crop(xy[None, :])
    frac = uv[0] / np.asarray(result.crop).shape[0]
    return bool(np.all((frac >= ON_FACE_MARGIN) & (frac <= 1.0 - ON_FACE_MARGIN)))


def score_photo(photo: LandmarkPhoto, result: Any) -> dict[str, Any]:
    """Scores of one reconstruction against the photo's ground truth (see the module notes).

    Returns
    -------
    dict
        ``depth_error_pct``, ``flat_error_pct``, ``slope``, ``n_scored``, ``outside_mask`` (share of the
        scored landmarks outside the predicted mask), ``wrong_face`` (the crop is not centred on the
        ground-truth face, :data:`ON_FACE_MARGIN`); with ``landmarks68_px`` on the result also
        ``nme_pct`` and ``landmark_depth_error_pct``.
    """
    gt = photo.landmarks
    scored = scored_landmarks(gt)
    eye = eye_distance(gt)
    ours, inside = depth_at(result, gt[:, :2])
    rec: dict[str, Any] = {
        "depth_error_pct": depth_error(ours[scored], gt[scored, 2], eye),
        "flat_error_pct": flat_error(gt[scored, 2], eye),
        "slope": depth_slope(ours[scored], gt[scored, 2]),
        "n_scored": int(scored.sum()),
        "outside_mask": float(np.mean(~inside[scored])),
        "wrong_face": not _on_face(result, gt[30, :2]),
    }
    landmarks = getattr(result, "landmarks68_px", None)
    if landmarks is not None:
        lm = np.asarray(landmarks, dtype=np.float64)
        if lm.shape != (68, 3):
            raise ValueError(f"landmarks68_px must be (68, 3), got {lm.shape}")
        (ow, oh), (pw, ph) = result.original_size, result.photo_size
        lm = lm * np.array([ow / pw, oh / ph, ow / pw])  # working px -> original px
        rec["nme_pct"] = nme_2d(lm[:, :2], gt[:, :2])
        rec.update({f"nme_{part}_pct": v for part, v in nme_by_part(lm[:, :2], gt[:, :2]).items()})
        rec["landmark_depth_error_pct"] = depth_error(lm[scored, 2], gt[scored, 2], eye)
    return rec


def _stats(values: Sequence[float]) -> dict[str, float | None]:
    vals = [v for v in values if v is not None and np.isfinite(v)]
    if not vals:
        return {"mean": None, "median": None}
    return {"mean": float(np.mean(vals)), "median": float(statistics.median(vals))}


def summarise(records: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Per-band and overall summary of per-photo records (:func:`evaluate`'s ``photos``).

    Each summary: ``photos``, ``found``, ``failed`` (found, but the product raised), ``scored``,
    ``wrong_face`` (scored, but the crop is on another face), and
    ``{"mean", "median"}`` of each score over the scored photos; the flat plane is over the same photos,
    and ``flat_error_all_pct`` over all the photos of the band (found or not: it needs no reconstruction).
    ``"band_mean"`` holds the mean of the three band means of each score (the usual AFLW2000-3D
    overall figure).
    """
    keys = ("depth_error_pct", "flat_error_pct", "slope", "outside_mask",
            "nme_pct", "landmark_depth_error_pct", *(f"nme_{part}_pct" for part in LANDMARK_PARTS))
    groups = {name: [r for r in records if r["band"] == name] for name, _, _ in BANDS}
    groups["all"] = list(records)
    out: dict[str, Any] = {}
    for name, recs in groups.items():
        done = [r for r in recs if r["status"] == "ok"]
        entry: dict[str, Any] = {
            "photos": len(recs),
            "found": sum(r["status"] != "no_face" for r in recs),
            "failed": sum(r["status"] == "failed" for r in recs),
            "scored": len(done),
            "wrong_face": sum(bool(r.get("wrong_face")) for r in done),
        }
        for key in keys:
            if any(key in r for r in done):
                entry[key] = _stats([r.get(key) for r in done])
        entry["flat_error_all_pct"] = _stats([r["flat_error_all_pct"] for r in recs])
        out[name] = entry
    band_mean: dict[str, float | None] = {}
    for key in keys:
        means = [out[b].get(key, {}).get("mean") for b, _, _ in BANDS]
        band_mean[key] = float(np.mean(means)) if all(m is not None for m in means) else None
    out["band_mean"] = band_mean
    return out


def evaluate(
    folder: str | Path = DEFAULT_FOLDER,
    limit: int | None = None,
    options: Any = None,
    grid_names: set[str] | None = None,
    progress: Callable[[int, int, str], None] | None = None,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Reconstruct and score every photo of ``folder``.

    Parameters
    ----------
    folder : str or Path
        AFLW2000-3D layout (training.real_landmarks).
    limit : int or None
        First ``limit`` photos per band; None for all.
    options : core.pipeline.ReconstructOptions or None
        None: the defaults.
    grid_names : set of str or None
        Photos whose reconstructions are kept for the contact sheet.
    progress : callable(done, total, name) or None

    Returns
    -------
    report : dict
        ``folder``, ``options``, ``model_sha256``, ``seconds``, ``photos`` (one record per photo:
        ``name``, ``yaw_deg``, ``band``, ``status`` in {"ok", "no_face", "failed"}, ``message``,
        ``seconds``, and the scores of :func:`score_photo`) and ``bands`` (:func:`summarise`).
    kept : dict
        ``name -> (photo, Reconstruction or None)`` for ``grid_names``.
    """
    from core.errors import FaceFromPhotoError
    from core.pipeline import ReconstructOptions, reconstruct

    options = options or ReconstructOptions()
    photos = load_folder(folder, limit)
    records: list[dict[str, Any]] = []
    kept: dict[str, Any] = {}
    sha = ""
    t0 = time.perf_counter()
    for k, photo in enumerate(photos):
        gt = photo.landmarks
        rec: dict[str, Any] = {
            "name": photo.name, "yaw_deg": photo.yaw_deg, "band": photo.band,
            "flat_error_all_pct": flat_error(gt[scored_landmarks(gt), 2], eye_distance(gt)),
        }
        t = time.perf_counter()
        result = None
        try:
            result = reconstruct(str(photo.image_path), options)
        except FaceFromPhotoError as err:
            rec["status"] = "no_face" if _no_face(str(err)) else "failed"
            rec["message"] = str(err)
        else:
            sha = result.model_sha256
            rec["status"] = "ok"
            rec.update(score_photo(photo, result))
        rec["seconds"] = time.perf_counter() - t
        records.append(rec)
        if grid_names is not None and photo.name in grid_names:
            kept[photo.name] = (photo, result)
        if progress is not None:
            progress(k + 1, len(photos), photo.name)
    report = {
        "folder": str(folder),
        "options": options.to_dict(),
        "model_sha256": sha,
        "seconds": time.perf_counter() - t0,
        "bands": summarise(records),
        "photos": records,
    }
    return report, kept


def grid_sample(photos: Sequence[LandmarkPhoto], per_band: int = GRID_PER_BAND) -> list[str]:
    """Names on the contact sheet: the first ``per_band`` photos by name in each band, bands in order."""
    names: list[str] = []
    for band, _, _ in BANDS:
        names += sorted(p.name for p in photos if p.band == band)[:per_band]
    return names


def contact_sheet(rows: Sequence[tuple[LandmarkPhoto, Any]], cell: int = GRID_CELL) -> np.ndarray:
    """(rows * cell, 3 * cell, 3) uint8: photo | shaded result from the front | turned by 45 degrees.

    The photo shows the crop the network saw (green square; orange when it is not on the ground-truth
    face, :data:`ON_FACE_MARGIN`); a photo without a reconstruction gets dark red result cells.
    """
    import cv2

    from core.image_io import load_photo
    from training.photo_grid import fit_cell, shaded_mesh

    lines = []
    for photo, result in rows:
        image = np.ascontiguousarray(load_photo(photo.image_path)[..., :3])
        if result is not None:
            (ow, oh), (pw, ph) = result.original_size, result.photo_size
            side = np.asarray(result.crop).shape[0]
            corners = result.crop_transform.to_photo(np.array([[0, 0], [side, 0], [side, side], [0, side]]))
            corners = corners * [ow / pw, oh / ph]  # working px -> original px
            colour = (255, 160, 0) if not _on_face(result, photo.landmarks[30, :2]) else (0, 255, 0)
            thick = max(1, round(2 * max(image.shape[:2]) / cell))
            cv2.polylines(image, [np.rint(corners).astype(np.int32)], True, colour, thick, cv2.LINE_AA)
        cells = [fit_cell(image, cell)]
        if result is None:
            cells += [np.broadcast_to(np.array([0.35, 0.05, 0.05], np.float32), (cell, cell, 3))] * 2
        else:
            v = result.smoothed_vertices if result.smoothed_vertices is not None else result.mesh.vertices
            box = np.stack([v.min(axis=0), v.max(axis=0)])
            cells += [shaded_mesh(v, result.mesh.triangles, cell, turn, box) for turn in (0.0, GRID_TURN_DEG)]
        line = (np.clip(np.concatenate(cells, axis=1), 0, 1) * 255).astype(np.uint8)
        label = f"{photo.name} yaw {photo.yaw_deg:+.0f}"
        cv2.putText(line, label, (4, 14), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (255, 255, 0), 1, cv2.LINE_AA)
        if result is None:
            cv2.putText(line, "no face", (cell + 4, 14), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (255, 255, 255), 1,
                        cv2.LINE_AA)
        lines.append(line)
    return np.concatenate(lines, axis=0)


def _cell(stats: dict[str, Any] | None, fmt: str = "{:.1f}") -> str:
    if not stats or stats.get("mean") is None:
        return "–"
    return f"{fmt.format(stats['mean'])} / {fmt.format(stats['median'])}"


def band_table(bands: dict[str, Any]) -> str:
    """Markdown table of :func:`summarise`'s bands: one row per band and one overall."""
    with_nme = any("nme_pct" in bands[b] for b, _, _ in BANDS) or "nme_pct" in bands["all"]
    head = ["|yaw| band", "faces found", "ours: depth error mean / median %", "flat plane mean / median %",
            "slope mean / median", "outside mask", "flat plane, all photos %", "3DDFA_V2 depth %"]
    if with_nme:
        head += ["NME mean / median %", "landmark depth error mean / median %"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for name in [b for b, _, _ in BANDS] + ["all"]:
        e = bands[name]
        found = f"{e['found']} / {e['photos']} ({100.0 * e['found'] / max(e['photos'], 1):.0f} %)"
        if e["wrong_face"]:
            found += f", {e['wrong_face']} on another face"
        if e["failed"]:
            found += f", {e['failed']} failed"
        outside = e.get("outside_mask", {}).get("mean")
        peer = PEER_3DDFA_V2_DEPTH.get(name)
        row = [
            f"{name}°" if name != "all" else "all",
            found,
            _cell(e.get("depth_error_pct")),
            _cell(e.get("flat_error_pct")),
            _cell(e.get("slope"), "{:.2f}"),
            "–" if outside is None else f"{100.0 * outside:.0f} %",
            _cell(e.get("flat_error_all_pct")),
            "–" if peer is None else f"{peer:.1f}",
        ]
        if with_nme:
            row += [_cell(e.get("nme_pct"), "{:.2f}"), _cell(e.get("landmark_depth_error_pct"))]
        lines.append("| " + " | ".join(row) + " |")
    mean = bands["band_mean"]
    tail = "Mean of the band means: ours {} %, flat plane {} %".format(
        *("–" if mean.get(k) is None else f"{mean[k]:.1f}" for k in ("depth_error_pct", "flat_error_pct"))
    )
    if with_nme and mean.get("nme_pct") is not None:
        tail += f", NME {mean['nme_pct']:.2f} % (3DDFA_V2 publishes {PEER_3DDFA_V2_NME_ALL} %)"
        parts = ", ".join(f"{part} {mean[f'nme_{part}_pct']:.2f}" for part in LANDMARK_PARTS
                          if mean.get(f"nme_{part}_pct") is not None)
        tail += f"; NME by part: {parts} %"
    return "\n".join(lines) + "\n\n" + tail + "."


def main(argv: list[str] | None = None) -> dict[str, Any]:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("folder", nargs="?", default=str(DEFAULT_FOLDER),
                    help="AFLW2000-3D layout: *.jpg + *.mat with pt3d_68 "
                    "(default: ../shared/realdev/aflw2000_3d)")
    ap.add_argument("--limit", type=int, default=None, help="first N photos (by name) of each |yaw| band")
    ap.add_argument("--out", default="runs/eval_real/report.json", help="JSON report path")
    ap.add_argument("--grid", default=None, help="PNG contact sheet: photo | shaded front | shaded 45 deg")
    ap.add_argument("--weights", default=None, help="network weights (default: the shipped core/weights)")
    ap.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    ap.add_argument("--output", choices=("relief", "head"), default=None,
                    help="the pipeline's output (default: the product's); 'head' also scores the fitted "
                    "template head's 68 landmarks (2D NME and their depth); its texture is not baked")
    args = ap.parse_args(argv)

    from core.pipeline import ReconstructOptions

    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    options = ReconstructOptions(weights=args.weights)
    if args.output == "head":
        options = dataclasses.replace(options, output="head", head_texture_size=0)
    elif args.output == "relief":
        options = dataclasses.replace(options, output="relief")
    names = set(grid_sample(load_folder(args.folder, args.limit))) if args.grid else None

    def progress(done: int, total: int, name: str) -> None:
        if done % 20 == 0 or done == total:
            print(f"{done}/{total} {name}", flush=True)

    report, kept = evaluate(args.folder, args.limit, options, names, progress)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=1))
    print(band_table(report["bands"]))
    print(f"\n{len(report['photos'])} photos in {report['seconds']:.0f} s; wrote {out}")
    if args.grid:
        import cv2

        rows = [kept[n] for n in grid_sample([p for p, _ in kept.values()]) if n in kept]
        sheet = contact_sheet(rows)
        Path(args.grid).parent.mkdir(parents=True, exist_ok=True)
        cv2.imwrite(args.grid, cv2.cvtColor(sheet, cv2.COLOR_RGB2BGR))
        print(f"wrote {args.grid}")
    return report


if __name__ == "__main__":
    main()
