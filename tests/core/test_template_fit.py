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
    assert abs(fit.scale / truth.scale - 1.0) < 0.06  # the expression prior (0.1) holds back strong smiles
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
    swapped = five[[1, 0, 2, 4, 3]]  # left/right swapped
    fit = fit_template(tpl, data, depth_weight=0.5, landmarks5=swapped, landmarks_from_yaw_deg=0.0)
    assert {"reprojection", "depth", "landmarks"} <= set(fit.energy)
    assert fit.energy["landmarks"] < 1.0
    assert _angle_deg(fit.rotation, truth.rotation) < 2.0
    assert abs(fit.translation[2] - 12.5) < 3.0  # px: the depth offset lands in t_h
    # by default a head turned 20 deg is fitted again without the landmarks, one turned 60 deg keeps them
    assert "landmarks" not in fit_template(tpl, data, depth_weight=0.5, landmarks5=swapped).energy
    truth, corr, mask, _ = _scene(tpl, rng, 60.0, 0.0, 0.0)
    five = truth.project(truth.vertices[landmark5_vertices(tpl)])[:, :2]
    turned = fit_template(tpl, correspondences_from_maps(corr, mask, tpl), landmarks5=five)
    assert "landmarks" in turned.energy and turned.energy["landmarks"] < 1.0


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


def test_head_yaw_reads_the_turn_about_the_vertical_axis_and_ignores_its_sign():
    from core.template_fit import head_yaw_deg

    def about_z(deg: float) -> np.ndarray:
        a = np.radians(deg)
        return np.array([[np.cos(a), -np.sin(a), 0.0], [np.sin(a), np.cos(a), 0.0], [0.0, 0.0, 1.0]])

    def about_x(deg: float) -> np.ndarray:
        a = np.radians(deg)
        return np.array([[1.0, 0.0, 0.0], [0.0, np.cos(a), -np.sin(a)], [0.0, np.sin(a), np.cos(a)]])

    for yaw in (0.0, 20.0, 44.0, 60.0, 90.0):
        assert head_yaw_deg(about_z(yaw)) == pytest.approx(yaw, abs=1e-9)
        assert head_yaw_deg(about_z(-yaw)) == pytest.approx(yaw, abs=1e-9)
    assert head_yaw_deg(about_x(25.0)) == pytest.approx(0.0, abs=1e-9)  # a nod is no turn
