# SPDX-License-Identifier: GPL-3.0-or-later
"""1 x 1 convolutions run as one matrix product on channels-last tensors (inference only).

A 1 x 1 convolution with weight W (O, C) and bias b (O,) maps every pixel alone:

    y[n, :, i, j] = W x[n, :, i, j] + b                                       (1)

On a channels-last (NHWC) tensor the pixels' channel vectors are the rows of a
(N*H*W, C) matrix X that is already in memory, so (1) is the single product
Y = X W^T + b of ``torch.nn.functional.linear``, whose result is again NHWC;
no copy either way. On the AVX2-only 2-core host of 2026-12-01 the shipped
network's 128 px pass took 18.3 / 20.9 / 18.8 ms this way against 20.7 / 23.5 /
21.1 ms with oneDNN's 1 x 1 convolutions (three runs of
``benchmarks/bench_network.py``: ``forward_ms`` against ``forward_ms_conv1x1``).

Apply :func:`pointwise_as_matmul` after :func:`core.network.fuse_batchnorm` and
:func:`core.fused_decoders.fuse_decoders`, which read the convolutions it replaces.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class Pointwise(nn.Module):
    """A 1 x 1, stride-1, ungrouped convolution; (N, C, H, W) -> (N, O, H, W) by equation (1).

    Inputs whose channels are not the innermost dimension (NCHW) go through
    ``F.conv2d`` with the same weights, so the module is right in any layout.
    """

    def __init__(self, conv: nn.Conv2d):
        super().__init__()
        if not is_pointwise(conv):
            raise ValueError(f"not a 1 x 1, stride-1, unpadded, ungrouped convolution: {conv}")
        self.weight = nn.Parameter(conv.weight.detach().clone(), requires_grad=False)  # (O, C, 1, 1)
        bias = conv.bias
        self.bias = None if bias is None else nn.Parameter(bias.detach().clone(), requires_grad=False)  # (O,)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.stride(1) == 1:  # NHWC in memory: the permuted view is the (N, H, W, C) matrix of rows
            return F.linear(x.permute(0, 2, 3, 1), self.weight.flatten(1), self.bias).permute(0, 3, 1, 2)
        return F.conv2d(x, self.weight, self.bias)


def is_pointwise(module: nn.Module) -> bool:
    """True for an ``nn.Conv2d`` that computes equation (1): 1 x 1, stride 1, no padding, one group."""
    return (isinstance(module, nn.Conv2d) and module.kernel_size == (1, 1) and module.stride == (1, 1)
            and module.padding == (0, 0) and module.dilation == (1, 1) and module.groups == 1
            and module.padding_mode == "zeros")


def pointwise_as_matmul(model: nn.Module) -> int:
    """Replace every pointwise ``nn.Conv2d`` inside ``model`` by a :class:`Pointwise`, in place.

    Returns how many were replaced. The maps are unchanged up to float rounding;
    the model is for inference only afterwards (the new weights need no gradient).
    A module reachable by several paths (the decoders that ``fuse_decoders`` shares)
    is replaced wherever it is a child.
    """
    replaced: dict[int, Pointwise] = {}
    for parent in list(model.modules()):
        for name, child in list(parent.named_children()):
            if is_pointwise(child):
                if id(child) not in replaced:
                    replaced[id(child)] = Pointwise(child)
                setattr(parent, name, replaced[id(child)])
    return len(replaced)
