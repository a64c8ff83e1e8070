# SPDX-License-Identifier: GPL-3.0-or-later
"""Add Photos and Re-fit in Blender: a 1-photo head re-fitted to 2, then 3 photos.

    .venv/bin/python benchmarks/bench_refit.py [--repeats 2] [--texture 2048] [--user build/blender-user]

Beside benchmarks/bench_multiview.py (core's ``reconstruct_person`` alone) this times what
the artist waits for in Blender, through the calls ``api.add_photos`` makes: the extension
enabled from this source tree (bpy module, background), a head made from
``examples/astronaut.png`` (``api.reconstruct``, warm), then re-fitted with its mirror image
(2 photos) and then with a half-size copy (3 photos). Per re-fit, median over repeats:
``core_s`` (``blender.job.run_person`` on all the head's photos: every photo is
reconstructed again, then the joint fit and the fused texture; its stages ``photos_s``,
``joint_fit_s``, ``texture_s`` from ``PersonReconstruction.timings``), ``swap_s``
(``blender.refit.replace_head``: build the new head, put it in the old one's place, remove
the old one) and ``total_s``; ``cpu_s`` the process CPU time of the whole re-fit
(all threads) and ``load_avg`` the 1-minute load at the start (on a shared machine the
wall time includes waiting). ``--user`` is Blender's user folder (the wheels the manifest
names are installed there on the first run). The last line is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PHOTO = ROOT / "examples" / "astronaut.png"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--texture", type=int, default=2048, help="head_texture_size (px)")
    parser.add_argument("--user", default=str(ROOT / "build" / "blender-user"),
                        help="BLENDER_USER_RESOURCES (default: the launcher's)")
    args = parser.parse_args()
    os.environ["BLENDER_USER_RESOURCES"] = os.environ.get("BLENDER_USER_RESOURCES", args.user)

    import importlib

    import bpy
    import cv2

    tmp = Path(tempfile.mkdtemp(prefix="ffp-bench-refit-"))
    (tmp / "face_from_photo").symlink_to(ROOT, target_is_directory=True)
    bpy.context.preferences.extensions.repos.new(name="bench", module="bench_refit",
                                                 custom_directory=str(tmp), source='USER')
    module = "bl_ext.bench_refit.face_from_photo"
    assert bpy.ops.preferences.addon_enable(module=module) == {'FINISHED'}
    ext = importlib.import_module(module)
    job, refit = ext.blender.job, ext.blender.refit

    image = cv2.imread(str(PHOTO))
    photos = [tmp / "astronaut.png", tmp / "mirrored.png", tmp / "small.png"]
    cv2.imwrite(str(photos[0]), image)
    cv2.imwrite(str(photos[1]), image[:, ::-1])
    cv2.imwrite(str(photos[2]), cv2.resize(image, None, fx=0.5, fy=0.5, interpolation=cv2.INTER_AREA))

    load = os.getloadavg()[0]
    choices = job.BlenderChoices()
    ext.api.remove(ext.api.reconstruct(str(photos[0]), head_texture_size=args.texture))  # warm-up
    runs: dict[int, list[dict[str, float]]] = {2: [], 3: []}
    for _ in range(args.repeats):
        head = ext.api.reconstruct(str(photos[0]), head_texture_size=args.texture)
        for n in (2, 3):
            t0, c0 = time.perf_counter(), time.process_time()
            plan = refit.plan_refit(head, [str(photos[n - 1])])
            person = job.run_person(list(plan.photos), plan.options)
            refit.check_added_kept(person, plan)
            t1 = time.perf_counter()
            head = refit.replace_head(head, person, plan.options, choices, view_layer=bpy.context.view_layer)
            t2 = time.perf_counter()
            stages = {f"{k}_s": float(v) for k, v in person.timings.items() if k != "total"}
            runs[n].append({"core_s": t1 - t0, **stages, "swap_s": t2 - t1, "total_s": t2 - t0,
                            "cpu_s": time.process_time() - c0})
            print(f"re-fit to {n} photos: {t2 - t0:.2f} s (core {t1 - t0:.2f} s, swap {t2 - t1:.2f} s)",
                  flush=True)
        ext.api.remove(head)
    result = {
        f"refit_{n}_photos": {k: round(statistics.median(r[k] for r in rs), 3) for k in rs[0]}
        for n, rs in runs.items()
    }
    result.update({"texture": args.texture, "repeats": args.repeats, "load_avg": round(load, 2),
                   "bpy": bpy.app.version_string})
    print(json.dumps(result))


if __name__ == "__main__":
    sys.exit(main())
