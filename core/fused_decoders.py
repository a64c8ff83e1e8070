# SPDX-License-Identifier: GPL-3.0-or-later
"""FaceNet's decoders rewritten for inference: the same maps from fewer, smaller operations.

Each decoder level of :class:`core.network.Decoder` computes, from the coarser
level's features y (B, c_y, h, w) and the encoder's skip features s
(B, c_s, 2h, 2w), with U the x2 upsampling (nearest or bilinear):

    ReLU(W [U(y); s] + b) = ReLU(U(W_y y) + W_s s + b),   W = [W_y | W_s]   (1)

exactly (up to float rounding): a 1 x 1 convolution is the same linear map at every
pixel and U the same linear map in every channel, so the two commute, and U keeps
constants. The right-hand side computes W_y y at a quarter of the pixels and
needs no concatenation. All decoders read the same skip features at each level,
so their W_s s (and their entry convolutions on the bottleneck) run as one
convolution with the decoders' output channels stacked, split afterwards.

On the AVX2-only 2-core host of 2026-12-01 this made a single-thread forward pass of
the shipped network 6-12 % cheaper at 128 px and 17-19 % at 256 px (two runs of
``benchmarks/bench_network.py``: ``forward_cpu_ms_1thread`` against ``..._plain_decoders``,
when the plain decoders still concatenated; since 0df99b9 each decoder computes the
right-hand side of (1) on its own, in training too: ``core.network.Decoder._fuse_conv``).
Build it with :func:`fuse_decoders` after :func:`core.network.fuse_batchnorm`.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def stacked_conv(convs: list[nn.Conv2d]) -> nn.Conv2d:
    """One 1 x 1 convolution whose output channels are those of ``convs`` (each with a bias) in order."""
    weight = torch.cat([c.weight for c in convs])
    bias = torch.cat([c.bias for c in convs])
    conv = nn.Conv2d(weight.shape[1], weight.shape[0], 1, bias=True).to(weight.device, weight.dtype)
    with torch.no_grad():
        conv.weight.copy_(weight)
        conv.bias.copy_(bias)
    return conv


def folded_conv(block: nn.Sequential) -> nn.Conv2d:
    """The convolution of a BatchNorm-folded ConvBNAct, checked to be 1 x 1 with a bias."""
    conv = block[0]
    if not isinstance(block[1], nn.Identity) or conv.bias is None or conv.kernel_size != (1, 1):
        raise ValueError("fuse_decoders needs a model with its BatchNorms folded (network.fuse_batchnorm)")
    return conv


class FusedDecoders(nn.Module):
    """All decoders of a BatchNorm-folded FaceNet; feats (list, full resolution first) -> raw maps.

    Returns the dict ``{name: (B, C, S, S)}`` that the decoders' own forward passes
    return, before FaceNet's output activations. Refinement blocks and heads are the
    decoders' own modules; the entry and fuse convolutions are re-cut by equation (1).
    """

    def __init__(self, decoders: nn.ModuleDict):
        super().__init__()
        self.decoders = decoders
        self.names = list(decoders)
        entries = [folded_conv(decoders[n].entry) for n in self.names]
        self.entry = stacked_conv(entries)
        self.entry_sizes = [c.out_channels for c in entries]
        levels = max(len(decoders[n].fuse) for n in self.names)
        self.skip = nn.ModuleList()
        self.up = nn.ModuleDict({n: nn.ModuleList() for n in self.names})
        self.level_names: list[list[str]] = []
        self.level_sizes: list[list[int]] = []
        for j in range(levels):
            names = [n for n in self.names if len(decoders[n].fuse) > j]  # half-resolution ones stop early
            skips = []
            for n in names:
                conv = folded_conv(decoders[n].fuse[j])
                prev = decoders[n].entry[0] if j == 0 else decoders[n].refine[j - 1].pw[0]
                c_y, like = prev.out_channels, dict(device=conv.weight.device, dtype=conv.weight.dtype)
                up = nn.Conv2d(c_y, conv.out_channels, 1, bias=False, **like)
                skip = nn.Conv2d(conv.in_channels - c_y, conv.out_channels, 1, **like)
                with torch.no_grad():
                    up.weight.copy_(conv.weight[:, :c_y])
                    skip.weight.copy_(conv.weight[:, c_y:])
                    skip.bias.copy_(conv.bias)
                self.up[n].append(up)
                skips.append(skip)
            self.skip.append(stacked_conv(skips))
            self.level_names.append(names)
            self.level_sizes.append([c.out_channels for c in skips])

    def forward(self, feats: list[torch.Tensor]) -> dict[str, torch.Tensor]:
        ys = dict(zip(self.names, self.entry(feats[-1]).relu_().split(self.entry_sizes, dim=1), strict=True))
        for j, skip_conv in enumerate(self.skip):
            skip = feats[len(feats) - 2 - j]
            parts = skip_conv(skip).split(self.level_sizes[j], dim=1)
            for n, s in zip(self.level_names[j], parts, strict=True):
                dec = self.decoders[n]
                y = F.interpolate(self.up[n][j](ys[n]), size=skip.shape[-2:], mode=dec.upsample)
                ys[n] = dec.refine[j](y.add_(s).relu_())  # y is the new upsampled tensor
        raw = {}
        for n in self.names:
            dec = self.decoders[n]
            out = dec.head(ys[n])
            if dec.half_res:
                out = F.interpolate(out, size=feats[0].shape[-2:], mode="bilinear", align_corners=False)
            raw[n] = out
        return raw


def fuse_decoders(model: nn.Module) -> nn.Module:
    """Give a BatchNorm-folded FaceNet in eval mode its :class:`FusedDecoders`, in place; returns it.

    ``model.forward`` uses them from then on; the maps are unchanged up to float rounding.
    """
    if model.training:
        raise ValueError("fuse_decoders needs a model in eval mode")
    model.fused_decoders = FusedDecoders(model.decoders)
    return model
