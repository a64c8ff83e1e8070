# SPDX-License-Identifier: GPL-3.0-or-later
"""Photo -> template head in core: warm fit, texture bake and detail map times.

    .venv/bin/python benchmarks/bench_head.py [--repeats 5]

On ``examples/astronaut.png`` with the shipped weights (``core/weights/face_net.pt``),
after one warm-up of everything:

- ``reconstruct_head_s``: median wall seconds of ``core.pipeline.reconstruct`` with
  ``output="head"`` at default settings (2048 px texture and detail map), and
  ``stages_s`` its median seconds per stage (``texture`` holds the bake and the detail map);
- ``fit_ms``: median of ``_fit_head`` (correspondences + fit) on that photo's maps;
- ``bake_ms``: median of ``bake_texture`` per tile size 1024 / 2048 / 4096 (warm: the
  texel tables of that size already cached; ``bake_cold_ms`` the first call of each size,
  which builds them);
- ``detail_ms``: median of ``bake_detail`` per tile size.

Wall times on a machine shared with other jobs include waiting; ``cpu_ms`` gives the
process CPU time of the same calls (all threads: OpenCV uses both cores, so on an idle
machine it can exceed the wall time) and ``load_avg`` the 1-minute load at the start.
The last line is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
PHOTO = os.path.join(ROOT, "examples", "astronaut.png")
SIZES = (1024, 2048, 4096)


CPU_MS: dict[str, float] = {}


def median_ms(fn, repeats: int, name: str = "") -> float:
    """Median wall ms of ``fn()``; its median process CPU ms goes to ``CPU_MS[name]``."""
    times, cpu = [], []
    for _ in range(repeats):
        t0, c0 = time.perf_counter(), time.process_time()
        fn()
        times.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    if name:
        CPU_MS[name] = round(1000 * statistics.median(cpu), 1)
    return round(1000 * statistics.median(times), 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()

    import numpy as np

    from core.detail_bake import bake_detail
    from core.pipeline import ReconstructOptions, _fit_head, reconstruct
    from core.template_model import load_template
    from core.texture_bake import bake_texture

    load = os.getloadavg()[0]
    options = ReconstructOptions(output="head")
    reconstruct(PHOTO, options)  # warm-up: weights, template, texel tables at 2048
    totals, stages = [], []
    for _ in range(args.repeats):
        t0 = time.perf_counter()
        rec = reconstruct(PHOTO, options)
        totals.append(time.perf_counter() - t0)
        stages.append(rec.timings)
    stage_s = {k: round(statistics.median(float(s[k]) for s in stages), 3) for k in stages[0] if k != "total"}
    print(f"reconstruct (head): {statistics.median(totals):.3f} s  stages {stage_s}")

    template = load_template()
    head, s = rec.head, rec.crop.shape[0]
    fit_ms = median_ms(lambda: _fit_head(rec.maps, rec.depth, rec.crop_transform, rec.face, options),
                       args.repeats, "fit")
    print(f"fit: {fit_ms} ms")
    bake, cold, detail = {}, {}, {}
    mask = np.asarray(rec.maps.mask, dtype=bool)
    for size in SIZES:
        def texture(size: int = size) -> None:
            bake_texture(template, head.fit, rec.texture, crop_size=s, size=size, mask=mask)

        def relief_detail(size: int = size) -> None:
            bake_detail(template, head.fit, rec.depth, size=size)

        t0 = time.perf_counter()
        texture()
        cold[size] = round(1000 * (time.perf_counter() - t0), 1)
        bake[size] = median_ms(texture, args.repeats, f"bake_{size}")
        detail[size] = median_ms(relief_detail, args.repeats, f"detail_{size}")
        print(f"size {size}: bake {bake[size]} ms (cold {cold[size]} ms), detail {detail[size]} ms")
    print(json.dumps({
        "reconstruct_head_s": round(statistics.median(totals), 3), "stages_s": stage_s, "fit_ms": fit_ms,
        "bake_ms": bake, "bake_cold_ms": cold, "detail_ms": detail, "cpu_ms": CPU_MS, "repeats": args.repeats,
        "load_avg": round(load, 2), "cpus": os.cpu_count(),
    }))


if __name__ == "__main__":
    main()
