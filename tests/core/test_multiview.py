# SPDX-License-Identifier: GPL-3.0-or-later
"""Several photos of one person: the joint fit, strangers left out, the fused texture, the pipeline.

The synthetic photos are template heads splatted into a 128 px correspondence map (the maps a
perfect network would give, as in test_template_fit), so the truth is known exactly.
"""

from __future__ import annotations

import math
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from core import pipeline
from core.errors import FaceFromPhotoError
from core.multiview_fit import find_strangers, fit_multiview, identity_distances, obliqueness
from core.pipeline import ReconstructOptions, reconstruct, reconstruct_person
from core.template_fit import TemplateFit, correspondences_from_maps, fit_template, landmark5_vertices
from core.template_model import load_template
from core.texture_fuse import fuse_textures
from training.template_views import S, head_rotation, random_expression, splat_view

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def tpl():
    return load_template()


def _photo(tpl, identity, rng, yaw):
    """A known head at ``yaw`` with a random expression, its maps (corr with 10 % outliers, mask,
    depth: training.template_views.splat_view) and five landmarks with 1 px noise."""
    e = random_expression(tpl, rng)
    truth = TemplateFit(identity, e, head_rotation(yaw, rng.uniform(-5, 5)), 450.0,
                        np.array([64.0, 60.0, 0.0]), tpl.deform(identity, e))
    corr, mask, depth = splat_view(tpl, truth, rng, outliers=0.1, size=S)
    five = truth.project(truth.vertices[landmark5_vertices(tpl)])[:, :2] + rng.normal(0.0, 1.0, (5, 2))
    return SimpleNamespace(truth=truth, corr=corr, mask=mask, depth=depth, five=five)


def _face_error_mm(tpl, identity, truth_identity) -> float:
    """Mean face-region distance of the neutral heads after a similarity alignment, mm."""
    return float(identity_distances(tpl, [identity, truth_identity])[0, 1])


def test_three_views_beat_one(tpl):
    rng = np.random.default_rng(11)
    identity = rng.normal(0.0, 0.8, tpl.n_identity)
    photos = [_photo(tpl, identity, rng, yaw) for yaw in (0.0, 45.0, -45.0)]
    data = [correspondences_from_maps(p.corr, p.mask, tpl, depth=p.depth) for p in photos]
    singles = [fit_template(tpl, d, landmarks5=p.five, depth_weight=1.0)
               for d, p in zip(data, photos, strict=True)]
    joint = fit_multiview(tpl, data, landmarks5=[p.five for p in photos], singles=singles, depth_weight=1.0)
    one = _face_error_mm(tpl, singles[0].identity, identity)
    three = _face_error_mm(tpl, joint.identity, identity)
    assert three < 0.8 * one, (one, three)
    # one identity, but each photo keeps its own pose and expression
    assert all(np.array_equal(f.identity, joint.identity) for f in joint.fits)
    for f, p in zip(joint.fits, photos, strict=True):
        angle = math.degrees(math.acos(np.clip((np.trace(f.rotation.T @ p.truth.rotation) - 1) / 2, -1, 1)))
        assert angle < 3.0
        assert (f.expression >= 0).all() and (f.expression <= 1).all()
    oblique = np.array([obliqueness(s) for s in singles])
    assert not find_strangers(identity_distances(tpl, [s.identity for s in singles]), oblique)


def test_joint_fit_of_one_view_is_the_single_fit(tpl):
    rng = np.random.default_rng(5)
    p = _photo(tpl, rng.normal(0.0, 0.8, tpl.n_identity), rng, 20.0)
    data = correspondences_from_maps(p.corr, p.mask, tpl, depth=p.depth)
    # the joint fit keeps its landmarks at any turn; the single fit does so with landmarks_from_yaw_deg 0
    single = fit_template(tpl, data, landmarks5=p.five, depth_weight=1.0, landmarks_from_yaw_deg=0.0,
                          expression_prior=0.01)
    joint = fit_multiview(tpl, [data], landmarks5=[p.five], depth_weight=1.0, landmark_weight=1.0)
    assert np.array_equal(joint.identity, single.identity)
    assert np.array_equal(joint.fits[0].rotation, single.rotation)


def test_a_stranger_is_found(tpl):
    rng = np.random.default_rng(21)
    identity = rng.normal(0.0, 0.8, tpl.n_identity)
    photos = [_photo(tpl, identity, rng, yaw) for yaw in (0.0, 40.0, -40.0)]
    photos.insert(1, _photo(tpl, rng.normal(0.0, 0.8, tpl.n_identity), rng, 10.0))
    singles = [fit_template(tpl, correspondences_from_maps(p.corr, p.mask, tpl, depth=p.depth),
                            landmarks5=p.five, depth_weight=1.0) for p in photos]
    distances = identity_distances(tpl, [s.identity for s in singles])
    found = find_strangers(distances, np.array([obliqueness(s) for s in singles]))
    assert [i for i, _, _ in found] == [1]


# --------------------------------------------------------------------------- pipeline


@pytest.fixture
def template_network(monkeypatch: pytest.MonkeyPatch, tpl):
    """Replace the network by the perfect one for a queue of synthetic heads (one per call)."""
    queue: list[SimpleNamespace] = []

    def predict(crop: np.ndarray, model: object) -> SimpleNamespace:
        p = queue.pop(0)
        depth = np.where(p.mask, p.depth - np.nanmedian(p.depth), 0.0).astype(np.float32)
        normals = np.zeros((S, S, 3), np.float32)
        normals[..., 2] = 1.0
        return SimpleNamespace(normals=normals, grad_mag=np.zeros((S, S), np.float32), mask=p.mask,
                               mask_prob=p.mask.astype(np.float32), depth=depth,
                               corr=p.corr.astype(np.float32))

    monkeypatch.setattr(pipeline, "get_model", lambda weights=None, device="auto": (object(), "0" * 64))
    monkeypatch.setattr(pipeline, "_predict", predict)
    return queue


def _options(**kw) -> ReconstructOptions:
    # the synthetic heads fill the whole 128 px crop of a 256 px photo
    return ReconstructOptions(geometry="depth", crop_box=(0.0, 0.0, 256.0, 256.0), **kw)


def test_person_leaves_out_the_stranger_and_fits_the_rest(tpl, template_network):
    rng = np.random.default_rng(31)
    identity = rng.normal(0.0, 0.8, tpl.n_identity)
    same = [_photo(tpl, identity, rng, yaw) for yaw in (0.0, 45.0, -45.0)]
    stranger = _photo(tpl, rng.normal(0.0, 0.8, tpl.n_identity), rng, 15.0)
    template_network.extend([same[0], same[1], stranger, same[2]])
    photos = [np.full((256, 256, 3), 120 + 10 * k, np.uint8) for k in range(4)]
    messages: list[tuple[float, str]] = []
    result = reconstruct_person(photos, _options(head_texture_size=1024),
                                progress=lambda f, m: messages.append((f, m)))
    assert result.kept == [0, 1, 3]
    assert len(result.warnings) == 1 and result.warnings[0].startswith("Photo 3 was left out")
    assert result.warnings[0].endswith(".") and ". " not in result.warnings[0]  # one sentence
    assert result.head.texture.tiles.shape == (2, 1024, 1024, 3)
    assert result.head.detail_map.shape == (2, 1024, 1024)
    assert len(result.fits) == len(result.landmarks68_px) == 3 and result.reference == 0
    assert _face_error_mm(tpl, result.head.identity, identity) < 1.5
    fractions = [f for f, _ in messages]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0


def test_person_with_a_failed_photo_and_none_left(tpl, template_network):
    rng = np.random.default_rng(41)
    identity = rng.normal(0.0, 0.8, tpl.n_identity)
    template_network.extend([_photo(tpl, identity, rng, 0.0), _photo(tpl, identity, rng, 40.0)])
    good = np.full((256, 256, 3), 128, np.uint8)
    result = reconstruct_person([good, "/no/such/photo.jpg", good], _options(head_texture_size=0))
    assert result.kept == [0, 2] and result.head.texture is None
    assert result.warnings[0].startswith("Photo 2 (photo.jpg) was left out: ")
    with pytest.raises(FaceFromPhotoError, match="None of the 2 photos gave a head"):
        reconstruct_person(["/no/such/a.jpg", "/no/such/b.jpg"], _options())
    with pytest.raises(FaceFromPhotoError, match="No photo was given"):
        reconstruct_person([], _options())


def test_fused_texture_matches_the_photos_gains(tpl):
    """Two photos of one head in light of different strength: one tone, no step between them."""
    rng = np.random.default_rng(51)
    identity = rng.normal(0.0, 0.8, tpl.n_identity)
    fits = [_photo(tpl, identity, rng, yaw).truth for yaw in (0.0, 60.0)]
    images = [np.full((256, 256, 3), (180, 140, 120), np.uint8),
              np.full((256, 256, 3), (90, 70, 60), np.uint8)]
    bake = fuse_textures(tpl, fits, images, crop_sizes=[S, S], masks=[None, None], size=1024)
    face = bake.tiles[0][bake.seen[0] > 0.5].astype(float)
    assert np.abs(face.mean(0) - (180, 140, 120)).max() < 6.0
    assert face.std(0).max() < 4.0


def test_one_photo_is_the_single_photo_head() -> None:
    weights = ROOT / "core" / "weights" / "face_net.pt"
    if not weights.is_file():
        pytest.skip("core/weights/face_net.pt is absent")
    photo = ROOT / "examples" / "astronaut.png"
    options = ReconstructOptions(output="head", head_texture_size=1024)
    single = reconstruct(photo, options)
    person = reconstruct_person([photo], options)
    assert person.kept == [0] and not person.warnings
    assert np.array_equal(person.head.vertices, single.head.vertices)
    assert np.array_equal(person.head.identity, single.head.identity)
    assert np.array_equal(person.head.texture.tiles, single.head.texture.tiles)
    assert np.array_equal(person.head.detail_map, single.head.detail_map)
    assert np.array_equal(person.landmarks68_px[0], single.landmarks68_px)


def test_eyes_and_mouth_come_from_the_reference_photo(tpl):
    """The front photo sees the mouth best, but the reference (here the side photo) paints it."""
    import cv2

    from core.texture_bake import texel_attributes
    from core.texture_fuse import expression_regions

    rng = np.random.default_rng(61)
    identity = rng.normal(0.0, 0.8, tpl.n_identity)
    fits = [_photo(tpl, identity, rng, yaw).truth for yaw in (0.0, 35.0)]
    checks = (np.indices((256, 256)).sum(0) // 4 % 2).astype(np.uint8)[..., None]
    front = np.where(checks, np.uint8(230), np.uint8(130)) * np.ones(3, np.uint8)  # mean 180
    side = np.full((256, 256, 3), 180, np.uint8)
    bake = fuse_textures(tpl, fits, [front, side], crop_sizes=[S, S], masks=[None, None], size=1024,
                         reference=1)
    region, _ = texel_attributes(tpl, 1024, expression_regions(tpl)[:, None])
    mouth = cv2.resize(region[0, ..., 0], (1024, 1024)) > 0.999
    seen_by_side = bake.seen[0] > 0.9
    grey = bake.tiles[0, ..., 0].astype(float)
    assert grey[mouth & seen_by_side].std() < 6.0  # the side photo's flat colour
    cheek = ~cv2.resize(region[0, ..., 0], (1024, 1024)).astype(bool) & seen_by_side
    assert grey[cheek].std() > 10.0  # elsewhere the front photo's checks show


def test_sharpness_falls_with_blur_not_with_contrast() -> None:
    import cv2

    rgb = cv2.imread(str(ROOT / "examples" / "astronaut.png"))[..., ::-1].copy()
    from core.texture_fuse import sharpness

    k = sharpness(rgb, None, 1000.0, 1000.0)
    assert sharpness(cv2.GaussianBlur(rgb, (0, 0), 1.5), None, 1000.0, 1000.0) < 0.7 * k
    assert abs(sharpness((rgb * 0.4).astype(np.uint8), None, 1000.0, 1000.0) - k) < 0.05 * k


def test_two_photos_of_two_people_keep_the_first(tpl, template_network):
    rng = np.random.default_rng(71)
    identity = rng.normal(0.0, 1.0, tpl.n_identity)
    other = -identity  # and a clearly different person: the opposite, 2.5 sd away on the first ten modes
    other[:10] = -2.5 * np.sign(identity[:10])
    template_network.extend([_photo(tpl, identity, rng, 0.0), _photo(tpl, other, rng, 30.0)])
    good = np.full((256, 256, 3), 128, np.uint8)
    result = reconstruct_person([good, good], _options(head_texture_size=0))
    assert result.kept == [0] and len(result.fits) == 1
    assert result.warnings[0].startswith("Photo 2 was left out: its face does not match photo 1's (")


def test_cancel_is_not_a_left_out_photo(tpl, template_network):
    rng = np.random.default_rng(81)
    identity = rng.normal(0.0, 0.8, tpl.n_identity)
    template_network.extend([_photo(tpl, identity, rng, 0.0), _photo(tpl, identity, rng, 30.0)])
    asked: list[int] = []

    def stop() -> bool:
        asked.append(1)
        return len(asked) > 9  # during the second photo

    good = np.full((256, 256, 3), 128, np.uint8)
    with pytest.raises(pipeline.Cancelled):
        reconstruct_person([good, good], _options(head_texture_size=0), should_stop=stop)
