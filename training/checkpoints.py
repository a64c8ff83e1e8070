# SPDX-License-Identifier: GPL-3.0-or-later
"""A trained FaceNet from a training checkpoint (``training.train``'s ``{model, optimizer, config, step}``).

Shared by ``training.export`` and ``training.evaluate --checkpoint``.
"""

from __future__ import annotations

from pathlib import Path

import torch

from core.network import FaceNet, NetConfig


def model_from_checkpoint(path: str | Path) -> tuple[FaceNet, dict]:
    """(FaceNet in eval mode, checkpoint dict) from a training checkpoint."""
    ckpt = torch.load(path, map_location="cpu", weights_only=False)
    model = FaceNet(NetConfig.from_dict(ckpt["config"]["net"]))
    model.load_state_dict(ckpt["model"])
    return model.eval(), ckpt
