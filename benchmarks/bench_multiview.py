# SPDX-License-Identifier: GPL-3.0-or-later
"""Several photos of one synthetic template head: face error by number of views, time per photo.

    .venv/bin/python benchmarks/bench_multiview.py [--trials 8]

Each trial deforms the template with one random identity (N(0, 0.8) per mode) and, per
view, three random expressions, poses it at yaw 0, +45, -45, +90, -90 deg (pitch and roll
within +-8 deg), splats its fit vertices into a 128 px correspondence map per view (nearest
wins; the perfect network), replaces 10 % of the head pixels by random correspondences and
gives the relief depth (weight 1, as the pipeline) and, below 60 deg of yaw, the five
landmarks with 1 px noise (a face detector gives none in profile). Views are added in the
order front, +45, -45, +90, -90; each set is fitted by ``core.multiview_fit.fit_multiview``
at its defaults, started from the single-view fits; one view is the single-photo fit of the
pipeline (``core.template_fit.fit_template``, landmark weight 1). Reported per view count
(mean over trials): ``face_mm``, the mean error of the identity's face-region vertices
(expression 0) after a similarity alignment, mm (as benchmarks/bench_template_fit.py:
absolute size is not observed by a weak-perspective photo); ``face_mm_rigid``, the same
after a rigid alignment; ``face_mm_front``, similarity-aligned, the front photo's head with
its expression. ``joint_ms_per_extra_photo``: the joint fit's wall time divided by the
extra views (median over trials, 3 views); ``single_fit_ms`` the single-view fit every photo
gets anyway. ``strangers_caught``: sets of the first three views plus a photo of another
random person (within 45 deg of yaw) whose stranger ``core.multiview_fit.find_strangers``
leaves out; ``photos_wrongly_left_out``: same-person photos it leaves out over those sets
and the five-view sets. With ``--pipeline``, also the warm ``core.pipeline.reconstruct_person`` wall
time for 1, 2 and 3 photos (examples/astronaut.png, its mirror image, a half-size copy;
2048 px texture) and ``pipeline_s_per_extra_photo`` (slope of that time), with the process
CPU time beside them (``pipeline_cpu_s``; on a shared machine wall time includes waiting). The last line is
one JSON object.
"""
import argparse
import json
import os
import sys
import time

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
from core.multiview_fit import (  # noqa: E402
    find_strangers,
    fit_multiview,
    identity_distances,
    obliqueness,
    similarity_error_mm,
)
from core.template_fit import (  # noqa: E402
    TemplateFit,
    correspondences_from_maps,
    fit_template,
    landmark5_vertices,
)
from core.template_model import TemplateHead, load_template  # noqa: E402
from training.template_views import S, head_rotation, random_expression, splat_view  # noqa: E402

YAWS = (0.0, 45.0, -45.0, 90.0, -90.0)


def view(tpl: TemplateHead, identity: np.ndarray, rng: np.random.Generator, yaw: float,
         outliers: float = 0.1, landmark_noise_px: float = 1.0):
    """One synthetic photo of the head: the true camera, correspondences, landmarks (crop px)."""
    e = random_expression(tpl, rng)
    pose = head_rotation(yaw, rng.uniform(-8, 8), rng.uniform(-8, 8))
    truth = TemplateFit(identity, e, pose, rng.uniform(400, 500), np.array([64.0, 60.0, 0.0]),
                        tpl.deform(identity, e))
    corr, mask, depth = splat_view(tpl, truth, rng, outliers=outliers, size=S)
    data = correspondences_from_maps(corr, mask, tpl, depth=depth)
    five = truth.project(truth.vertices[landmark5_vertices(tpl)])[:, :2]
    five = five + rng.normal(0.0, landmark_noise_px, five.shape)
    return truth, data, five


def rigid_error_mm(fit: np.ndarray, truth: np.ndarray) -> float:
    """Mean distance after the best rigid transform (Kabsch), mm."""
    a, b = fit - fit.mean(0), truth - truth.mean(0)
    u, _, vt = np.linalg.svd(b.T @ a)
    d = np.diag([1.0, 1.0, np.sign(np.linalg.det(u @ vt))])
    return float(np.linalg.norm(a @ (u @ d @ vt).T - b, axis=1).mean() * 1000.0)


def pipeline_times() -> dict:
    """Warm reconstruct_person wall time for 1, 2, 3 photos of the sample person, s."""
    import cv2

    from core.pipeline import ReconstructOptions, reconstruct_person

    rgb = cv2.imread(os.path.join(ROOT, "examples", "astronaut.png"))[..., ::-1].copy()
    photos = [rgb, rgb[:, ::-1].copy(), cv2.resize(rgb, None, fx=0.5, fy=0.5, interpolation=cv2.INTER_AREA)]
    options = ReconstructOptions(output="head")
    reconstruct_person(photos[:1], options)  # warm: model, template, texture tables
    out, cpu = {}, {}
    for n in (1, 2, 3):
        t0, c0 = time.perf_counter(), time.process_time()
        result = reconstruct_person(photos[:n], options)
        out[n], cpu[n] = time.perf_counter() - t0, time.process_time() - c0
        print(f"pipeline {n} photos: {out[n]:.2f} s ({cpu[n]:.2f} s CPU), kept {result.kept}",
              flush=True)
    return {"pipeline_s": {str(n): round(t, 2) for n, t in out.items()},
            "pipeline_cpu_s": {str(n): round(t, 2) for n, t in cpu.items()},
            "pipeline_s_per_extra_photo": round((out[3] - out[1]) / 2.0, 2),
            "pipeline_cpu_s_per_extra_photo": round((cpu[3] - cpu[1]) / 2.0, 2)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=8)
    parser.add_argument("--pipeline", action="store_true", help="also time reconstruct_person on real photos")
    args = parser.parse_args()
    tpl = load_template()
    face = tpl.part_mask("face")
    counts = range(1, len(YAWS) + 1)
    err = {n: [] for n in counts}
    err_front = {n: [] for n in counts}
    err_rigid = {n: [] for n in counts}
    single_ms, extra_ms = [], []
    caught, wrongly_left_out, sets = 0, 0, 0
    for trial in range(args.trials):
        rng = np.random.default_rng(1000 + trial)
        identity = rng.normal(0.0, 0.8, tpl.n_identity)
        views = [view(tpl, identity, rng, yaw) for yaw in YAWS]
        views = [(t, d, f if abs(yaw) < 60 else None) for (t, d, f), yaw in zip(views, YAWS, strict=True)]
        neutral_true = tpl.deform(identity)[face].astype(np.float64)
        t0 = time.perf_counter()
        singles = [fit_template(tpl, d, landmarks5=f, depth_weight=1.0) for _, d, f in views]
        single_ms.append((time.perf_counter() - t0) * 1000.0 / len(views))
        for n in counts:
            if n == 1:
                identity_fit, front = singles[0].identity, singles[0]
            else:
                t0 = time.perf_counter()
                mv = fit_multiview(tpl, [d for _, d, _ in views[:n]], landmarks5=[f for _, _, f in views[:n]],
                                   singles=singles[:n], depth_weight=1.0)
                if n == 3:
                    extra_ms.append((time.perf_counter() - t0) * 1000.0 / (n - 1))
                # (the joint fit's time is spread over the extra photos)
                identity_fit, front = mv.identity, mv.fits[0]
            neutral_fit = tpl.deform(identity_fit)[face].astype(np.float64)
            err[n].append(similarity_error_mm(neutral_fit, neutral_true))
            err_rigid[n].append(rigid_error_mm(neutral_fit, neutral_true))
            err_front[n].append(similarity_error_mm(front.vertices[face].astype(np.float64),
                                                 views[0][0].vertices[face].astype(np.float64)))
        # strangers: a fifth person within 45 deg among the first three views; none in the five
        other = rng.normal(0.0, 0.8, tpl.n_identity)
        t_o, d_o, f_o = view(tpl, other, rng, rng.uniform(-45, 45))
        s_o = fit_template(tpl, d_o, landmarks5=f_o, depth_weight=1.0)
        for fits, stranger in ((singles[:3] + [s_o], 3), (singles, None)):
            found = [i for i, _, _ in find_strangers(identity_distances(tpl, [f.identity for f in fits]),
                                                     np.array([obliqueness(f) for f in fits]))]
            caught += int(stranger in found) if stranger is not None else 0
            wrongly_left_out += len([i for i in found if i != stranger])
            sets += 1
        print(f"trial {trial}: " + " ".join(f"{n}v {err[n][-1]:.2f}" for n in counts) + " mm", flush=True)
    result = {
        "trials": args.trials,
        "yaws_deg": list(YAWS),
        "face_mm": {str(n): round(float(np.mean(err[n])), 3) for n in counts},
        "face_mm_rigid": {str(n): round(float(np.mean(err_rigid[n])), 3) for n in counts},
        "face_mm_front": {str(n): round(float(np.mean(err_front[n])), 3) for n in counts},
        "reduction_3_vs_1": round(1.0 - float(np.mean(err[3])) / float(np.mean(err[1])), 3),
        "reduction_3_vs_1_rigid": round(1.0 - float(np.mean(err_rigid[3])) / float(np.mean(err_rigid[1])), 3),
        "strangers_caught": f"{caught}/{args.trials}",
        "photos_wrongly_left_out": f"{wrongly_left_out} of {sets} sets",
        "single_fit_ms": round(float(np.median(single_ms)), 1),
        "joint_ms_per_extra_photo": round(float(np.median(extra_ms)), 1),
    }
    if args.pipeline:
        result.update(pipeline_times())
    print(json.dumps(result))


if __name__ == "__main__":
    main()
