# SPDX-License-Identifier: GPL-3.0-or-later
"""The inference-only rewrites: 1 x 1 convolutions as matrix products, decoders in two branches,
and the OpenMP wait policy that ``import core`` sets."""

from __future__ import annotations

import copy
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest
import torch
from torch import nn

from core.fused_decoders import BranchedDecoders, FusedDecoders, balanced_branches, fuse_decoders
from core.network import FaceNet, NetConfig, fuse_batchnorm
from core.pointwise import Pointwise, is_pointwise, pointwise_as_matmul

ROOT = Path(__file__).resolve().parents[2]
CFG = NetConfig(widths=(8, 12, 16, 24), decoder_widths=(4, 6, 8, 12), normals_decoder_widths=(12, 16, 24, 32),
                half_res_outputs=("grad_mag", "depth", "corr"))


def folded_net(seed: int = 3) -> FaceNet:
    """CFG with BatchNorm statistics and heads away from their initial values, folded, in eval mode."""
    torch.manual_seed(seed)
    net = FaceNet(CFG)
    with torch.no_grad():
        for _ in range(3):
            net(torch.rand(4, 3, 32, 32))
        for dec in net.decoders.values():
            nn.init.normal_(dec.head.weight, std=0.3)
    return fuse_batchnorm(net.eval())


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
    plain = fuse_decoders(folded_net(), branches=1)
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


def test_balanced_branches_put_the_costliest_decoder_alone():
    net = FaceNet(CFG)
    groups = balanced_branches(net.decoders, len(CFG.widths))
    assert groups[0] == ["normals"]  # the wide normals decoder outweighs the four narrow ones together
    assert sorted(groups[1]) == sorted(set(net.decoders) - {"normals"})
    assert balanced_branches(net.decoders, len(CFG.widths), n=1) == [list(groups[0] + groups[1])]


@pytest.mark.parametrize("threads", [1, 2])
def test_branched_decoders_give_the_same_maps_with_the_first_branch_on_the_worker(threads):
    serial = fuse_decoders(folded_net(), branches=1)
    branched = fuse_decoders(copy.deepcopy(serial), branches=2)
    assert isinstance(branched.fused_decoders, BranchedDecoders)
    assert isinstance(serial.fused_decoders, FusedDecoders)
    ran_on: dict[str, str] = {}
    for name, dec in branched.decoders.items():
        dec.head.register_forward_hook(
            lambda *_, name=name: ran_on.__setitem__(name, threading.current_thread().name))
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        x = torch.rand(2, 3, 64, 64)
        with torch.inference_mode():
            ref, out = serial(x), branched(x)
        assert torch.get_num_threads() == threads  # restored
    finally:
        torch.set_num_threads(before)
    for k in ref:
        assert torch.allclose(ref[k], out[k], atol=1e-6), k
        assert out[k].is_inference(), k  # the worker ran under the caller's inference mode
    first = branched.fused_decoders.branches[0].names
    assert first == ["normals"]
    on_worker = {n for n, thread in ran_on.items() if thread.startswith("face-decoders")}
    assert on_worker == (set(first) if threads >= 2 else set())


def test_a_failing_branch_raises_and_restores_the_thread_count():
    model = fuse_decoders(folded_net(), branches=2)

    def fail(*_):
        raise RuntimeError("branch failed")

    model.decoders["normals"].head.register_forward_hook(fail)
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        with torch.no_grad(), pytest.raises(RuntimeError, match="branch failed"):
            model(torch.rand(1, 3, 32, 32))
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)


def test_fuse_decoders_rejects_other_branch_counts():
    with pytest.raises(ValueError, match="branches"):
        fuse_decoders(folded_net(), branches=3)


@pytest.mark.parametrize(("env", "first", "policy", "passive"), [
    (None, "core", "PASSIVE", True),   # core sets it before torch loads libgomp
    (None, "torch", None, False),      # too late: torch's OpenMP already read its settings
    ("ACTIVE", "core", "ACTIVE", False),  # the user's choice wins
    ("passive", "torch", "passive", True),
])
def test_import_core_sets_the_openmp_wait_policy_only_where_it_takes_effect(env, first, policy, passive):
    imports = "import core, torch" if first == "core" else "import torch, core"
    code = f"{imports}, os; print(os.environ.get('OMP_WAIT_POLICY'), core.OPENMP_PASSIVE)"
    environ = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}
    if env is not None:
        environ["OMP_WAIT_POLICY"] = env
    res = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=environ, capture_output=True, text=True,
                         check=True)
    assert res.stdout.split() == [str(policy), str(passive)]
