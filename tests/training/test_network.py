# SPDX-License-Identifier: GPL-3.0-or-later
"""FaceNet shapes and ranges, BatchNorm folding, export -> load_model -> predict_maps, evaluation."""

import argparse
import copy
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from core.errors import FaceFromPhotoError
from core.fused_decoders import fuse_decoders
from core.network import FaceNet, NetConfig, fuse_batchnorm
from core.predict import (
    InferenceSettings,
    Maps,
    load_model,
    predict_maps,
    run_network,
    sha256_file,
)
from core.views import forward_maps, mirror_back
from training.calibrate import LOGIT_GRID, choose_mask_threshold, precision_recall
from training.evaluate import evaluate, pooled_sigma, robust_variance
from training.export import export
from training.train import parse_args, train
from training.view_args import add_view_arguments, views_from_args

ROOT = Path(__file__).resolve().parents[2]
TOY = str(Path(__file__).with_name("toy_heads.py")) + ":ToyHeads"
TINY = NetConfig(widths=(8, 8, 16), decoder_widths=(4, 4, 8))


@pytest.mark.parametrize("side", [32, 64])
def test_outputs_have_the_contract_shapes_and_ranges(side):
    torch.manual_seed(0)
    net = FaceNet(TINY).eval()
    with torch.no_grad():
        out = net(torch.rand(2, 3, side, side))
    shapes = {"normals": 3, "grad_mag": 1, "mask_logits": 1, "depth": 1, "corr": 3}
    assert {k: tuple(v.shape) for k, v in out.items()} == {k: (2, c, side, side) for k, c in shapes.items()}
    assert torch.allclose(out["normals"].norm(dim=1), torch.ones(2, side, side), atol=1e-5)
    assert (out["grad_mag"] >= 0).all()
    assert ((out["corr"] >= 0) & (out["corr"] <= 1)).all()


def test_default_config_is_fully_convolutional_at_128_and_256():
    net = FaceNet().eval()
    with torch.inference_mode():
        for side in (128, 256):
            assert net(torch.rand(1, 3, side, side))["normals"].shape == (1, 3, side, side)


def test_bad_input_shapes_raise():
    net = FaceNet(TINY)
    with pytest.raises(ValueError, match="multiple of 4"):
        net(torch.rand(1, 3, 30, 30))
    with pytest.raises(ValueError, match=r"\(B, 3, S, S\)"):
        net(torch.rand(1, 1, 32, 32))


def test_config_round_trips_through_json():
    cfg = NetConfig(widths=(8, 16, 32), decoder_widths=(4, 8, 8), kernel=5)
    assert NetConfig.from_dict(json.loads(json.dumps(cfg.to_dict()))) == cfg
    with pytest.raises(ValueError, match="unknown"):
        NetConfig.from_dict({"widths": [8, 8], "decoder_widths": [4, 4], "colour": 1})


def test_the_normals_decoder_can_be_wider_than_the_others():
    cfg = NetConfig(widths=(8, 8, 16), decoder_widths=(4, 4, 8), normals_decoder_widths=(6, 8, 12))
    net = FaceNet(cfg).eval()
    assert net.decoders["normals"].head.in_channels == 6
    assert net.decoders["normals"].entry[0].out_channels == 12
    assert all(net.decoders[k].head.in_channels == 4 for k in ("grad_mag", "mask_logits", "depth", "corr"))
    with torch.no_grad():
        assert net(torch.rand(1, 3, 32, 32))["normals"].shape == (1, 3, 32, 32)
    assert NetConfig.from_dict(json.loads(json.dumps(cfg.to_dict()))) == cfg
    assert NetConfig.from_dict({"widths": [8, 8], "decoder_widths": [4, 4]}).normals_decoder_widths == ()
    with pytest.raises(ValueError, match="normals_decoder_widths"):
        NetConfig(widths=(8, 8, 16), decoder_widths=(4, 4, 8), normals_decoder_widths=(6, 8))


def test_half_res_decoders_stop_at_half_size_and_upsample_smoothly():
    cfg = NetConfig(widths=(8, 8, 16), decoder_widths=(4, 6, 8), half_res_outputs=("grad_mag", "depth"))
    torch.manual_seed(2)
    net = FaceNet(cfg).eval()
    half, full = net.decoders["depth"], net.decoders["normals"]
    assert (len(half.fuse), len(full.fuse)) == (1, 2)  # no full-resolution level
    assert half.head.in_channels == 6 and full.head.in_channels == 4
    torch.nn.init.normal_(half.head.weight)  # depth starts near 0: give the map some relief
    raw = {}
    half.head.register_forward_hook(lambda m, i, o: raw.setdefault("depth", o))
    with torch.no_grad():
        out = net(torch.rand(1, 3, 32, 32))
    assert raw["depth"].shape == (1, 1, 16, 16)
    assert {k: v.shape[-2:] for k, v in out.items()} == {k: (32, 32) for k in out}
    # bilinear, half-pixel centres: pixel 2i + 1 is 3/4 of S/2 pixel i and 1/4 of pixel i + 1, per axis
    r, o = raw["depth"][0, 0], out["depth"][0, 0]
    want = 0.75 * (0.75 * r[4, 4] + 0.25 * r[4, 5]) + 0.25 * (0.75 * r[5, 4] + 0.25 * r[5, 5])
    assert torch.isclose(o[9, 9], want, atol=1e-5)
    assert not torch.isclose(o[9, 9], r[4, 4], atol=1e-4)  # not nearest
    assert NetConfig.from_dict(json.loads(json.dumps(cfg.to_dict()))) == cfg
    with pytest.raises(ValueError, match="half_res_outputs"):
        NetConfig(widths=(8, 8), decoder_widths=(4, 4), half_res_outputs=("albedo",))


def test_fused_batchnorm_gives_the_same_maps():
    torch.manual_seed(1)
    net = FaceNet(TINY)
    net.train()
    with torch.no_grad():  # move the running statistics away from their defaults
        for _ in range(3):
            net(torch.rand(4, 3, 32, 32))
    net.eval()
    x = torch.rand(2, 3, 32, 32)
    with torch.no_grad():
        ref = net(x)
        fused = fuse_batchnorm(net)(x)
    for k in ref:
        assert torch.allclose(ref[k], fused[k], atol=1e-4), k


@pytest.mark.parametrize("upsample", ["nearest", "bilinear"])
def test_fused_decoders_give_the_same_maps_without_running_the_decoders_fuse_convolutions(upsample):
    cfg = NetConfig(widths=(8, 12, 16, 24), decoder_widths=(4, 6, 8, 12),
                    normals_decoder_widths=(6, 8, 12, 16), half_res_outputs=("grad_mag", "depth", "corr"),
                    upsample=upsample)
    torch.manual_seed(3)
    net = FaceNet(cfg)
    with torch.no_grad():  # running statistics away from their defaults, heads away from their zero start
        for _ in range(3):
            net(torch.rand(4, 3, 32, 32))
        for dec in net.decoders.values():
            torch.nn.init.normal_(dec.head.weight, std=0.3)
    plain = fuse_batchnorm(net.eval())
    fused = fuse_decoders(copy.deepcopy(plain)).to(memory_format=torch.channels_last)
    calls = []
    for dec in [*fused.decoders.values(), *plain.decoders.values()]:
        for block in dec.fuse:
            block[1].register_forward_hook(lambda *_: calls.append(1))  # the folded BatchNorm's place
    for side in (32, 64):
        x = torch.rand(2, 3, side, side)
        with torch.no_grad():
            ref, out = plain(x), fused(x.contiguous(memory_format=torch.channels_last))
        for k in ref:
            assert ref[k].abs().max() > 1e-3, k  # the comparison is not between zeros
            assert torch.allclose(ref[k], out[k], atol=2e-5), k
    n_plain = 2 * sum(len(dec.fuse) for dec in plain.decoders.values())
    assert len(calls) == n_plain  # only the plain model ran its fuse blocks: the re-cut ones gave the maps
    with pytest.raises(ValueError, match="folded"):
        fuse_decoders(FaceNet(cfg).eval())


@pytest.mark.parametrize("upsample", ["nearest", "bilinear"])
def test_decoder_fuse_convolution_matches_the_concatenating_form_in_value_and_gradient(upsample):
    cfg = NetConfig(widths=(8, 12, 16, 24), decoder_widths=(4, 6, 8, 12), upsample=upsample)
    torch.manual_seed(5)
    net = FaceNet(cfg).train()
    dec = net.decoders["normals"]
    torch.nn.init.normal_(dec.head.weight, std=0.3)
    x = torch.rand(3, 3, 32, 32)

    def concatenating(feats):  # equation (1)'s left-hand side, as the module read before the re-cut
        y = dec.entry(feats[-1])
        for j, (fuse, refine) in enumerate(zip(dec.fuse, dec.refine, strict=True)):
            skip = feats[len(feats) - 2 - j]
            y = torch.nn.functional.interpolate(y, size=skip.shape[-2:], mode=upsample)
            y = refine(fuse(torch.cat([y, skip], dim=1)))
        return dec.head(y)

    results = []
    for form in (dec, concatenating):
        net.zero_grad()
        out = form(net.encoder(x))
        (out * torch.linspace(-1, 1, out.numel()).view_as(out)).sum().backward()
        grads = {n: p.grad.clone() for n, p in net.named_parameters() if p.grad is not None}
        results.append((out.detach(), grads))
    (out, grads), (ref, ref_grads) = results
    assert ref.abs().max() > 1e-2
    assert torch.allclose(out, ref, atol=1e-5)
    assert grads.keys() == ref_grads.keys() and any(n.startswith("encoder.") for n in grads)
    for n in grads:
        assert (grads[n] - ref_grads[n]).abs().max() <= 1e-4 * ref_grads[n].abs().max(), n


def test_load_model_runs_the_fused_decoders_and_pointwise_products(exported):
    from core.fused_decoders import FusedDecoders
    from core.pointwise import Pointwise, is_pointwise

    folder, _ = exported
    model = load_model(folder / "face_net.pt", device="cpu")
    assert isinstance(model.fused_decoders, FusedDecoders)
    assert any(isinstance(m, Pointwise) for m in model.modules())
    assert not any(is_pointwise(m) for m in model.modules())


def test_importing_core_does_not_load_the_network_modules():
    code = "import sys, core; print(sorted(m for m in ('core.network', 'core.predict') if m in sys.modules))"
    res = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert res.stdout.strip() == "[]"


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """A tiny model trained for a few steps on toy heads and exported like the real one."""
    tmp = tmp_path_factory.mktemp("export")
    args = ["--dataset", TOY, "--resolution", "32", "--batch-size", "4", "--num-workers", "0",
            "--threads", "1", "--val-every", "0", "--image-every", "0", "--no-progress", "--steps", "5",
            "--warmup-steps", "1", "--net.widths", "8", "8", "16", "--net.decoder-widths", "4", "4", "8",
            "--out-dir", str(tmp / "run")]
    train(parse_args(args))
    manifest = export(tmp / "run" / "checkpoint.pt", tmp / "weights", dtype="float16", calibration_images=4)
    return tmp / "weights", manifest


def test_export_writes_hashed_half_precision_weights_and_manifest(exported):
    folder, manifest = exported
    assert manifest["sha256"] == sha256_file(folder / "face_net.pt")
    assert manifest["dtype"] == "float16" and manifest["step"] == 5
    assert manifest["config"] == TINY.to_dict()
    assert len(manifest["training_commit"]) in (40, 7) or manifest["training_commit"] == "unknown"
    state = torch.load(folder / "face_net.pt", weights_only=True)
    assert all(v.dtype == torch.float16 for v in state.values() if v.is_floating_point())
    calib = manifest["mask_calibration"]
    assert calib["n_images"] == 4 and calib["split"] == "val"
    assert manifest["inference"] == {"flip_average": True, "shifts": [], "scales": [], "network_side": 32,
                                     "mask_threshold": calib["mask_threshold"]}
    assert 0.0 < calib["mask_threshold"] < 1.0 and 0.0 <= calib["recall"] <= 1.0


def test_load_model_and_predict_maps(exported):
    folder, _ = exported
    model = load_model(folder / "face_net.pt", device="cpu")
    rng = np.random.default_rng(0)
    crop = rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)
    maps = predict_maps(crop, model)
    assert isinstance(maps, Maps)
    assert maps.normals.shape == (32, 32, 3) and maps.normals.dtype == np.float32
    assert maps.grad_mag.shape == maps.depth.shape == maps.mask_prob.shape == (32, 32)
    assert maps.mask.dtype == bool and maps.corr.shape == (32, 32, 3)
    assert np.allclose(np.linalg.norm(maps.normals, axis=-1), 1, atol=1e-4)
    if maps.mask.any():
        assert abs(np.median(maps.depth[maps.mask])) < 1e-5
    same = predict_maps(crop.astype(np.float32) / 255.0, model)  # float input in [0, 1]
    assert np.allclose(same.normals, maps.normals, atol=1e-5)
    with pytest.raises(ValueError):
        predict_maps(crop[:30], model)


def test_inference_layout_is_channels_last_on_cpu_and_gives_the_nchw_maps(exported):
    folder, _ = exported
    model = load_model(folder / "face_net.pt", device="cpu")
    assert model.encoder.stem[0][0].weight.is_contiguous(memory_format=torch.channels_last)
    crop = np.random.default_rng(1).integers(0, 256, (64, 64, 3), dtype=np.uint8)
    maps = predict_maps(crop, model)
    nchw = model.to(memory_format=torch.contiguous_format)
    x = torch.from_numpy(crop.astype(np.float32).transpose(2, 0, 1) / 255.0)[None]
    with torch.inference_mode():
        ref = run_network(nchw, x, model.inference)
    assert np.allclose(maps.normals, ref["normals"][0].numpy().transpose(1, 2, 0), atol=1e-5)
    assert np.allclose(maps.grad_mag, ref["grad_mag"][0, 0].numpy(), atol=1e-5)


def test_mirror_averaging_makes_the_maps_mirror_equivariant(exported):
    """Mirroring the photo mirrors every averaged map (normal x and canonical X flip sign/side)."""
    folder, _ = exported
    model = load_model(folder / "face_net.pt", device="cpu")
    x = torch.rand(2, 3, 32, 32, generator=torch.Generator().manual_seed(3))
    with torch.inference_mode():
        for flip_average in (True, False):
            a = forward_maps(model, x, flip_average)
            b = mirror_back(forward_maps(model, x.flip(-1), flip_average))
            same = all(torch.allclose(a[k], b[k], atol=1e-5) for k in a)
            assert same == flip_average  # a single pass of an asymmetric network is not equivariant
    assert torch.allclose(a["normals"].norm(dim=1), torch.ones(2, 32, 32), atol=1e-5)


def test_mask_threshold_comes_from_the_manifest(exported, tmp_path):
    folder, _ = exported
    crop = np.random.default_rng(2).integers(0, 256, (32, 32, 3), dtype=np.uint8)
    counts = []
    for name, p in (("low", 0.05), ("high", 0.95)):
        d = _copy(folder, tmp_path / name)
        m = json.loads((d / "manifest.json").read_text())
        m["inference"]["mask_threshold"] = p
        (d / "manifest.json").write_text(json.dumps(m))
        model = load_model(d / "face_net.pt", device="cpu")
        assert model.inference == InferenceSettings(flip_average=True, network_side=32, mask_threshold=p)
        maps = predict_maps(crop, model)
        assert np.array_equal(maps.mask, maps.mask_prob > p)
        counts.append(int(maps.mask.sum()))
    assert counts[0] >= counts[1]
    d = _copy(folder, tmp_path / "bad")
    bad_settings = (("mask_threshold", 1.5), ("flip_average", "yes"), ("shifts", [[4]]),
                    ("shifts", [[99, 0]]), ("scales", ["big"]), ("scales", [0.1]), ("views", 3),
                    ("network_side", 8), ("network_side", True), ("network_side", 64.5))
    for key, bad in bad_settings:
        m = json.loads((folder / "manifest.json").read_text())
        m["inference"][key] = bad
        (d / "manifest.json").write_text(json.dumps(m))
        with pytest.raises(FaceFromPhotoError, match="unreadable"):
            load_model(d / "face_net.pt")


def test_precision_recall_over_thresholds_matches_direct_counts():
    rng = np.random.default_rng(0)
    truth = rng.random(5000) < 0.4
    logits = rng.normal(np.where(truth, 1.5, -1.5), 1.2)
    thresholds = np.array([-2.0, -0.5, 0.0, 0.7, 3.0])
    precision, recall = precision_recall(logits, truth, thresholds)
    for k, t in enumerate(thresholds):
        pred = logits > t
        assert precision[k] == pytest.approx((pred & truth).sum() / pred.sum())
        assert recall[k] == pytest.approx((pred & truth).sum() / truth.sum())


def test_mask_threshold_maximises_the_smaller_margin_to_both_targets():
    rng = np.random.default_rng(1)
    truth = rng.random(200_000) < 0.5
    logits = rng.normal(np.where(truth, 3.0, -3.0), 1.0)  # separable enough to meet both targets
    r = choose_mask_threshold(logits, truth, precision_target=0.96, recall_target=0.985)
    assert r["precision"] >= 0.96 and r["recall"] >= 0.985 and r["margin"] >= 0
    precision, recall = precision_recall(logits, truth, LOGIT_GRID)
    margins = np.minimum(precision - 0.96, recall - 0.985)
    assert r["margin"] == pytest.approx(margins.max())
    # recall matters more to the targets here than precision: the threshold sits below logit 0
    assert r["logit"] < 0 and r["mask_threshold"] == pytest.approx(1 / (1 + np.exp(-r["logit"])))


def _copy(folder: Path, dest: Path) -> Path:
    dest.mkdir()
    for name in ("face_net.pt", "manifest.json"):
        (dest / name).write_bytes((folder / name).read_bytes())
    return dest


def test_load_model_rejects_missing_truncated_tampered_and_mismatched(exported, tmp_path):
    folder, _ = exported
    with pytest.raises(FaceFromPhotoError, match="missing"):
        load_model(tmp_path / "nothing.pt")

    d = _copy(folder, tmp_path / "truncated")
    data = (d / "face_net.pt").read_bytes()
    (d / "face_net.pt").write_bytes(data[: len(data) // 2])
    with pytest.raises(FaceFromPhotoError, match="do not match their manifest"):
        load_model(d / "face_net.pt")

    d = _copy(folder, tmp_path / "tampered")
    raw = bytearray((d / "face_net.pt").read_bytes())
    raw[-200] ^= 0xFF
    (d / "face_net.pt").write_bytes(bytes(raw))
    with pytest.raises(FaceFromPhotoError, match="do not match their manifest"):
        load_model(d / "face_net.pt")

    d = _copy(folder, tmp_path / "arch")
    m = json.loads((d / "manifest.json").read_text())
    m["config"]["widths"] = [8, 8, 32]
    (d / "manifest.json").write_text(json.dumps(m))
    with pytest.raises(FaceFromPhotoError, match="architecture"):
        load_model(d / "face_net.pt")

    d = _copy(folder, tmp_path / "nomanifest")
    (d / "manifest.json").unlink()
    with pytest.raises(FaceFromPhotoError, match="manifest"):
        load_model(d / "face_net.pt")

    d = _copy(folder, tmp_path / "badpickle")  # hash matches, content is not a state dict
    (d / "face_net.pt").write_bytes(b"not a torch file")
    m = json.loads((d / "manifest.json").read_text())
    m["sha256"] = sha256_file(d / "face_net.pt")
    (d / "manifest.json").write_text(json.dumps(m))
    with pytest.raises(FaceFromPhotoError, match="cannot be read"):
        load_model(d / "face_net.pt")


def test_robust_depth_protocol_ignores_outliers():
    rng = np.random.default_rng(0)
    variances = []
    for _ in range(20):
        err = rng.normal(5.0, 1.5, 4000)  # offset 5 px must not matter
        err[:100] += rng.uniform(20, 60, 100)  # spikes at silhouettes
        variances.append(robust_variance(err))
    # a 3-sigma window keeps 99.73 % of a normal distribution: the variance shrinks by ~2.6 %
    assert pooled_sigma(variances) == pytest.approx(1.5 * np.sqrt(0.9733), rel=0.03)


def test_evaluate_reports_the_required_keys(exported, tmp_path):
    folder, _ = exported
    model = load_model(folder / "face_net.pt", device="cpu")
    report = evaluate(model, resolution=32, limit=3, dataset=TOY, grid_path=tmp_path / "g.png", grid_rows=2)
    for key in ("mask_precision", "mask_recall", "normal_mean_deg", "normal_std_deg",
                "normal_lt10", "normal_lt20", "normal_lt30"):
        assert np.isfinite(report[key]), key
    assert set(report["depth_sigma"]) == {"0.0", "0.05", "0.1", "0.2", "0.3", "direct"}
    swap = report["depth_sigma_swapped"]
    assert swap["lambda"] == 0.3
    for key in ("pred_normals_gt_grad_mag", "gt_normals_pred_grad_mag"):
        assert np.isfinite(swap[key]) and swap[key] >= 0, key
    assert report["n_images"] == 3 and (tmp_path / "g.png").stat().st_size > 0
    assert report["inference"] == model.inference.to_dict()
    edge = report["normal_by_region"]["silhouette_2px"]
    assert 0.0 < edge["fraction"] < 1.0 and np.isfinite(edge["mean_deg"])
    split = report["normal_by_frequency"]
    assert all(np.isfinite(split[f"{k}_deg"]) for k in ("coarse", "fine", "rotated"))
    assert report["split"] == "test"
    for name, region in report["normal_by_region"].items():
        assert region["gt_fold_mean_deg"] >= 0 and 0 <= region["gt_fold_over20"] <= 1, name
    assert 0 <= report["normal_outside_ears"]["gt_fold_over20"] <= 1
    assert np.isnan(report["over30_share_worst_tenth"]) or 0 < report["over30_share_worst_tenth"] <= 1


def test_the_worst_tenth_share_is_a_tenth_when_even_and_all_when_concentrated():
    from training.evaluate import worst_tenth_share

    assert worst_tenth_share([5] * 20) == pytest.approx(0.1)
    assert worst_tenth_share([0] * 18 + [3, 7]) == 1.0
    assert worst_tenth_share([1, 3]) == 0.75  # at least one image
    assert np.isnan(worst_tenth_share([0, 0]))


def test_evaluate_on_validation_heads_sees_other_images_than_the_test_split(exported):
    from training.eval_batches import split_batches

    test = next(split_batches(TOY, 32, 3, "test"))["image"]
    val = next(split_batches(TOY, 32, 3, "val"))["image"]
    assert test.shape == val.shape == (3, 3, 32, 32) and not torch.equal(test, val)
    folder, _ = exported
    report = evaluate(load_model(folder / "face_net.pt", device="cpu"), resolution=32, limit=3, dataset=TOY,
                      split="val")
    assert report["split"] == "val" and report["n_images"] == 3
    train = next(split_batches(TOY, 32, 3, "train"))["image"]
    assert not torch.equal(train, val) and not torch.equal(train, test)
    with pytest.raises(ValueError, match="split"):
        next(split_batches(TOY, 32, 3, "holdout"))


def test_supersampled_ground_truth_of_factor_one_gives_the_report_s_own_normal_metrics(exported, tmp_path):
    """K = 1 averages nothing: the section must repeat the main normal metrics, and K = 4 moves them."""
    folder, _ = exported
    model = load_model(folder / "face_net.pt", device="cpu")
    one = evaluate(model, resolution=32, limit=2, split="val", lambdas=(0.3,), gt_reference=False,
                   gt_supersample=1, error_map_path=tmp_path / "map.png")
    assert (tmp_path / "map.png").stat().st_size > 0
    f = one["normal_vs_supersampled_gt"]
    assert f["factor"] == 1 and f["gt_point_vs_supersampled"]["mean_deg"] == pytest.approx(0.0, abs=1e-3)
    for key in ("mean_deg", "lt10", "lt20", "lt30"):
        assert f[key] == pytest.approx(one[f"normal_{key}"], abs=1e-4), key
    four = evaluate(model, resolution=32, limit=2, split="val", lambdas=(0.3,), gt_reference=False,
                    gt_supersample=4)["normal_vs_supersampled_gt"]
    assert four["factor"] == 4 and 0.0 < four["gt_point_vs_supersampled"]["mean_deg"] < 5.0
    assert four["mean_deg"] != pytest.approx(f["mean_deg"], abs=1e-6)
    with pytest.raises(ValueError, match="synthetic"):
        evaluate(model, resolution=32, limit=2, dataset=TOY, gt_supersample=4)


def test_region_masks_split_the_head_by_silhouette_distance_and_occluder():
    from training.evaluate import region_masks

    gt = np.zeros((20, 20), bool)
    gt[5:15, 5:15] = True
    occ = np.zeros((20, 20), np.uint8)
    occ[5:8, :] = 1  # hair over the top rows
    occ[0:3, :] = 3  # clothing outside the head is not a head region
    r = region_masks(gt, occ)
    assert r["silhouette_2px"].sum() == 100 - 6 * 6  # a 2-px ring of the 10 x 10 square
    assert r["hair"].sum() == 30 and r["clothing"].sum() == 0
    assert r["uncovered"].sum() == 70 and not (r["uncovered"] & r["hair"]).any()
    assert set(region_masks(gt, None)) == {"silhouette_2px"}
    corr = np.full((20, 20, 3), 0.5)  # the middle of the head ...
    corr[5:15, 5:7] = (0.1, 0.6, 0.5)  # ... but its left two columns sit on the subject's right ear
    corr[5:7, 5:7, 2] = 0.9  # the top of those columns is above the ear
    corr[0:4, 0:4] = (0.1, 0.6, 0.5)  # outside the head: never a region
    ears = region_masks(gt, occ, corr)["ears"]
    assert ears.sum() == 16 and ears[7:15, 5:7].all()


def test_numpy_test_samples_become_channel_first_tensors():
    from training.synth.dataset import to_tensors

    rng = np.random.default_rng(0)
    sample = {"image": rng.random((8, 8, 3)), "normals": rng.random((8, 8, 3)),
              "grad_mag": rng.random((8, 8)), "mask": rng.random((8, 8)) > 0.5,
              "depth": rng.random((8, 8)), "corr": rng.random((8, 8, 3))}
    t = to_tensors(sample)
    assert t["image"].shape == (3, 8, 8) and t["mask"].shape == (1, 8, 8)
    assert t["mask"].dtype == torch.float32
    assert torch.allclose(t["normals"][:, 2, 5], torch.from_numpy(sample["normals"][2, 5]).float())


def test_export_ships_the_extra_views_and_predict_maps_runs_them(exported, tmp_path):
    """Shifts and scales chosen at export reach the manifest, load_model and predict_maps."""
    folder, _ = exported
    views = InferenceSettings(shifts=[(4, 4)], scales=[1.125])
    manifest = export(folder.parent / "run" / "checkpoint.pt", tmp_path, dtype="float16", views=views,
                      calibration_images=4)
    assert manifest["inference"]["shifts"] == [[4, 4]] and manifest["inference"]["scales"] == [1.125]
    model = load_model(tmp_path / "face_net.pt", device="cpu")
    assert model.inference.shifts == ((4, 4),) and model.inference.passes == 6
    assert model.inference.network_side == 32  # the training resolution
    crop = np.random.default_rng(5).integers(0, 256, (32, 32, 3), dtype=np.uint8)
    maps = predict_maps(crop, model)
    one = predict_maps(crop, model, InferenceSettings(mask_threshold=model.inference.mask_threshold))
    x = torch.from_numpy(crop.astype(np.float32).transpose(2, 0, 1) / 255.0)[None]
    with torch.inference_mode():
        ref = run_network(model, x.contiguous(memory_format=torch.channels_last))
    assert np.allclose(maps.normals, ref["normals"][0].numpy().transpose(1, 2, 0), atol=1e-5)
    assert not np.allclose(maps.normals, one.normals, atol=1e-3)  # the extra views do change the maps
    big = np.repeat(np.repeat(crop, 2, axis=0), 2, axis=1)  # 64 px: the network still sees 32 px
    assert predict_maps(big, model).normals.shape == (64, 64, 3)


def test_view_options_replace_only_what_the_command_line_sets():
    ap = argparse.ArgumentParser()
    add_view_arguments(ap, "the base")
    base = InferenceSettings(shifts=[(4, 4)], scales=[1.125], network_side=128, mask_threshold=0.3)
    assert views_from_args(ap.parse_args([]), base) == base
    args = ap.parse_args(["--scale", "1.25", "--no-flip-average", "--network-side", "0"])
    got = views_from_args(args, base)
    assert got == InferenceSettings(flip_average=False, scales=[1.25], mask_threshold=0.3)
    got = views_from_args(ap.parse_args(["--shift", "2", "0", "--shift", "0", "-2"]), base)
    assert got.shifts == ((2, 0), (0, -2)) and got.scales == () and got.network_side == 128
    with pytest.raises(ValueError, match="scales"):
        views_from_args(ap.parse_args(["--scale", "9"]), base)
