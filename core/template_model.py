# SPDX-License-Identifier: GPL-3.0-or-later
"""The template head: the ICT-FaceKit light morphable model, loaded from ``core/template/``.

The asset is derived from the upstream model by ``tools/build_template.py`` (MIT licence and
credits shipped beside it) and checked against the SHA-256 in ``core/template/manifest.json``
on load. Frame and units: Blender object space, metres, X the subject's left, Y away from a
frontal viewer (the face looks toward -Y), Z up.

The model is linear::

    V(a, e) = V0 + sum_k a_k B_k + sum_j e_j E_j          (N, 3) m

with ``a`` the identity coefficients (one per PCA mode, 1 = one standard deviation,
prior N(0, 1)) and ``e`` the 53 ARKit-named expression weights in [0, 1].
"""

from __future__ import annotations

import hashlib
import json
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .errors import FaceFromPhotoError

TEMPLATE_DIR = Path(__file__).resolve().parent / "template"
ASSET_NAME = "ict_head.npz"
MANIFEST_NAME = "manifest.json"


@dataclass(frozen=True)
class TemplateHead:
    """The morphable head.

    Attributes
    ----------
    neutral : (N, 3) float32
        Mean neutral vertices, m.
    identity_basis : (3N, K) float32
        Identity modes, m per standard deviation; column k is mode k flattened row-major
        (x0, y0, z0, x1, ...).
    expression_basis : (3N, E) float32
        Expression shapes (ARKit names), m at weight 1.
    expression_names : tuple of str, length E
    loop_start : (P,) int32
        First loop of each polygon (quads and triangles).
    loop_vertex : (L,) int32
        Vertex of each loop (polygon corner), outward counter-clockwise winding.
    loop_uv : (L, 2) float32
        Texture coordinate of each loop, upstream's UDIM-style tiles: v in [0, 1], the
        integer part of u is the tile (0 face and eyes, 1 back of the head, 2 gums and
        tongue, 3 teeth, 4-5 lacrimal fluid, 6 eyelashes).
    polygon_material : (P,) int8
        Index into ``material_names`` (upstream material groups).
    material_names : tuple of str
    part_names : tuple of str
        ``face``, ``head_and_neck``, ``mouth_socket``, ... (17 parts).
    part_ranges : (17, 2) int32
        ``[start, stop)`` vertex range of each part.
    landmark68 : (68,) int32
        Multi-PIE 68-point landmark vertices (0-16 jaw, 17-26 brows, 27-35 nose,
        36-47 eyes, 48-67 mouth; 36-41 is the subject's right eye).
    fit_vertices : (M,) int32
        Skin vertices that the network's correspondence map can reach.
    fit_anny01 : (M, 3) float32
        Those vertices aligned onto the synthetic generator's anny mean head, in its
        bounding-box-normalised coordinates (the frame of the network's ``corr``).
    anny_box : (2, 3) float32
        ``lo, hi`` of anny's mean head, m (to turn ``corr`` distances into metres).
    sha256 : str
    """

    neutral: np.ndarray
    identity_basis: np.ndarray
    expression_basis: np.ndarray
    expression_names: tuple[str, ...]
    loop_start: np.ndarray
    loop_vertex: np.ndarray
    loop_uv: np.ndarray
    polygon_material: np.ndarray
    material_names: tuple[str, ...]
    part_names: tuple[str, ...]
    part_ranges: np.ndarray
    landmark68: np.ndarray
    fit_vertices: np.ndarray
    fit_anny01: np.ndarray
    anny_box: np.ndarray
    sha256: str

    @property
    def n_vertices(self) -> int:
        return len(self.neutral)

    @property
    def n_identity(self) -> int:
        return int(self.identity_basis.shape[1])

    @property
    def n_expression(self) -> int:
        return int(self.expression_basis.shape[1])

    @property
    def loop_total(self) -> np.ndarray:
        """(P,) int32, corners of each polygon."""
        return np.diff(np.append(self.loop_start, len(self.loop_vertex))).astype(np.int32)

    def part_mask(self, *names: str) -> np.ndarray:
        """(N,) bool, the vertices of the named parts (all parts when none are named)."""
        mask = np.zeros(self.n_vertices, dtype=bool)
        for name in names or self.part_names:
            if name not in self.part_names:
                raise ValueError(f"unknown part {name!r}; expected one of {self.part_names}")
            start, stop = self.part_ranges[self.part_names.index(name)]
            mask[start:stop] = True
        return mask

    def triangles(self) -> np.ndarray:
        """(T, 3) int32 fan triangulation of the polygons (same winding)."""
        total = self.loop_total
        tris = []
        for k in range(3, int(total.max()) + 1):
            starts = self.loop_start[total >= k]
            tris.append(np.stack([starts, starts + k - 2, starts + k - 1], axis=1))
        return self.loop_vertex[np.concatenate(tris)]

    def deform(self, identity: np.ndarray | None = None, expression: np.ndarray | None = None) -> np.ndarray:
        """Vertices of a head, ``V0 + B a + E e``.

        Parameters
        ----------
        identity : (K,) float or None
            Identity coefficients in standard deviations (None: zeros; fewer than K are
            padded with zeros).
        expression : (E,) float or None
            Expression weights (None: zeros), usually in [0, 1].

        Returns
        -------
        (N, 3) float32, m
        """
        flat = self.neutral.reshape(-1).copy()
        if identity is not None:
            a = np.zeros(self.n_identity, dtype=np.float32)
            given = np.asarray(identity, dtype=np.float32).ravel()[: self.n_identity]
            a[: len(given)] = given
            flat += self.identity_basis @ a
        if expression is not None:
            e = np.asarray(expression, dtype=np.float32).ravel()
            if e.shape != (self.n_expression,):
                raise ValueError(f"expression must have shape ({self.n_expression},), got {e.shape}")
            flat += self.expression_basis @ e
        return flat.reshape(-1, 3)

    def basis_rows(self, vertices: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Neutral and stacked bases of some vertices, for fitting.

        Parameters
        ----------
        vertices : (M,) int

        Returns
        -------
        neutral : (M, 3) float32
        basis : (M, 3, K + E) float32, identity columns first
        """
        v = np.asarray(vertices, dtype=np.int64)
        rows = (3 * v[:, None] + np.arange(3)).ravel()
        basis = np.concatenate([self.identity_basis[rows], self.expression_basis[rows]], axis=1)
        return self.neutral[v], basis.reshape(len(v), 3, -1)


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def read_template(folder: str | Path = TEMPLATE_DIR) -> TemplateHead:
    """Load and check the template asset in ``folder`` (not cached; see :func:`load_template`).

    Raises
    ------
    FaceFromPhotoError
        When the asset or its manifest is missing, unreadable or altered.
    """
    folder = Path(folder)
    asset, manifest_path = folder / ASSET_NAME, folder / MANIFEST_NAME
    if not asset.is_file() or not manifest_path.is_file():
        raise FaceFromPhotoError(
            f"The template head files in {folder} are missing; reinstall the extension."
        )
    try:
        expected = json.loads(manifest_path.read_text())["sha256"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise FaceFromPhotoError(
            f"The template head manifest {manifest_path} is unreadable ({type(exc).__name__}); "
            "reinstall the extension."
        ) from exc
    digest = _sha256(asset)
    if digest != expected:
        raise FaceFromPhotoError(
            f"The template head {asset} does not match its manifest (damaged or altered file); "
            "reinstall the extension."
        )
    try:
        with np.load(asset, allow_pickle=False) as z:
            n = len(z["neutral"])
            identity = z["identity_mm"].astype(np.float32).reshape(-1, 3 * n).T * np.float32(1e-3)
            expression = z["expression_mm"].astype(np.float32).reshape(-1, 3 * n).T * np.float32(1e-3)
            return TemplateHead(
                neutral=z["neutral"].astype(np.float32),
                identity_basis=np.ascontiguousarray(identity),
                expression_basis=np.ascontiguousarray(expression),
                expression_names=tuple(str(s) for s in z["expression_names"]),
                loop_start=z["loop_start"].astype(np.int32),
                loop_vertex=z["loop_vertex"].astype(np.int32),
                loop_uv=z["loop_uv"].astype(np.float32),
                polygon_material=z["polygon_material"].astype(np.int8),
                material_names=tuple(str(s) for s in z["material_names"]),
                part_names=tuple(str(s) for s in z["part_names"]),
                part_ranges=z["part_ranges"].astype(np.int32),
                landmark68=z["landmark68"].astype(np.int32),
                fit_vertices=z["fit_vertices"].astype(np.int32),
                fit_anny01=z["fit_anny01"].astype(np.float32),
                anny_box=z["anny_box"].astype(np.float32),
                sha256=digest,
            )
    except (OSError, ValueError, KeyError) as exc:
        raise FaceFromPhotoError(
            f"The template head {asset} cannot be read ({type(exc).__name__}); reinstall the extension."
        ) from exc


_CACHE: dict[str, TemplateHead] = {}
_LOCK = threading.Lock()


def load_template(folder: str | Path = TEMPLATE_DIR) -> TemplateHead:
    """The template of ``folder``, read once per process (see :func:`read_template`)."""
    key = str(Path(folder).resolve())
    with _LOCK:
        if key not in _CACHE:
            _CACHE[key] = read_template(folder)
        return _CACHE[key]
