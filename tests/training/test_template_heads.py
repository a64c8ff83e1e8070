# SPDX-License-Identifier: GPL-3.0-or-later
"""Synthetic template heads (training/synth/template_heads.py): shapes, exact ground truth, determinism."""

from __future__ import annotations

import numpy as np
import pytest

from core.template_model import load_template
from training.synth import template_heads as th

S = 128


@pytest.fixture(scope="module")
def samples():
    return [th.generate_template_sample(i, "test", S) for i in range(4)]


@pytest.fixture(scope="module")
def frontal():
    tpl = load_template()
    rng = np.random.default_rng(0)
    return th.render_template_head(np.zeros(tpl.n_identity), np.zeros(tpl.n_expression), rng,
                                   np.random.default_rng(1), S, camera=th.frontal_camera())


def test_shapes_dtypes_ranges(samples):
    tpl = load_template()
    for s in samples:
        m = s["mask"]
        assert s["image"].shape == (S, S, 3) and s["image"].dtype == np.float32
        assert 0 <= s["image"].min() and s["image"].max() <= 1
        for k in ("normals", "corr", "corr_anny"):
            assert s[k].shape == (S, S, 3) and s[k].dtype == np.float32
        for k in ("grad_mag", "depth"):
            assert s[k].shape == (S, S) and s[k].dtype == np.float32
        assert m.dtype == bool and 0.1 < m.mean() < 0.9
        assert np.allclose(np.linalg.norm(s["normals"], axis=-1), 1, atol=1e-5)
        assert np.array_equal(s["normals"][~m], np.tile([0, 0, 1], ((~m).sum(), 1)))
        assert (s["depth"][~m] == 0).all() and (s["corr"][~m] == 0).all() and (s["grad_mag"][~m] == 0).all()
        assert abs(np.median(s["depth"][m])) < 1e-3
        assert 0 <= s["corr"].min() and s["corr"].max() <= 1
        assert s["identity"].shape == (tpl.n_identity,) and s["expression"].shape == (53,)
        assert 0 <= s["expression"].min() and s["expression"].max() <= 1
        r = s["rotation"]
        assert r.shape == (3, 3) and np.allclose(r @ r.T, np.eye(3), atol=1e-9)
        assert s["landmarks68"].shape == (68, 3)
        assert np.allclose(s["vertices"], tpl.deform(s["identity"], s["expression"]))


def test_expressions_include_open_mouths_and_closed_eyes():
    tpl = load_template()
    names = tpl.expression_names
    e = np.stack([th.sample_expression(tpl, th.sample_rng("train", i, 1)) for i in range(200)])
    assert (e[:, names.index("jawOpen")] > 0.2).mean() > 0.2
    assert (np.minimum(e[:, names.index("eyeBlink_L")], e[:, names.index("eyeBlink_R")]) > 0.6).mean() > 0.1
    assert ((e > 0).sum(1) <= 8).all()  # sparse


def test_yaw_spans_profiles():
    yaws = [abs(np.degrees(th.sample_camera(th.sample_rng("train", i, 2))[1]["yaw"])) for i in range(300)]
    assert max(yaws) > 80 and (np.array(yaws) > 60).mean() > 0.1


def test_frontal_normals_match_depth_exactly(frontal):
    """Away from discontinuities, finite differences of depth equal the normals' slopes."""
    m, N, d, W = frontal["mask"], frontal["normals"], frontal["depth"], frontal["grad_mag"]
    p = -N[..., 0] / N[..., 2]
    q_down = N[..., 1] / N[..., 2]
    ok = m[:, 1:] & m[:, :-1] & (W[:, 1:] < 2) & (W[:, :-1] < 2)
    ej = np.abs(d[:, 1:] - d[:, :-1] - (p[:, 1:] + p[:, :-1]) / 2)[ok]
    ok = m[1:] & m[:-1] & (W[1:] < 2) & (W[:-1] < 2)
    ei = np.abs(d[1:] - d[:-1] - (q_down[1:] + q_down[:-1]) / 2)[ok]
    assert np.median(ej) < 0.05 and np.median(ei) < 0.05
    assert np.percentile(ej, 90) < 0.25 and np.percentile(ei, 90) < 0.25


def test_frontal_landmarks_depth_and_corr_agree(frontal):
    """At the nose tip's pixel, the depth map and corr name the landmark's depth and vertex."""
    tpl = load_template()
    u, v, h = frontal["landmarks68"][30]
    i, j = int(v), int(u)
    assert frontal["mask"][i, j]
    assert abs(frontal["depth"][i, j] - h) < 1.0  # px
    point = th.template01_to_m(frontal["corr"][i, j])
    assert np.linalg.norm(point - tpl.neutral[tpl.landmark68[30]]) < 0.006  # m, about one pixel
    # the frontal face looks at the camera: front faces, symmetric landmarks about the nose
    lm = frontal["landmarks68"]
    assert abs((lm[36, 0] + lm[45, 0]) / 2 - lm[30, 0]) < 1.0
    assert np.allclose(frontal["rotation"], np.eye(3))


def test_corr_anny_lands_on_the_fit_vertices(frontal):
    """corr_anny of a head pixel lies near the template's fit vertices in anny's frame (the network's)."""
    tpl = load_template()
    m = frontal["mask"]
    lo, hi = tpl.anny_box.astype(np.float64)
    pts = lo + frontal["corr_anny"][m].astype(np.float64) * (hi - lo)
    ref = lo + tpl.fit_anny01.astype(np.float64) * (hi - lo)
    from scipy.spatial import cKDTree

    gap, _ = cKDTree(ref).query(pts)
    assert np.median(gap) < 0.004


def test_deterministic():
    a = th.generate_template_sample(5, "val", 64)
    b = th.generate_template_sample(5, "val", 64)
    c = th.generate_template_sample(6, "val", 64)
    for k in ("image", "normals", "depth", "corr", "mask", "identity", "expression", "landmarks68"):
        assert np.array_equal(a[k], b[k]), k
    assert not np.array_equal(a["identity"], c["identity"])


def test_dataset_items_match_the_anny_layout():
    import torch

    from training.synth.dataset import KEYS

    ds = th.TemplateHeadDataset("val", 64, length=2)
    item = ds[1]
    assert set(item) == set(KEYS) and len(ds) == 2
    assert item["image"].shape == (3, 64, 64) and item["mask"].shape == (1, 64, 64)
    assert item["image"].dtype == torch.float32
    s = th.generate_template_sample(1, "val", 64)
    assert np.array_equal(item["corr"].numpy(), np.moveaxis(s["corr_anny"], -1, 0))
    t = th.TemplateHeadDataset("val", 64, length=2, corr_frame="template")[1]
    assert np.array_equal(t["corr"].numpy(), np.moveaxis(s["corr"], -1, 0))
    with pytest.raises(IndexError):
        ds[2]
