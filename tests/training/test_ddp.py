# SPDX-License-Identifier: GPL-3.0-or-later
"""Two CPU processes under torchrun (gloo) train a few steps and stay identical."""

import subprocess
import sys
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[2]
TOY = str(Path(__file__).with_name("toy_heads.py")) + ":ToyHeads"


def run_two_ranks(out: Path, *args: str) -> tuple[dict, dict, dict]:
    """Train under torchrun with 2 CPU processes; (rank 0 params, rank 1 params, checkpoint)."""
    cmd = [
        sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
        str(Path(__file__).with_name("ddp_worker.py")),
        "--out-dir", str(out), "--dataset", TOY, "--resolution", "32",
        "--batch-size", "2", "--num-workers", "0", "--threads", "1", "--val-every", "0",
        "--image-every", "0", "--log-every", "2", "--warmup-steps", "1", "--no-progress",
        "--net.widths", "8", "8", "16", "--net.decoder-widths", "4", "4", "8", *args,
    ]
    res = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=180)
    assert res.returncode == 0, res.stdout[-2000:] + res.stderr[-4000:]
    p0 = torch.load(out / "rank0.pt", weights_only=True)
    p1 = torch.load(out / "rank1.pt", weights_only=True)
    return p0, p1, torch.load(out / "checkpoint.pt", weights_only=False)


def test_ddp_replicas_stay_identical(tmp_path):
    p0, p1, ckpt = run_two_ranks(tmp_path / "ddp", "--steps", "4")
    assert ckpt["step"] == 4
    assert p0.keys() == p1.keys() and len(p0) > 10
    for k in p0:
        assert torch.equal(p0[k], p1[k]), f"replicas differ in {k}"
    # the parameters did move away from the shared initialisation
    torch.manual_seed(ckpt["config"]["seed"])
    from core.network import FaceNet, NetConfig

    init = dict(FaceNet(NetConfig.from_dict(ckpt["config"]["net"])).named_parameters())
    assert any(not torch.equal(init[k], p0[k]) for k in p0)


def test_ddp_time_limit_and_time_annealed_lr_agree_across_ranks(tmp_path):
    # Each rank would read its own clock; the run must still stop both at the same step
    # with the same learning rates, or one waits forever for the other's gradients.
    p0, p1, ckpt = run_two_ranks(tmp_path / "ddp", "--steps", "100000", "--max-minutes", "0.05",
                                 "--anneal-by-time")
    assert 1 <= ckpt["step"] < 100000
    for k in p0:
        assert torch.equal(p0[k], p1[k]), f"replicas differ in {k}"
