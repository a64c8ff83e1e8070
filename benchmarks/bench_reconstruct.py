# SPDX-License-Identifier: GPL-3.0-or-later
"""Time photo -> finished Blender object (bpy module, background mode, warm process).

The add-on's package is imported from this source tree under its real name
(temporary folder with a ``face_from_photo`` symlink on ``sys.path``) without
enabling it as an extension, so Blender's one-time wheel installation is not
measured; core uses the venv's torch/scipy/OpenCV, as the bundled wheels would.

Measured on ``examples/astronaut.png``:

- ``total_s``: median seconds of core ``reconstruct`` + building the object
  (mesh, images, material, modifier stack), after one warm-up run, for the
  network resolutions 128 and 256;
- ``stages_s``: median seconds per stage at 128 (core stages + ``build``);
- ``modifier_eval_ms``: median time to re-evaluate the whole live stack at
  default settings after changing the smoothing factor (128 object);
- ``peak_rss_mb_24mp``: peak resident memory of a fresh process that imports
  bpy and turns a 6000 x 4000 JPEG into an object.

Uses ``core/weights/face_net.pt`` when present, else untrained weights whose
mask covers the whole crop (``"weights": "untrained"``: same network cost,
a larger mesh than a real head gives). Last line: one JSON object.

``--network large`` times the large shipped network instead (``core.models``).

Usage: ``.venv/bin/python benchmarks/bench_reconstruct.py [--repeats 5] [--network large]``
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PHOTO = ROOT / "examples" / "astronaut.png"
WEIGHTS = ROOT / "core" / "weights" / "face_net.pt"


def package_path(tmp: Path) -> None:
    """Make ``import face_from_photo`` import this checkout."""
    (tmp / "face_from_photo").symlink_to(ROOT, target_is_directory=True)
    sys.path.insert(0, str(tmp))


def untrained_weights(folder: Path) -> Path:
    from face_from_photo.core.predict import write_untrained_weights

    return write_untrained_weights(folder)


def one_run(photo: str, options: object) -> tuple[float, dict[str, float], object]:
    import bpy
    from face_from_photo.blender import job

    t0 = time.perf_counter()
    reco = job.run_core(photo, options)
    t1 = time.perf_counter()
    obj = job.build_result(reco, collection=bpy.context.scene.collection)
    t2 = time.perf_counter()
    stages = {k: float(v) for k, v in reco.timings.items() if k != "total"}
    stages["build"] = t2 - t1
    return t2 - t0, stages, obj


def modifier_eval_ms(obj: object, repeats: int = 15) -> float:
    import bpy

    smooth = obj.modifiers["FaceSmooth"]  # type: ignore[attr-defined]
    base = smooth.factor
    times = []
    for k in range(repeats + 1):
        smooth.factor = base + (0.01 if k % 2 else 0.0)
        t0 = time.perf_counter()
        depsgraph = bpy.context.evaluated_depsgraph_get()  # re-evaluates what changed
        obj.evaluated_get(depsgraph)  # type: ignore[attr-defined]
        times.append(time.perf_counter() - t0)
    smooth.factor = base
    return 1000.0 * statistics.median(times[1:])


def peak_rss_24mp(tmp: Path, weights: str | None) -> float:
    """Peak RSS (MB) of a fresh process reconstructing a 6000 x 4000 photo."""
    import cv2
    import numpy as np

    img = cv2.imread(str(PHOTO))
    h, w = img.shape[:2]
    canvas = np.full((4000, 6000, 3), 128, np.uint8)
    big = cv2.resize(img, (int(w * 4000 / h), 4000), interpolation=cv2.INTER_CUBIC)
    canvas[:, 1000:1000 + big.shape[1]] = big[:, : 6000 - 1000]
    path = tmp / "photo_24mp.jpg"
    cv2.imwrite(str(path), canvas, [cv2.IMWRITE_JPEG_QUALITY, 92])
    code = f"""
import os, sys, resource, json
sys.path.insert(0, {str(tmp)!r})
import bpy
from face_from_photo.blender import job
opts = job.make_options({{"weights": {weights!r}}} if {weights!r} else {{}})
reco = job.run_core({str(path)!r}, opts)
obj = job.build_result(reco, collection=bpy.context.scene.collection)
print(json.dumps({{"vertices": len(obj.data.vertices)}}), flush=True)
os._exit(0)
"""
    env = {**os.environ, "BLENDER_USER_RESOURCES": str(tmp / "user24")}
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=900)
    if proc.returncode != 0:
        raise SystemExit(f"24 MP run failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}")
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return max(peak, before) / 1024.0  # ru_maxrss is in KiB on Linux


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--network", choices=("standard", "large"), default="standard")
    args = parser.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="ffp-bench-reconstruct-"))
    os.environ["BLENDER_USER_RESOURCES"] = str(tmp / "user")
    package_path(tmp)
    import bpy
    from face_from_photo.blender import job
    from face_from_photo.blender.build import remove_object
    from face_from_photo.core.models import weights_option

    weights = weights_option(args.network)
    untrained = weights is None and not WEIGHTS.is_file()
    if untrained:
        weights = str(untrained_weights(tmp / "weights"))
    result: dict[str, object] = {"total_s": {}, "stages_s": {}}
    eval_ms: dict[str, float] = {}
    counts: dict[str, int] = {}
    for resolution in (128, 256):
        values: dict[str, object] = {"resolution": resolution}
        if weights:
            values["weights"] = weights
        options = job.make_options(values)
        one_run(str(PHOTO), options)  # warm-up: model load, detector, first allocations
        for o in list(bpy.context.scene.collection.objects):
            remove_object(o)
        totals, stages = [], []
        for _ in range(args.repeats):
            total, st, obj = one_run(str(PHOTO), options)
            totals.append(total)
            stages.append(st)
            if _ == args.repeats - 1:
                eval_ms[str(resolution)] = modifier_eval_ms(obj)
                counts[str(resolution)] = len(obj.data.vertices)  # type: ignore[attr-defined]
            remove_object(obj)  # type: ignore[arg-type]
        result["total_s"][str(resolution)] = round(statistics.median(totals), 4)  # type: ignore[index]
        if resolution == 128:
            result["stages_s"] = {k: round(statistics.median(s[k] for s in stages), 4) for k in stages[0]}
        print(f"resolution {resolution}: total {statistics.median(totals):.3f} s, "
              f"{counts[str(resolution)]} vertices, stack eval {eval_ms[str(resolution)]:.1f} ms", flush=True)
    result["modifier_eval_ms"] = round(eval_ms["128"], 2)
    result["modifier_eval_ms_256"] = round(eval_ms["256"], 2)
    result["vertices"] = counts
    result["peak_rss_mb_24mp"] = round(peak_rss_24mp(tmp, weights), 1)
    result["weights"] = "untrained" if untrained else "shipped"
    result["network"] = args.network
    print(json.dumps(result), flush=True)
    os._exit(0)  # skip bpy's interpreter teardown


if __name__ == "__main__":
    main()
