# SPDX-License-Identifier: GPL-3.0-or-later
"""Forward-pass time of the shipped FaceNet on this CPU (single image, 2 threads, inference mode).

    .venv/bin/python benchmarks/bench_network.py [--threads 2] [--repeats 50] [--network large]

Uses the NetConfig of the network's manifest (core/weights/manifest.json for
the standard one) when present (else the default config), prepared exactly as ``core.predict.load_model`` does
(BatchNorm folded, decoders re-cut, 1 x 1 convolutions as matrix products, NHWC
layout on CPU). The last line is one JSON object:
``{"forward_ms": {"128": ..., "256": ...}, "params": ...}`` (medians of wall-clock
times over the repeats), plus ``forward_ms_conv1x1`` (timed in turn with it, pass by
pass: the same network with its 1 x 1 convolutions left as convolutions, see
``core.pointwise``), ``forward_ms_allocating_blocks`` (likewise in turn: the separable
blocks writing their sums into new tensors, not into their inputs, see
``core.inference_blocks``), ``forward_ms_nchw`` (the
same in the default NCHW layout, for comparison), ``forward_cpu_ms_1thread``
(median CPU time of a single-threaded pass, which other processes on a shared
machine do not inflate; ``forward_cpu_ms_1thread_plain_decoders``: the same with the
decoders as trained, each running equation (1) of ``core.fused_decoders`` on its own since
0df99b9, without the inference re-cut's stacking across decoders), ``network_ms`` (what the
add-on spends in the network per crop with the manifest's inference settings: two
passes per view with mirror
averaging, see ``core.predict.run_network``), the 1-minute load average (with more
runnable processes than cores, 2-thread wall-clock figures mostly measure waiting) and
the CPU's vector instructions as torch uses them (``cpu_capability``: the shipped
network runs about 4x slower on an AVX2-only CPU than on the AVX-512 one it was sized on).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from core.models import MODELS  # noqa: E402
from core.network import FaceNet, NetConfig, count_parameters  # noqa: E402
from core.predict import InferenceSettings, prepare_for_inference, run_network  # noqa: E402


def time_forward(model: FaceNet, side: int, repeats: int, clock=time.perf_counter,
                 settings: InferenceSettings | None = None, *others: FaceNet) -> list[float]:
    """Milliseconds per (1, 3, side, side) forward pass, after warm-up, measured with ``clock``.

    The input takes the layout of the model's first convolution weight; with
    ``settings`` a "pass" is :func:`core.predict.run_network` with those views (default: one pass).
    With ``others`` the models take turns, pass by pass (drift on a shared host
    hits them alike), and the result is one list of times per model.
    """
    settings = settings or InferenceSettings(flip_average=False)
    models = (model, *others)
    nhwc = next(model.parameters()).is_contiguous(memory_format=torch.channels_last)
    fmt = torch.channels_last if nhwc else torch.contiguous_format
    x = torch.rand(1, 3, side, side).contiguous(memory_format=fmt)
    with torch.inference_mode():
        for _ in range(5):
            for m in models:
                run_network(m, x, settings)
        times: list[list[float]] = [[] for _ in models]
        for _ in range(repeats):
            for m, ts in zip(models, times, strict=True):
                t = clock()
                run_network(m, x, settings)
                ts.append((clock() - t) * 1e3)
    return times if others else times[0]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=50)
    ap.add_argument("--network", choices=sorted(MODELS), default="standard", help="shipped network to time")
    args = ap.parse_args()
    manifest_path = MODELS[args.network].with_name("manifest.json")
    torch.set_num_threads(args.threads)
    cfg, settings = NetConfig(), InferenceSettings()
    if manifest_path.exists():
        manifest = json.loads(manifest_path.read_text())
        cfg, settings = NetConfig.from_dict(manifest["config"]), InferenceSettings.from_manifest(manifest)
    model = FaceNet(cfg)
    params = count_parameters(model)
    model = prepare_for_inference(model, "cpu")
    nchw = prepare_for_inference(FaceNet(cfg), "cpu").to(memory_format=torch.contiguous_format)
    plain = prepare_for_inference(FaceNet(cfg), "cpu")
    plain.fused_decoders = None
    conv = prepare_for_inference(FaceNet(cfg), "cpu", pointwise_matmul=False)  # 1 x 1 convs left to oneDNN
    alloc = prepare_for_inference(FaceNet(cfg), "cpu", inference_sum=False)  # blocks allocate their sums
    result: dict = {"forward_ms": {}, "forward_ms_min": {}, "forward_ms_conv1x1": {},
                    "forward_ms_allocating_blocks": {}, "forward_ms_nchw": {}, "network_ms": {}}
    for side, reps in ((128, args.repeats), (256, max(5, args.repeats // 4))):
        t, t_conv, t_alloc = time_forward(model, side, reps, time.perf_counter, None, conv, alloc)
        result["forward_ms"][str(side)] = round(statistics.median(t), 2)
        result["forward_ms_conv1x1"][str(side)] = round(statistics.median(t_conv), 2)
        result["forward_ms_allocating_blocks"][str(side)] = round(statistics.median(t_alloc), 2)
        result["forward_ms_min"][str(side)] = round(min(t), 2)
        result["forward_ms_nchw"][str(side)] = round(statistics.median(time_forward(nchw, side, reps)), 2)
        t_net = time_forward(model, side, reps, settings=settings)
        result["network_ms"][str(side)] = round(statistics.median(t_net), 2)
        print(f"{side}x{side}: median {statistics.median(t):.2f} ms, min {min(t):.2f} ms over {reps} runs "
              f"(NCHW: {result['forward_ms_nchw'][str(side)]:.2f} ms; add-on's network time with "
              f"{settings.passes} passes ({'mirrored ' if settings.flip_average else ''}views): "
              f"{result['network_ms'][str(side)]:.2f} ms)")
    # CPU time of one thread: the compute cost, insensitive to other processes on a shared machine.
    torch.set_num_threads(1)
    # and, taking turns with it, the decoders as trained (not stacked by core.fused_decoders)
    result["forward_cpu_ms_1thread"], result["forward_cpu_ms_1thread_plain_decoders"] = {}, {}
    for side, reps in ((128, args.repeats), (256, max(5, args.repeats // 4))):
        t_cut, t_plain = time_forward(model, side, reps, time.thread_time, None, plain)
        result["forward_cpu_ms_1thread"][str(side)] = round(statistics.median(t_cut), 2)
        result["forward_cpu_ms_1thread_plain_decoders"][str(side)] = round(statistics.median(t_plain), 2)
    result.update(network=args.network, params=params, threads=args.threads,
                  load_avg_1min=round(os.getloadavg()[0], 2),
                  cpu_capability=torch.backends.cpu.get_cpu_capability(), config=cfg.to_dict(),
                  inference=settings.to_dict())
    print(json.dumps(result))


if __name__ == "__main__":
    main()
