# SPDX-License-Identifier: GPL-3.0-or-later
"""Evaluate FaceNet on the fixed synthetic test set (the normals paper's Table 1 and depth protocol).

    .venv/bin/python -m training.evaluate --weights core/weights/face_net.pt \
        --out core/weights/eval_report.json --update-manifest
    .venv/bin/python -m training.evaluate --checkpoint checkpoints/face_net/checkpoint.pt --limit 50

Metrics (pixels pooled over the whole test set unless said otherwise):

- mask precision / recall of ``mask_prob > threshold`` against the ground-truth mask;
- normal angular error (deg) over GT mask ∩ predicted mask: mean, std and the
  fractions below 10, 20 and 30 deg;
- the mean normal error per region (:func:`region_masks`): near the silhouette,
  where the image shows the head, hair, glasses or clothing in front of it, and
  in the ear zones; each region's share of the errors > 20 and > 30 deg; and the
  normal metrics outside the ear zones (``normal_outside_ears``);
- how sharply the ground truth itself folds there: per region (and outside the
  ear zones) the mean of θ, the largest angle between a pixel's ground-truth
  normal and a 4-neighbour's (``training.model_losses.neighbour_angle_deg``),
  and the fraction of pixels with θ > 20 deg (``gt_fold_mean_deg``,
  ``gt_fold_over20``): a map sampled once per pixel cannot be learnt finer;
- how the errors > 30 deg spread over the images: the share held by the tenth
  of the images with the most of them (``over30_share_worst_tenth``);
- with ``--error-map PNG``: where on the head the errors > 30 deg lie, binned by
  the ground-truth correspondence, seen from the front and from the side
  (:mod:`training.error_map`);
- with ``--gt-supersample K``: the normal metrics against the ground truth
  averaged over each pixel's footprint from a K-times finer render of the same
  heads (:mod:`training.synth.supersampled`), overall and in the ear zones, and
  how far the once-per-pixel ground truth itself lies from it
  (``normal_vs_supersampled_gt``); the test set itself is unchanged;
- the normal error split into coarse shape, fine relief and what is left after
  the best global rotation (:mod:`training.normal_error_split`), pooled means;
- depth error σ by the paper's robust protocol, per image over the mask
  intersection: error e = predicted - true depth (px), median M, σ_M = std of
  the errors within M ± 7 px, variance of the errors within M ± 3 σ_M;
  σ = sqrt(mean variance over the images). For depth integrated from the
  predicted N and W (``core.integration.integrate_normals``) at each λ of the
  paper's sweep, and for the direct depth head;
- which of N and W the integrated depth's error comes from: σ at λ = SWAP_LAMBDA
  with the ground-truth W under the predicted N, and the ground-truth N over
  the predicted W (same predicted mask), ``depth_sigma_swapped``.

The network runs as the add-on runs it (``core.predict.run_network``), with the
:class:`~core.predict.InferenceSettings` of the weights' manifest (mirror
averaging, extra views, mask threshold) unless ``--no-flip-average``,
``--no-extra-views``, ``--shift`` / ``--scale`` or ``--mask-threshold`` say
otherwise; a checkpoint gets the defaults. The report records the settings.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import time
from pathlib import Path

import numpy as np
import torch

from core.integration import integrate_normals
from core.network import FaceNet
from core.predict import (
    MANIFEST_NAME,
    InferenceSettings,
    inference_settings,
    load_model,
    prepare_for_inference,
    run_network,
)
from training.checkpoints import model_from_checkpoint
from training.error_map import ErrorMap
from training.eval_batches import SPLITS, split_batches
from training.model_losses import neighbour_angle_deg
from training.normal_error_split import SPLIT_SIGMA_PX, angular_error_deg, error_split
from training.synth.supersampled import supersampled_normals
from training.view_args import add_view_arguments, views_from_args

LAMBDAS = (0.0, 0.05, 0.1, 0.2, 0.3)  # the normals paper's λ sweep
SWAP_LAMBDA = 0.3  # λ of depth_sigma_swapped: the sweep's best for every shipped model so far
DEPTH_WINDOW_PX = 7.0  # errors within M ± 7 px give σ_M (paper's protocol)
DEPTH_SIGMAS = 3.0  # variance over errors within M ± 3 σ_M (paper's protocol)
OCCLUDER_KINDS = {"uncovered": 0, "hair": 1, "glasses": 2, "clothing": 3}  # generator's ``occluder`` map
# A box around each ear in canonical head coordinates (the ground-truth ``corr``, the mean head's
# bounding box mapped to [0, 1]; X to the subject's left, Y away from the viewer, Z up): the ears and
# the skin just around them. Chosen by eye on test images; the ears hold most of the errors > 30 deg.
EAR_ZONE = {"x_outside": (0.17, 0.83), "y_min": 0.45, "z": (0.3, 0.65)}
PAPER = {  # normals paper, Table 1, its synthetic test set at 128 x 128
    "mask_precision": 0.9372, "mask_recall": 0.9840, "normal_mean_deg": 10.01, "normal_std_deg": 12.45,
    "normal_lt10": 0.6750, "normal_lt20": 0.9265, "normal_lt30": 0.9713,
}


def robust_variance(err: np.ndarray) -> float:
    """Variance of one image's depth errors (px^2) by the paper's protocol; err is 1-D, finite."""
    if err.size < 2:
        return float("nan")
    m = np.median(err)
    near = err[np.abs(err - m) <= DEPTH_WINDOW_PX]
    sigma_m = near.std() if near.size > 1 else 0.0
    core = err[np.abs(err - m) <= DEPTH_SIGMAS * sigma_m]
    return float(core.var()) if core.size > 1 else 0.0


def pooled_sigma(variances: list[float]) -> float:
    """σ = sqrt(mean of the per-image variances), ignoring images without any overlap."""
    v = np.asarray(variances, dtype=np.float64)
    v = v[np.isfinite(v)]
    return float(np.sqrt(v.mean())) if v.size else float("nan")


def shade(depth: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """(H, W) depth (px) -> (H, W) Lambertian shading in [0, 1] under a frontal-left light; 0 outside."""
    d = np.where(mask & np.isfinite(depth), depth, 0.0)
    gi, gj = np.gradient(d)
    n = np.stack([-gj, gi, np.ones_like(d)], -1)  # (-dh/dx, -dh/dy, 1) with y up = -i
    n /= np.linalg.norm(n, axis=-1, keepdims=True)
    light = np.array([-0.4, 0.4, 0.82])
    return np.clip(n @ light, 0, 1) * mask


def load_for_eval(weights: str | None, checkpoint: str | None) -> FaceNet:
    """Exported weights (hash-checked) or a training checkpoint -> model in eval mode on CPU."""
    if checkpoint:
        model, _ = model_from_checkpoint(checkpoint)
        return prepare_for_inference(model, "cpu")
    return load_model(weights, device="cpu")


def normal_summary(ang: np.ndarray) -> dict[str, float]:
    """Mean (deg) and the fractions under 10, 20 and 30 deg of the angular errors ``ang`` (n,) deg."""
    if not ang.size:
        return {"mean_deg": float("nan"), "lt10": float("nan"), "lt20": float("nan"), "lt30": float("nan")}
    return {"mean_deg": float(ang.mean()), "lt10": float((ang < 10).mean()),
            "lt20": float((ang < 20).mean()), "lt30": float((ang < 30).mean())}


def worst_tenth_share(counts: list[int]) -> float:
    """Share of the total of per-image ``counts`` held by the tenth of the images (at least one)
    with the largest counts; 0.1 when they are spread evenly, 1.0 when a tenth holds them all."""
    c = np.sort(np.asarray(counts, np.float64))[::-1]
    if not c.size or c.sum() == 0:
        return float("nan")
    return float(c[: max(1, c.size // 10)].sum() / c.sum())


def outside_ears_summary(errors: list[np.ndarray], folds: list[np.ndarray]) -> dict[str, float]:
    """:func:`normal_summary` of the errors (deg) outside the ear zones, with the ground truth's
    fold there (``gt_fold_mean_deg``, ``gt_fold_over20``; see the module docstring)."""
    fold = np.concatenate(folds)
    return {**normal_summary(np.concatenate(errors)),
            "gt_fold_mean_deg": float(fold.mean()) if fold.size else float("nan"),
            "gt_fold_over20": float((fold > 20).mean()) if fold.size else float("nan")}


def region_masks(gt_mask: np.ndarray, occluder: np.ndarray | None,
                 corr: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """Pixel groups of one test image for the per-region normal error, each (S, S) bool.

    ``silhouette_2px``: head pixels within 2 px of the ground-truth mask's edge
    (Euclidean distance to the nearest non-head pixel <= 2). With the generator's
    ``occluder`` map (S, S) uint8: ``uncovered`` (the image shows the head),
    ``hair``, ``glasses``, ``clothing`` (the image shows that in front of the head).
    With the ground-truth ``corr`` (S, S, 3): ``ears``, head pixels in :data:`EAR_ZONE`.
    """
    from scipy.ndimage import distance_transform_edt

    regions = {"silhouette_2px": gt_mask & (distance_transform_edt(gt_mask) <= 2.0)}
    if occluder is not None:
        for name, kind in OCCLUDER_KINDS.items():
            regions[name] = gt_mask & (occluder == kind)
    if corr is not None:
        x, y, z = corr[..., 0], corr[..., 1], corr[..., 2]
        lo, hi = EAR_ZONE["x_outside"]
        regions["ears"] = (gt_mask & ((x < lo) | (x > hi)) & (y >= EAR_ZONE["y_min"])
                           & (z > EAR_ZONE["z"][0]) & (z < EAR_ZONE["z"][1]))
    return regions


def evaluate(
    model: FaceNet,
    resolution: int = 128,
    limit: int | None = None,
    dataset: str | None = None,
    lambdas: tuple[float, ...] = LAMBDAS,
    grid_path: str | Path | None = None,
    grid_rows: int = 6,
    gt_reference: bool = True,
    settings: InferenceSettings | None = None,
    split: str = "test",
    gt_supersample: int = 0,
    error_map_path: str | Path | None = None,
) -> dict:
    """Metrics of ``model`` on the test set (see module docstring); optionally writes a PNG grid.

    ``settings`` default: ``model.inference`` (exported weights), else :class:`InferenceSettings` ().
    ``gt_supersample`` K > 0 adds ``normal_vs_supersampled_gt`` (synthetic heads only).
    ``error_map_path``: a PNG of where on the head the errors > 30 deg lie (:mod:`training.error_map`).
    """
    if settings is None:
        settings = inference_settings(model)
    if gt_supersample and dataset:
        raise ValueError("gt_supersample needs the synthetic heads, not a --dataset")
    fine_err: dict[str, list[np.ndarray]] = {"all": [], "ears": [], "outside_ears": [], "gt_point": []}
    error_map = ErrorMap() if error_map_path is not None else None
    mask_logit = settings.mask_logit
    tp = fp = fn = 0
    angles: list[np.ndarray] = []
    var_int: dict[float, list[float]] = {lam: [] for lam in lambdas}
    var_direct: list[float] = []
    var_gt: dict[float, list[float]] = {lam: [] for lam in lambdas}  # integration floor: GT N, W, mask
    var_swap: dict[str, list[float]] = {"pred_normals_gt_grad_mag": [], "gt_normals_pred_grad_mag": []}
    grid: list[np.ndarray] = []
    region_sum: dict[str, float] = {}
    region_n: dict[str, int] = {}
    region_over: dict[str, list[int]] = {}  # pixels over 20 and over 30 deg per region
    region_fold: dict[str, list[float]] = {}  # GT neighbour angle: sum (deg) and pixels over 20 deg
    outside_ears: list[np.ndarray] = []
    outside_ears_fold: list[np.ndarray] = []
    image_over30: list[int] = []
    split_sum: dict[str, float] = {}
    n_images = 0
    t0 = time.time()
    for batch in split_batches(dataset, resolution, limit, split):
        fine_gt = None
        if gt_supersample:  # sample i of the split is image i of the batches, on every split
            fine_gt = supersampled_normals(split, range(n_images, n_images + len(batch["image"])), resolution,
                                           gt_supersample)
        with torch.inference_mode():
            out = run_network(model, batch["image"], settings)
            folds = neighbour_angle_deg(batch["normals"], (batch["mask"] > 0.5).float())[:, 0].numpy()
        for b in range(batch["image"].shape[0]):
            n_images += 1
            gt_mask = batch["mask"][b, 0].numpy() > 0.5
            gt_n = batch["normals"][b].numpy().transpose(1, 2, 0)
            gt_d = batch["depth"][b, 0].numpy()
            n_pred = out["normals"][b].numpy().transpose(1, 2, 0)
            w_pred = out["grad_mag"][b, 0].numpy()
            d_pred = out["depth"][b, 0].numpy()
            mask = out["mask_logits"][b, 0].numpy() > mask_logit
            tp += int((mask & gt_mask).sum())
            fp += int((mask & ~gt_mask).sum())
            fn += int((~mask & gt_mask).sum())
            both = mask & gt_mask
            angles.append(angular_error_deg(n_pred[both], gt_n[both]))
            occ = batch["occluder"][b].numpy() if "occluder" in batch else None
            corr = batch["corr"][b].numpy().transpose(1, 2, 0) if "corr" in batch else None
            err = np.zeros(both.shape, np.float64)
            err[both] = angles[-1]
            image_over30.append(int((angles[-1] > 30).sum()))
            if error_map is not None and corr is not None:
                error_map.add(corr, both, err)
            fold = folds[b]
            regions = region_masks(gt_mask, occ, corr)
            for name, sel in regions.items():
                sel = sel & both
                region_sum[name] = region_sum.get(name, 0.0) + float(err[sel].sum())
                region_n[name] = region_n.get(name, 0) + int(sel.sum())
                over = region_over.setdefault(name, [0, 0])
                over[0] += int((err[sel] > 20).sum())
                over[1] += int((err[sel] > 30).sum())
                fold_acc = region_fold.setdefault(name, [0.0, 0])
                fold_acc[0] += float(fold[sel].sum())
                fold_acc[1] += int((fold[sel] > 20).sum())
            if "ears" in regions:
                outside_ears.append(err[both & ~regions["ears"]])
                outside_ears_fold.append(fold[both & ~regions["ears"]])
            if fine_gt is not None:
                fine_n, fine_cover = fine_gt[0][b], fine_gt[1][b] > 0
                fine = np.zeros(both.shape, np.float64)
                sel = both & fine_cover
                fine[sel] = angular_error_deg(n_pred[sel], fine_n[sel])
                fine_err["all"].append(fine[sel])
                if "ears" in regions:
                    fine_err["ears"].append(fine[sel & regions["ears"]])
                    fine_err["outside_ears"].append(fine[sel & ~regions["ears"]])
                on_head = gt_mask & fine_cover
                fine_err["gt_point"].append(angular_error_deg(gt_n[on_head], fine_n[on_head]))
            if both.any():
                for name, a in error_split(n_pred, gt_n, both).items():
                    split_sum[name] = split_sum.get(name, 0.0) + float(a.sum())
            var_direct.append(robust_variance((d_pred - gt_d)[both]))
            d_show = None
            gt_w = batch["grad_mag"][b, 0].numpy()
            for lam in lambdas:
                if gt_reference and gt_mask.sum() >= 2:
                    d_ref = integrate_normals(gt_n, gt_w, gt_mask, lam=lam)
                    var_gt[lam].append(robust_variance((d_ref - gt_d)[gt_mask & np.isfinite(d_ref)]))
                if mask.sum() < 2:
                    var_int[lam].append(float("nan"))
                    continue
                d_int = integrate_normals(n_pred, w_pred, mask, lam=lam)
                sel = both & np.isfinite(d_int)
                var_int[lam].append(robust_variance((d_int - gt_d)[sel]))
                if lam == 0.1 or d_show is None:
                    d_show = d_int
            if gt_reference and mask.sum() >= 2:
                for name, (n_use, w_use) in {"pred_normals_gt_grad_mag": (n_pred, gt_w),
                                             "gt_normals_pred_grad_mag": (gt_n, w_pred)}.items():
                    d_sw = integrate_normals(n_use, w_use, mask, lam=SWAP_LAMBDA)
                    var_swap[name].append(robust_variance((d_sw - gt_d)[both & np.isfinite(d_sw)]))
            if grid_path is not None and len(grid) < grid_rows:
                img = batch["image"][b].numpy().transpose(1, 2, 0)
                gray = np.ones(3, np.float32)
                cells = [
                    img,
                    n_pred * 0.5 + 0.5,
                    gt_n * 0.5 + 0.5,
                    np.tanh(w_pred)[..., None] * gray,
                    np.tanh(batch["grad_mag"][b, 0].numpy())[..., None] * gray,
                    mask[..., None] * gray,
                    (shade(d_show, mask) if d_show is not None else np.zeros_like(w_pred))[..., None] * gray,
                    shade(gt_d, gt_mask)[..., None] * gray,
                ]
                grid.append(np.concatenate(cells, axis=1))
    ang = np.concatenate(angles) if angles else np.zeros(0)
    overall = normal_summary(ang)
    n_over = (max(1, int((ang > 20).sum())), max(1, int((ang > 30).sum())))  # pixels over 20 and 30 deg
    sig = {str(lam): pooled_sigma(var_int[lam]) for lam in lambdas}
    best = min(lambdas, key=lambda lam: sig[str(lam)] if np.isfinite(sig[str(lam)]) else np.inf)
    sig["direct"] = pooled_sigma(var_direct)
    report = {
        "n_images": n_images,
        "split": split,
        "resolution": resolution,
        "mask_precision": tp / max(1, tp + fp),
        "mask_recall": tp / max(1, tp + fn),
        "normal_mean_deg": overall["mean_deg"],
        "normal_std_deg": float(ang.std()) if ang.size else float("nan"),
        "normal_lt10": overall["lt10"],
        "normal_lt20": overall["lt20"],
        "normal_lt30": overall["lt30"],
        "depth_sigma": sig,
        "depth_sigma_best_lambda": best,
        "depth_units": "px of the map",
        "depth_sigma_gt_normals": {str(lam): pooled_sigma(v) for lam, v in var_gt.items() if v},
        "depth_sigma_swapped": {"lambda": SWAP_LAMBDA,
                                **{name: pooled_sigma(v) for name, v in var_swap.items() if v}},
        "normal_by_region": {
            name: {"mean_deg": region_sum[name] / max(1, region_n[name]),
                   "fraction": region_n[name] / max(1, int(ang.size)),
                   "share_over20": region_over[name][0] / n_over[0],
                   "share_over30": region_over[name][1] / n_over[1],
                   "gt_fold_mean_deg": region_fold[name][0] / max(1, region_n[name]),
                   "gt_fold_over20": region_fold[name][1] / max(1, region_n[name])}
            for name in region_sum
        },
        **({"normal_outside_ears": outside_ears_summary(outside_ears, outside_ears_fold)}
           if outside_ears else {}),
        "over30_share_worst_tenth": worst_tenth_share(image_over30),
        **({"normal_vs_supersampled_gt": {
            "factor": gt_supersample,
            **normal_summary(np.concatenate(fine_err["all"])),
            **{name: normal_summary(np.concatenate(fine_err[name]))
               for name in ("ears", "outside_ears") if fine_err[name]},
            "gt_point_vs_supersampled": normal_summary(np.concatenate(fine_err["gt_point"])),
        }} if fine_err["all"] else {}),
        "normal_by_frequency": {
            "sigma_px": SPLIT_SIGMA_PX,
            **{f"{name}_deg": total / max(1, int(ang.size)) for name, total in split_sum.items()},
        },
        "inference": settings.to_dict(),
        "paper": PAPER,
        "seconds": round(time.time() - t0, 1),
    }
    if error_map is not None:
        error_map.save(error_map_path)
    if grid_path is not None and grid:
        import cv2

        rgb = (np.clip(np.concatenate(grid, axis=0), 0, 1) * 255).astype(np.uint8)
        Path(grid_path).parent.mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(grid_path), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    return report


def format_table(r: dict) -> str:
    """Human-readable table of a report next to the paper's numbers."""
    p = r["paper"]
    lines = [
        f"{'metric':<22}{'ours':>10}{'paper':>10}",
        f"{'mask precision %':<22}{100 * r['mask_precision']:>10.2f}{100 * p['mask_precision']:>10.2f}",
        f"{'mask recall %':<22}{100 * r['mask_recall']:>10.2f}{100 * p['mask_recall']:>10.2f}",
        f"{'normal mean deg':<22}{r['normal_mean_deg']:>10.2f}{p['normal_mean_deg']:>10.2f}",
        f"{'normal std deg':<22}{r['normal_std_deg']:>10.2f}{p['normal_std_deg']:>10.2f}",
        f"{'normal < 10 deg %':<22}{100 * r['normal_lt10']:>10.2f}{100 * p['normal_lt10']:>10.2f}",
        f"{'normal < 20 deg %':<22}{100 * r['normal_lt20']:>10.2f}{100 * p['normal_lt20']:>10.2f}",
        f"{'normal < 30 deg %':<22}{100 * r['normal_lt30']:>10.2f}{100 * p['normal_lt30']:>10.2f}",
    ]
    for k, v in r["depth_sigma"].items():
        name = "depth σ direct px" if k == "direct" else f"depth σ λ={k} px"
        lines.append(f"{name:<22}{v:>10.3f}{'':>10}")
    for k, v in r.get("depth_sigma_gt_normals", {}).items():
        lines.append(f"{'(GT N,W) σ λ=' + k:<22}{v:>10.3f}{'':>10}")
    swap = r.get("depth_sigma_swapped", {})
    swap_names = {"pred_normals_gt_grad_mag": "(pred N, GT W)", "gt_normals_pred_grad_mag": "(GT N, pred W)"}
    for key, name in swap_names.items():
        if key in swap:
            lines.append(f"{name + ' σ λ=' + str(swap['lambda']):<22}{swap[key]:>10.3f}{'':>10}")
    lines.append(f"best λ: {r['depth_sigma_best_lambda']}   images: {r['n_images']}")
    for name, v in r.get("normal_by_region", {}).items():
        share = f"({100 * v['fraction']:.1f} % of pixels"
        if "share_over30" in v:
            over = f"{100 * v['share_over20']:.1f} / {100 * v['share_over30']:.1f}"
            share += f"; {over} % of those > 20 / 30 deg"
        lines.append(f"{'normal deg ' + name:<22}{v['mean_deg']:>10.2f}   {share})")
        if "gt_fold_mean_deg" in v:
            lines.append(f"{'':<32}   GT fold {v['gt_fold_mean_deg']:.1f} deg, "
                         f"{100 * v['gt_fold_over20']:.1f} % of pixels > 20 deg")
    if "normal_outside_ears" in r:
        o = r["normal_outside_ears"]
        lines.append(f"outside the ear zones: mean {o['mean_deg']:.2f} deg, < 10 / 20 / 30 deg "
                     f"{100 * o['lt10']:.2f} / {100 * o['lt20']:.2f} / {100 * o['lt30']:.2f} %")
        if "gt_fold_mean_deg" in o:
            lines.append(f"{'':<32}   GT fold {o['gt_fold_mean_deg']:.1f} deg, "
                         f"{100 * o['gt_fold_over20']:.1f} % of pixels > 20 deg")
    if "over30_share_worst_tenth" in r:
        lines.append(f"errors > 30 deg held by the worst tenth of the images: "
                     f"{100 * r['over30_share_worst_tenth']:.1f} %")
    if "normal_vs_supersampled_gt" in r:
        f = r["normal_vs_supersampled_gt"]

        def shares(v: dict) -> str:
            return f"mean {v['mean_deg']:.2f} deg, < 10 / 20 / 30 deg " + " / ".join(
                f"{100 * v[k]:.2f}" for k in ("lt10", "lt20", "lt30")) + " %"

        k = f["factor"]
        lines.append(f"against the ground truth averaged over {k} x {k} sub-pixels: {shares(f)}")
        if "ears" in f:
            ears, outside = f["ears"]["mean_deg"], shares(f["outside_ears"])
            lines.append(f"    ear zones {ears:.2f} deg; outside them: {outside}")
        point = shares(f["gt_point_vs_supersampled"])
        lines.append(f"    the once-per-pixel ground truth against it: {point}")
    split = r.get("normal_by_frequency", {})
    for name in ("coarse", "fine", "rotated"):
        if f"{name}_deg" in split:
            note = f"(low-pass σ {split['sigma_px']} px)"
            lines.append(f"{'normal deg ' + name:<22}{split[name + '_deg']:>10.2f}   {note}")
    if "inference" in r:
        inf = r["inference"]
        extra = [f"shift {dy},{dx}" for dy, dx in inf.get("shifts", [])]
        extra += [f"scale {k:g}" for k in inf.get("scales", [])]
        if inf.get("network_side"):
            extra.append(f"network at {inf['network_side']} px")
        lines.append(f"mirror averaging: {'on' if inf['flip_average'] else 'off'}   "
                     f"extra views: {', '.join(extra) or 'none'}   "
                     f"mask threshold: {inf['mask_threshold']:.3f}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description="Evaluate FaceNet on the fixed synthetic test set.")
    src = ap.add_mutually_exclusive_group()
    src.add_argument("--weights", default=None, help="exported weights (default core/weights/face_net.pt)")
    src.add_argument("--checkpoint", default=None, help="training checkpoint instead of exported weights")
    ap.add_argument("--resolution", type=int, default=128)
    ap.add_argument("--limit", type=int, default=None, help="evaluate only the first N images")
    ap.add_argument("--split", choices=SPLITS, default="test",
                    help="the fixed test set (default); validation heads for comparing training runs; "
                         "training heads for the generalisation gap")
    ap.add_argument("--dataset", default=None, help="'module:Class' instead of training.synth.test_set")
    ap.add_argument("--out", default="runs/eval/report.json", help="JSON report path")
    ap.add_argument("--grid", default=None, help="PNG grid path (default: next to the report)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--update-manifest", action="store_true", help="store metrics in the manifest")
    add_view_arguments(ap, "the manifest's views; --shift / --scale replace its extra views")
    ap.add_argument("--no-extra-views", action="store_true",
                    help="no shifted or resampled views (the mirror stays unless --no-flip-average)")
    ap.add_argument("--mask-threshold", type=float, default=None,
                    help="head-probability threshold (default: the manifest's, else 0.5)")
    ap.add_argument("--error-map", default=None, metavar="PNG",
                    help="also write where on the head the errors > 30 deg lie (front and side views)")
    ap.add_argument("--gt-supersample", type=int, default=0, metavar="K",
                    help="also score the normals against the ground truth averaged over K x K sub-pixels "
                         "(a K-times finer render of the same heads; about 0.1 s per head at K = 4)")
    args = ap.parse_args(argv)
    if args.update_manifest and (args.split != "test" or args.checkpoint):
        ap.error("--update-manifest stores the test-set metrics of exported weights, "
                 "not of another --split or a --checkpoint")
    if args.gt_supersample and (args.gt_supersample < 1 or args.dataset):
        ap.error("--gt-supersample takes K >= 1 and the synthetic heads (no --dataset)")
    torch.set_num_threads(args.threads)
    model = load_for_eval(args.weights, args.checkpoint)
    settings = inference_settings(model)
    if args.no_extra_views:
        settings = dataclasses.replace(settings, shifts=(), scales=())
    settings = views_from_args(args, settings)
    if args.mask_threshold is not None:
        settings = dataclasses.replace(settings, mask_threshold=args.mask_threshold)
    out = Path(args.out)
    grid = Path(args.grid) if args.grid else out.with_suffix(".png")
    report = evaluate(model, args.resolution, args.limit, args.dataset, grid_path=grid, settings=settings,
                      split=args.split, gt_supersample=args.gt_supersample, error_map_path=args.error_map)
    report["source"] = args.checkpoint or args.weights or "core/weights/face_net.pt"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2) + "\n")
    print(format_table(report))
    print(f"report {out}, grid {grid}")
    if args.update_manifest:
        from core.predict import DEFAULT_WEIGHTS

        manifest_path = Path(args.weights or DEFAULT_WEIGHTS).parent / MANIFEST_NAME
        manifest = json.loads(manifest_path.read_text())
        manifest["metrics"] = {k: v for k, v in report.items() if k not in ("paper", "source")}
        manifest_path.write_text(json.dumps(manifest, indent=2) + "\n")
        print(f"metrics written to {manifest_path}")


if __name__ == "__main__":
    main()
