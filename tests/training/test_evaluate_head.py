# SPDX-License-Identifier: GPL-3.0-or-later
"""training/evaluate_head.py: alignment, scores, the fixed test set, the report."""

from __future__ import annotations

import math
from types import SimpleNamespace

import numpy as np

from core.template_model import load_template
from training import evaluate_head as eh
from training.real_landmarks import BANDS
from training.synth.template_heads import generate_template_sample


def _rotation(axis: np.ndarray, angle: float) -> np.ndarray:
    k = np.asarray(axis, dtype=np.float64) / np.linalg.norm(axis)
    kx = np.array([[0, -k[2], k[1]], [k[2], 0, -k[0]], [-k[1], k[0], 0]])
    return np.eye(3) + math.sin(angle) * kx + (1 - math.cos(angle)) * kx @ kx


def test_align_undoes_rigid_and_similarity_moves():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(200, 3))
    y = 1.3 * x @ _rotation([1, 2, 3], 0.7).T + np.array([0.1, -0.2, 0.3])
    assert eh.vertex_error_mm(x, y, scale=True) < 1e-9
    assert eh.vertex_error_mm(x, y) > 10.0  # the size differs: rigid alignment keeps it
    z = x @ _rotation([0, 1, 0], -1.2).T + 5.0
    assert eh.vertex_error_mm(x, z) < 1e-9


def test_perfect_result_scores_zero():
    tpl = load_template()
    sample = generate_template_sample(3, "test", 64, with_image=False)
    head = SimpleNamespace(vertices=sample["vertices"], identity=sample["identity"],
                           expression=sample["expression"], rotation=sample["rotation"])
    scores = eh.score_head(sample, SimpleNamespace(head=head, landmarks68_px=sample["landmarks68"]), tpl)
    for key in ("vertex_error_mm", "vertex_error_sim_mm", "identity_rmse", "expression_mae", "nme_pct"):
        assert scores[key] < 1e-3, key
    assert scores["rotation_error_deg"] < 1e-3
    assert scores["mean_head_error_mm"] > 1.0


def test_fixed_set_is_balanced_over_bands_and_fixed():
    chosen = eh.fixed_test_set(9)
    assert chosen == eh.fixed_test_set(9)
    assert sorted(b for _, b in chosen) == sorted([name for name, _, _ in BANDS] * 3)


def test_oracle_beats_the_mean_head_and_network_runs():
    oracle = eh.evaluate(3, source="oracle")
    assert all(r["status"] == "ok" for r in oracle["heads"])
    mean = oracle["bands"]["all"]
    assert mean["vertex_error_sim_mm"] < mean["mean_head_error_sim_mm"]
    assert mean["nme_pct"] < 3.0
    net = eh.evaluate(3)
    assert net["bands"]["all"]["heads"] == 3
    for rec in net["heads"]:
        if rec["status"] == "ok":
            assert all(np.isfinite(rec[k]) for k in eh.SCORES)
            assert 0 < rec["mask_iou"] <= 1
    assert "| all |" in eh.table(net["bands"])
