# SPDX-License-Identifier: GPL-3.0-or-later
"""Face detection speed: milliseconds per one-megapixel photo (resize + YuNet + merge).

The sample photo (examples/astronaut.png, 512 x 512) is scaled to 1152 x 864 px
(1.0 MP, 4:3) and :func:`core.face_detect.find_faces` runs on it ``--repeats``
times after one warm-up call; the median, fastest and slowest times are
reported. Target: <= 30 ms per megapixel photo.

Usage: ``python benchmarks/bench_detect.py [--repeats 50]``; the last line is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from core import face_detect  # noqa: E402
from core.image_io import load_photo  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    import cv2

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=50)
    args = parser.parse_args(argv)
    sample = load_photo(ROOT / "examples" / "astronaut.png")
    photo = np.full((864, 1152, 3), 90, np.uint8)  # (H, W, 3): 0.995 MP
    photo[:, 144:1008] = cv2.resize(sample, (864, 864), interpolation=cv2.INTER_LINEAR)
    faces = face_detect.find_faces(photo)  # warm-up: loads and checks the model
    times = []
    for _ in range(args.repeats):
        t0 = time.perf_counter()
        face_detect.find_faces(photo)
        times.append(time.perf_counter() - t0)
    megapixels = photo.shape[0] * photo.shape[1] / 1e6
    ms = np.array(times) * 1000.0 / megapixels
    print(f"{len(faces)} face(s) on a {photo.shape[1]} x {photo.shape[0]} photo; "
          f"median {np.median(ms):.1f} ms/MP (min {ms.min():.1f}, max {ms.max():.1f}); "
          f"cv2 threads {cv2.getNumThreads()}")
    print(json.dumps({
        "benchmark": "detect", "ms_per_megapixel_median": round(float(np.median(ms)), 2),
        "ms_per_megapixel_min": round(float(ms.min()), 2), "faces": len(faces),
        "photo_px": [photo.shape[1], photo.shape[0]], "detect_side_px": face_detect.DETECT_SIDE,
        "model": json.loads((face_detect.DETECTOR_DIR / face_detect.MANIFEST_NAME).read_text())["file"],
        "repeats": args.repeats, "target_ms_per_megapixel": 30,
    }))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
