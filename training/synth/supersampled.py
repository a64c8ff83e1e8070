# SPDX-License-Identifier: GPL-3.0-or-later
"""Ground-truth normals averaged over each pixel's footprint, for diagnostics.

The generator samples every ground-truth map once per pixel, at its centre. Where
the surface turns within a pixel (ears, eyelids, the lip line) that one sample can
lie far from the pixel's mean normal, which is what a network that sees the
pixel's colour can at best recover. This module renders the same head at K times
the resolution and averages:

    N̄(i, j) = normalise( Σ_{a, b < K, M(Ki + a, Kj + b)} N(Ki + a, Kj + b) )

with N, M the normals and mask of the K·S render. The crop and camera of a sample
do not depend on the resolution (the focal length in px scales with S), so pixel
(i, j) of the S map covers exactly the K × K block (Ki … Ki + K - 1, Kj … Kj + K - 1)
of the K·S map, and for odd K the centre of that block's middle sub-pixel is the
S pixel's centre. ``training.evaluate --gt-supersample K`` scores predictions
against N̄; the fixed test set itself stays as it is.
"""

from __future__ import annotations

import numpy as np

from training.synth import generator


def supersampled_normals(split: str, indices: list[int] | range, resolution: int = 128,
                         factor: int = 4) -> tuple[np.ndarray, np.ndarray]:
    """N̄ of samples ``indices`` of ``split`` at ``resolution`` S, averaged over ``factor`` K.

    Returns ``normals`` (n, S, S, 3) float32, unit where ``cover`` > 0 and (0, 0, 1)
    elsewhere, and ``cover`` (n, S, S) float32 in [0, 1], the share of each pixel's
    K² sub-pixels that see the head. ``factor=1`` gives the generator's own normals.
    """
    if factor < 1:
        raise ValueError(f"factor must be >= 1, got {factor}")
    S, K = int(resolution), int(factor)
    indices = [int(i) for i in indices]
    normals = np.zeros((len(indices), S, S, 3), np.float32)
    normals[..., 2] = 1.0
    cover = np.zeros((len(indices), S, S), np.float32)
    model = generator.get_head_model()
    by_block: dict[int, list[tuple[int, int]]] = {}
    for row, index in enumerate(indices):
        block, k = divmod(index, generator.BLOCK)
        by_block.setdefault(block, []).append((row, k))
    for block, rows in by_block.items():
        verts, params = generator.block_vertices(model, split, block)
        for row, k in rows:
            index = block * generator.BLOCK + k
            s = generator.render_head(model, verts[k], params[k], split, index, S * K, with_image=False)
            m = s["mask"]
            total = (s["normals"] * m[..., None]).reshape(S, K, S, K, 3).sum((1, 3))
            count = m.reshape(S, K, S, K).sum((1, 3))
            seen = count > 0
            normals[row][seen] = total[seen] / np.linalg.norm(total[seen], axis=-1, keepdims=True)
            cover[row] = count / K**2
    return normals, cover
