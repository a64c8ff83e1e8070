# SPDX-License-Identifier: GPL-3.0-or-later
"""Run under torchrun by test_ddp.py: train a few steps, save this rank's parameters."""

import os
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from training.train import parse_args, train  # noqa: E402

if __name__ == "__main__":
    cfg = parse_args(sys.argv[1:])
    model, _ = train(cfg)
    rank = int(os.environ.get("RANK", "0"))
    params = {k: v.detach().clone() for k, v in model.named_parameters()}
    torch.save(params, Path(cfg.out_dir) / f"rank{rank}.pt")
