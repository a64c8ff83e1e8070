# SPDX-License-Identifier: GPL-3.0-or-later
"""Which photo of a set shows someone else (core.multiview_fit.find_strangers with the face colouring and
the fits' residuals), on synthetic template heads rendered with their appearance in random light
(training.synth.template_heads), fitted through their exact correspondences (a perfect network)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from core.multiview_fit import (
    COLOUR_ALLOWANCE,
    colour_distances,
    face_colours,
    find_strangers,
    strangers_among,
)
from core.template_fit import TO_CAMERA, correspondences_from_maps, fit_template
from core.template_model import load_template
from training.synth.generator import Camera
from training.synth.template_heads import render_template_head

YAWS = (0.0, 35.0, -35.0)


@pytest.fixture(scope="module")
def tpl():
    return load_template()


def _photo(tpl, identity: np.ndarray, look: int, light: int, yaw: float):
    """A neutral head of ``identity`` with look ``look`` (skin, brows, lips, hair) at ``yaw`` deg in light
    ``light``; its single-photo fit and the rendered crop."""
    y = math.radians(yaw)
    rz = np.array([[math.cos(y), -math.sin(y), 0.0], [math.sin(y), math.cos(y), 0.0], [0.0, 0.0, 1.0]])
    camera = (Camera(TO_CAMERA @ rz, np.array([0.0, 0.0, -1.0]), d0=1.0),
              dict(yaw=yaw, pitch=0.0, roll=0.0, focal_mm=50.0, distance_m=1.0))
    sample = render_template_head(identity, np.zeros(tpl.n_expression), np.random.default_rng(light + 1),
                                  np.random.default_rng(look), 128, camera=camera,
                                  rng_light=np.random.default_rng(light))
    data = correspondences_from_maps(sample["corr_anny"], sample["mask"], tpl, depth=sample["depth"])
    return fit_template(tpl, data, depth_weight=1.0), sample["image"]


def _strangers(tpl, photos, colours: bool = True) -> list[int]:
    looks = [face_colours(tpl, f, image) for f, image in photos] if colours else None
    return [i for i, _, _ in strangers_among(tpl, [f for f, _ in photos], looks)]


@pytest.fixture(scope="module")
def people(tpl):
    """Four people, each at yaw 0, 35 and -35 deg, every photo in its own light."""
    rng = np.random.default_rng(3)
    out = []
    for k in range(4):
        identity = rng.normal(0.0, 0.8, tpl.n_identity)
        out.append((identity, [_photo(tpl, identity, 100 + k, 200 + 10 * k + j, yaw)
                               for j, yaw in enumerate(YAWS)]))
    return out


def test_the_colouring_ignores_the_photos_gain_and_tint(tpl, people):
    fit, image = people[0][1][0]
    dim = np.clip(image * np.array([0.55, 0.45, 0.4], np.float32), 0.0, 1.0)
    a, b = face_colours(tpl, fit, image), face_colours(tpl, fit, dim)
    assert np.isfinite(a.relative).all()  # a frontal photo sees every region
    # the distance the rule reads stays near 0 (the 1/255 offset against log(0) moves the darkest channels)
    assert colour_distances([a, b])[0, 1] < 0.05 * COLOUR_ALLOWANCE


def test_one_look_in_other_light_keeps_its_colouring(tpl, people):
    for _, photos in people:
        c = colour_distances([face_colours(tpl, f, image) for f, image in photos])
        assert c.max() < 0.8 * COLOUR_ALLOWANCE, c


def test_photos_of_one_person_in_other_light_are_all_kept(tpl, people):
    for _, photos in people:
        assert _strangers(tpl, photos) == []


def test_a_look_alike_is_left_out_by_its_colouring(tpl, people):
    """Someone with the same face shape but another colouring (skin, brows, lips): the shape alone keeps
    them, the colouring leaves them out."""
    identity, photos = people[0]
    twin = _photo(tpl, identity, 100 + 2, 777, 10.0)  # person 2's look on person 0's face
    mixed = [photos[0], photos[1], twin, photos[2]]
    assert _strangers(tpl, mixed, colours=False) == []
    assert _strangers(tpl, mixed) == [2]


def test_another_person_is_left_out(tpl, people):
    _, photos = people[1]
    other = people[3][1][0]
    assert _strangers(tpl, [photos[0], other, photos[1], photos[2]]) == [1]


def test_a_poor_fit_widens_the_shape_allowance() -> None:
    distances = np.array([[0.0, 3.0], [3.0, 0.0]])  # mm, two frontal photos
    assert [i for i, _, _ in find_strangers(distances)] == [1]  # 3 mm > 2 mm: another person
    # fits that leave 4 px^2 of residual (twice the RMS of a clean one): 4 mm are allowed
    assert find_strangers(distances, energies=np.array([4.0, 4.0])) == []
    assert find_strangers(distances, energies=np.array([0.5, 0.9])) != []  # at or below a clean fit's
