# SPDX-License-Identifier: GPL-3.0-or-later
"""core.pointwise: 1 x 1 convolutions as matrix products on channels-last tensors (inference only)."""

from __future__ import annotations

import copy

import pytest
import torch
from torch import nn

from core.fused_decoders import fuse_decoders
from core.network import FaceNet, fuse_batchnorm
from core.pointwise import Pointwise, is_pointwise, pointwise_as_matmul
from tests.training.small_nets import trained_like_net


def folded_net(seed: int = 3) -> FaceNet:
    """A small trained-looking FaceNet with its BatchNorms folded, in eval mode."""
    return fuse_batchnorm(trained_like_net(seed))


@pytest.mark.parametrize("bias", [True, False])
def test_pointwise_matches_the_convolution_in_every_layout(bias):
    torch.manual_seed(0)
    conv = nn.Conv2d(6, 5, 1, bias=bias)
    pw = Pointwise(conv)
    x = torch.randn(2, 9, 7, 5)
    for inp in (x[:, 2:8],  # NCHW, a channel slice
                x.contiguous(memory_format=torch.channels_last)[:, 1:7],  # NHWC rows with a stride
                x[:, :6].contiguous(memory_format=torch.channels_last)):  # NHWC contiguous
        with torch.no_grad():
            ref, out = conv(inp), pw(inp)
        assert out.shape == ref.shape == (2, 5, 7, 5)
        assert torch.allclose(out, ref, atol=1e-5)
    nhwc = pw(x[:, :6].contiguous(memory_format=torch.channels_last))
    assert nhwc.is_contiguous(memory_format=torch.channels_last)  # no copy back to NCHW


@pytest.mark.parametrize("conv", [nn.Conv2d(4, 4, 3), nn.Conv2d(4, 4, 1, stride=2),
                                  nn.Conv2d(4, 4, 1, groups=2), nn.Conv2d(4, 4, 1, padding=1)])
def test_only_pointwise_convolutions_are_replaced(conv):
    assert not is_pointwise(conv)
    with pytest.raises(ValueError, match="1 x 1"):
        Pointwise(conv)
    holder = nn.Sequential(conv)
    assert pointwise_as_matmul(holder) == 0 and holder[0] is conv


def test_pointwise_as_matmul_keeps_the_maps_and_replaces_a_shared_convolution_once():
    plain = fuse_decoders(folded_net())
    recut = copy.deepcopy(plain)
    shared = recut.decoders["normals"].refine[0].pw[0]
    assert recut.fused_decoders.decoders["normals"].refine[0].pw[0] is shared  # reached by two paths
    n = pointwise_as_matmul(recut)
    assert n == sum(1 for m in plain.modules() if is_pointwise(m)) > 20
    assert not any(is_pointwise(m) for m in recut.modules())
    new = recut.decoders["normals"].refine[0].pw[0]
    assert isinstance(new, Pointwise) and recut.fused_decoders.decoders["normals"].refine[0].pw[0] is new
    x = torch.rand(2, 3, 32, 32).contiguous(memory_format=torch.channels_last)
    plain, recut = plain.to(memory_format=torch.channels_last), recut.to(memory_format=torch.channels_last)
    with torch.no_grad():
        ref, out = plain(x), recut(x)
    for k in ref:
        assert ref[k].abs().max() > 1e-3, k
        assert torch.allclose(ref[k], out[k], atol=2e-5), k
