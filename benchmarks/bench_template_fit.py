# SPDX-License-Identifier: GPL-3.0-or-later
"""The template head fit on synthetic ground truth: warm time and accuracy.

    .venv/bin/python benchmarks/bench_template_fit.py [--trials 8]

Each trial deforms the template with a random identity (N(0, 0.8) per mode), three
random expressions and a random pose (|yaw| <= 60, |pitch| <= 20, |roll| <= 15 deg),
splats its fit vertices into a 128 px correspondence map (nearest wins), replaces 10 % of
the head pixels by random correspondences, and fits (core.template_fit, default
weights, relief depth at weight 1). Reports ``fit_ms`` (wall, median over trials of one
warm ``correspondences_from_maps`` + ``fit_template``), ``fit_cpu_ms`` (process CPU time,
the same calls: on a shared machine wall time includes waiting), the mean face-vertex
error after a similarity alignment (``face_mm``), the rotation error (``rotation_deg``)
the 68 landmarks' 2-D error in crop px (``landmarks_px``), the identity coefficients' RMS
error (``identity_rmse_sd``, standard deviations; the prior pulls the weakly observed modes
toward 0) and the expression weights' mean absolute error (``expression_mae``). The last
line is one JSON object.
"""
import argparse
import json
import math
import os
import sys
import time

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
from core.multiview_fit import similarity_error_mm  # noqa: E402
from core.template_fit import TemplateFit, correspondences_from_maps, fit_template  # noqa: E402
from core.template_model import load_template  # noqa: E402
from training.template_views import S, head_rotation, random_expression, splat_view  # noqa: E402


def scene(tpl, rng):
    a = rng.normal(0.0, 0.8, tpl.n_identity)
    e = random_expression(tpl, rng)
    pose = head_rotation(rng.uniform(-60, 60), rng.uniform(-20, 20), rng.uniform(-15, 15))
    truth = TemplateFit(a, e, pose, 450.0, np.array([64.0, 60.0, 0.0]), tpl.deform(a, e))
    corr, mask, depth = splat_view(tpl, truth, rng, outliers=0.1, size=S)
    return truth, corr, mask, depth


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--trials", type=int, default=8)
    args = parser.parse_args()
    tpl = load_template()
    rng = np.random.default_rng(0)
    face = tpl.part_mask("face")
    rows = []
    for trial in range(args.trials + 1):
        truth, corr, mask, depth = scene(tpl, rng)
        t0, c0 = time.perf_counter(), time.process_time()
        fit = fit_template(tpl, correspondences_from_maps(corr, mask, tpl, depth=depth), depth_weight=1.0)
        wall, cpu = time.perf_counter() - t0, time.process_time() - c0
        if trial == 0:
            continue  # cold: builds the k-d tree, loads scipy
        angle = math.degrees(math.acos(np.clip((np.trace(fit.rotation.T @ truth.rotation) - 1) / 2, -1, 1)))
        lm = np.linalg.norm(fit.project(fit.vertices[tpl.landmark68])[:, :2]
                            - truth.project(truth.vertices[tpl.landmark68])[:, :2], axis=1).mean()
        err = similarity_error_mm(fit.vertices[face], truth.vertices[face])
        id_rmse = float(np.sqrt(np.mean((fit.identity - truth.identity) ** 2)))
        ex_mae = float(np.mean(np.abs(fit.expression - truth.expression)))
        rows.append((wall * 1000, cpu * 1000, err, angle, lm, id_rmse, ex_mae))
        print(f"trial {trial}: fit {wall * 1000:.0f} ms (cpu {cpu * 1000:.0f} ms), face {err:.2f} mm, "
              f"rotation {angle:.2f} deg, landmarks {lm:.2f} px")
    r = np.array(rows)
    print(json.dumps({
        "fit_ms": round(float(np.median(r[:, 0])), 1), "fit_cpu_ms": round(float(np.median(r[:, 1])), 1),
        "face_mm": round(float(r[:, 2].mean()), 2), "rotation_deg": round(float(r[:, 3].mean()), 2),
        "landmarks_px": round(float(r[:, 4].mean()), 2),
        "identity_rmse_sd": round(float(r[:, 5].mean()), 3),
        "expression_mae": round(float(r[:, 6].mean()), 3),
        "trials": args.trials,
        "threads": os.environ.get("OMP_NUM_THREADS", "default"),
    }))


if __name__ == "__main__":
    main()
