# SPDX-License-Identifier: GPL-3.0-or-later
"""Both shipped networks on every device here: the sample photo reconstructed on the CPU and, when
there is one, on CUDA; how far the two devices' maps differ; warm times.

    .venv/bin/python benchmarks/bench_devices.py

Per network, device and crop side (128, 256): ``*_reconstruct_s``, one warm
``core.pipeline.reconstruct`` (wall clock, s), and ``*_network_ms``, the add-on's
network time per crop (``run_network`` with the manifest's views, mean of 20 after 5
warm-ups, ms). With CUDA: ``*_cpu_vs_cuda_normal_deg_max``, the largest angle
between the two devices' normals over the head (deg), and ``*_cpu_vs_cuda_mask_flips``
(pixels of the 128² mask). A fixed crop box replaces face detection, so both
devices see the same crop (and OpenCV builds without the face detector work).
The last line is one JSON object.
"""
import json
import os
import sys
import time

import numpy as np
import torch

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
from core import pipeline  # noqa: E402
from core.models import MODELS  # noqa: E402
from core.pipeline import ReconstructOptions, reconstruct  # noqa: E402
from core.predict import run_network  # noqa: E402

PHOTO = os.path.join(ROOT, "examples", "astronaut.png")
CROP_BOX = (140, 30, 240, 240)  # (x, y, w, h) px of the sample photo: the head
out = {"torch": torch.__version__, "numpy": np.__version__, "cuda": torch.cuda.is_available(),
       "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None}
devices = ["cpu", "cuda"] if torch.cuda.is_available() else ["cpu"]
for net, path in MODELS.items():
    maps = {}
    for dev in devices:
        for side in (128, 256):
            opts = ReconstructOptions(device=dev, weights=str(path), resolution=side, crop_box=CROP_BOX)
            reconstruct(PHOTO, opts)  # cold: loads the model
            t = time.perf_counter()
            rec = reconstruct(PHOTO, opts)
            out[f"{net}_{dev}_{side}_reconstruct_s"] = round(time.perf_counter() - t, 3)
            if side == 128:
                maps[dev] = rec.maps
            model, _ = pipeline.get_model(str(path), dev)
            x = torch.rand(1, 3, side, side, device=next(model.parameters()).device)
            with torch.inference_mode():
                for _ in range(5):
                    run_network(model, x)
                if dev == "cuda":
                    torch.cuda.synchronize()
                t = time.perf_counter()
                for _ in range(20):
                    run_network(model, x)
                if dev == "cuda":
                    torch.cuda.synchronize()
            out[f"{net}_{dev}_{side}_network_ms"] = round((time.perf_counter() - t) / 20 * 1e3, 2)
    if "cuda" in maps:
        a, b = maps["cpu"], maps["cuda"]
        cos = np.clip((a.normals * b.normals).sum(-1), -1, 1)
        m = a.mask & b.mask
        out[f"{net}_cpu_vs_cuda_normal_deg_max"] = round(float(np.degrees(np.arccos(cos[m])).max()), 4)
        out[f"{net}_cpu_vs_cuda_mask_flips"] = int((a.mask != b.mask).sum())
    pipeline.clear_model_cache()
print(json.dumps(out))
