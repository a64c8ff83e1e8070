# SPDX-License-Identifier: GPL-3.0-or-later
"""A small FaceNet with trained-looking statistics, for the inference rewrites' tests."""

from __future__ import annotations

import torch
from torch import nn

from core.network import FaceNet, NetConfig

# The shipped network's shape in miniature: separate normals widths, three half-resolution outputs.
CFG = NetConfig(widths=(8, 12, 16, 24), decoder_widths=(4, 6, 8, 12), normals_decoder_widths=(12, 16, 24, 32),
                half_res_outputs=("grad_mag", "depth", "corr"))


def trained_like_net(seed: int) -> FaceNet:
    """CFG with BatchNorm statistics and heads away from their initial values, in eval mode.

    Three training-mode passes on (4, 3, 32, 32) noise move the running statistics; the
    heads' weights are redrawn with std 0.3 so that every map varies over the image.
    """
    torch.manual_seed(seed)
    net = FaceNet(CFG)
    with torch.no_grad():
        for _ in range(3):
            net(torch.rand(4, 3, 32, 32))
        for dec in net.decoders.values():
            nn.init.normal_(dec.head.weight, std=0.3)
    return net.eval()
