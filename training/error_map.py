# SPDX-License-Identifier: GPL-3.0-or-later
"""Where on the head the large normal errors lie: a map in canonical head coordinates.

Each compared pixel of a test image carries the ground-truth correspondence
C = (X, Y, Z) in [0, 1]³ (the mean head's bounding box; X to the subject's left,
Y away from the viewer, Z up). :class:`ErrorMap` bins the pixels by (X, Z), the
head seen from the front, and by (Y, Z), seen from its side (both sides on top
of each other), and counts in each bin the pixels and those with an angular
error above ``threshold_deg``. The PNG shows the compared pixels in grey and
the large errors' count on top of them in red (the square root of the count
over the view's largest bin), so the eye finds where the errors gather.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np


class ErrorMap:
    """Counts of compared pixels and of pixels with error > ``threshold_deg`` per bin.

    ``bins`` B: each view is a B × B grid over [0, 1]²; row 0 is the top of the head (Z = 1).
    """

    def __init__(self, bins: int = 96, threshold_deg: float = 30.0):
        self.bins = int(bins)
        self.threshold_deg = float(threshold_deg)
        self.total = np.zeros((2, self.bins, self.bins), np.int64)  # views: front (X, Z), side (Y, Z)
        self.over = np.zeros_like(self.total)

    def add(self, corr: np.ndarray, sel: np.ndarray, err_deg: np.ndarray) -> None:
        """Add one image: ``corr`` (S, S, 3) in [0, 1], ``sel`` (S, S) bool compared pixels,
        ``err_deg`` (S, S) angular error in degrees (read where ``sel``)."""
        c = corr[sel]
        big = err_deg[sel] > self.threshold_deg
        idx = np.clip((c * self.bins).astype(np.int64), 0, self.bins - 1)
        row = self.bins - 1 - idx[:, 2]
        for view, col in enumerate((idx[:, 0], idx[:, 1])):
            np.add.at(self.total[view], (row, col), 1)
            np.add.at(self.over[view], (row[big], col[big]), 1)

    def image(self) -> np.ndarray:
        """(B, 2 B, 3) float32 RGB in [0, 1]: front view | side view."""
        views = []
        for view in range(2):
            seen = self.total[view] > 0
            heat = np.sqrt(self.over[view] / max(1, int(self.over[view].max())))
            base = np.where(seen, 0.35, 0.0)
            views.append(np.stack([np.maximum(base, heat), base * (1 - heat), base * (1 - heat)], -1))
        return np.concatenate(views, axis=1).astype(np.float32)

    def save(self, path: str | Path, scale: int = 3) -> None:
        """Write :meth:`image`, each bin ``scale`` × ``scale`` px, as a PNG."""
        import cv2

        rgb = (np.clip(self.image(), 0, 1) * 255).astype(np.uint8)
        rgb = np.repeat(np.repeat(rgb, scale, axis=0), scale, axis=1)
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(path), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
