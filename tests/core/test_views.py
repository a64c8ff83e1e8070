# SPDX-License-Identifier: GPL-3.0-or-later
"""Test-time views undo their own alteration: checked on a per-pixel network, which is exactly
equivariant to shifts and mirroring, and on a network whose depth is a ramp in pixels."""

from types import SimpleNamespace

import pytest
import torch

from core.views import forward_maps, forward_views, scaled_side, scaled_view, shifted_view


class PixelNet(torch.nn.Module):
    """Every map a function of the pixel's own colour (B, 3, S, S) -> FaceNet's keys and shapes.

    With ``ramp``: depth is the row index in px (a plane sloping 1 px per px), whatever the image.
    """

    def __init__(self, ramp: bool = False):
        super().__init__()
        self.cfg = SimpleNamespace(stride=16)
        self.ramp = ramp

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        n = torch.cat([x[:, :1] - 0.5, x[:, 1:2] - 0.5, torch.ones_like(x[:, :1])], dim=1)
        rows = torch.arange(x.shape[-2], dtype=x.dtype).view(1, 1, -1, 1).expand_as(x[:, :1])
        return {
            "normals": n / n.norm(dim=1, keepdim=True),
            "grad_mag": x[:, 1:2] * 2,
            "mask_logits": x[:, :1] * 4 - 2,
            "depth": rows.clone() if self.ramp else x[:, 2:3] * 10,
            "corr": x,
        }


def smooth_images(side: int = 64, seed: int = 0) -> torch.Tensor:
    """(2, 3, side, side) in [0.1, 0.9]: random sums of two waves of at most 2 periods per side."""
    g = torch.Generator().manual_seed(seed)
    t = torch.arange(side, dtype=torch.float32) / side * 2 * torch.pi
    freq = torch.randint(1, 3, (2, 3, 2, 2), generator=g).float()
    phase = torch.rand(2, 3, 2, 1, 1, generator=g) * 2 * torch.pi
    waves = torch.sin(freq[..., 0, None, None] * t[:, None] + freq[..., 1, None, None] * t[None, :] + phase)
    return 0.5 + 0.2 * waves.mean(dim=2)


@pytest.mark.parametrize(("dy", "dx"), [(4, 4), (-3, 5), (0, -6)])
def test_a_shifted_view_is_moved_back_onto_the_crop(dy, dx):
    net, x = PixelNet(), smooth_images()
    with torch.inference_mode():
        ref = forward_maps(net, x, flip_average=False)
        out = shifted_view(net, x, dy, dx, flip_average=False)
    m = max(abs(dy), abs(dx))  # border rows and columns repeat the nearest predicted pixel
    for k in ref:
        assert torch.allclose(out[k][..., m:-m, m:-m], ref[k][..., m:-m, m:-m], atol=1e-6), k
    # the photo's content really moved: the view is not the crop itself
    with torch.inference_mode():
        raw = net(torch.roll(x, shifts=(dy, dx), dims=(-2, -1)))
    assert not torch.allclose(raw["corr"][..., m:-m, m:-m], ref["corr"][..., m:-m, m:-m], atol=1e-3)


def test_mirror_averaging_of_a_mirror_equivariant_network_changes_nothing():
    net, x = PixelNet(), smooth_images(seed=1)
    with torch.inference_mode():
        one = forward_maps(net, x, flip_average=False)
        both = forward_maps(net, x, flip_average=True)
    # a per-pixel map of colour is mirror-equivariant except where the mirror changes meaning:
    # normals' x and canonical X, which the per-pixel net does not flip
    for k in ("grad_mag", "mask_logits", "depth"):
        assert torch.allclose(one[k], both[k], atol=1e-6)
    assert torch.allclose(both["corr"][:, :1], torch.full_like(both["corr"][:, :1], 0.5), atol=1e-6)


def test_a_scaled_view_keeps_maps_and_rescales_depth_to_the_crops_pixels():
    x = smooth_images(seed=2)
    with torch.inference_mode():
        ref = forward_maps(PixelNet(), x, flip_average=False)
        out = scaled_view(PixelNet(), x, 2.0, flip_average=False)
        ramp = scaled_view(PixelNet(ramp=True), x, 2.0, flip_average=False)["depth"]
    inner = (..., slice(4, -4), slice(4, -4))
    for k in ("grad_mag", "mask_logits", "corr"):
        assert (out[k][inner] - ref[k][inner]).abs().max() < 0.02, k
    # depth is a 1 px / px ramp in the resampled crop's pixels, so 1 px / px in the crop's again
    slope = ramp[0, 0, 1:, 32] - ramp[0, 0, :-1, 32]
    assert torch.allclose(slope[4:-4], torch.ones_like(slope[4:-4]), atol=1e-3)


def test_views_average_into_unit_normals_and_need_a_fitting_shift():
    net, x = PixelNet(), smooth_images(seed=3)
    with torch.inference_mode():
        out = forward_views(net, x, True, shifts=[(4, 4), (-4, -4)], scales=[1.125])
        plain = forward_views(net, x, True)
        with pytest.raises(ValueError, match="does not fit"):
            shifted_view(net, x, 64, 0)
    assert torch.allclose(out["normals"].norm(dim=1), torch.ones(2, 64, 64), atol=1e-5)
    assert torch.allclose(plain["depth"], forward_maps(net, x, True)["depth"])
    assert scaled_side(128, 1.125, 16) == 144 and scaled_side(256, 1.125, 16) == 288


def test_a_crop_larger_than_the_network_side_is_seen_at_that_side_and_maps_come_back_at_full_size():
    x = smooth_images(side=128, seed=4)
    with torch.inference_mode():
        ref = forward_maps(PixelNet(), x, flip_average=False)
        out = forward_views(PixelNet(), x, False, network_side=64)
        ramp = forward_views(PixelNet(ramp=True), x, False, network_side=64)["depth"]
        seen = []
        net = PixelNet()
        net.forward = lambda images: (seen.append(images.shape[-1]), PixelNet.forward(net, images))[1]
        forward_views(net, x, True, shifts=[(4, 4)], scales=[1.25], network_side=64)
        with pytest.raises(ValueError, match="multiple of 16"):
            forward_views(PixelNet(), x, False, network_side=40)
    assert out["normals"].shape == (2, 3, 128, 128)
    inner = (..., slice(4, -4), slice(4, -4))
    for k in ("grad_mag", "mask_logits", "corr"):
        assert (out[k][inner] - ref[k][inner]).abs().max() < 0.02, k
    # depth in px of the 64 px view is 2 px of the 128 px crop per px: the ramp keeps 1 px / px
    slope = ramp[0, 0, 1:, 64] - ramp[0, 0, :-1, 64]
    assert torch.allclose(slope[8:-8], torch.ones_like(slope[8:-8]), atol=1e-3)
    assert sorted(set(seen)) == [64, 80]  # the network never sees 128 px: views of the 64 px crop


def test_views_run_batched_by_size_give_the_maps_of_separate_passes():
    from core.network import FaceNet, NetConfig, fuse_batchnorm
    from core.views import average_maps, run_batched

    torch.manual_seed(5)
    net = fuse_batchnorm(FaceNet(NetConfig(widths=(8, 8, 16), decoder_widths=(4, 4, 8))).eval())
    calls = []
    net.register_forward_hook(lambda m, args, out: calls.append(tuple(args[0].shape)))
    x = smooth_images(seed=6)
    with torch.inference_mode():
        separate = average_maps([forward_maps(net, x, True), shifted_view(net, x, 2, 2, True),
                                 scaled_view(net, x, 1.25, True)])
        calls.clear()
        batched = forward_views(net, x, True, shifts=[(4, 4)], scales=[1.25])  # (4, 4) at 128 px: 2 px at 64
        assert calls == [(8, 3, 64, 64), (4, 3, 80, 80)]  # crop, shift and their mirrors; the scaled pair
        one_by_one = run_batched(net, [x, x.flip(-1)], max_images=1)
        together = run_batched(net, [x, x.flip(-1)])
    for k in separate:
        assert separate[k].abs().max() > 1e-3, k
        assert torch.allclose(batched[k], separate[k], atol=1e-5), k
        assert torch.allclose(one_by_one[1][k], together[1][k], atol=1e-5), k
    assert not torch.allclose(together[0]["normals"], together[1]["normals"])  # the inputs kept their order
