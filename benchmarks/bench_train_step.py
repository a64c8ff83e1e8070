# SPDX-License-Identifier: GPL-3.0-or-later
"""Training-step time of FaceNet variants on this CPU (the seventh and eighth recipe rounds' tables).

    .venv/bin/python benchmarks/bench_train_step.py [--repeats 6] [--batch 16] [--variants NAME ...]

For each variant: one training step (forward, a squared-mean loss on every
output, backward, Adam) on a random (B, 3, 128, 128) NHWC batch with one
thread, as one DDP rank of ``make train`` runs it (``_bf16``: the forward pass under
bfloat16 autocast, as ``--bf16``), median over the repeats
after two warm-up steps; and the parameter count. For the 1.6 M network it
also times each encoder level and decoder in one forward pass (forward
hooks), the profile that showed the side decoders' share. The last line is
one JSON object: ``{"step_ms": {variant: ...}, "params": {variant: ...},
"forward_ms_by_module": {...}}``. The loss here is not the recipe's, so the
figures compare variants; they are not the recipe's seconds per step.
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

from core.network import FaceNet, NetConfig, count_parameters  # noqa: E402
from training.train import native_bf16  # noqa: E402

PREVIOUS = dict(widths=(16, 24, 64, 192, 384), decoder_widths=(8, 12, 24, 64, 128),
                normals_decoder_widths=(12, 16, 32, 128, 256), encoder_blocks=2, bottleneck_blocks=4)
SIDE = ("grad_mag", "depth", "corr")
WIDE = dict(widths=(16, 32, 96, 256, 512), normals_decoder_widths=(16, 24, 64, 192, 384))
VARIANTS = {
    "1.6M": {},
    "1.6M_side_half": {"half_res_outputs": SIDE},
    "1.6M_side_and_mask_half": {"half_res_outputs": (*SIDE, "mask_logits")},
    "2.7M_shipped": {"half_res_outputs": SIDE, **WIDE},
    "2.7M_shipped_bf16": {"half_res_outputs": SIDE, **WIDE},
    "2.7M_24ch_full_res": {"half_res_outputs": SIDE, **WIDE, "widths": (24, 32, 96, 256, 512),
                           "normals_decoder_widths": (16, 24, 48, 160, 320)},
    "3.8M_wide_coarse": {"half_res_outputs": SIDE, "widths": (16, 32, 96, 320, 640),
                         "normals_decoder_widths": (12, 16, 48, 160, 320)},
}


BF16 = {"2.7M_shipped_bf16"}  # variants whose forward pass runs under bfloat16 autocast (--bf16)


def step_ms(cfg: NetConfig, batch: int, repeats: int, bf16: bool = False) -> tuple[float, int]:
    """Median ms of one training step of FaceNet(cfg), and its parameter count."""
    torch.manual_seed(0)
    net = FaceNet(cfg).to(memory_format=torch.channels_last)
    opt = torch.optim.Adam(net.parameters(), 1e-3)
    x = torch.rand(batch, 3, 128, 128).contiguous(memory_format=torch.channels_last)
    times = []
    for _ in range(repeats + 2):
        t = time.perf_counter()
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            out = net(x)
        loss = sum(v.float().square().mean() for v in out.values())
        opt.zero_grad()
        loss.backward()
        opt.step()
        times.append(time.perf_counter() - t)
    return 1000 * statistics.median(times[2:]), count_parameters(net)


def module_forward_ms(cfg: NetConfig, batch: int) -> dict[str, float]:
    """ms per encoder level / decoder in one training-mode forward pass (after a warm-up pass)."""
    net = FaceNet(cfg).to(memory_format=torch.channels_last)
    mods = {"encoder.stem": net.encoder.stem}
    mods.update({f"encoder.level{i + 1}": m for i, m in enumerate(net.encoder.levels)})
    mods.update({f"decoder.{k}": m for k, m in net.decoders.items()})
    start: dict[str, float] = {}
    ms: dict[str, float] = {}
    for name, m in mods.items():
        m.register_forward_pre_hook(lambda _m, _i, n=name: start.__setitem__(n, time.perf_counter()))
        m.register_forward_hook(
            lambda _m, _i, _o, n=name: ms.__setitem__(n, 1000 * (time.perf_counter() - start[n])))
    x = torch.rand(batch, 3, 128, 128).contiguous(memory_format=torch.channels_last)
    with torch.no_grad():
        for _ in range(3):
            net(x)
    return {k: round(v, 1) for k, v in ms.items()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--repeats", type=int, default=6)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--variants", nargs="+", choices=sorted(VARIANTS), default=list(VARIANTS),
                    help="time only these (default: all)")
    args = ap.parse_args()
    torch.set_num_threads(1)
    steps, params = {}, {}
    for name in args.variants:
        over = VARIANTS[name]
        steps[name], params[name] = step_ms(NetConfig(**{**PREVIOUS, **over}), args.batch, args.repeats,
                                            bf16=name in BF16)
        print(f"{name:26s} {steps[name]:7.0f} ms  {params[name] / 1e6:.2f} M", flush=True)
    by_module = module_forward_ms(NetConfig(**PREVIOUS), args.batch)
    print(json.dumps({"step_ms": {k: round(v, 1) for k, v in steps.items()}, "params": params,
                      "forward_ms_by_module": by_module, "batch": args.batch, "threads": 1,
                      "load_avg_1min": round(os.getloadavg()[0], 2),
                      "cpu_capability": torch.backends.cpu.get_cpu_capability(),
                      "bf16_native": native_bf16(torch.device("cpu"))}))


if __name__ == "__main__":
    main()
