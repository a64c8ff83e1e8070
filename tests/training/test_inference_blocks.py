# SPDX-License-Identifier: GPL-3.0-or-later
"""core.inference_blocks: the separable blocks that sum into their inputs at inference."""

from __future__ import annotations

import copy

import pytest
import torch

from core.fused_decoders import fuse_decoders
from core.inference_blocks import InferenceSepBlock, inference_blocks
from core.network import SepBlock, fuse_batchnorm
from core.pointwise import pointwise_as_matmul
from core.predict import prepare_for_inference
from tests.training.small_nets import trained_like_net

NHWC = torch.channels_last


def test_inference_blocks_overwrite_only_residual_inputs_and_keep_the_maps():
    net = trained_like_net(seed=5)
    ref_model = copy.deepcopy(net)
    recut = fuse_decoders(fuse_batchnorm(net))
    pointwise_as_matmul(recut)
    n_blocks = sum(1 for m in recut.modules() if type(m) is SepBlock)
    assert inference_blocks(recut) == n_blocks > 10
    assert not any(type(m) is SepBlock for m in recut.modules())
    assert inference_blocks(recut) == 0  # nothing left to replace
    block = recut.encoder.stem[1]
    assert isinstance(block, InferenceSepBlock) and block.residual
    x = torch.rand(1, block.pw[0].weight.shape[1], 16, 16).contiguous(memory_format=NHWC)
    with torch.inference_mode():
        out = block(x.clone())
        kept = x.clone()
        with torch.enable_grad():
            assert torch.allclose(block(kept), out, atol=1e-6)  # the allocating path: the same sum
        assert torch.equal(kept, x)  # ... which leaves its input alone
        x_nchw = x.contiguous()
        assert torch.allclose(block(x_nchw), out, atol=1e-6) and torch.equal(x_nchw, x)
    img = torch.rand(2, 3, 32, 32)
    recut = recut.to(memory_format=NHWC)
    with torch.inference_mode():
        ref, got = ref_model(img), recut(img.contiguous(memory_format=NHWC))
    for k in ref:
        assert ref[k].abs().max() > 1e-3, k
        assert torch.allclose(ref[k], got[k], atol=2e-5), k


@pytest.mark.parametrize("side", [32, 64])
def test_prepared_model_matches_the_unprepared_one(side):
    net = trained_like_net(seed=7)
    ref_model = copy.deepcopy(net)
    model = prepare_for_inference(net, "cpu")
    assert any(isinstance(m, InferenceSepBlock) for m in model.modules())
    img = torch.rand(2, 3, side, side)
    with torch.inference_mode():
        ref = ref_model(img)
        first = model(img.contiguous(memory_format=NHWC))
        again = model(img.contiguous(memory_format=NHWC))  # the input and the weights are left as they were
    for k in ref:
        assert torch.allclose(ref[k], first[k], atol=2e-5), k
        assert torch.equal(first[k], again[k]), k
