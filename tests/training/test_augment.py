# SPDX-License-Identifier: GPL-3.0-or-later
"""Mirror augmentation: a mirrored sample is a consistent sample of the mirrored head."""

from pathlib import Path

import numpy as np
import pytest
import torch
from scipy.ndimage import binary_erosion

from tests.training.toy_heads import ToyHeads
from training.augment import mirror_samples
from training.train import parse_args, train

TOY = str(Path(__file__).with_name("toy_heads.py")) + ":ToyHeads"


def toy_batch(n: int = 4, side: int = 48) -> dict[str, torch.Tensor]:
    ds = ToyHeads(resolution=side, length=n)
    items = [ds[k] for k in range(n)]
    return {key: torch.stack([it[key] for it in items]) for key in items[0]}


def normals_from_depth(depth: np.ndarray) -> np.ndarray:
    """(S, S) depth in px -> (S, S, 3) unit normals by central differences (docs/conventions.md)."""
    gi, gj = np.gradient(depth.astype(np.float64))
    n = np.stack([-gj, gi, np.ones_like(depth, dtype=np.float64)], -1)  # (-dh/dx, -dh/dy with y up, 1)
    return n / np.linalg.norm(n, axis=-1, keepdims=True)


def mean_angle_deg(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.degrees(np.arccos(np.clip((a * b).sum(-1), -1.0, 1.0))).mean())


def test_mirrored_normals_agree_with_the_mirrored_depth():
    batch = toy_batch()
    chosen = torch.tensor([True, False, True, False])
    out = mirror_samples(batch, chosen)
    for k in range(4):
        mask = out["mask"][k, 0].numpy() > 0.5
        inner = binary_erosion(mask)  # both central differences inside the head
        inner &= out["normals"][k, 2].numpy() > 0.5  # away from the steep rim, where differences lag
        n = out["normals"][k].numpy().transpose(1, 2, 0)
        from_depth = normals_from_depth(out["depth"][k, 0].numpy())
        assert mean_angle_deg(n[inner], from_depth[inner]) < 2.0
        if chosen[k]:  # without the sign change of Nx the maps would disagree
            wrong = n * np.array([-1.0, 1.0, 1.0])
            assert mean_angle_deg(wrong[inner], from_depth[inner]) > 5.0


def test_mirrored_correspondence_still_grows_to_the_right_and_is_zero_off_the_head():
    batch = toy_batch()
    out = mirror_samples(batch, torch.ones(4, dtype=torch.bool))
    cols = np.arange(48, dtype=np.float64)[None, :].repeat(48, 0)
    for k in range(4):
        mask = out["mask"][k, 0].numpy() > 0.5
        x = out["corr"][k, 0].numpy()
        slope = np.polyfit(cols[mask], x[mask], 1)[0]
        assert slope > 0  # canonical X still increases toward the image's right, as on a frontal head
        assert np.all(out["corr"][k][:, ~mask].numpy() == 0)


def test_only_the_chosen_samples_change_and_twice_is_the_identity():
    batch = toy_batch()
    batch = {k: v.contiguous(memory_format=torch.channels_last) for k, v in batch.items()}
    chosen = torch.tensor([False, True, False, True])
    out = mirror_samples(batch, chosen)
    for key, v in batch.items():
        assert out[key].is_contiguous(memory_format=torch.channels_last)
        assert torch.equal(out[key][~chosen], v[~chosen])
        assert not torch.equal(out[key][chosen], v[chosen])
        assert torch.allclose(mirror_samples(out, chosen)[key], v)
    assert torch.equal(out["image"][1], batch["image"][1].flip(-1))
    with pytest.raises(ValueError, match="bool"):
        mirror_samples(batch, torch.tensor([1, 0, 1, 0]))


def test_mirror_option_changes_training_and_resumes_exactly(tmp_path):
    small = ["--dataset", TOY, "--resolution", "32", "--batch-size", "4", "--num-workers", "0",
             "--threads", "1", "--val-every", "0", "--image-every", "0", "--no-progress",
             "--warmup-steps", "2", "--net.widths", "8", "8", "16", "--net.decoder-widths", "4", "4", "8",
             "--steps", "10"]
    mirror = small + ["--mirror-prob", "0.5"]
    full, _ = train(parse_args(mirror + ["--out-dir", str(tmp_path / "full")]))
    train(parse_args(mirror + ["--out-dir", str(tmp_path / "part"), "--halt-at-step", "4"]))
    resumed, _ = train(parse_args(mirror + ["--out-dir", str(tmp_path / "part"), "--resume"]))
    for k, v in full.state_dict().items():
        assert torch.equal(v, resumed.state_dict()[k]), f"resumed run differs in {k}"
    plain, _ = train(parse_args(small + ["--out-dir", str(tmp_path / "plain")]))
    stem = "encoder.stem.0.0.weight"
    assert not torch.equal(plain.state_dict()[stem], full.state_dict()[stem])  # the mirrors changed training
