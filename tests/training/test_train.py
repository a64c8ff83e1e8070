# SPDX-License-Identifier: GPL-3.0-or-later
"""Training loop: generated command line, exact resume, loss decrease, stop on SIGTERM."""

import dataclasses
import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from training.export import export, tail_average
from training.train import TrainConfig, parse_args, random_crops, train

ROOT = Path(__file__).resolve().parents[2]
TOY = str(Path(__file__).with_name("toy_heads.py")) + ":ToyHeads"
SMALL = [
    "--dataset", TOY, "--resolution", "32", "--batch-size", "4", "--num-workers", "0",
    "--threads", "1", "--val-every", "0", "--image-every", "0", "--no-progress",
    "--warmup-steps", "2", "--net.widths", "8", "8", "16", "--net.decoder-widths", "4", "4", "8",
]


def test_command_line_is_generated_from_config_fields():
    cfg = parse_args(["--steps", "7", "--lr", "0.01", "--net.widths", "8", "16", "--net.decoder-widths",
                      "4", "8", "--net.normals-decoder-widths", "6", "8",
                      "--loss.w-gan", "0.002", "--loss.recon", "l2", "--resume"])
    assert isinstance(cfg, TrainConfig)
    assert cfg.steps == 7 and cfg.lr == 0.01 and cfg.resume is True
    assert cfg.net.widths == (8, 16) and cfg.net.decoder_widths == (4, 8)
    assert cfg.net.normals_decoder_widths == (6, 8)
    assert cfg.loss.w_gan == 0.002 and cfg.loss.recon == "l2"
    assert parse_args([]) == TrainConfig()
    share = parse_args(["--loss.normal-share-thresholds-deg", "30"])
    assert share.loss.normal_share_thresholds_deg == (30.0,)
    assert TrainConfig.from_dict(json.loads(json.dumps(dataclasses.asdict(share)))) == share


def test_resume_is_exact_and_loss_decreases(tmp_path):
    steps = ["--steps", "40", "--log-every", "5"]
    full, _ = train(parse_args(SMALL + steps + ["--out-dir", str(tmp_path / "full")]))
    train(parse_args(SMALL + steps + ["--out-dir", str(tmp_path / "part"), "--halt-at-step", "15"]))
    ckpt = torch.load(tmp_path / "part" / "checkpoint.pt", weights_only=False)
    assert ckpt["step"] == 15 and set(ckpt) >= {"model", "optimizer", "config", "step", "rng"}
    resumed, _ = train(parse_args(SMALL + steps + ["--out-dir", str(tmp_path / "part"), "--resume"]))
    a, b = full.state_dict(), resumed.state_dict()
    for k in a:
        assert torch.equal(a[k], b[k]), f"resumed run differs in {k}"
    logs = [json.loads(line) for line in open(tmp_path / "full" / "metrics.jsonl")]
    losses = [r["loss"] for r in logs if r["split"] == "train"]
    assert len(losses) == 8
    assert losses[-1] < 0.7 * losses[0], losses


def test_sigterm_writes_a_checkpoint_and_exits(tmp_path):
    out = tmp_path / "run"
    cmd = [sys.executable, "-m", "training.train", *SMALL, "--steps", "100000", "--log-every", "1",
           "--out-dir", str(out)]
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.time() + 60
        while not (out / "metrics.jsonl").exists() and time.time() < deadline:
            time.sleep(0.2)
        proc.send_signal(signal.SIGTERM)
        output, _ = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 0, output[-3000:]
    ckpt = torch.load(out / "checkpoint.pt", weights_only=False)
    assert 1 <= ckpt["step"] < 100000
    assert not (out / "checkpoint.pt.tmp").exists()


def test_gan_option_trains_the_patch_discriminators(tmp_path):
    args = SMALL + ["--steps", "2", "--log-every", "1", "--loss.w-gan", "0.002", "--loss.d-width", "8",
                    "--out-dir", str(tmp_path)]
    train(parse_args(args))
    ckpt = torch.load(tmp_path / "checkpoint.pt", weights_only=False)
    assert ckpt["discriminators"] is not None and ckpt["disc_optimizer"]["state"]
    last = json.loads((tmp_path / "metrics.jsonl").read_text().splitlines()[-1])
    assert last["gan_d"] > 0 and last["gan_g"] > 0


def test_lr_schedule_warms_up_then_decays_to_the_floor():
    from training.train import lr_at

    cfg = TrainConfig(steps=1000, warmup_steps=100, lr=1e-3, lr_min_ratio=0.02)
    assert lr_at(0, cfg) == pytest.approx(1e-5)
    assert lr_at(99, cfg) == pytest.approx(1e-3)
    assert lr_at(550, cfg) == pytest.approx(1e-3 * (0.02 + 0.98 * 0.5))
    assert lr_at(1000, cfg) == pytest.approx(2e-5) and lr_at(5000, cfg) == pytest.approx(2e-5)
    assert lr_at(200, cfg, progress=1.0) == pytest.approx(2e-5)  # anneal_by_time override


def toy_shards(folder: Path, count: int, resolution: int = 32, per_shard: int = 0) -> None:
    """``count`` toy heads written as shards of ``per_shard`` (0: one shard), the format of
    ``training.synth.shards``."""
    import numpy as np

    from tests.training.toy_heads import ellipsoid_sample
    from training.synth.shards import pack

    folder.mkdir()
    per_shard = per_shard or count
    for start in range(0, count, per_shard):
        index = list(range(start, min(start + per_shard, count)))
        samples = [ellipsoid_sample(resolution, np.random.default_rng(k)) for k in index]
        np.savez_compressed(folder / f"shard_{start:09d}.npz", **pack(samples, index))


def test_training_reads_shards_and_checks_their_resolution(tmp_path):
    toy_shards(tmp_path / "shards", 24)
    args = SMALL + ["--data-dir", str(tmp_path / "shards"), "--steps", "12", "--log-every", "6",
                    "--out-dir", str(tmp_path / "run")]
    train(parse_args(args))
    logs = [json.loads(line) for line in open(tmp_path / "run" / "metrics.jsonl")]
    assert [r["step"] for r in logs] == [6, 12] and logs[1]["loss"] < logs[0]["loss"]
    with pytest.raises(ValueError, match="32 px"):
        train(parse_args(args[:-1] + [str(tmp_path / "wrong"), "--resolution", "64"]))


def test_data_on_device_trains_exactly_as_the_shard_loader(tmp_path):
    toy_shards(tmp_path / "shards", 24, per_shard=10)  # 3 shards, the last one short
    args = SMALL + ["--data-dir", str(tmp_path / "shards"), "--steps", "8", "--log-every", "4"]
    loader, _ = train(parse_args(args + ["--out-dir", str(tmp_path / "loader")]))
    memory, _ = train(parse_args(args + ["--out-dir", str(tmp_path / "memory"), "--data-on-device"]))
    a, b = loader.state_dict(), memory.state_dict()
    for k in a:
        assert torch.equal(a[k], b[k]), f"in-memory batches train {k} differently"
    with pytest.raises(ValueError, match="data_dir"):
        train(parse_args(SMALL + ["--data-on-device", "--steps", "1", "--out-dir", str(tmp_path / "x")]))


def test_channels_last_layout_gives_the_same_training_curve(tmp_path):
    losses, layouts = {}, {}
    for flag in ("--channels-last", "--no-channels-last"):
        model, _ = train(parse_args(SMALL + ["--steps", "3", "--log-every", "1", "--out-dir",
                                             str(tmp_path / flag), flag]))
        layouts[flag] = model.encoder.stem[0][0].weight.is_contiguous(memory_format=torch.channels_last)
        losses[flag] = [json.loads(line)["loss"] for line in open(tmp_path / flag / "metrics.jsonl")]
    assert layouts == {"--channels-last": True, "--no-channels-last": False}
    assert losses["--channels-last"] == pytest.approx(losses["--no-channels-last"], rel=1e-3)


def test_bf16_autocast_trains_float32_weights_on_a_curve_close_to_float32(tmp_path):
    losses, models = {}, {}
    for flag in ("--bf16", "--no-bf16"):  # --bf16-emulated: bfloat16 on any CPU, native or not
        models[flag], _ = train(parse_args(SMALL + ["--steps", "12", "--log-every", "1", "--out-dir",
                                                    str(tmp_path / flag), flag, "--bf16-emulated"]))
        losses[flag] = [json.loads(line)["loss"] for line in open(tmp_path / flag / "metrics.jsonl")]
    assert all(p.dtype == torch.float32 for p in models["--bf16"].parameters())
    assert losses["--bf16"] != losses["--no-bf16"]  # the convolutions did run in bfloat16
    bf16, fp32 = losses["--bf16"], losses["--no-bf16"]
    assert bf16[0] == pytest.approx(fp32[0], rel=1e-2)  # the same weights: bfloat16 rounding alone
    # Step by step the two drift apart by a few per cent (3.8 % at one step on an AVX2 host,
    # where bfloat16 is emulated); over the last third of the run they agree in the mean.
    assert sum(bf16[-4:]) == pytest.approx(sum(fp32[-4:]), rel=3e-2)
    assert bf16 == pytest.approx(fp32, rel=8e-2)
    assert bf16[-1] < 0.9 * bf16[0]


def test_bf16_falls_back_to_float32_where_the_cpu_has_no_native_bfloat16(tmp_path, monkeypatch, capsys):
    import training.train as train_module

    monkeypatch.setattr(train_module, "native_bf16", lambda device: False)
    losses = {}
    for flag in ("--bf16", "--no-bf16"):
        out_dir = str(tmp_path / flag)
        train(parse_args(SMALL + ["--steps", "3", "--log-every", "1", "--out-dir", out_dir, flag]))
        losses[flag] = [json.loads(line)["loss"] for line in open(tmp_path / flag / "metrics.jsonl")]
    assert losses["--bf16"] == losses["--no-bf16"]  # float32 throughout, bit for bit
    assert "--bf16 ignored" in capsys.readouterr().out


def test_native_bf16_on_the_cpu_goes_with_avx512():
    from training.train import native_bf16

    avx512 = torch.backends.cpu.get_cpu_capability().startswith("AVX512")
    assert native_bf16(torch.device("cpu")) is avx512


def test_time_limit_counts_the_training_time_before_a_resume(tmp_path):
    args = SMALL + ["--steps", "40", "--out-dir", str(tmp_path), "--max-minutes", "1", "--anneal-by-time"]
    train(parse_args(args + ["--halt-at-step", "5"]))
    ckpt = torch.load(tmp_path / "checkpoint.pt", weights_only=False)
    ckpt["elapsed_s"] = 60.0  # as if the first part had used up the whole minute
    torch.save(ckpt, tmp_path / "checkpoint.pt")
    _, last = train(parse_args(args + ["--resume", "--log-every", "1"]))
    ckpt = torch.load(tmp_path / "checkpoint.pt", weights_only=False)
    assert ckpt["step"] == 6 and ckpt["elapsed_s"] > 60.0  # one step, then the limit stops it
    assert last["lr"] == pytest.approx(TrainConfig().lr * TrainConfig().lr_min_ratio)  # schedule at its end


def test_random_crops_cut_the_same_window_from_every_map():
    side = 12
    yx = torch.arange(side * side, dtype=torch.float32).view(1, 1, side, side).repeat(3, 1, 1, 1)
    batch = {"image": yx.repeat(1, 3, 1, 1), "depth": yx.clone()}
    crops = random_crops(batch, 4, torch.Generator().manual_seed(1))
    assert crops["image"].shape == (3, 3, 4, 4) and crops["depth"].shape == (3, 1, 4, 4)
    for i in range(3):
        top_left = int(crops["depth"][i, 0, 0, 0])
        y, x = divmod(top_left, side)
        assert torch.equal(crops["depth"][i, 0], yx[0, 0, y:y + 4, x:x + 4])
        assert torch.equal(crops["image"][i], crops["depth"][i].expand(3, -1, -1))
    again = random_crops(batch, 4, torch.Generator().manual_seed(1))
    assert torch.equal(again["depth"], crops["depth"])
    with pytest.raises(ValueError, match="crop_size"):
        random_crops(batch, 13, torch.Generator())


def test_crop_phase_trains_on_windows_and_resumes_exactly(tmp_path):
    crop = ["--steps", "12", "--log-every", "4", "--crop-size", "16", "--crop-until", "0.5"]
    full, _ = train(parse_args(SMALL + crop + ["--out-dir", str(tmp_path / "full")]))
    train(parse_args(SMALL + crop + ["--out-dir", str(tmp_path / "part"), "--halt-at-step", "3"]))
    resumed, _ = train(parse_args(SMALL + crop + ["--out-dir", str(tmp_path / "part"), "--resume"]))
    for k, v in full.state_dict().items():
        assert torch.equal(v, resumed.state_dict()[k]), f"resumed run differs in {k}"
    whole, _ = train(parse_args(SMALL + ["--steps", "12", "--out-dir", str(tmp_path / "whole")]))
    stem = "encoder.stem.0.0.weight"
    assert not torch.equal(whole.state_dict()[stem], full.state_dict()[stem])  # the windows changed training
    with pytest.raises(ValueError, match="multiple of 4"):
        train(parse_args(SMALL + ["--crop-size", "18", "--out-dir", str(tmp_path / "bad")]))


def test_snapshots_are_kept_from_the_given_progress_and_export_averages_their_tail(tmp_path):
    run = tmp_path / "run"
    # warm-up 2 of 12 steps: a checkpoint at step s is at schedule progress (s - 2) / 10
    args = ["--steps", "12", "--checkpoint-minutes", "0", "--snapshot-from", "0.5", "--out-dir", str(run)]
    train(parse_args(SMALL + args))
    names = sorted(p.name for p in (run / "snapshots").iterdir())
    assert names == [f"step_{s:06d}.pt" for s in range(7, 13)]
    states = {s: torch.load(run / "snapshots" / f"step_{s:06d}.pt", weights_only=False)["model"]
              for s in range(10, 13)}
    mean, steps = tail_average(run / "checkpoint.pt", 0.8)
    assert steps == [10, 11, 12]
    stem = "encoder.stem.0.0.weight"
    assert not torch.equal(states[10][stem], states[12][stem])
    for k, v in mean.items():
        if v.is_floating_point():
            assert torch.allclose(v.double(), sum(st[k].double() for st in states.values()) / 3, atol=1e-6), k
        else:
            assert torch.equal(v, states[12][k]), k
    only_last, steps = tail_average(run / "checkpoint.pt", 2.0)  # beyond the schedule: the checkpoint alone
    assert steps == [12] and all(torch.equal(only_last[k], states[12][k]) for k in only_last)
    manifest = export(run / "checkpoint.pt", tmp_path / "weights", dtype="float32", calibration_images=0,
                      average_from=0.8)
    assert manifest["averaged"] == {"from_progress": 0.8, "steps": [10, 11, 12]}
    shipped = torch.load(tmp_path / "weights" / "face_net.pt", weights_only=True)
    assert all(torch.equal(shipped[k], mean[k]) for k in mean)
    off = ["--steps", "3", "--checkpoint-minutes", "0", "--out-dir", str(tmp_path / "off")]
    train(parse_args(SMALL + off))
    assert not (tmp_path / "off" / "snapshots").exists()  # snapshot_from 0: none kept


def test_init_from_starts_at_exported_or_checkpoint_weights_and_rejects_other_shapes(tmp_path):
    base, _ = train(parse_args(SMALL + ["--steps", "6", "--out-dir", str(tmp_path / "base")]))
    torch.manual_seed(1)  # convolution weights far from where seed 0 starts a run
    half = {k: (v + 0.3 * torch.randn_like(v) if v.ndim == 4 else v).half() if v.is_floating_point() else v
            for k, v in base.state_dict().items()}
    torch.save(half, tmp_path / "face_net.pt")  # as training.export writes float16 weights
    for source in (tmp_path / "face_net.pt", tmp_path / "base" / "checkpoint.pt"):
        out = tmp_path / f"tuned_{source.stem}"
        # 0 steps after loading: the model is the source's weights, cast to float32
        start, _ = train(parse_args(SMALL + ["--steps", "0", "--init-from", str(source),
                                             "--out-dir", str(out)]))
        for k, v in start.state_dict().items():
            ref = half[k] if source.name == "face_net.pt" else base.state_dict()[k]
            assert v.dtype == base.state_dict()[k].dtype and torch.equal(v, ref.to(v.dtype)), k
    tuned, _ = train(parse_args(SMALL + ["--steps", "4", "--init-from", str(tmp_path / "face_net.pt"),
                                         "--out-dir", str(tmp_path / "tuned")]))
    scratch, _ = train(parse_args(SMALL + ["--steps", "4", "--out-dir", str(tmp_path / "scratch")]))
    key = "encoder.stem.0.0.weight"
    gap = (tuned.state_dict()[key] - half[key].float()).abs().max()
    assert 0 < gap < 0.2 * (scratch.state_dict()[key] - half[key].float()).abs().max()  # trained, from there
    ckpt = torch.load(tmp_path / "tuned" / "checkpoint.pt", weights_only=False)
    assert ckpt["step"] == 4
    # a resumed run continues its checkpoint, not the init-from weights
    resumed, _ = train(parse_args(SMALL + ["--steps", "5", "--init-from", str(tmp_path / "face_net.pt"),
                                           "--out-dir", str(tmp_path / "tuned"), "--resume"]))
    assert not torch.equal(resumed.state_dict()[key], half[key].float())
    wider = SMALL[:-3] + ["8", "4", "16"]  # decoder widths 8-4-16: other shapes
    with pytest.raises(ValueError, match="do not fit"):
        train(parse_args(wider + ["--steps", "1", "--init-from", str(tmp_path / "face_net.pt"),
                                  "--out-dir", str(tmp_path / "wrong")]))


def test_trainable_prefix_trains_only_that_decoder_and_splice_keeps_the_rest_bit_exact(tmp_path):
    from training.export import export
    from training.splice_weights import splice

    base, _ = train(parse_args(SMALL + ["--steps", "6", "--out-dir", str(tmp_path / "base")]))
    export(tmp_path / "base" / "checkpoint.pt", tmp_path / "shipped", calibration_images=0)
    shipped_pt = str(tmp_path / "shipped" / "face_net.pt")
    tuned_dir = str(tmp_path / "tuned")
    tuned, _ = train(parse_args(SMALL + ["--steps", "6", "--init-from", shipped_pt,
                                         "--trainable", "decoders.corr", "--out-dir", tuned_dir]))
    shipped = torch.load(tmp_path / "shipped" / "face_net.pt", weights_only=True)
    after = tuned.state_dict()
    moved = {k for k in shipped if shipped[k].is_floating_point()
             and not torch.equal(after[k], shipped[k].to(after[k].dtype))}
    assert moved and all(k.startswith("decoders.corr") for k in moved), sorted(moved)[:5]
    # BatchNorm statistics of the frozen encoder stay as loaded (it runs in eval mode)
    assert "decoders.corr.head.weight" in moved or any(k.endswith("running_mean") for k in moved)
    ckpt = tmp_path / "tuned" / "checkpoint.pt"
    m = splice(tmp_path / "shipped", ckpt, ["decoders.corr"], tmp_path / "spliced")
    spliced = torch.load(tmp_path / "spliced" / "face_net.pt", weights_only=True)
    for k, v in spliced.items():
        assert v.dtype == shipped[k].dtype
        if k.startswith("decoders.corr"):
            assert torch.equal(v, after[k].to(v.dtype)), k
        else:
            assert torch.equal(v, shipped[k]), k
    assert m["fine_tuned"]["prefixes"] == ["decoders.corr"] and m["fine_tuned"]["step"] == 6
    from core.predict import load_model

    assert load_model(tmp_path / "spliced" / "face_net.pt", "cpu").manifest["sha256"] == m["sha256"]
    with pytest.raises(ValueError, match="names no parameter"):
        train(parse_args(SMALL + ["--steps", "1", "--trainable", "decoders.ear", "--out-dir", str(tmp_path)]))
    with pytest.raises(ValueError, match="names no tensor"):
        splice(tmp_path / "shipped", ckpt, ["decoders.ear"], tmp_path / "y")
