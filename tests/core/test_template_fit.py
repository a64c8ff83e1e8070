# SPDX-License-Identifier: GPL-3.0-or-later
"""The template fit recovers a known head, pose and expression from a synthetic correspondence map."""

from __future__ import annotations

import math

import numpy as np
import pytest

from core.multiview_fit import similarity_error_mm
from core.template_fit import (
    TemplateFit,
    correspondences_from_maps,
    fit_template,
    landmark5_vertices,
    order_landmarks5,
)
from core.template_model import load_template
from training.template_views import S, head_rotation, random_expression, splat_view


@pytest.fixture(scope="module")
def tpl():
    return load_template()


def _scene(tpl, rng, yaw, pitch, roll, outliers=0.1):
    """A known head and the correspondence map, mask and depth a perfect network would give
    (training.template_views.splat_view), with a share of random corr values."""
    a = rng.normal(0.0, 0.8, tpl.n_identity)
    e = random_expression(tpl, rng)
    e[tpl.expression_names.index("jawOpen")] = 0.5
    truth = TemplateFit(a, e, head_rotation(yaw, pitch, roll), 450.0, np.array([64.0, 60.0, 0.0]),
                        tpl.deform(a, e))
    corr, mask, depth = splat_view(tpl, truth, rng, outliers=outliers, size=S)
    return truth, corr, mask, depth


def _angle_deg(r1: np.ndarray, r2: np.ndarray) -> float:
    return math.degrees(math.acos(np.clip((np.trace(r1.T @ r2) - 1.0) / 2.0, -1.0, 1.0)))


@pytest.mark.parametrize(("yaw", "pitch", "roll"), [(0.0, 5.0, 0.0), (35.0, -10.0, 8.0), (-50.0, 12.0, -5.0)])
def test_fit_recovers_shape_and_pose_despite_outliers(tpl, yaw, pitch, roll):
    rng = np.random.default_rng(int(yaw) + 100)
    truth, corr, mask, _ = _scene(tpl, rng, yaw, pitch, roll)
    data = correspondences_from_maps(corr, mask, tpl)
    fit = fit_template(tpl, data)
    face = tpl.part_mask("face")
    assert similarity_error_mm(fit.vertices[face].astype(float), truth.vertices[face].astype(float)) < 2.5
    assert _angle_deg(fit.rotation, truth.rotation) < 2.0
    assert abs(fit.scale / truth.scale - 1.0) < 0.05
    lm_fit = fit.project(fit.vertices[tpl.landmark68])[:, :2]
    lm_true = truth.project(truth.vertices[tpl.landmark68])[:, :2]
    assert np.linalg.norm(lm_fit - lm_true, axis=1).mean() < 1.0  # px in a 128 px crop
    assert (fit.expression >= 0).all() and (fit.expression <= 1).all()
    assert fit.expression[tpl.expression_names.index("jawOpen")] > 0.3


def test_depth_and_landmark_terms(tpl):
    rng = np.random.default_rng(7)
    truth, corr, mask, depth = _scene(tpl, rng, 20.0, 0.0, 0.0)
    data = correspondences_from_maps(corr, mask, tpl, depth=depth + 12.5)  # any depth offset
    five = truth.project(truth.vertices[landmark5_vertices(tpl)])[:, :2]
    fit = fit_template(tpl, data, depth_weight=0.5, landmarks5=five[[1, 0, 2, 4, 3]])  # left/right swapped
    assert {"reprojection", "depth", "landmarks"} <= set(fit.energy)
    assert fit.energy["landmarks"] < 1.0
    assert _angle_deg(fit.rotation, truth.rotation) < 2.0
    assert abs(fit.translation[2] - 12.5) < 3.0  # px: the depth offset lands in t_h


def test_landmark5_order_follows_the_image():
    pts = np.array([[70.0, 50.0], [40.0, 50.0], [55.0, 65.0], [68.0, 80.0], [44.0, 80.0]])
    out = order_landmarks5(pts)
    assert out[0, 0] < out[1, 0] and out[3, 0] < out[4, 0]
    assert np.array_equal(out[2], pts[2])


def test_too_few_correspondences(tpl):
    corr = np.zeros((S, S, 3))
    mask = np.zeros((S, S), dtype=bool)
    with pytest.raises(ValueError):
        fit_template(tpl, correspondences_from_maps(corr, mask, tpl))
