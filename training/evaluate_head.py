# SPDX-License-Identifier: GPL-3.0-or-later
"""Score the fitted template head on synthetic template heads with exact ground truth, per |yaw| band.

    .venv/bin/python -m training.evaluate_head [--count N] [--out report.json] [--weights PATH]

The test set is fixed and generated on the fly (training/synth/template_heads.py, split ``test``):
the first N / 3 indices whose |yaw| falls in each of the bands 0-30, 30-60 and 60-90 deg
(found from the camera stream alone, so the set does not depend on the appearance code), rendered at
128 px. Each image goes through ``core.pipeline.reconstruct`` with ``output="head"``, no texture, and
the whole image as the crop box (the renders already have the training framing, so detection is
skipped). Scores per head:

- ``vertex_error_mm``: mean distance over the template's ``face`` part between the fitted head
  (``HeadResult.vertices``, unposed) and the ground-truth head, after the rigid (rotation +
  translation) alignment that minimises the squared distances (Kabsch). It includes the error of
  the head's size.
- ``vertex_error_sim_mm``: the same after a similarity alignment (Umeyama, with scale). One image
  under weak perspective does not fix the head's absolute size (a larger head farther away looks
  the same), so this is the shape error alone.
- ``mean_head_error_mm`` / ``mean_head_error_sim_mm``: the same for the mean neutral head
  (identity and expression 0), the baseline a fit must beat.
- ``identity_rmse``: root mean square over the K modes of fitted minus true identity coefficients
  (standard deviations; predicting 0 gives about 1); ``identity_rmse_10`` the same over the 10
  largest modes (0.5 to 3.8 mm RMS per standard deviation; the last of the 60 are about 0.1 mm, too
  small for one 128 px image to pin down, so the full RMSE stays near 1 even for a perfect fit of
  the shape).
- ``expression_mae``: mean absolute error over the 53 ARKit weights (``expression_zero_mae``:
  the same for all-zero weights).
- ``rotation_error_deg``: angle of ``R_fit R_true^T``.
- ``mask_iou`` and ``corr_error_mm`` (network only): intersection over union of the network's mask
  with the true one, and the median distance (anny frame, m -> mm) between the network's ``corr``
  and the true ``corr_anny`` over both masks: how far the domain gap moves the maps the fit reads.
- ``nme_pct``: 2D NME (training.real_landmarks.nme_2d, the AFLW2000-3D normalisation: the square
  root of the ground-truth landmarks' box area) of ``Reconstruction.landmarks68_px`` against the
  projected landmark vertices, hidden ones included.

The network was trained on anny heads, not on these; the numbers include that domain gap.
``--source oracle`` replaces the network by the ground truth: the sample's ``corr_anny`` (the
template point of each pixel in the anny frame the network predicts), mask and depth go through the
same fit (core.template_fit with the pipeline's defaults, no detector landmarks), which bounds what
a perfect network would give and separates the network's error from the fit's and the model's.
"""

from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path
from typing import Any

import numpy as np

from training.real_landmarks import BANDS, nme_2d, yaw_band

RESOLUTION = 128
DEFAULT_COUNT = 100


def fixed_test_set(count: int, split: str = "test") -> list[tuple[int, str]]:
    """The fixed test set: ``(index, band)``, the first indices of each |yaw| band, ``count`` split evenly
    over the bands (the first bands take the remainder)."""
    from training.synth.template_heads import sample_camera, sample_rng

    wanted = {name: count // len(BANDS) + (k < count % len(BANDS)) for k, (name, _, _) in enumerate(BANDS)}
    found: dict[str, list[int]] = {name: [] for name, _, _ in BANDS}
    index = 0
    while any(len(found[b]) < wanted[b] for b in found):
        _, info = sample_camera(sample_rng(split, index, 2))
        band = yaw_band(math.degrees(info["yaw"]))
        if len(found[band]) < wanted[band]:
            found[band].append(index)
        index += 1
    return sorted((i, b) for b, v in found.items() for i in v)


def align(source: np.ndarray, target: np.ndarray, scale: bool = False) -> np.ndarray:
    """``source`` (n, 3) moved by the rotation, translation (and with ``scale`` the uniform scale)
    that minimise ``sum |s R x + t - y|^2`` onto ``target`` (Kabsch / Umeyama); (n, 3) float64."""
    x = np.asarray(source, dtype=np.float64)
    y = np.asarray(target, dtype=np.float64)
    mx, my = x.mean(0), y.mean(0)
    a, b = x - mx, y - my
    u, sv, vt = np.linalg.svd(b.T @ a)
    d = np.diag([1.0, 1.0, np.sign(np.linalg.det(u @ vt))])
    rot = u @ d @ vt
    s = float((sv * np.diag(d)).sum() / (a * a).sum()) if scale else 1.0
    return s * a @ rot.T + my


def vertex_error_mm(source: np.ndarray, target: np.ndarray, scale: bool = False) -> float:
    """Mean distance in mm after :func:`align` (inputs in m)."""
    moved = align(source, target, scale)
    return float(1000.0 * np.linalg.norm(moved - np.asarray(target, dtype=np.float64), axis=1).mean())


def score_head(sample: dict, result: Any, template: Any) -> dict[str, float]:
    """Scores of one reconstruction (``output="head"``) against its sample (module notes)."""
    face = template.part_mask("face")
    true_v = np.asarray(sample["vertices"], dtype=np.float64)[face]
    fit_v = np.asarray(result.head.vertices, dtype=np.float64)[face]
    mean_v = template.neutral.astype(np.float64)[face]
    e_true = np.asarray(sample["expression"], dtype=np.float64)
    a_true = np.asarray(sample["identity"], dtype=np.float64)
    a_fit = np.zeros_like(a_true)
    given = np.asarray(result.head.identity, dtype=np.float64)[: len(a_true)]
    a_fit[: len(given)] = given
    r = np.asarray(result.head.rotation) @ np.asarray(sample["rotation"]).T
    angle = math.degrees(math.acos(float(np.clip((np.trace(r) - 1.0) / 2.0, -1.0, 1.0))))
    scores = {
        "vertex_error_mm": vertex_error_mm(fit_v, true_v),
        "vertex_error_sim_mm": vertex_error_mm(fit_v, true_v, scale=True),
        "mean_head_error_mm": vertex_error_mm(mean_v, true_v),
        "mean_head_error_sim_mm": vertex_error_mm(mean_v, true_v, scale=True),
        "identity_rmse": float(np.sqrt(np.mean((a_fit - a_true) ** 2))),
        "identity_rmse_10": float(np.sqrt(np.mean((a_fit[:10] - a_true[:10]) ** 2))),
        "expression_mae": float(np.mean(np.abs(np.asarray(result.head.expression) - e_true))),
        "expression_zero_mae": float(np.mean(np.abs(e_true))),
        "rotation_error_deg": angle,
        "nme_pct": nme_2d(np.asarray(result.landmarks68_px)[:, :2], sample["landmarks68"][:, :2]),
    }
    maps = getattr(result, "maps", None)
    if maps is not None:  # the network's own maps (crop = image): how far the domain gap moves them
        mask_true = np.asarray(sample["mask"], dtype=bool)
        mask_net = np.asarray(maps.mask, dtype=bool)
        both = mask_true & mask_net
        scores["mask_iou"] = float(both.sum() / max((mask_true | mask_net).sum(), 1))
        lo, hi = template.anny_box.astype(np.float64)
        gap = (np.asarray(maps.corr, dtype=np.float64)[both] - sample["corr_anny"][both]) * (hi - lo)
        if both.any():
            scores["corr_error_mm"] = float(1000.0 * np.median(np.linalg.norm(gap, axis=1)))
    return scores


SCORES = ("vertex_error_mm", "vertex_error_sim_mm", "mean_head_error_mm", "mean_head_error_sim_mm",
          "identity_rmse", "identity_rmse_10", "expression_mae", "expression_zero_mae",
          "rotation_error_deg", "nme_pct", "mask_iou", "corr_error_mm")


def summarise(records: list[dict[str, Any]]) -> dict[str, Any]:
    """Per band and overall: count, failures and the mean of each score; ``band_mean`` the mean of the
    three band means."""
    out: dict[str, Any] = {}
    for name in [b for b, _, _ in BANDS] + ["all"]:
        rs = [r for r in records if name == "all" or r["band"] == name]
        ok = [r for r in rs if r["status"] == "ok"]
        out[name] = {"heads": len(rs), "failed": len(rs) - len(ok)}
        for key in SCORES:
            vals = [r[key] for r in ok if r.get(key) is not None]
            out[name][key] = float(np.mean(vals)) if vals else None
    out["band_mean"] = {
        key: (float(np.mean([out[b][key] for b, _, _ in BANDS]))
              if all(out[b][key] is not None for b, _, _ in BANDS) else None)
        for key in SCORES
    }
    return out


def oracle_result(sample: dict, template: Any, depth_weight: float) -> Any:
    """The pipeline's head fit run on the sample's ground-truth maps instead of the network's: an
    object with ``head`` (``vertices``, ``identity``, ``expression``, ``rotation``) and
    ``landmarks68_px`` (68, 3) like ``core.pipeline.Reconstruction`` (crop = image, 1 px = 1 px)."""
    from types import SimpleNamespace

    from core.template_fit import correspondences_from_maps, fit_template

    mask = np.asarray(sample["mask"], dtype=bool)
    depth = np.where(mask, sample["depth"], np.nan)
    data = correspondences_from_maps(sample["corr_anny"], mask, template, depth=depth)
    fit = fit_template(template, data, depth_weight=depth_weight)
    uvh = fit.project(fit.vertices[template.landmark68])
    uvh[:, :2] += 0.5  # pixel-centre indices -> continuous px
    head = SimpleNamespace(vertices=fit.vertices, identity=fit.identity, expression=fit.expression,
                           rotation=fit.rotation)
    return SimpleNamespace(head=head, landmarks68_px=uvh)


def evaluate(count: int = DEFAULT_COUNT, weights: str | None = None, progress=None,
             source: str = "network") -> dict[str, Any]:
    """Render the fixed test set and score the fitted head on each (module notes).

    ``source`` is ``"network"`` (the pipeline on the rendered image) or ``"oracle"`` (the same fit on
    the ground-truth maps, :func:`oracle_result`).

    Returns ``{"heads": [record, ...], "bands": summarise(...), "seconds": float, "count": int}``;
    a record holds ``index``, ``band``, ``yaw_deg``, ``status`` ("ok" or "failed"), ``message`` and
    the scores of :func:`score_head`.
    """
    from core.errors import FaceFromPhotoError
    from core.pipeline import ReconstructOptions, reconstruct
    from core.template_model import load_template
    from training.synth.template_heads import generate_template_sample

    template = load_template()
    options = ReconstructOptions(output="head", head_texture_size=0, weights=weights,
                                 crop_box=(0.0, 0.0, float(RESOLUTION), float(RESOLUTION)))
    chosen = fixed_test_set(count)
    records = []
    t0 = time.perf_counter()
    for k, (index, band) in enumerate(chosen):
        sample = generate_template_sample(index, "test", RESOLUTION)
        image = (np.clip(sample["image"], 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)
        rec: dict[str, Any] = {"index": index, "band": band, "yaw_deg": math.degrees(sample["info"]["yaw"])}
        try:
            if source == "oracle":
                result = oracle_result(sample, template, options.head_depth_weight)
            else:
                result = reconstruct(image, options)
            rec.update(status="ok", message="", **score_head(sample, result, template))
        except FaceFromPhotoError as exc:
            rec.update(status="failed", message=str(exc))
        records.append(rec)
        if progress is not None:
            progress(k + 1, len(chosen))
    return {"count": len(chosen), "source": source, "heads": records, "bands": summarise(records),
            "seconds": time.perf_counter() - t0}


def table(bands: dict[str, Any]) -> str:
    """Markdown table of :func:`summarise`'s result."""
    cols = [("heads", "{}"), ("failed", "{}"), ("vertex_error_mm", "{:.2f}"),
            ("vertex_error_sim_mm", "{:.2f}"), ("mean_head_error_mm", "{:.2f}"),
            ("mean_head_error_sim_mm", "{:.2f}"), ("identity_rmse", "{:.3f}"),
            ("identity_rmse_10", "{:.3f}"), ("expression_mae", "{:.3f}"),
            ("expression_zero_mae", "{:.3f}"), ("rotation_error_deg", "{:.1f}"), ("nme_pct", "{:.2f}"),
            ("mask_iou", "{:.3f}"), ("corr_error_mm", "{:.1f}")]
    head = ["|yaw| band", "heads", "failed", "face error mm, rigid", "face error mm, similarity",
            "mean head mm, rigid", "mean head mm, similarity", "identity RMSE (sd)", "10 largest modes",
            "expression MAE", "all-zero expression MAE", "rotation error deg", "2D NME %", "mask IoU",
            "corr error mm"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for name in [b for b, _, _ in BANDS] + ["all", "band_mean"]:
        e = bands[name]
        cells = [name]
        for key, fmt in cols:
            v = e.get(key)
            cells.append("-" if v is None else fmt.format(v))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--count", type=int, default=DEFAULT_COUNT,
                    help="heads in the test set, split evenly over the three |yaw| bands (default 100)")
    ap.add_argument("--out", default="runs/eval_head/report.json", help="JSON report path")
    ap.add_argument("--weights", default=None, help="network weights (default: the shipped core/weights)")
    ap.add_argument("--source", choices=("network", "oracle"), default="network",
                    help="'oracle' fits the ground-truth correspondences instead of the network's")
    ap.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    args = ap.parse_args(argv)
    if args.count < 1:
        ap.error("--count must be at least 1")
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)

    def progress(done: int, total: int) -> None:
        if done % 10 == 0 or done == total:
            print(f"{done}/{total}", flush=True)

    report = evaluate(args.count, args.weights, progress, args.source)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=1))
    print(table(report["bands"]))
    print(f"\n{report['count']} heads ({args.source}) in {report['seconds']:.0f} s; wrote {out}")
    return report


if __name__ == "__main__":
    main()
