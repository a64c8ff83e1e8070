# SPDX-License-Identifier: GPL-3.0-or-later
"""Depth from a normal map: weighted least-squares integration and FFT/DCT baselines.

Frames (docs/conventions.md)::

     map arrays                      camera frame of the normals
     j ──►  (columns, x right)             y
   i ┌──────────┐                          ▲
   │ │  pixel   │                          │
   ▼ │ (i, j)   │                          └──► x     z toward the viewer
     └──────────┘
   rows go down                      depth h grows toward the viewer

Depth gradients from a unit normal ``N``::

    p   = dh/dj = -Nx / Nz          (x right, along the columns)
    q   = dh/dy = -Ny / Nz          (y up)
    dh/di = -q  = +Ny / Nz          (rows go down)

The weighted least-squares problem of *Monocular 3D Head Reconstruction via
Prediction and Integration of Normal Vector Field* (the normals paper) is::

    min_h  sum_{(i, j+1/2)} w (h[i, j+1] - h[i, j] - p[i, j+1/2])^2
         + sum_{(i+1/2, j)} w (h[i+1, j] - h[i, j] - dh/di[i+1/2, j])^2

over the pairs of 4-neighbours that are both in the mask, with half-pixel
values ``g[i, j+1/2] = (g[i, j] + g[i, j+1]) / 2`` and weights
``w = 1 / (1 + lam * W[half-pixel])`` where ``W = |grad h|`` (px/px) is large at
depth discontinuities, where normals cannot be trusted. Its normal equations
``A h = b`` are a weighted graph Laplacian (5-point stencil on the pixel grid),
solved by conjugate gradients preconditioned with a geometric aggregation
multigrid V-cycle written in plain numpy (:class:`GridMultigrid`): no pyamg,
no compiled extension, cost linear in the pixel count. ``solver="direct"``
uses SciPy's SuperLU instead (reference; about 10x slower at 256^2).

Speed notes: everything works on full grid arrays (no Python loops over
pixels), the preconditioner runs in float32 and CG in float64, and no BLAS
routine is called in the loop (on a busy 2-core machine OpenBLAS thread
wake-ups cost more than the vectors' arithmetic).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import fft as sfft
from scipy import ndimage, sparse

from .errors import FaceFromPhotoError

NZ_MIN = 0.05
"""Nz is clamped to at least this before dividing: slopes are capped at
``sqrt(1 - NZ_MIN**2) / NZ_MIN`` ~ 20 px/px and never divide by zero."""

NZ_RELIABLE = 0.2
"""Normals with Nz below this (tilt beyond ~78 deg) are down-weighted linearly:
reliability ``r = clip(Nz / NZ_RELIABLE, WEIGHT_FLOOR, 1)``."""

WEIGHT_FLOOR = 1e-3
"""Smallest edge weight (after the ``W`` and grazing-normal factors): every
4-connected component stays connected and the system well enough conditioned;
it changes the paper's weights only where ``lam * W > 999``."""

PIN_WEIGHT = 1.0
"""Weight of the soft constraint ``h = 0`` put on one pixel per component to
make the normal equations positive definite; the offset is then reset to a
zero median, so its value does not change the result."""


MG_COARSE_SCALE = 0.5
"""Coarse operators are ``MG_COARSE_SCALE * P^T A P`` with ``P`` the 2x2 piecewise
constant prolongation: 0.5 equals re-discretising the Laplacian on the coarse
grid, the over-correction that keeps aggregation multigrid's iteration count
almost independent of the grid size (10 at 128^2, 11 at 1024^2 on a face)."""

MG_SWEEPS = 1
"""Red-black Gauss-Seidel sweeps before and after each coarse correction."""

MG_COARSEST_CELLS = 400
"""Coarsening stops once a level has at most this many cells; that level is
solved by a sparse LU factorisation."""

MG_MAX_ITER = 60
"""Iteration limit of the preconditioned conjugate gradients; a solve that has
not converged by then (pathological masks) is redone with the direct solver."""

MG_MIN_COMPONENT = 2000
"""Components with fewer pixels than this are solved together by a sparse direct
solve (cheap for small blocks; aggregation multigrid converges slowly when a
2x2 block mixes pixels of several small components)."""


def _check_inputs(normals, grad_mag, mask):
    normals = np.asarray(normals)
    mask = np.asarray(mask, dtype=bool)
    if normals.ndim != 3 or normals.shape[2] != 3:
        raise ValueError(f"normals must be (H, W, 3), got shape {normals.shape}")
    if mask.shape != normals.shape[:2]:
        raise ValueError(f"mask must be {normals.shape[:2]}, got shape {mask.shape}")
    if grad_mag is not None:
        grad_mag = np.asarray(grad_mag)
        if grad_mag.shape != mask.shape:
            raise ValueError(f"grad_mag must be {mask.shape}, got shape {grad_mag.shape}")
    count = int(np.count_nonzero(mask))
    if count < 2:
        raise FaceFromPhotoError(
            f"The face mask has {count} pixel{'' if count == 1 else 's'}, too few to build "
            "a surface; use a photo where the face is large and clearly visible."
        )
    return normals, grad_mag, mask


def gradients_from_normals(normals: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Depth gradients and their reliability from a unit normal map.

    Parameters
    ----------
    normals : (H, W, 3) float
        Unit normals in the camera frame (x right, y up, z toward the viewer).

    Returns
    -------
    dh_dj : (H, W) float64
        ``p = -Nx / max(Nz, NZ_MIN)``: depth change per column step (px/px).
    dh_di : (H, W) float64
        ``+Ny / max(Nz, NZ_MIN)``: depth change per row step, rows going down (px/px).
    reliability : (H, W) float64
        ``clip(Nz / NZ_RELIABLE, WEIGHT_FLOOR, 1)``: 1 for ordinary normals, small
        for grazing or back-facing ones. Non-finite normals get gradient 0 and
        reliability ``WEIGHT_FLOOR``.
    """
    n = np.asarray(normals, dtype=np.float64)
    finite = np.isfinite(n).all(axis=-1)
    if not finite.all():
        n = np.where(finite[..., None], n, (0.0, 0.0, 1.0))
    nz = np.maximum(n[..., 2], NZ_MIN)
    dh_dj = -n[..., 0] / nz
    dh_di = n[..., 1] / nz
    reliability = np.clip(n[..., 2] / NZ_RELIABLE, WEIGHT_FLOOR, 1.0)
    reliability[~finite] = WEIGHT_FLOOR
    return dh_dj, dh_di, reliability


@dataclass(frozen=True)
class GridSystem:
    """The WLS normal equations ``A h = b`` in grid form, on the mask's bounding box.

    Row ``(i, j)`` of ``A h = b`` reads ::

        diag h[i,j] - right h[i,j+1] - right[i,j-1] h[i,j-1]
                    - down h[i+1,j] - down[i-1,j] h[i-1,j] = rhs[i,j]

    with ``diag = sum of the 4 edge weights + pin``.

    Attributes
    ----------
    box : (slice, slice)
        Bounding box of the mask in the input map.
    mask : (R, C) bool
        Unknowns (mask pixels inside the box).
    right : (R, C) float64
        Weight ``w(i, j+1/2)`` of the edge to the right neighbour, 0 if absent.
    down : (R, C) float64
        Weight ``w(i+1/2, j)`` of the edge to the neighbour below, 0 if absent.
    pin : (R, C) float64
        ``PIN_WEIGHT`` on the first pixel (row-major) of each component, else 0:
        a soft ``h = 0`` that makes ``A`` positive definite.
    rhs : (R, C) float64
        ``b = D^T Omega g`` (px), 0 outside the mask.
    labels : (R, C) int32
        Component of each pixel, ``1 .. n_components``; 0 outside the mask.
    n_components : int
        Number of 4-connected components.
    """

    box: tuple[slice, slice]
    mask: np.ndarray
    right: np.ndarray
    down: np.ndarray
    pin: np.ndarray
    rhs: np.ndarray
    labels: np.ndarray
    n_components: int

    def matvec(self, h: np.ndarray) -> np.ndarray:
        """``A h`` for a grid ``h`` (R, C); returns (R, C) float64."""
        return _stencil_apply(self.right, self.down, self.pin, h)

    def to_csr(self) -> sparse.csr_matrix:
        """``A`` as an (n, n) CSR matrix over the mask pixels in row-major order."""
        rows, cols = self.mask.shape
        n = int(np.count_nonzero(self.mask))
        index = np.full((rows + 2, cols + 2), -1, dtype=np.int64)
        index[1:-1, 1:-1][self.mask] = np.arange(n)
        left = np.zeros((rows, cols))
        left[:, 1:] = self.right[:, :-1]
        up = np.zeros((rows, cols))
        up[1:, :] = self.down[:-1, :]
        diag = self.right + left + self.down + up + self.pin
        m = self.mask
        # Columns of each row in increasing order: up < left < self < right < down.
        columns = np.stack(
            [
                index[:-2, 1:-1][m],
                index[1:-1, :-2][m],
                index[1:-1, 1:-1][m],
                index[1:-1, 2:][m],
                index[2:, 1:-1][m],
            ],
            axis=1,
        )
        values = np.stack([-up[m], -left[m], diag[m], -self.right[m], -self.down[m]], axis=1)
        keep = values != 0.0
        keep[:, 2] = True
        indptr = np.zeros(n + 1, dtype=np.int64)
        np.cumsum(keep.sum(axis=1), out=indptr[1:])
        A = sparse.csr_matrix((values[keep], columns[keep], indptr), shape=(n, n))
        A.has_sorted_indices = True
        return A


def _stencil_apply(right, down, pin, h):
    """Weighted graph Laplacian (+ pin) of a grid, applied to ``h`` (same shape)."""
    out = pin * h
    d = right[:, :-1] * (h[:, :-1] - h[:, 1:])
    out[:, :-1] += d
    out[:, 1:] -= d
    d = down[:-1, :] * (h[:-1, :] - h[1:, :])
    out[:-1, :] += d
    out[1:, :] -= d
    return out


def build_grid_system(normals, grad_mag, mask, lam: float = 0.1) -> GridSystem:
    """Assemble the WLS normal equations in grid form.

    Parameters
    ----------
    normals : (H, W, 3) float
        Unit normals, camera frame.
    grad_mag : (H, W) float or None
        Gradient magnitude ``W`` (px/px); None means ``W = 0`` (plain LS).
    mask : (H, W) bool
        Pixels to solve for; at least two.
    lam : float
        ``lambda`` of ``w = 1 / (1 + lambda * W)``; 0 gives plain least squares.

    Returns
    -------
    GridSystem
        Edge weights ``w = min(r_a, r_b) / (1 + lam * (W_a + W_b) / 2)`` and
        ``rhs[k] = sum over edges of w * g * (+1 at the edge's far end, -1 at its
        near end)``, ``g`` being the half-pixel averages of ``p`` and ``dh/di``.
    """
    normals, grad_mag, mask = _check_inputs(normals, grad_mag, mask)
    if not lam >= 0:
        raise ValueError(f"lam must be >= 0, got {lam}")
    box = _bounding_box(mask)
    mask = mask[box]
    dh_dj, dh_di, rel = gradients_from_normals(normals[box])
    rows, cols = mask.shape

    edge_r = mask[:, :-1] & mask[:, 1:]
    edge_d = mask[:-1, :] & mask[1:, :]
    w_r = np.minimum(rel[:, :-1], rel[:, 1:])
    w_d = np.minimum(rel[:-1, :], rel[1:, :])
    if grad_mag is not None and lam > 0:
        big_w = np.asarray(grad_mag, dtype=np.float64)[box]
        big_w = np.maximum(np.nan_to_num(big_w, nan=0.0, posinf=1e6), 0.0)
        w_r /= 1.0 + lam * 0.5 * (big_w[:, :-1] + big_w[:, 1:])
        w_d /= 1.0 + lam * 0.5 * (big_w[:-1, :] + big_w[1:, :])
    right = np.zeros((rows, cols))
    down = np.zeros((rows, cols))
    right[:, :-1] = np.where(edge_r, np.maximum(w_r, WEIGHT_FLOOR), 0.0)
    down[:-1, :] = np.where(edge_d, np.maximum(w_d, WEIGHT_FLOOR), 0.0)

    rhs = np.zeros((rows, cols))
    t = right[:, :-1] * (0.5 * (dh_dj[:, :-1] + dh_dj[:, 1:]))  # target of h[i,j+1] - h[i,j]
    rhs[:, 1:] += t
    rhs[:, :-1] -= t
    t = down[:-1, :] * (0.5 * (dh_di[:-1, :] + dh_di[1:, :]))  # target of h[i+1,j] - h[i,j]
    rhs[1:, :] += t
    rhs[:-1, :] -= t

    labels, n_comp = ndimage.label(mask)
    pin = np.zeros((rows, cols))
    # np.unique gives the first occurrence (row-major) of each label; label 0 is the background.
    found, first = np.unique(labels.ravel(), return_index=True)
    pin.ravel()[first[found > 0]] = PIN_WEIGHT
    return GridSystem(box, mask, right, down, pin, rhs, labels.astype(np.int32), n_comp)


class _Level:
    """One multigrid level: a 5-point stencil on an (R, C) grid, float32."""

    def __init__(self, right, down, pin):
        self.shape = right.shape
        self.right = right.astype(np.float32)
        self.down = down.astype(np.float32)
        self.pin = pin.astype(np.float32)
        left = np.zeros_like(self.right)
        left[:, 1:] = self.right[:, :-1]
        up = np.zeros_like(self.down)
        up[1:, :] = self.down[:-1, :]
        diag = self.right + left + self.down + up + self.pin
        self.active = diag > 0
        inv = np.zeros_like(diag)
        np.divide(1.0, diag, out=inv, where=self.active)
        # Red-black Gauss-Seidel works on the four sub-lattices (i % 2, j % 2);
        # red = (0, 0), (1, 1), black = (0, 1), (1, 0).
        self.parts = {
            (a, b): (
                np.ascontiguousarray(left[a::2, b::2]),
                np.ascontiguousarray(self.right[a::2, b::2]),
                np.ascontiguousarray(up[a::2, b::2]),
                np.ascontiguousarray(self.down[a::2, b::2]),
                np.ascontiguousarray(inv[a::2, b::2]),
            )
            for a in (0, 1)
            for b in (0, 1)
        }
        self.coarse_lu = None

    def coarsen(self) -> _Level:
        s = MG_COARSE_SCALE
        r, d, p = self.right, self.down, self.pin
        right = s * (r[0::2, 1::2] + r[1::2, 1::2])
        down = s * (d[1::2, 0::2] + d[1::2, 1::2])
        pin = s * (p[0::2, 0::2] + p[0::2, 1::2] + p[1::2, 0::2] + p[1::2, 1::2])
        return _Level(right, down, pin)

    def factorise(self):
        """Sparse LU of the level's matrix over its active cells (coarsest level).

        SuperLU rather than a dense Cholesky: multithreaded BLAS calls cost
        milliseconds of thread wake-up on a busy machine, more than this solve.
        """
        from scipy.sparse.linalg import splu

        idx = np.flatnonzero(self.active)
        n = idx.size
        pos = np.full(self.active.size, -1)
        pos[idx] = np.arange(n)
        cols = self.shape[1]
        i_parts, j_parts, v_parts = [np.arange(n)], [np.arange(n)], [self.pin.ravel()[idx]]
        for weights, step in ((self.right.ravel(), 1), (self.down.ravel(), cols)):
            a = np.flatnonzero(weights)
            ia, ib, w = pos[a], pos[a + step], weights[a].astype(np.float64)
            i_parts += [ia, ib, ia, ib]
            j_parts += [ia, ib, ib, ia]
            v_parts += [w, w, -w, -w]
        A = sparse.csc_matrix(
            (np.concatenate(v_parts), (np.concatenate(i_parts), np.concatenate(j_parts))), shape=(n, n)
        )
        self.coarse_lu = (idx, splu(A))

    def sweep(self, x, b, order):
        """One Gauss-Seidel sweep over the sub-lattices in ``order``, in place.

        ``x`` is zero-padded, (R + 2, C + 2); ``b`` is (R, C).
        """
        rows, cols = self.shape
        for a, c in order:
            wl, wr, wu, wd, inv = self.parts[(a, c)]
            t = wl * x[1 + a : rows + 1 : 2, c : cols : 2]
            t += wr * x[1 + a : rows + 1 : 2, 2 + c : cols + 2 : 2]
            t += wu * x[a:rows:2, 1 + c : cols + 1 : 2]
            t += wd * x[2 + a : rows + 2 : 2, 1 + c : cols + 1 : 2]
            t += b[a::2, c::2]
            t *= inv
            x[1 + a : rows + 1 : 2, 1 + c : cols + 1 : 2] = t


_FORWARD = ((0, 0), (1, 1), (0, 1), (1, 0))
_BACKWARD = ((0, 1), (1, 0), (0, 0), (1, 1))


class GridMultigrid:
    """Aggregation multigrid V-cycle for a :class:`GridSystem`, used as CG preconditioner.

    Levels halve the grid by 2x2 aggregation (piecewise-constant prolongation
    ``P``, restriction ``P^T``), with coarse stencils
    ``MG_COARSE_SCALE * P^T A P`` (still 5-point). Smoothing is one symmetric
    red-black Gauss-Seidel sweep before and after the coarse correction, so the
    V-cycle is a symmetric positive-definite preconditioner. The coarsest level
    (at most ``MG_COARSEST_CELLS`` cells) is solved by sparse LU. Works in
    float32.
    """

    def __init__(self, system: GridSystem):
        rows, cols = system.mask.shape
        n_coarse = 0
        while (rows * cols) / 4**n_coarse > MG_COARSEST_CELLS:
            n_coarse += 1
        step = 2**n_coarse
        self.shape = (-(-rows // step) * step, -(-cols // step) * step)

        def padded(a):
            out = np.zeros(self.shape)
            out[:rows, :cols] = a
            return out

        level = _Level(padded(system.right), padded(system.down), padded(system.pin))
        self.levels = [level]
        for _ in range(n_coarse):
            level = level.coarsen()
            self.levels.append(level)
        level.factorise()

    def cycle(self, b: np.ndarray, k: int = 0) -> np.ndarray:
        """Approximate ``A^-1 b`` by one V-cycle from level ``k``; ``b`` (R_k, C_k) float32."""
        level = self.levels[k]
        if level.coarse_lu is not None:
            idx, lu = level.coarse_lu
            x = np.zeros(level.shape, dtype=np.float32)
            x.ravel()[idx] = lu.solve(b.ravel()[idx].astype(np.float64))
            return x
        rows, cols = level.shape
        x = np.zeros((rows + 2, cols + 2), dtype=np.float32)
        for _ in range(MG_SWEEPS):
            level.sweep(x, b, _FORWARD)
        inner = x[1:-1, 1:-1]
        r = b - _stencil_apply(level.right, level.down, level.pin, inner)
        rc = r[0::2, 0::2] + r[1::2, 0::2]  # restriction P^T: sum over each 2x2 block
        rc += r[0::2, 1::2]
        rc += r[1::2, 1::2]
        ec = self.cycle(rc, k + 1)
        for a, c in _FORWARD:  # prolongation P: copy to the 4 cells of the block
            inner[a::2, c::2] += ec
        # The post-sweep rewrites every cell, which also resets inactive ones to 0.
        for _ in range(MG_SWEEPS):
            level.sweep(x, b, _BACKWARD)
        return inner.copy()

    def precondition(self, r: np.ndarray) -> np.ndarray:
        """``M^-1 r`` for a residual grid ``r`` (R, C) float64; returns float64."""
        rows, cols = r.shape
        b = np.zeros(self.shape, dtype=np.float32)
        b[:rows, :cols] = r
        return self.cycle(b)[:rows, :cols].astype(np.float64)


def _dot(a: np.ndarray, b: np.ndarray) -> float:
    """Inner product without BLAS (its thread wake-ups dominate on a busy CPU)."""
    return float(np.multiply(a, b).sum())


def _pcg(system: GridSystem, precondition, rtol: float, maxiter: int, x0=None):
    """Preconditioned conjugate gradients on grids; returns (x, iterations, rel. residual)."""
    b = system.rhs
    b_norm = _dot(b, b) ** 0.5
    x = np.zeros_like(b) if x0 is None else np.where(system.mask, x0, 0.0)
    r = b - system.matvec(x)
    if b_norm == 0.0:
        return x, 0, 0.0
    z = precondition(r)
    p = z.copy()
    rz = _dot(r, z)
    it = 0
    res = _dot(r, r) ** 0.5 / b_norm
    while res > rtol and it < maxiter:
        ap = system.matvec(p)
        alpha = rz / _dot(p, ap)
        x += alpha * p
        r -= alpha * ap
        it += 1
        res = _dot(r, r) ** 0.5 / b_norm
        if res <= rtol:
            break
        z = precondition(r)
        rz_new = _dot(r, z)
        p *= rz_new / rz
        p += z
        rz = rz_new
    return x, it, res


def _component_medians(values: np.ndarray, labels: np.ndarray, n_components: int) -> np.ndarray:
    """Median of ``values`` per label ``1 .. n`` (mean of the two middle ones if even).

    ``labels`` (same shape as ``values``) are all in ``1 .. n`` and each label
    occurs at least once. Returns (n + 1,) float64 with entry 0 set to 0.
    """
    order = np.lexsort((values, labels))
    counts = np.bincount(labels, minlength=n_components + 1)[1:]
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    sorted_values = values[order]
    med = np.zeros(n_components + 1)
    med[1:] = 0.5 * (sorted_values[starts + (counts - 1) // 2] + sorted_values[starts + counts // 2])
    return med


def _subsystem(system: GridSystem, keep: np.ndarray) -> GridSystem:
    """The system restricted to the pixels ``keep`` (whole components only)."""
    # Edges join pixels of one component, so masking the edge's first pixel suffices.
    return GridSystem(
        system.box,
        system.mask & keep,
        system.right * keep,
        system.down * keep,
        system.pin * keep,
        system.rhs * keep,
        np.where(keep, system.labels, 0).astype(np.int32),
        system.n_components,
    )


def _solve_direct(system: GridSystem) -> np.ndarray:
    """SuperLU solve of the system; returns the (R, C) grid, 0 outside the mask."""
    from scipy.sparse.linalg import spsolve

    h = np.zeros(system.mask.shape)
    h[system.mask] = spsolve(system.to_csr().tocsc(), system.rhs[system.mask])
    return h


def solve_grid_system(
    system: GridSystem, *, rtol: float = 1e-6, solver: str = "auto", info: dict | None = None
) -> np.ndarray:
    """Solve ``A h = b`` and give each component a zero median.

    Parameters
    ----------
    system : GridSystem
        From :func:`build_grid_system`.
    rtol : float
        CG stops at ``|b - A h| <= rtol |b|`` (multigrid solver).
    solver : {"auto", "multigrid", "direct"}
        ``"multigrid"`` (= ``"auto"``): CG preconditioned by :class:`GridMultigrid`
        on the components of at least ``MG_MIN_COMPONENT`` pixels, SuperLU on the
        smaller ones; ``"direct"``: SciPy's SuperLU on the whole CSR matrix.
    info : dict or None
        If given, receives ``iterations`` (CG), ``residual`` (relative, whole
        system) and ``direct_fallback`` (multigrid did not converge).

    Returns
    -------
    h : (R, C) float64
        Depth on the box (px), zero median per component, 0 outside the mask.
    """
    if solver == "direct":
        h, it, fallback = _solve_direct(system), 0, False
    elif solver in ("auto", "multigrid"):
        sizes = np.bincount(system.labels.ravel(), minlength=system.n_components + 1)
        large = (sizes >= MG_MIN_COMPONENT)[system.labels] & system.mask
        h = np.zeros(system.mask.shape)
        it, fallback = 0, False
        if large.any():
            sub = _subsystem(system, large)
            mg = GridMultigrid(sub)
            h, it, res = _pcg(sub, mg.precondition, rtol, MG_MAX_ITER)
            if res > rtol:
                h, fallback = _solve_direct(sub), True
        small = system.mask & ~large
        if small.any():
            h += _solve_direct(_subsystem(system, small))
    else:
        raise ValueError(f"solver must be 'auto', 'multigrid' or 'direct', got {solver!r}")
    b_norm = _dot(system.rhs, system.rhs) ** 0.5
    r = system.rhs - system.matvec(h)
    res = _dot(r, r) ** 0.5 / b_norm if b_norm > 0 else 0.0
    if info is not None:
        info.update(iterations=it, residual=float(res), direct_fallback=fallback)
    labels = system.labels
    m = system.mask
    med = _component_medians(h[m], labels[m], system.n_components)
    h[m] -= med[labels[m]]
    return h


def integrate_normals(
    normals: np.ndarray,
    grad_mag: np.ndarray | None,
    mask: np.ndarray,
    lam: float = 0.1,
    *,
    rtol: float = 1e-6,
    solver: str = "auto",
) -> np.ndarray:
    """Depth map from normals by the weighted least squares of the normals paper.

    Minimises, over the depths ``h`` of the mask pixels, ::

        sum w(i, j+1/2) (h[i, j+1] - h[i, j] - p(i, j+1/2))^2
      + sum w(i+1/2, j) (h[i+1, j] - h[i, j] - Ny/Nz(i+1/2, j))^2

    over 4-neighbour pairs inside the mask, with ``p = -Nx/Nz``, half-pixel
    values the mean of the two pixels, and ``w = r / (1 + lam * W)`` with ``W``
    averaged at the half-pixel point and ``r`` the reliability of grazing
    normals (:data:`NZ_RELIABLE`, :data:`NZ_MIN`). Each 4-connected component
    of the mask is an independent block of the system; its free offset is set
    so that the depth has zero median over the component (one-pixel
    components get depth 0).

    Parameters
    ----------
    normals : (H, W, 3) float
        Unit normals in the camera frame (x right, y up, z toward the viewer).
    grad_mag : (H, W) float or None
        Depth-gradient magnitude ``W`` (px/px, >= 0); None gives plain least squares.
    mask : (H, W) bool
        Face pixels; at least two.
    lam : float
        ``lambda`` (per px/px of ``W``); 0.1 was best in the paper, 0 is plain LS.
    rtol : float
        Relative residual ``|b - A h| / |b|`` at which the iterative solve stops.
    solver : {"auto", "multigrid", "direct"}
        See :func:`solve_grid_system`.

    Returns
    -------
    depth : (H, W) float32
        Depth in pixel units, growing toward the viewer; NaN outside the mask.

    Raises
    ------
    FaceFromPhotoError
        If the mask has fewer than two pixels.
    ValueError
        If the shapes do not match or ``lam < 0``.
    """
    system = build_grid_system(normals, grad_mag, mask, lam)
    h = solve_grid_system(system, rtol=rtol, solver=solver)
    depth = np.full(np.shape(mask), np.nan, dtype=np.float32)
    sub = depth[system.box]
    sub[system.mask] = h[system.mask]
    return depth


def _bounding_box(mask: np.ndarray) -> tuple[slice, slice]:
    rows = np.flatnonzero(mask.any(axis=1))
    cols = np.flatnonzero(mask.any(axis=0))
    return slice(rows[0], rows[-1] + 1), slice(cols[0], cols[-1] + 1)


def _rectangle_gradients(normals, mask):
    """Gradients on the mask's bounding rectangle, 0 outside the mask."""
    normals, _, mask = _check_inputs(normals, None, mask)
    box = _bounding_box(mask)
    m = mask[box]
    dh_dj, dh_di, _ = gradients_from_normals(normals[box])
    return box, m, np.where(m, dh_dj, 0.0), np.where(m, dh_di, 0.0)


def _finish(box, m, h, shape) -> np.ndarray:
    depth = np.full(shape, np.nan, dtype=np.float32)
    h = h - np.median(h[m])
    sub = depth[box]
    sub[m] = h[m]
    return depth


def dct_poisson(normals: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Baseline: unweighted least squares on the mask's bounding rectangle, by DCT.

    The gradients are set to 0 outside the mask, then the plain LS problem of
    :func:`integrate_normals` (``lam = 0``, staggered averages) is solved on the
    whole rectangle. Its normal equations are the Neumann grid Laplacian
    ``L h = div g``, diagonalised by the 2-D DCT-II with eigenvalues
    ``(2 - 2 cos(pi k / R)) + (2 - 2 cos(pi l / C))``; it is exact for a
    rectangular mask.

    Parameters
    ----------
    normals : (H, W, 3) float
        Unit normals, camera frame.
    mask : (H, W) bool
        Face pixels (the rectangle is their bounding box).

    Returns
    -------
    depth : (H, W) float32
        Depth (px), zero median over the mask, NaN outside it.
    """
    box, m, dh_dj, dh_di = _rectangle_gradients(normals, mask)
    rows, cols = m.shape
    gx = 0.5 * (dh_dj[:, :-1] + dh_dj[:, 1:])
    gy = 0.5 * (dh_di[:-1, :] + dh_di[1:, :])
    rhs = np.zeros((rows, cols))
    rhs[:, 1:] += gx
    rhs[:, :-1] -= gx
    rhs[1:, :] += gy
    rhs[:-1, :] -= gy
    eig = (2.0 - 2.0 * np.cos(np.pi * np.arange(rows) / rows))[:, None] + (
        2.0 - 2.0 * np.cos(np.pi * np.arange(cols) / cols)
    )[None, :]
    eig[0, 0] = 1.0
    spectrum = sfft.dctn(rhs, type=2, norm="ortho")
    spectrum /= eig
    spectrum[0, 0] = 0.0
    h = sfft.idctn(spectrum, type=2, norm="ortho")
    return _finish(box, m, h, mask.shape)


def frankot_chellappa(normals: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Baseline: Frankot–Chellappa projection onto integrable surfaces by FFT.

    On the mask's bounding rectangle (gradients 0 outside the mask, periodic
    boundary as the FFT implies) ::

        H(wi, wj) = (-1j wj P - 1j wi Q) / (wi^2 + wj^2)

    where ``P``, ``Q`` are the Fourier transforms of ``dh/dj`` and ``dh/di``.

    Parameters
    ----------
    normals : (H, W, 3) float
        Unit normals, camera frame.
    mask : (H, W) bool
        Face pixels.

    Returns
    -------
    depth : (H, W) float32
        Depth (px), zero median over the mask, NaN outside it.
    """
    box, m, dh_dj, dh_di = _rectangle_gradients(normals, mask)
    rows, cols = m.shape
    wi = 2.0 * np.pi * np.fft.fftfreq(rows)[:, None]
    wj = 2.0 * np.pi * np.fft.rfftfreq(cols)[None, :]
    P = np.fft.rfft2(dh_dj)
    Q = np.fft.rfft2(dh_di)
    denom = wi**2 + wj**2
    denom[0, 0] = 1.0
    spectrum = (-1j * wj * P - 1j * wi * Q) / denom
    spectrum[0, 0] = 0.0
    h = np.fft.irfft2(spectrum, s=(rows, cols))
    return _finish(box, m, h, mask.shape)
