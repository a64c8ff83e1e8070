# SPDX-License-Identifier: GPL-3.0-or-later
"""Support code executed inside the bpy test subprocesses (prepended to each test script).

- ``enable_from_source()``: the extension from this checkout, the fast way an
  extension developer installs it (temporary folder with a ``face_from_photo``
  symlink registered as a user repository, then ``addon_enable``).
- ``fake_reconstruction()``: a Reconstruction-like object from analytic arrays
  (no weights needed); ``use_fake_core()`` routes the add-on's core call to it.
- ``make_test_weights()``: untrained FaceNet weights + manifest that pass the
  core's integrity checks, with the mask head biased to "head everywhere", so
  the real pipeline runs end to end before the trained weights exist.
- ``counts()``: sizes of the bpy.data collections a reconstruction touches.
"""

import importlib
import json  # noqa: F401  (the test scripts run after this file use it)
import os
import pathlib
import sys  # noqa: F401 - test scripts read sys.argv
import tempfile
import types

import bpy
import numpy as np

REPO = pathlib.Path(os.environ["FFP_REPO"])
MODULE = "bl_ext.ffp_test_src.face_from_photo"
COUNTED = ("objects", "meshes", "images", "materials", "textures", "cameras", "lights", "worlds", "scenes")


def enable_from_source():
    """Enable the extension from the checkout; returns its package module."""
    base = pathlib.Path(tempfile.mkdtemp(prefix="ffp-src-"))
    (base / "face_from_photo").symlink_to(REPO, target_is_directory=True)
    bpy.context.preferences.extensions.repos.new(
        name="ffp test source", module="ffp_test_src", custom_directory=str(base), source='USER')
    result = bpy.ops.preferences.addon_enable(module=MODULE)
    assert result == {'FINISHED'}, result
    return importlib.import_module(MODULE)


def counts():
    return {k: len(getattr(bpy.data, k)) for k in COUNTED}


def use_fake_core(ext, fail_on=(), **kwargs):
    """Route the add-on's core call to :func:`fake_reconstruction` (photos named in
    ``fail_on`` raise the project's error, as a broken photo would)."""
    error = importlib.import_module(MODULE + ".core.errors").FaceFromPhotoError

    def run_core(photo, options, progress=None, should_stop=None):
        if any(bad in str(photo) for bad in fail_on):
            raise error(f"The file {photo} is not a readable photo; choose a JPEG or PNG photo.")
        if progress is not None:
            progress(0.5, "Faking")
        return fake_reconstruction(str(photo), options=options.to_dict(), **kwargs)

    ext.blender.job.run_core = run_core


def make_test_weights(folder):
    """Untrained weights + manifest in ``folder``; returns the weights path."""
    predict = importlib.import_module(MODULE + ".core.predict")
    return str(predict.write_untrained_weights(folder))


def fake_reconstruction(source="/tmp/fake face.png", S=64, options=None, T=None):
    """A paraboloid head cap with the same fields as ``core.pipeline.Reconstruction``."""
    T = T or S
    s = 0.22 / S  # m per px
    i, j = np.mgrid[0:S, 0:S].astype(np.float32)
    r2 = ((i - S / 2) ** 2 + (j - S / 2) ** 2) / (S / 2.4) ** 2
    mask = r2 < 1.0
    rng = np.random.default_rng(0)
    h = np.where(mask, 0.35 * S * (1.0 - r2) + rng.normal(0.0, 0.3, (S, S)), np.nan).astype(np.float32)
    idx = -np.ones((S, S), np.int64)
    idx[mask] = np.arange(mask.sum())
    ii, jj = i[mask], j[mask]
    vertices = np.stack([(jj - S / 2) * s, -h[mask] * s, -(ii - S / 2) * s], -1).astype(np.float32)
    a, b, c, d = idx[:-1, :-1], idx[:-1, 1:], idx[1:, :-1], idx[1:, 1:]
    ok = (a >= 0) & (b >= 0) & (c >= 0) & (d >= 0)
    # counter-clockwise seen from -Y (the front): (a, c, b) and (b, c, d)
    tris = np.concatenate([np.stack([a[ok], c[ok], b[ok]], -1), np.stack([b[ok], c[ok], d[ok]], -1)])
    uvs = np.stack([(jj + 0.5) / S, 1.0 - (ii + 0.5) / S], -1).astype(np.float32)
    normals = np.zeros((S, S, 3), np.float32)
    normals[..., 2] = 1.0
    detail = np.clip(rng.normal(0.0, 0.4, (T, T)), -1, 1).astype(np.float32)
    opts = {"resolution": 128, "lam": 0.1, "geometry": "normals", "smoothing_factor": 0.5,
            "smoothing_iterations": 3, "detail_strength": 0.001}
    opts.update(options or {})
    options_obj = types.SimpleNamespace(**opts, to_dict=lambda: dict(opts))
    return types.SimpleNamespace(
        mesh=types.SimpleNamespace(vertices=vertices, triangles=tris.astype(np.int32), uvs=uvs,
                                   pixel_index=np.flatnonzero(mask.ravel()).astype(np.int32)),
        smoothed_vertices=None,
        maps=types.SimpleNamespace(normals=normals, grad_mag=np.zeros((S, S), np.float32), mask=mask,
                                   depth=np.nan_to_num(h)),
        depth=h, pixel_size_m=s,
        crop=(rng.random((S, S, 3)) * 255).astype(np.uint8),
        texture=(rng.random((T, T, 3)) * 255).astype(np.uint8),
        detail=detail, timings={"load": 0.01, "total": 0.02}, model_sha256="0" * 64,
        options=options_obj, source=source,
    )
