# SPDX-License-Identifier: GPL-3.0-or-later
"""The anny head model, loaded once per process, and random head parameters.

Model frame (anny's, also Blender's): metres, X to the subject's left, Y away from
the viewer of a frontal portrait (the face looks toward -Y), Z up; the neck cut is
near Z = 0 and the top of the head near Z = 0.25 m.

``HeadModel`` wraps ``anny.Anny(rig='makehuman-head', topology='head', ...)`` with
every local change, facial action and phenotype. It is built lazily per process
(:func:`get_head_model`), so DataLoader workers each build their own copy on first
use; nothing global is created at import time.

Parameters are plain numpy arrays so they can be drawn deterministically from a
``numpy.random.Generator`` and evaluated in batches (one anny forward pass for many
heads is ~10x cheaper per head than one pass per head).
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass

import numpy as np

# Local changes that shape the head and face (the model also carries body targets,
# which do nothing on the head topology).
FACE_PREFIXES = (
    "l-cheek", "r-cheek", "chin", "l-ear", "r-ear", "eyebrows", "l-eye", "r-eye",
    "forehead", "head", "mouth", "nose", "neck",
)

# Facial actions grouped for expression sampling: (names, symmetric-pair partner suffix).
EXPRESSIONS = (
    ("mouthSmileLeft", "mouthSmileRight"),
    ("jawOpen",),
    ("eyeBlinkLeft", "eyeBlinkRight"),
    ("browInnerUp",),
    ("browDownLeft", "browDownRight"),
    ("browOuterUpLeft", "browOuterUpRight"),
    ("mouthFrownLeft", "mouthFrownRight"),
    ("mouthPucker",),
    ("mouthFunnel",),
    ("cheekPuff",),
    ("eyeSquintLeft", "eyeSquintRight"),
    ("eyeWideLeft", "eyeWideRight"),
    ("mouthStretchLeft", "mouthStretchRight"),
    ("noseSneerLeft", "noseSneerRight"),
    ("mouthDimpleLeft", "mouthDimpleRight"),
    ("mouthPressLeft", "mouthPressRight"),
    ("mouthRollLower",),
    ("mouthShrugUpper",),
    ("jawLeft",),
    ("jawRight",),
    ("mouthLeft",),
    ("mouthRight",),
    ("eyeLookUpLeft", "eyeLookUpRight"),
    ("eyeLookDownLeft", "eyeLookDownRight"),
    ("eyeLookInLeft", "eyeLookOutRight"),
    ("eyeLookOutLeft", "eyeLookInRight"),
    ("mouthUpperUpLeft", "mouthUpperUpRight"),
    ("tongueOut",),
)


@dataclass(frozen=True)
class HeadParams:
    """One head: identity and expression, all in anny's native units.

    phenotypes : (P,) float64 in [0, 1], order ``HeadModel.phenotype_labels``
    local_changes : (L,) float64 in [-1, 1], order ``HeadModel.local_change_labels``
    facial_actions : (A,) float64 in [0, 1], order ``HeadModel.facial_action_labels``
    """

    phenotypes: np.ndarray
    local_changes: np.ndarray
    facial_actions: np.ndarray


class HeadModel:
    """Cached anny head model with topology, UVs and canonical (mean, neutral) shape.

    Attributes
    ----------
    faces : (F, 3) int64, outward (counter-clockwise seen from outside) winding
    part : (V,) int8, 0 head skin, 1 tongue, 2 eye
    face_uv : (F, 3, 2) float32, texture coordinates of each corner in [0, 1]
    canonical : (V, 3) float32, mean-head neutral vertices (model frame, m)
    canonical01 : (V, 3) float32, ``canonical`` normalised to [0, 1] by its bounding box
    """

    def __init__(self) -> None:
        import anny
        import torch

        self._torch = torch
        self.model = anny.Anny(
            rig="makehuman-head", topology="head", local_changes="all",
            facial_actions="all", phenotypes="all",
        )
        self.model.eval()
        self.phenotype_labels = list(self.model.phenotype_labels)
        self.local_change_labels = list(self.model.local_change_labels)
        self.facial_action_labels = list(self.model.facial_action_labels)
        self.face_change_index = np.array(
            [i for i, n in enumerate(self.local_change_labels) if n.startswith(FACE_PREFIXES)]
        )
        self.faces = self.model.faces.cpu().numpy().astype(np.int64)
        tc = self.model.texture_coordinates.cpu().numpy().astype(np.float32)
        self.face_uv = tc[self.model.face_texture_coordinate_indices.cpu().numpy()]
        neutral = self.forward([self.neutral_params()])[0]
        self.canonical = neutral.astype(np.float32)
        lo, hi = self.canonical.min(0), self.canonical.max(0)
        self.canonical_box = (lo, hi)
        self.canonical01 = ((self.canonical - lo) / (hi - lo)).astype(np.float32)
        self.part = self._parts()
        self.n_vertices = len(self.canonical)

    def _parts(self) -> np.ndarray:
        from scipy.sparse import coo_matrix
        from scipy.sparse.csgraph import connected_components

        n = len(self.canonical)
        f = self.faces
        adj = coo_matrix((np.ones(f.size), (f.ravel(), np.roll(f, 1, 1).ravel())), shape=(n, n))
        _, label = connected_components(adj, directed=False)
        sizes = np.bincount(label)
        part = np.full(n, 2, np.int8)  # small components: eyes
        part[label == np.argmax(sizes)] = 0
        # the tongue is the component lying on the mid-plane
        for c in range(len(sizes)):
            sel = label == c
            if c != np.argmax(sizes) and abs(self.canonical[sel, 0].mean()) < 0.005:
                part[sel] = 1
        return part

    def neutral_params(self) -> HeadParams:
        p = np.full(len(self.phenotype_labels), 0.5)
        for k in ("african", "asian", "caucasian"):
            if k in self.phenotype_labels:
                p[self.phenotype_labels.index(k)] = 1.0 / 3.0
        return HeadParams(p, np.zeros(len(self.local_change_labels)),
                          np.zeros(len(self.facial_action_labels)))

    def forward(self, params: list[HeadParams]) -> np.ndarray:
        """Posed vertices of a batch of heads, (B, V, 3) float64, model frame, metres."""
        torch = self._torch
        ph = np.stack([p.phenotypes for p in params])
        lc = np.stack([p.local_changes for p in params])
        fa = np.stack([p.facial_actions for p in params])
        with torch.no_grad():
            out = self.model(
                phenotype_kwargs={k: torch.from_numpy(ph[:, i].copy()) for i, k in
                                  enumerate(self.phenotype_labels)},
                local_changes_kwargs=torch.from_numpy(lc),
                facial_actions=torch.from_numpy(fa),
            )
        return out["vertices"].cpu().numpy().astype(np.float64)

    # ------------------------------------------------------------------ sampling
    def sample_identity(self, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """Phenotypes (P,) and local changes (L,) of a random, plausible adult-ish head."""
        labels = self.phenotype_labels
        p = np.full(len(labels), 0.5)
        p[labels.index("gender")] = rng.uniform(0.0, 1.0)
        # anny age: 0 newborn, 0.1875 ~ 11 y, 0.5 ~ 25 y, 1 ~ 90 y
        p[labels.index("age")] = rng.uniform(0.3, 1.0) if rng.random() < 0.9 else rng.uniform(0.2, 0.3)
        p[labels.index("muscle")] = rng.uniform(0.1, 0.9)
        p[labels.index("weight")] = np.clip(rng.normal(0.5, 0.2), 0.05, 0.95)
        p[labels.index("height")] = rng.uniform(0.2, 0.8)
        p[labels.index("proportions")] = rng.uniform(0.2, 0.8)
        if "african" in labels:
            mix = rng.dirichlet([0.4, 0.4, 0.4])
            for k, m in zip(("african", "asian", "caucasian"), mix, strict=True):
                p[labels.index(k)] = m
        lc = np.zeros(len(self.local_change_labels))
        idx = self.face_change_index
        active = rng.random(len(idx)) < 0.35
        values = np.clip(rng.normal(0.0, 0.35, len(idx)), -0.9, 0.9)
        # keep left/right mostly symmetric: copy l- values to r- with small differences
        lc[idx] = values * active
        li, ri = self._left_right_pairs()
        lc[ri] = lc[li] + rng.normal(0.0, 0.06, len(li)) * (lc[li] != 0)
        return p, np.clip(lc, -1.0, 1.0)

    def _left_right_pairs(self) -> tuple[np.ndarray, np.ndarray]:
        """Indices of the face local changes named ``l-…`` and of their ``r-…`` twins
        (in ``face_change_index`` order; cached)."""
        pairs = getattr(self, "_lr_pairs", None)
        if pairs is None:
            names = self.local_change_labels
            where = {n: k for k, n in enumerate(names)}
            lr = [(i, where["r-" + names[i][2:]]) for i in self.face_change_index
                  if names[i].startswith("l-") and ("r-" + names[i][2:]) in where]
            pairs = (np.array([a for a, _ in lr], np.int64), np.array([b for _, b in lr], np.int64))
            self._lr_pairs = pairs
        return pairs

    def sample_expression(self, rng: np.random.Generator) -> np.ndarray:
        """Facial actions (A,) in [0, 1]: neutral 40 % of the time, else 1-3 actions."""
        a = np.zeros(len(self.facial_action_labels))
        if rng.random() < 0.4:
            return a
        names = self.facial_action_labels
        for _ in range(int(rng.integers(1, 4))):
            group = EXPRESSIONS[int(rng.integers(len(EXPRESSIONS)))]
            strength = rng.uniform(0.2, 1.0)
            if group[0] == "tongueOut":
                a[names.index("jawOpen")] = max(a[names.index("jawOpen")], 0.4)
            asym = len(group) > 1 and rng.random() < 0.3
            for k, n in enumerate(group):
                s = strength * (rng.uniform(0.0, 1.0) if (asym and k == 1) else 1.0)
                a[names.index(n)] = max(a[names.index(n)], s)
        if a[names.index("jawOpen")] > 0:
            a[names.index("jawOpen")] *= 0.7
        return a


_LOCK = threading.Lock()
_MODELS: dict[int, HeadModel] = {}


def get_head_model() -> HeadModel:
    """The process's head model, built on first use (per process: safe after fork)."""
    pid = os.getpid()
    with _LOCK:
        if pid not in _MODELS:
            _MODELS.clear()
            _MODELS[pid] = HeadModel()
        return _MODELS[pid]
