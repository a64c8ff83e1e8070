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
``benchmarks/bench_network.py``: ``forward_cpu_ms_1thread`` against ``..._plain_decoders``).
Build it with :func:`fuse_decoders` after :func:`core.network.fuse_batchnorm`.

The decoders are independent once the encoder has run, so with two or more
intra-op threads :class:`BranchedDecoders` runs them as two branches at once,
one on a worker thread, each with half the threads: at 128 px a decoder's
convolutions are too small to keep two threads busy alone. The branches are
balanced by multiply-adds (:func:`decoder_cost`); for the shipped network the
normals decoder is one branch and the four others the second. This pays only when
idle OpenMP threads sleep (``core.OPENMP_PASSIVE``, which importing ``core`` before
torch arranges); with spinning ones the branches fight them for the cores.
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor, wait

import torch
import torch.nn.functional as F
from torch import nn

from . import OPENMP_PASSIVE


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


def decoder_cost(decoder: nn.Module, levels: int) -> float:
    """Multiply-adds of ``decoder`` (a :class:`core.network.Decoder`) per input pixel, weights only.

    A convolution with weight (O, C/g, k, k) at level l (resolution S / 2^l) costs
    O C/g k^2 / 4^l per input pixel; the entry runs at level ``levels - 1``, fuse
    and refine step j at ``levels - 2 - j`` and the head at the last of those.
    """
    def macs(module: nn.Module, level: int) -> float:
        return sum(p.numel() for p in module.parameters() if p.dim() >= 2) / 4.0 ** level

    cost = macs(decoder.entry, levels - 1)
    for j, (fuse, refine) in enumerate(zip(decoder.fuse, decoder.refine, strict=True)):
        cost += macs(fuse, levels - 2 - j) + macs(refine, levels - 2 - j)
    return cost + macs(decoder.head, levels - 1 - len(decoder.fuse))


def balanced_branches(decoders: nn.ModuleDict, levels: int, n: int = 2) -> list[list[str]]:
    """Decoder names in ``n`` groups of near-equal :func:`decoder_cost` (greedy, costliest first)."""
    costs = {name: decoder_cost(dec, levels) for name, dec in decoders.items()}
    groups: list[list[str]] = [[] for _ in range(min(n, len(costs)))]
    totals = [0.0] * len(groups)
    for name in sorted(costs, key=costs.__getitem__, reverse=True):
        i = totals.index(min(totals))
        groups[i].append(name)
        totals[i] += costs[name]
    return groups


_worker: ThreadPoolExecutor | None = None
_worker_lock = threading.Lock()


def worker() -> ThreadPoolExecutor:
    """The one background thread that runs the first branch of every :class:`BranchedDecoders`."""
    global _worker
    with _worker_lock:
        if _worker is None:
            _worker = ThreadPoolExecutor(1, thread_name_prefix="face-decoders")
        return _worker


class BranchedDecoders(nn.Module):
    """:class:`FusedDecoders` for each of two groups of decoders, run at once on two threads.

    With ``torch.get_num_threads()`` = n >= 2, each branch runs with n // 2 intra-op
    threads (the first on :func:`worker`, under the caller's grad and inference
    modes) and n is restored afterwards; with n = 1 the branches run in turn on the
    calling thread. Either way the result is :class:`FusedDecoders`' dict of raw maps.
    """

    def __init__(self, decoders: nn.ModuleDict, groups: list[list[str]]):
        super().__init__()
        self.branches = nn.ModuleList(
            FusedDecoders(nn.ModuleDict({name: decoders[name] for name in group})) for group in groups
        )

    def forward(self, feats: list[torch.Tensor]) -> dict[str, torch.Tensor]:
        threads = torch.get_num_threads()
        if threads < 2 or len(self.branches) < 2:
            return {name: out for branch in self.branches for name, out in branch(feats).items()}
        first, second = self.branches
        grad, inference = torch.is_grad_enabled(), torch.is_inference_mode_enabled()

        def run_first() -> dict[str, torch.Tensor]:
            torch.set_num_threads(threads // 2)
            with torch.inference_mode(inference), torch.set_grad_enabled(grad):
                return first(feats)

        torch.set_num_threads(threads // 2)
        future = worker().submit(run_first)
        try:
            raw = second(feats)
            return {**future.result(), **raw}
        finally:
            wait([future])  # the worker is done with feats before the caller goes on
            torch.set_num_threads(threads)


def fuse_decoders(model: nn.Module, branches: int | None = None) -> nn.Module:
    """Give a BatchNorm-folded FaceNet in eval mode its re-cut decoders, in place; returns it.

    ``model.fused_decoders`` becomes a :class:`FusedDecoders` (``branches=1``) or a
    :class:`BranchedDecoders` over :func:`balanced_branches` (``branches=2``; the
    default where ``core.OPENMP_PASSIVE``, else 1);
    ``model.forward`` uses it from then on. The maps are unchanged up to float rounding.
    """
    if model.training:
        raise ValueError("fuse_decoders needs a model in eval mode")
    if branches is None:
        branches = 2 if OPENMP_PASSIVE else 1
    if branches not in (1, 2):
        raise ValueError(f"branches must be 1 or 2, got {branches}")
    if branches == 1 or len(model.decoders) < 2:
        model.fused_decoders = FusedDecoders(model.decoders)
    else:
        groups = balanced_branches(model.decoders, len(model.cfg.widths), branches)
        model.fused_decoders = BranchedDecoders(model.decoders, groups)
    return model
