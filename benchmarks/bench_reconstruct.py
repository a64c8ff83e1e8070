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
  bpy and turns a 6000 x 4000 JPEG into an object;
- ``head``: the same for ``output="head"`` at resolution 128: ``total_s`` per
  head texture size (0 = no bake, 1024, 2048 = the default, 4096),
  ``stages_s`` at 2048 under the issue's stage names (``network`` is core's
  ``predict``; ``fit`` the template fit, ``texture`` the UV bake, ``build``
  the Blender object: mesh, 53 shape keys, packed texture, materials), and
  ``shape_key_eval_ms``: re-evaluating the head after moving one shape key
  (an artist dragging a slider).

Uses ``core/weights/face_net.pt`` when present, else untrained weights whose
mask covers the whole crop (``"weights": "untrained"``: same network cost,
a larger mesh than a real head gives). Last line: one JSON object.

``--network large`` times the large shipped network instead (``core.models``).

Usage: ``.venv/bin/python benchmarks/bench_reconstruct.py [--repeats 5] [--network large]
[--outputs relief head] [--no-rss]``
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


def shape_key_eval_ms(obj: object, repeats: int = 15) -> float:
    import bpy

    key = obj.data.shape_keys.key_blocks["jawOpen"]  # type: ignore[attr-defined]
    base = key.value
    times = []
    for k in range(repeats + 1):
        key.value = min(1.0, base + (0.1 if k % 2 else 0.0))
        t0 = time.perf_counter()
        depsgraph = bpy.context.evaluated_depsgraph_get()
        obj.evaluated_get(depsgraph)  # type: ignore[attr-defined]
        times.append(time.perf_counter() - t0)
    key.value = base
    return 1000.0 * statistics.median(times[1:])


HEAD_STAGE_NAMES = {"predict": "network"}  # core stage -> the name


def bench_head(weights: str | None, repeats: int) -> dict[str, object]:
    """Photo -> head object, warm, per head texture size; stages at the default size."""
    import bpy
    from face_from_photo.blender import job
    from face_from_photo.blender.build import remove_object

    out: dict[str, object] = {"total_s": {}}
    for size in (2048, 0, 1024, 4096):
        values: dict[str, object] = {"output": "head", "head_texture_size": size}
        if weights:
            values["weights"] = weights
        options = job.make_options(values)
        _t, _s, warm = one_run(str(PHOTO), options)  # warm-up (template load, texel tables of this size)
        remove_object(warm)  # type: ignore[arg-type]
        totals, stages = [], []
        for k in range(repeats):
            total, st, obj = one_run(str(PHOTO), options)
            totals.append(total)
            stages.append(st)
            if size == 2048 and k == repeats - 1:
                out["shape_key_eval_ms"] = round(shape_key_eval_ms(obj), 2)
                out["vertices"] = len(obj.data.vertices)  # type: ignore[attr-defined]
                out["shape_keys"] = len(obj.data.shape_keys.key_blocks) - 1  # type: ignore[attr-defined]
            remove_object(obj)  # type: ignore[arg-type]
        out["total_s"][str(size)] = round(statistics.median(totals), 4)  # type: ignore[index]
        if size == 2048:
            out["stages_s"] = {HEAD_STAGE_NAMES.get(k, k): round(statistics.median(s[k] for s in stages), 4)
                               for k in stages[0]}
        print(f"head, texture {size}: total {statistics.median(totals):.3f} s", flush=True)
    for o in list(bpy.context.scene.collection.objects):
        remove_object(o)
    return out


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
    parser.add_argument("--outputs", nargs="+", choices=("relief", "head"), default=["relief", "head"])
    parser.add_argument("--no-rss", action="store_true", help="skip the 24 MP peak-memory run")
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
    for resolution in (128, 256) if "relief" in args.outputs else ():
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
    if "relief" in args.outputs:
        result["modifier_eval_ms"] = round(eval_ms["128"], 2)
        result["modifier_eval_ms_256"] = round(eval_ms["256"], 2)
        result["vertices"] = counts
    if "head" in args.outputs:
        result["head"] = bench_head(weights, args.repeats)
    if not args.no_rss:
        result["peak_rss_mb_24mp"] = round(peak_rss_24mp(tmp, weights), 1)
    result["weights"] = "untrained" if untrained else "shipped"
    result["network"] = args.network
    print(json.dumps(result), flush=True)
    os._exit(0)  # skip bpy's interpreter teardown


if __name__ == "__main__":
    main()
