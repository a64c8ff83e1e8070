"""The training losses: each term measures what its docstring says, masks where it should."""

from __future__ import annotations

import math

import pytest
import torch

from training.model_losses import (
    GAN_GROUPS,
    Discriminators,
    LossConfig,
    PatchDiscriminator,
    angle_between,
    dice_loss,
    generator_terms,
    gradient_l1,
    hardest_pixels,
    neighbour_angle_deg,
    normal_detail,
    reconstruction,
    remove_offset,
    soft_share_over,
    weighted_total,
)


def unit(x: torch.Tensor) -> torch.Tensor:
    return x / x.norm(dim=1, keepdim=True)


def fake_batch(side: int = 16, seed: int = 0) -> dict[str, torch.Tensor]:
    """Ground-truth maps of one toy head: a disc mask, smooth normals and depth."""
    g = torch.Generator().manual_seed(seed)
    yy, xx = torch.meshgrid(torch.linspace(-1, 1, side), torch.linspace(-1, 1, side), indexing="ij")
    mask = ((xx**2 + yy**2) < 0.6).float()[None, None].repeat(2, 1, 1, 1)
    normals = unit(torch.stack([xx, yy, torch.full_like(xx, 1.5)])[None].repeat(2, 1, 1, 1))
    return {
        "image": torch.rand(2, 3, side, side, generator=g),
        "mask": mask,
        "normals": normals,
        "grad_mag": torch.rand(2, 1, side, side, generator=g) * 3,
        "depth": 20 * (1 - xx**2 - yy**2)[None, None].repeat(2, 1, 1, 1),
        "corr": torch.rand(2, 3, side, side, generator=g),
    }


def perfect_output(batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    out = {k: batch[k].clone() for k in ("normals", "grad_mag", "depth", "corr")}
    out["mask_logits"] = (batch["mask"] * 2 - 1) * 40.0  # sigmoid saturates at the truth
    out["depth"] = out["depth"] + 7.0  # depth is compared up to an offset
    return out


def test_angle_between_is_the_arccos_of_the_dot_product_with_a_bounded_gradient():
    g = torch.Generator().manual_seed(1)
    a, b = unit(torch.randn(2, 3, 5, 5, generator=g)), unit(torch.randn(2, 3, 5, 5, generator=g))
    ref = torch.acos((a * b).sum(1, keepdim=True).clamp(-1, 1))
    assert angle_between(a, b).shape == (2, 1, 5, 5)
    torch.testing.assert_close(angle_between(a, b), ref, atol=1e-5, rtol=0)
    # Identical vectors: angle 0 and a finite gradient (acos's is infinite there).
    v = a.clone().requires_grad_(True)
    angle = angle_between(unit(v), a)
    assert float(angle.detach().max()) < 1e-5
    angle.sum().backward()
    assert torch.isfinite(v.grad).all()
    # 90 degrees apart.
    x, y = torch.tensor([1.0, 0, 0]).view(1, 3, 1, 1), torch.tensor([0, 1.0, 0]).view(1, 3, 1, 1)
    assert float(angle_between(x, y)) == pytest.approx(math.pi / 2)


def test_reconstruction_is_l1_or_l2_averaged_over_the_mask_only():
    pred, gt = torch.zeros(1, 1, 2, 2), torch.tensor([[[[1.0, -2.0], [3.0, 100.0]]]])
    mask = torch.tensor([[[[1.0, 1.0], [1.0, 0.0]]]])
    assert float(reconstruction(pred, gt, mask, "l1")) == pytest.approx(2.0)
    assert float(reconstruction(pred, gt, mask, "l2")) == pytest.approx(14 / 3)
    assert float(reconstruction(pred, gt, None, "l1")) == pytest.approx(106 / 4)
    with pytest.raises(ValueError, match="'l1' or 'l2'"):
        reconstruction(pred, gt, mask, "l3")


def test_gradient_term_ignores_a_constant_offset_and_pairs_across_the_mask_edge():
    gt = torch.arange(16.0).view(1, 1, 4, 4)
    assert float(gradient_l1(gt + 5.0, gt, None)) == 0.0
    bumped = gt.clone()
    bumped[0, 0, 3, 3] += 10.0  # outside the mask below: its differences are not compared
    mask = torch.ones(1, 1, 4, 4)
    mask[0, 0, 3, 3] = 0
    assert float(gradient_l1(bumped, gt, mask)) == 0.0
    assert float(gradient_l1(bumped, gt, None)) > 0.0


def test_depth_offset_is_removed_per_image_over_the_mask():
    gt = torch.rand(2, 1, 6, 6)
    mask = (torch.rand(2, 1, 6, 6) > 0.3).float()
    pred = gt + torch.tensor([3.0, -4.0]).view(2, 1, 1, 1)
    torch.testing.assert_close(remove_offset(pred, gt, mask) * mask, gt * mask)


def test_dice_is_zero_for_a_perfect_mask_and_near_one_for_its_complement():
    target = torch.zeros(1, 1, 8, 8)
    target[..., 2:6, 2:6] = 1
    assert float(dice_loss((target * 2 - 1) * 40, target)) == pytest.approx(0.0, abs=1e-6)
    assert float(dice_loss((1 - 2 * target) * 40, target)) > 0.95


@pytest.mark.parametrize("angle", ["cos", "rad"])
@pytest.mark.parametrize("recon", ["l1", "l2"])
def test_a_perfect_prediction_scores_zero_on_every_term(angle, recon):
    batch = fake_batch()
    terms = generator_terms(perfect_output(batch), batch, LossConfig(recon=recon, normal_angle=angle))
    for name, value in terms.items():
        assert float(value) == pytest.approx(0.0, abs=1e-5), name


def test_angular_term_is_the_mean_masked_angle_or_one_minus_its_cosine():
    batch = fake_batch()
    out = perfect_output(batch)
    theta = 0.3  # rotate every predicted normal by 0.3 rad about the view axis' perpendicular
    n = batch["normals"]
    axis = unit(torch.linalg.cross(n, torch.tensor([0.0, 1.0, 0.0]).view(1, 3, 1, 1).expand_as(n), dim=1))
    out["normals"] = n * math.cos(theta) + torch.linalg.cross(axis, n, dim=1) * math.sin(theta)
    rad = generator_terms(out, batch, LossConfig(normal_angle="rad"))["normal_angular"]
    cos = generator_terms(out, batch, LossConfig(normal_angle="cos"))["normal_angular"]
    assert float(rad) == pytest.approx(theta, rel=1e-4)
    assert float(cos) == pytest.approx(1 - math.cos(theta), rel=1e-4)
    with pytest.raises(ValueError, match="normal_angle"):
        generator_terms(out, batch, LossConfig(normal_angle="degrees"))


def test_recon_normals_overrides_the_pixel_loss_for_the_normals_alone():
    batch = fake_batch()
    out = perfect_output(batch)
    out["normals"] = out["normals"] + 0.5
    out["corr"] = out["corr"] + 0.5
    l1 = generator_terms(out, batch, LossConfig(recon="l1"))
    mixed = generator_terms(out, batch, LossConfig(recon="l1", recon_normals="l2"))
    assert float(l1["normals"]) == pytest.approx(0.5)
    assert float(mixed["normals"]) == pytest.approx(0.25)
    assert float(mixed["corr"]) == pytest.approx(float(l1["corr"]))


def test_normal_detail_is_the_neighbour_angle_over_20_degrees_inside_the_mask():
    side = 8
    n = torch.zeros(1, 3, side, side)
    n[:, 2] = 1.0
    tilt = math.radians(10.0)  # columns 4.. turn by 10 deg: the two columns at the fold read 0.5
    n[:, 0, :, 4:], n[:, 2, :, 4:] = math.sin(tilt), math.cos(tilt)
    mask = torch.ones(1, 1, side, side)
    mask[..., 0, :] = 0  # outside the mask: 0, and no neighbour there counts
    d = normal_detail(n, mask)
    assert torch.allclose(d[0, 0, 1:, 3:5], torch.full((side - 1, 2), 0.5), atol=1e-4)
    assert float(d[0, 0, 1:, :3].abs().max()) == 0 and float(d[0, 0, 1:, 5:].abs().max()) == 0
    assert float(d[0, 0, 0].abs().max()) == 0
    assert torch.allclose(neighbour_angle_deg(n, mask)[0, 0, 1:, 3:5], torch.full((side - 1, 2), 10.0),
                          atol=2e-3)
    n[:, 0, :, 4:], n[:, 2, :, 4:] = 1.0, 0.0  # a 90 deg fold saturates at 1
    assert torch.allclose(normal_detail(n, mask)[0, 0, 1:, 3:5], torch.ones(side - 1, 2))
    assert torch.allclose(neighbour_angle_deg(n, mask)[0, 0, 1:, 3:5], torch.full((side - 1, 2), 90.0),
                          atol=2e-3)  # the angle itself is not capped


def test_detail_weight_makes_an_error_at_a_fold_cost_more_than_on_flat_ground():
    batch = fake_batch(side=16)
    right = batch["normals"][:, :, :, 8:]  # a 45 deg fold between columns 7 and 8
    batch["normals"][:, :, :, 8:] = unit(right + torch.tensor([1.0, 0, 0]).view(1, 3, 1, 1))
    costs = {}
    for where, cols in {"fold": slice(7, 9), "flat": slice(3, 5)}.items():
        out = perfect_output(batch)
        out["normals"][:, :, 6:10, cols] = unit(out["normals"][:, :, 6:10, cols] + 0.3)
        plain = generator_terms(out, batch, LossConfig(recon="l2"))
        weighted = generator_terms(out, batch, LossConfig(recon="l2", normal_detail_weight=3.0))
        costs[where] = [float(t[k]) for t in (plain, weighted) for k in ("normals", "normal_angular")]
    ratio = [f / g for f, g in zip(costs["fold"], costs["flat"], strict=True)]  # fold over flat: L2, angular
    assert ratio[2] > 1.5 * ratio[0] and ratio[3] > 1.5 * ratio[1]  # weighted against unweighted
    perfect = generator_terms(perfect_output(batch), batch, LossConfig(normal_detail_weight=3.0))
    assert float(perfect["normals"]) == 0 and float(perfect["normal_angular"]) < 1e-6


def test_hardest_pixels_are_each_images_worst_share_inside_the_mask():
    err = torch.arange(2 * 36, dtype=torch.float32).view(2, 1, 6, 6)
    err[1] = err[1].flip(-1)  # the second image's worst pixels sit on the left
    mask = torch.ones(2, 1, 6, 6)
    mask[:, :, :, 5] = 0  # the largest errors of the first image lie outside its mask
    hard = hardest_pixels(err, mask, 0.2)  # ceil(0.2 * 30) = 6 pixels per image
    assert hard.shape == err.shape and hard.flatten(1).sum(1).tolist() == [6.0, 6.0]
    assert float((hard * (1 - mask)).sum()) == 0
    first = err[0, 0][mask[0, 0] > 0]
    assert float(err[0][hard[0] > 0].min()) == float(first.sort(descending=True).values[5])
    assert hard[1, 0, 5, 0] == 1 and hard[1, 0, 0, 4] == 0
    assert float(hardest_pixels(err, mask, 1.0).sum()) == float(mask.sum())
    with pytest.raises(ValueError, match="fraction"):
        hardest_pixels(err, mask, 0.0)


def test_hard_weight_makes_the_worst_error_cost_more_than_the_same_error_spread_thin():
    batch = fake_batch(side=16)
    out = perfect_output(batch)
    out["normals"][:, :, 7:9, 7:9] = unit(out["normals"][:, :, 7:9, 7:9] + 0.5)  # 4 bad pixels per image
    plain = generator_terms(out, batch, LossConfig(recon="l2"))
    cfg = LossConfig(recon="l2", normal_hard_weight=5.0, normal_hard_fraction=0.03)
    hard = generator_terms(out, batch, cfg)
    # the 4 bad pixels are the whole hard share (ceil(0.03 * 112) = 4): each weighs 6 of n + 20 in all
    n = float(batch["mask"][0].sum())
    for key in ("normals", "normal_angular"):
        assert float(hard[key]) == pytest.approx(float(plain[key]) * 6 * n / (n + 5 * 4), rel=1e-4)
    perfect = generator_terms(perfect_output(batch), batch, LossConfig(normal_hard_weight=5.0))
    assert float(perfect["normals"]) == 0 and float(perfect["normal_angular"]) < 1e-6


def test_soft_share_counts_pixels_past_20_and_30_degrees_and_pushes_only_near_them():
    deg = torch.tensor([5.0, 15.0, 19.0, 21.0, 25.0, 29.0, 31.0, 60.0, 90.0]).view(1, 1, 1, -1)
    mask = torch.ones_like(deg)
    mask[..., -1] = 0.0  # the 90 deg pixel lies outside the mask
    hard = (((deg > 20).float() + (deg > 30).float()) * mask).sum() / mask.sum()
    err = torch.deg2rad(deg).requires_grad_(True)
    sharp = soft_share_over(err.detach(), mask, softness_deg=0.05)
    assert float(sharp) == pytest.approx(float(hard), abs=1e-6)  # (5 over 20 + 2 over 30) / 8
    soft = soft_share_over(err, mask, softness_deg=3.0)
    soft.backward()
    g = err.grad.flatten()
    # the push is largest next to a threshold, small well inside, ~0 for a far outlier, 0 off the mask
    assert float(g[2]) > 10 * float(g[0]) and float(g[6]) > 10 * float(g[0]) and float(g[2]) > float(g[1])
    assert float(g[3]) > float(g[4]) and float(g[5]) > float(g[4])
    assert float(g[7]) < 1e-3 * float(g[2]) and float(g[8]) == 0.0
    with pytest.raises(ValueError, match="softness"):
        soft_share_over(err, mask, softness_deg=0.0)


def test_soft_share_with_one_threshold_counts_and_pushes_only_past_it():
    deg = torch.tensor([15.0, 21.0, 29.0, 31.0, 45.0]).view(1, 1, 1, -1)
    mask = torch.ones_like(deg)
    err = torch.deg2rad(deg).requires_grad_(True)
    sharp = soft_share_over(err.detach(), mask, softness_deg=0.05, thresholds_deg=(30.0,))
    assert float(sharp) == pytest.approx(2 / 5, abs=1e-6)  # 31 and 45 deg pass 30; 21 deg no longer counts
    soft_share_over(err, mask, softness_deg=3.0, thresholds_deg=(30.0,)).backward()
    g = err.grad.flatten()
    # no push at 20 deg any more: 21 deg gets under a fifth of 29 deg's, 15 deg under a fifth of 21 deg's
    assert float(g[2]) > 5 * float(g[1]) and float(g[3]) > 5 * float(g[1]) and float(g[1]) > 5 * float(g[0])
    with pytest.raises(ValueError, match="threshold"):
        soft_share_over(err, mask, softness_deg=3.0, thresholds_deg=())


def test_share_term_is_computed_and_weighted_only_when_it_has_a_weight():
    batch = fake_batch(side=16)
    out = perfect_output(batch)
    out["normals"][:, :, 7:9, 7:9] = unit(out["normals"][:, :, 7:9, 7:9] + 0.5)  # 4 bad pixels per image
    assert "normal_share" not in generator_terms(out, batch, LossConfig())
    cfg = LossConfig(w_normal_share=4.0, normal_share_softness_deg=0.01)
    terms = generator_terms(out, batch, cfg)
    bad_deg = torch.rad2deg(angle_between(out["normals"], batch["normals"]))[:, :, 7:9, 7:9]
    n = float(batch["mask"].sum())
    expected = float(((bad_deg > 20).float() + (bad_deg > 30).float()).sum()) / n
    assert expected > 0 and float(terms["normal_share"]) == pytest.approx(expected, abs=1e-6)
    off = {k: v for k, v in terms.items() if k != "normal_share"}
    assert float(weighted_total(terms, cfg)) == pytest.approx(
        float(weighted_total(off, cfg)) + 4.0 * expected, rel=1e-5
    )
    only30 = generator_terms(out, batch, LossConfig(w_normal_share=4.0, normal_share_softness_deg=0.01,
                                                    normal_share_thresholds_deg=(30.0,)))
    expected30 = float((bad_deg > 30).float().sum()) / n
    assert float(only30["normal_share"]) == pytest.approx(expected30, abs=1e-6)


def test_weighted_total_scales_each_term_by_its_named_weight():
    batch = fake_batch()
    out = perfect_output(batch)
    out["corr"] = out["corr"] + 0.5
    terms = generator_terms(out, batch, LossConfig())
    base = float(weighted_total(terms, LossConfig()))
    assert base == pytest.approx(0.5, rel=1e-4)  # only the correspondence is off, by 0.5 everywhere
    assert float(weighted_total(terms, LossConfig(w_corr=3.0))) == pytest.approx(3 * base, rel=1e-4)
    assert float(weighted_total(terms, LossConfig(w_normals=10.0))) == pytest.approx(base, rel=1e-4)


def test_patch_discriminator_sees_70_px_patches():
    net = PatchDiscriminator(4, width=8).eval()
    assert net(torch.zeros(1, 4, 128, 128)).shape == (1, 1, 14, 14)
    # Receptive field: a change at one pixel reaches only logits whose 70 px patch covers it.
    x = torch.zeros(1, 4, 256, 256, requires_grad=True)
    net(x)[0, 0, 10, 10].backward()  # an inner logit: its patch lies within the image
    rows = torch.nonzero(x.grad.abs().sum((0, 1, 3)) > 0).flatten()
    cols = torch.nonzero(x.grad.abs().sum((0, 1, 2)) > 0).flatten()
    assert int(rows.max() - rows.min()) + 1 == 70 and int(cols.max() - cols.min()) + 1 == 70


def test_discriminators_take_rgb_plus_each_groups_maps():
    discs = Discriminators(width=8)
    batch = fake_batch(side=64)
    out = perfect_output(batch)
    assert set(discs.nets) == set(GAN_GROUPS)
    d, g = discs.loss_d(out, batch).detach(), discs.loss_g(out, batch).detach()
    assert torch.isfinite(d) and torch.isfinite(g) and float(d) > 0 and float(g) > 0
