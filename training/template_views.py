# SPDX-License-Identifier: GPL-3.0-or-later
"""Synthetic photos of a known template head as a perfect network would see them.

The fixture of the template fit's tests and benchmarks (tests/core/test_template_fit.py,
tests/core/test_multiview.py, benchmarks/bench_template_fit.py, benchmarks/bench_multiview.py):
a head of known identity, expression and pose (``core.template_fit.TemplateFit``) whose fit
vertices are splatted into an ``S x S`` correspondence map, nearest wins::

    p_q = truth.project(V_q)                          (column, row, depth) crop px, q in fit_vertices
    pixel (i, j) = round(p_q[1], p_q[0]) <- q with the largest p_q[2] (the nearest)
    corr(i, j) = fit_anny01[q],  mask(i, j) = True,  depth(i, j) = p_q[2]

then a share ``outliers`` of the head pixels gets a random correspondence (hair, hands,
a network's mistakes). Plain numpy: no torch, nothing from the synthetic renderer.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

S = 128  # px, side of the synthetic maps (the network's default crop)


def head_rotation(yaw_deg: float, pitch_deg: float = 0.0, roll_deg: float = 0.0) -> np.ndarray:
    """(3, 3) float64 head rotation in Blender's frame: yaw about Z, pitch about X, roll about Y,
    ``R = Rz(yaw) Rx(pitch) Ry(roll)`` (degrees)."""
    y, p, r = (math.radians(a) for a in (yaw_deg, pitch_deg, roll_deg))
    rz = np.array([[math.cos(y), -math.sin(y), 0], [math.sin(y), math.cos(y), 0], [0, 0, 1]])
    rx = np.array([[1, 0, 0], [0, math.cos(p), -math.sin(p)], [0, math.sin(p), math.cos(p)]])
    ry = np.array([[math.cos(r), 0, math.sin(r)], [0, 1, 0], [-math.sin(r), 0, math.cos(r)]])
    return rz @ rx @ ry


def random_expression(template: Any, rng: np.random.Generator, count: int = 3) -> np.ndarray:
    """(E,) float64: ``count`` random ARKit shapes at weights U(0.3, 1), the others 0."""
    e = np.zeros(template.n_expression)
    e[rng.choice(template.n_expression, count, replace=False)] = rng.uniform(0.3, 1.0, count)
    return e


def splat_view(template: Any, truth: Any, rng: np.random.Generator, outliers: float = 0.1,
               size: int = S) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The maps a perfect network would give for the head ``truth`` (see the module's notes).

    Parameters
    ----------
    template : core.template_model.TemplateHead
    truth : core.template_fit.TemplateFit
        The known head (``vertices`` posed by ``project``).
    rng : numpy.random.Generator
        Draws the outliers: ``rng.random((size, size))`` then one ``(n, 3)`` draw.
    outliers : float
        Share of head pixels whose correspondence is replaced by a uniform random one.

    Returns
    -------
    corr : (size, size, 3) float64 in [0, 1], 0 outside the mask
    mask : (size, size) bool
    depth : (size, size) float64, crop px toward the viewer, NaN outside the mask
    """
    p = truth.project(truth.vertices[template.fit_vertices])
    ij = np.round(p[:, [1, 0]]).astype(int)
    zbuf, vid = np.full((size, size), -np.inf), np.full((size, size), -1)
    for q in np.argsort(p[:, 2]):  # far to near: the nearest is written last
        i, j = ij[q]
        if 0 <= i < size and 0 <= j < size:
            zbuf[i, j], vid[i, j] = p[q, 2], q
    mask = vid >= 0
    corr = np.zeros((size, size, 3))
    corr[mask] = template.fit_anny01[vid[mask]]
    bad = mask & (rng.random((size, size)) < outliers)
    corr[bad] = rng.random((int(bad.sum()), 3))
    return corr, mask, np.where(mask, zbuf, np.nan)
