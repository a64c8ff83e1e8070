# SPDX-License-Identifier: GPL-3.0-or-later
"""Intruders among several photos of one person, on real photos: how often the multi-photo
reconstruction leaves out a photo of the same person, and how often it leaves out another person's.

    .venv/bin/python benchmarks/bench_intruder.py [--sets 48] [--seed 0] [--cache DIR]

The photos are the real dev set (../shared/realdev/aflw2000_3d, read where it lies, never copied into
the repository; for measuring only). It has one photo per person, so the sets are built from it:

- a SAME-person set is one dev photo and one or two views made from it: ``mirror`` (flipped left to
  right, brightness, gamma and colour balance changed, re-encoded as JPEG) and ``recrop`` (re-framed
  around the face, rescaled to 260-700 px, rotated by up to 12 deg, the same photometric changes and
  JPEG). These are EASIER than a real second photo of the person (same moment, same expression, same
  light up to a gain, gamma and tint, the same |yaw|): a false rejection here is a sure failure, but
  passing them does not prove that real second photos pass. In particular the face colouring is
  compared here only across those photometric changes; other light on one look is tested on
  synthetic heads (tests/core/test_intruders.py), not on real photos;
- an INTRUDER set is the dev photo and its ``mirror`` view (two photos of the same person) plus another
  dev photo (another person), put at a random place in the list; the intruder's |yaw| band is recorded.

The sets are drawn by ``--seed``: ``--sets`` dev photos evenly over the three |yaw| bands (the base
photos), one SAME set (alternately one and two views) and one INTRUDER set per base photo, the intruder
drawn from the whole set minus the base photo.

Every photo goes once through ``core.pipeline.reconstruct`` (``output="head"``, no texture: what
``core.pipeline.reconstruct_person`` does for each photo), then every rule below decides on each set from
those results, as ``reconstruct_person`` would:

- ``identity_distance``: the single-photo faces' distances alone (core.multiview_fit.identity_distances and
  find_strangers at a 2 mm allowance: the rule of ``reconstruct_person`` before this benchmark);
- ``shape_and_colour``: those distances, allowed more where a photo's own fit is poor (its residual), and
  the face colourings (core.multiview_fit.face_colours, colour_distances, find_strangers at its defaults:
  the rule of ``reconstruct_person`` now).

Reported per rule: ``false_rejection`` (same-person photos left out / same-person photos, over the SAME
sets and the two same-person photos of the INTRUDER sets), ``sets_with_false_rejection`` (SAME sets with any
photo left out), ``detection`` (INTRUDER sets whose intruder is left out), ``wrong_pick`` (INTRUDER sets
where a same-person photo was left out instead), each also per |yaw| band (of the base photo for the
false rejection, of the intruder for the detection), and ``decide_ms`` (the rule's time per set).
``photo_s`` is the median time of one photo's single-photo reconstruction and face colouring; ``set_s``,
the time of a 3-photo set's single-photo stages and decision (the joint fit and texture, which every
rule shares, are not timed here; benchmarks/bench_multiview.py times them). A photo whose face is not
found is counted in ``failed_photos`` and its set is skipped. ``--cache DIR`` keeps each photo's
single-photo results in DIR (outside the repository) for a rerun. The last line is one JSON object.
"""
from __future__ import annotations

import argparse
import json
import os
import pickle
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
from core.errors import FaceFromPhotoError  # noqa: E402
from core.multiview_fit import (  # noqa: E402
    FaceColours,
    face_colours,
    find_strangers,
    identity_distances,
    obliqueness,
    strangers_among,
)
from core.pipeline import ReconstructOptions, _fit_inputs, reconstruct  # noqa: E402
from core.template_fit import Correspondences, TemplateFit  # noqa: E402
from core.template_model import TemplateHead, load_template  # noqa: E402
from training.evaluate_real import DEFAULT_FOLDER  # noqa: E402
from training.real_landmarks import BANDS, LandmarkPhoto, load_folder  # noqa: E402


@dataclass
class Single:
    """What a rule needs of one photo: its single-photo fit, its fit inputs (crop px), its face
    colouring (core.multiview_fit.face_colours of its crop) and its time."""

    fit: TemplateFit
    data: Correspondences
    five: np.ndarray | None
    seconds: float
    colours: FaceColours | None = None


def photometric(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Gain 0.7-1.3, gamma 0.8-1.25, per-channel balance +-8 %, then JPEG at quality 40-90."""
    x = image.astype(np.float32) / 255.0
    x = np.clip(x * rng.uniform(0.7, 1.3) * rng.uniform(0.92, 1.08, 3), 0.0, 1.0) ** rng.uniform(0.8, 1.25)
    out = np.clip(x * 255.0 + 0.5, 0, 255).astype(np.uint8)
    ok, buf = cv2.imencode(".jpg", out[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, int(rng.integers(40, 91))])
    assert ok
    return cv2.imdecode(buf, cv2.IMREAD_COLOR)[..., ::-1].copy()


def mirror_view(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """The photo flipped left to right, with :func:`photometric` changes."""
    return photometric(np.ascontiguousarray(image[:, ::-1]), rng)


def recrop_view(image: np.ndarray, landmarks: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """The photo rotated by up to 12 deg about the face, re-framed to a square 1.6-2.6 face sizes wide
    (off centre by up to 15 %), rescaled to 260-700 px, with :func:`photometric` changes."""
    xy = landmarks[:, :2]
    centre = (xy.min(0) + xy.max(0)) / 2.0
    size = float((xy.max(0) - xy.min(0)).max())
    side = size * rng.uniform(1.6, 2.6)
    out = int(rng.integers(260, 701))
    centre = centre + rng.uniform(-0.15, 0.15, 2) * side
    m = cv2.getRotationMatrix2D((float(centre[0]), float(centre[1])), float(rng.uniform(-12, 12)), out / side)
    m[:, 2] += out / 2.0 - centre
    warped = cv2.warpAffine(image, m, (out, out), flags=cv2.INTER_AREA if out < side else cv2.INTER_LINEAR,
                            borderMode=cv2.BORDER_REFLECT101)
    return photometric(warped, rng)


def single(image: np.ndarray, options: ReconstructOptions) -> Single | None:
    """One photo through the pipeline's single-photo stages (None when no head is found)."""
    t = time.perf_counter()
    try:
        rec = reconstruct(image, options)
    except FaceFromPhotoError:
        return None
    assert rec.head is not None
    data, five = _fit_inputs(rec.maps, rec.depth, rec.crop_transform, rec.face)
    colours = face_colours(load_template(), rec.head.fit, rec.crop)
    return Single(fit=rec.head.fit, data=data, five=five, seconds=time.perf_counter() - t, colours=colours)


VIEWS = ("photo", "mirror", "recrop")

Rule = Callable[[TemplateHead, list[Single]], list[int]]


def rule_identity_distance(template: TemplateHead, photos: list[Single]) -> list[int]:
    """The photos left out by the single-photo faces' distances alone, at the allowances before
    this benchmark (2 mm, find_strangers without colours)."""
    distances = identity_distances(template, [p.fit.identity for p in photos])
    oblique = np.array([obliqueness(p.fit) for p in photos])
    return [j for j, _, _ in find_strangers(distances, oblique, min_mm=2.0)]


def rule_shape_and_colour(template: TemplateHead, photos: list[Single]) -> list[int]:
    """The photos left out by core.pipeline.reconstruct_person: shape and colouring together
    (core.multiview_fit.find_strangers with colour_distances and the fits' residuals, its defaults)."""
    colours = [p.colours for p in photos]
    return [j for j, _, _ in strangers_among(template, [p.fit for p in photos], colours)]  # type: ignore[arg-type]


RULES: dict[str, Rule] = {
    "identity_distance": rule_identity_distance,
    "shape_and_colour": rule_shape_and_colour,
}


def draw_sets(photos: list[LandmarkPhoto], n_sets: int, seed: int) -> list[dict]:
    """Base photos evenly over the |yaw| bands; per base a SAME set and an INTRUDER set (recipes)."""
    rng = np.random.default_rng(seed)
    per_band = [sorted((p for p in photos if p.band == b), key=lambda p: p.name) for b, _, _ in BANDS]
    bases: list[LandmarkPhoto] = []
    for k in range(n_sets):
        band = per_band[k % len(BANDS)]
        pick = band.pop(int(rng.integers(len(band))))
        bases.append(pick)
    sets = []
    for k, base in enumerate(bases):
        others = [p for p in photos if p.name != base.name]
        intruder = others[int(rng.integers(len(others)))]
        views = ["mirror"] if k % 2 == 0 else ["mirror", "recrop"]
        same = [(base.name, "photo")] + [(base.name, v) for v in views]
        sets.append({"kind": "same", "base": base, "members": same})
        members = [(base.name, "photo"), (base.name, "mirror")]
        at = int(rng.integers(3))
        members.insert(at, (intruder.name, "photo"))
        sets.append({"kind": "intruder", "base": base, "intruder": intruder, "at": at, "members": members})
    return sets


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--folder", default=str(DEFAULT_FOLDER))
    ap.add_argument("--sets", type=int, default=48, help="base photos (SAME sets; as many INTRUDER sets)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--cache", default="", help="folder outside the repository for the single-photo results")
    args = ap.parse_args()
    if args.cache and Path(args.cache).resolve().is_relative_to(Path(ROOT).resolve()):
        raise SystemExit("--cache must lie outside the repository (the dev photos never enter it)")

    photos = load_folder(args.folder)
    by_name = {p.name: p for p in photos}
    sets = draw_sets(photos, args.sets, args.seed)
    template = load_template()
    options = ReconstructOptions(output="head", head_texture_size=0)

    results: dict[tuple[str, str], Single | None] = {}
    cache = Path(args.cache) if args.cache else None
    if cache is not None:
        cache.mkdir(parents=True, exist_ok=True)
    needed = sorted({m for s in sets for m in s["members"]})
    for done, (name, view) in enumerate(needed):
        path = cache / f"{name}_{view}_s{args.seed}.pkl" if cache is not None else None
        if path is not None and path.is_file():
            results[(name, view)] = pickle.loads(path.read_bytes())
            continue
        image = cv2.imread(str(by_name[name].image_path))[..., ::-1].copy()
        vrng = np.random.default_rng([args.seed, int(name[-5:]), VIEWS.index(view)])
        if view == "mirror":
            image = mirror_view(image, vrng)
        elif view == "recrop":
            image = recrop_view(image, by_name[name].landmarks, vrng)
        results[(name, view)] = single(image, options)
        if path is not None:
            path.write_bytes(pickle.dumps(results[(name, view)]))
        if done % 20 == 0:
            print(f"{done + 1}/{len(needed)} photos", file=sys.stderr, flush=True)

    failed = sorted(f"{n}:{v}" for (n, v), r in results.items() if r is None)
    bands = [b for b, _, _ in BANDS]
    report: dict = {"sets": args.sets, "seed": args.seed, "photos": len(needed), "failed_photos": failed}
    for rule_name, rule in RULES.items():
        c = {key: {b: [0, 0] for b in bands + ["all"]}
             for key in ("same_photos", "same_sets", "detected", "wrong_pick")}
        decide: list[float] = []
        for s in sets:
            members = [results[m] for m in s["members"]]
            if any(m is None for m in members):
                continue
            t = time.perf_counter()
            out = set(rule(template, members))  # type: ignore[arg-type]
            decide.append(time.perf_counter() - t)
            base_band = s["base"].band
            if s["kind"] == "same":
                same_idx = list(range(len(members)))
                for b in (base_band, "all"):
                    c["same_sets"][b][0] += bool(out)
                    c["same_sets"][b][1] += 1
            else:
                same_idx = [i for i in range(3) if i != s["at"]]
                for b in (s["intruder"].band, "all"):
                    c["detected"][b][0] += s["at"] in out
                    c["detected"][b][1] += 1
                    c["wrong_pick"][b][0] += bool(out & set(same_idx))
                    c["wrong_pick"][b][1] += 1
            for b in (base_band, "all"):
                c["same_photos"][b][0] += len(out & set(same_idx))
                c["same_photos"][b][1] += len(same_idx)

        def rate(key: str, b: str, c: dict = c) -> float | None:
            k, n = c[key][b]
            return round(k / n, 3) if n else None

        report[rule_name] = {
            "false_rejection": rate("same_photos", "all"),
            "sets_with_false_rejection": rate("same_sets", "all"),
            "detection": rate("detected", "all"),
            "wrong_pick": rate("wrong_pick", "all"),
            "false_rejection_by_band": {b: rate("same_photos", b) for b in bands},
            "detection_by_band": {b: rate("detected", b) for b in bands},
            "counts": {key: c[key]["all"] for key in c},
            "decide_ms": round(1000 * float(np.median(decide)), 1) if decide else None,
        }
        print(f"{rule_name}: {json.dumps(report[rule_name])}", file=sys.stderr)
    secs = [r.seconds for r in results.values() if r is not None]
    report["photo_s"] = round(float(np.median(secs)), 2)
    report["set_s"] = round(3 * report["photo_s"] + max(
        (report[r]["decide_ms"] or 0.0) for r in RULES) / 1000.0, 2)
    print(json.dumps(report))


if __name__ == "__main__":
    main()
