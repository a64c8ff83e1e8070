# SPDX-License-Identifier: GPL-3.0-or-later
"""Training-time augmentation of whole batches (tensors already on the training device).

:func:`mirror_samples` reflects chosen samples left-right, image and every target
map consistently, so a mirrored sample is what the generator would have rendered
for the mirrored head. The mean head is mirror-symmetric about canonical X = 0
and the correspondence is normalised to [0, 1] by its box, so the rules are those
of :func:`core.views.mirror_back`:

- every map: columns reversed, ``x[..., j] -> x[..., S - 1 - j]``;
- normals: ``Nx -> -Nx`` (x right in the camera frame);
- correspondence: canonical ``X -> 1 - X`` on the head mask, 0 off it (as rendered);
- depth, gradient magnitude W = |grad h|, mask, occluder: reversed only (scalars).
"""

from __future__ import annotations

import torch

from core.views import layout_of, mirror_back


def mirror_samples(batch: dict[str, torch.Tensor], chosen: torch.Tensor) -> dict[str, torch.Tensor]:
    """``batch`` with the samples where ``chosen`` (B,) bool is True mirrored left-right.

    Maps are (B, C, S, S) and must include ``normals``, ``corr`` and ``mask``;
    the memory format of each input is kept. The rules are
    :func:`core.views.mirror_back`'s, with the correspondence then set back to
    0 off the (mirrored) head mask, as the generator renders it.
    """
    if chosen.dtype != torch.bool or chosen.shape != (batch["image"].shape[0],):
        raise ValueError("chosen must be a (B,) bool tensor with one entry per sample")
    mirrored = mirror_back(batch)
    mirrored["corr"] = mirrored["corr"] * (mirrored["mask"] > 0.5)
    sel = chosen.view(-1, 1, 1, 1)
    return {key: layout_of(torch.where(sel, mirrored[key], v), v) for key, v in batch.items()}
