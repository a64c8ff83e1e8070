# SPDX-License-Identifier: GPL-3.0-or-later
"""FaceNet's separable blocks for inference: the residual sum written into the block's input.

A :class:`core.network.SepBlock` computes, with D its depthwise convolution + ReLU,
W (O, C) and b (O,) its pointwise convolution and x the input:

    z = ReLU(W D(x) + b + x)   (residual: stride 1, O = C),   z = ReLU(W D(x) + b)   (otherwise)   (1)

For inference on channels-last tensors x is read for the last time by the sum, so
``x.addmm_(D(x), W^T)`` accumulates W D(x) into x's own (N*H*W, C) rows: no output
tensor is allocated, no bias is broadcast into one, and no separate residual
addition runs. The maps equal (1) up to float rounding (the terms are summed in
another order). Only blocks whose input nothing else reads may run this way:
inside FaceNet every residual block's input is the previous layer's fresh output.
On the AVX2-only 2-core host of 2026-12-02 this took 3-8 % off the shipped network's
128 px pass and 2-9 % off its 256 px pass (2 threads, medians of 200 / 60 passes taking
turns with the allocating blocks, four runs; ``benchmarks/bench_network.py`` times the
two in turn: ``forward_ms`` against ``forward_ms_allocating_blocks``).
"""

from __future__ import annotations

import torch
from torch import nn

from .network import SepBlock
from .pointwise import Pointwise


class InferenceSepBlock(SepBlock):
    """A folded SepBlock; (N, C, H, W) -> (N, O, H / s, W / s) by equation (1), into x when residual.

    Where the sum cannot go into x (not residual, gradients on, or not channels-last)
    it runs :meth:`SepBlock.forward` unchanged.
    """

    def __init__(self, block: SepBlock):
        nn.Module.__init__(self)
        pw = block.pw[0]
        if not isinstance(pw, Pointwise) or not all(isinstance(m, nn.Identity) for m in list(block.pw)[1:]):
            raise ValueError("InferenceSepBlock needs a folded SepBlock whose 1 x 1 conv is a Pointwise")
        self.dw, self.pw, self.residual = block.dw, block.pw, block.residual

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pw = self.pw[0]
        if not (self.residual and pw.bias is not None and not torch.is_grad_enabled()
                and x.is_contiguous(memory_format=torch.channels_last)):
            return super().forward(x)
        y = self.dw(x)
        if not y.is_contiguous(memory_format=torch.channels_last):  # not seen: convolutions keep NHWC
            return super().forward(x)
        c = x.shape[1]
        rows = x.permute(0, 2, 3, 1).view(-1, c)  # (N*H*W, C), x's memory
        w_t = pw.weight.flatten(1).t()  # (C, O) = W^T
        rows.addmm_(y.permute(0, 2, 3, 1).view(-1, c), w_t).add_(pw.bias).relu_()
        return x


def inference_blocks(model: nn.Module) -> int:
    """Replace every SepBlock inside ``model`` by an :class:`InferenceSepBlock`, in place; returns how many.

    Call after :func:`core.pointwise.pointwise_as_matmul`. A block reachable by several
    paths (the decoders that ``fuse_decoders`` shares) is replaced wherever it is a child.
    """
    replaced: dict[int, InferenceSepBlock] = {}
    for parent in list(model.modules()):
        for name, child in list(parent.named_children()):
            if type(child) is SepBlock:
                if id(child) not in replaced:
                    replaced[id(child)] = InferenceSepBlock(child)
                setattr(parent, name, replaced[id(child)])
    return len(replaced)
