# SPDX-License-Identifier: GPL-3.0-or-later
"""Export inference weights from a training checkpoint to where the add-on loads them.

    .venv/bin/python -m training.export --checkpoint checkpoints/face_net/checkpoint.pt
    # -> core/weights/face_net.pt (float16 state dict if accuracy holds) + core/weights/manifest.json

The manifest holds the file's SHA-256, the NetConfig, the training step, the
training commit (``git rev-parse HEAD`` when the run started, else at export), the
inference settings (mirror averaging; the mask threshold chosen on validation heads
by ``training.calibrate``, with the validation precision/recall it gave) and, with
``--report`` (or later ``training.evaluate --update-manifest``), the evaluation metrics.

``--average-from F`` exports the mean of the weights of the run's snapshots from
schedule progress F on (``training.train --snapshot-from``) and of the last
checkpoint: the tail average of stochastic weight averaging (Izmailov et al.
2018, "Averaging weights leads to wider optima and better generalization"),
w = (1/K) Σ_k w_k over the K saved weights, BatchNorm running statistics averaged
the same way (re-estimating them measured no better on validation heads).
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import json
import os
from pathlib import Path

import torch

from core.network import FaceNet
from core.predict import (
    MANIFEST_NAME,
    MASK_THRESHOLD,
    InferenceSettings,
    model_from_state,
    prepare_for_inference,
    sha256_file,
)
from training import calibrate
from training.checkpoints import model_from_checkpoint
from training.train import checkpoint_progress, git_commit
from training.view_args import add_view_arguments, views_from_args

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_OUT = ROOT / "core" / "weights"
FP16_MAX_NORMAL_DEG = 0.25  # mean normal change (deg) float16 may cause before we keep float32
FP16_MAX_MASK_FLIPS = 1e-3  # fraction of mask pixels float16 may flip before we keep float32


def tail_average(
    checkpoint: str | Path, start: float, loaded: dict | None = None
) -> tuple[dict[str, torch.Tensor], list[int]]:
    """Mean model state of the run's snapshots from schedule progress ``start`` on, and their steps.

    The snapshots are ``snapshots/*.pt`` beside ``checkpoint``; ``checkpoint`` itself
    always counts (once, if a snapshot holds its step). Float tensors are averaged
    with float64 sums; integer buffers (BatchNorm's batch count) come from the last step.
    ``loaded`` is ``checkpoint`` already read by the caller (it is not read again).
    """
    checkpoint = Path(checkpoint)
    states: dict[int, dict[str, torch.Tensor]] = {}
    for path in sorted((checkpoint.parent / "snapshots").glob("*.pt")) + [checkpoint]:
        if path == checkpoint and loaded is not None:
            ckpt = loaded
        else:
            ckpt = torch.load(path, map_location="cpu", weights_only=False)
        if checkpoint_progress(ckpt) >= start or path == checkpoint:
            states.setdefault(int(ckpt["step"]), ckpt["model"])
    steps = sorted(states)
    last = states[steps[-1]]
    mean = {
        k: (sum(states[s][k].double() for s in steps) / len(steps)).to(v.dtype) if v.is_floating_point()
        else v
        for k, v in last.items()
    }
    return mean, steps


def half_state(model: FaceNet) -> dict[str, torch.Tensor]:
    """State dict with floating tensors in float16 (integers kept)."""
    return {k: v.half() if v.is_floating_point() else v.clone() for k, v in model.state_dict().items()}


def float16_error(model: FaceNet, images: torch.Tensor) -> dict[str, float]:
    """How much float16 storage changes the outputs on images (B, 3, S, S): normals (deg), mask flips."""
    other = model_from_state(model.cfg, half_state(model))
    with torch.inference_mode():
        a, b = model(images), other(images)
    cos = (a["normals"] * b["normals"]).sum(1).clamp(-1, 1)
    flips = ((a["mask_logits"] > 0) != (b["mask_logits"] > 0)).float().mean()
    return {"normal_deg": float(torch.rad2deg(torch.acos(cos)).mean()), "mask_flips": float(flips)}


def sample_images(resolution: int, n: int = 16) -> torch.Tensor:
    """(n, 3, S, S) validation images from the synthetic generator, or smooth noise without it."""
    try:
        from training.synth import SynthDataset

        ds = SynthDataset(split="val", resolution=resolution, length=n, seed=0)
        return torch.stack([ds[i]["image"] for i in range(n)])
    except Exception:  # generator unavailable: the float16 check still needs inputs
        g = torch.Generator().manual_seed(0)
        x = torch.rand(n, 3, resolution // 8, resolution // 8, generator=g)
        return torch.nn.functional.interpolate(x, size=(resolution, resolution), mode="bilinear")


def export(
    checkpoint: str | Path,
    out_dir: str | Path = DEFAULT_OUT,
    dtype: str = "auto",
    report: str | Path | None = None,
    views: InferenceSettings | None = None,
    calibration_images: int = 200,
    average_from: float | None = None,
    network_side: int | None = None,
) -> dict:
    """Write ``face_net.pt`` and ``manifest.json`` into ``out_dir``; returns the manifest.

    dtype : ``"float16"``, ``"float32"`` or ``"auto"`` (float16 when it changes the
        normals by < FP16_MAX_NORMAL_DEG on average and flips < FP16_MAX_MASK_FLIPS of mask pixels).
    views : the views the add-on averages (mirror, shifts, scales; :class:`core.predict.InferenceSettings`,
        its mask threshold replaced by the calibrated one); default: the mirror only.
    network_side : the side (px) the add-on resamples every crop to for the network;
        None: the training resolution (0: the crop's own side). It replaces
        ``views.network_side``, which the caller cannot set to the training
        resolution before the checkpoint is read.
    calibration_images : validation heads for the mask threshold (0: keep 0.5).
    average_from : export the mean weights of the snapshots from this schedule
        progress on and of ``checkpoint`` (:func:`tail_average`); None: ``checkpoint`` alone.
    """
    model, ckpt = model_from_checkpoint(checkpoint)
    averaged: dict = {}
    if average_from is not None:
        state, steps = tail_average(checkpoint, average_from, loaded=ckpt)
        model.load_state_dict(state)
        averaged = {"from_progress": average_from, "steps": steps}
    resolution = int(ckpt["config"].get("resolution", 128))
    fp16_check = float16_error(model, sample_images(resolution))
    if dtype == "auto":
        ok = fp16_check["normal_deg"] < FP16_MAX_NORMAL_DEG and fp16_check["mask_flips"] < FP16_MAX_MASK_FLIPS
        dtype = "float16" if ok else "float32"
    state = half_state(model) if dtype == "float16" else model.state_dict()

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    weights = out_dir / "face_net.pt"
    tmp = weights.with_name(weights.name + ".tmp")
    torch.save(state, tmp)
    os.replace(tmp, weights)
    # the threshold is chosen for the weights as the add-on loads them (stored dtype, BatchNorm folded)
    # and runs them (the shipped views)
    settings = dataclasses.replace(views or InferenceSettings(), mask_threshold=MASK_THRESHOLD,
                                   network_side=resolution if network_side is None else network_side)
    shipped = prepare_for_inference(model_from_state(model.cfg, state), "cpu")
    if calibration_images > 0:
        calib = calibrate.calibrate(shipped, calibration_images, resolution, settings)
        settings = dataclasses.replace(settings, mask_threshold=calib["mask_threshold"])
    else:
        calib = {}
    metrics = json.loads(Path(report).read_text()) if report else {}
    manifest = {
        "file": weights.name,
        "sha256": sha256_file(weights),
        "bytes": weights.stat().st_size,
        "dtype": dtype,
        "config": model.cfg.to_dict(),
        "resolution": resolution,
        "step": int(ckpt["step"]),
        "training_commit": ckpt.get("git_commit") or git_commit(),  # HEAD when training started
        "training_config": ckpt["config"],
        "averaged": averaged,
        "float16_check": fp16_check,
        "inference": settings.to_dict(),
        "mask_calibration": calib,
        "exported": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "metrics": metrics,
    }
    (out_dir / MANIFEST_NAME).write_text(json.dumps(manifest, indent=2) + "\n")
    return manifest


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description="Export FaceNet inference weights for the add-on.")
    ap.add_argument("--checkpoint", default="checkpoints/face_net/checkpoint.pt")
    ap.add_argument("--out-dir", default=str(DEFAULT_OUT))
    ap.add_argument("--dtype", choices=["auto", "float16", "float32"], default="auto")
    ap.add_argument("--report", default=None, help="evaluation report JSON to embed as metrics")
    add_view_arguments(ap, "ship the mirror alone, the network at the training resolution")
    ap.add_argument("--calibration-images", type=int, default=200,
                    help="validation heads for choosing the mask threshold (0: keep 0.5)")
    ap.add_argument("--average-from", type=float, default=None, metavar="F",
                    help="export the mean weights of the run's snapshots from schedule progress F on")
    args = ap.parse_args(argv)
    views = views_from_args(args, InferenceSettings())
    m = export(args.checkpoint, args.out_dir, args.dtype, args.report, views,
               args.calibration_images, args.average_from, args.network_side)
    avg = f" averaged over steps {m['averaged']['steps']}" if m["averaged"] else ""
    print(
        f"exported step {m['step']}{avg} as {m['dtype']} ({m['bytes'] / 1e6:.2f} MB) to {args.out_dir}; "
        f"float16 check {m['float16_check']}; sha256 {m['sha256'][:16]}...\n"
        f"inference {m['inference']}; mask calibration {m['mask_calibration']}"
    )


if __name__ == "__main__":
    main()
