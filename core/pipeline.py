# SPDX-License-Identifier: GPL-3.0-or-later
"""The reconstruction pipeline: photo -> face crop -> maps -> depth -> mesh arrays.

Stages, in order, each timed and reported through ``progress(fraction, message)``;
``should_stop()`` is asked before every stage and a ``True`` raises
:class:`Cancelled`::

    load       photo file or array -> upright RGB (core.image_io)
    detect     face box and five landmarks (core.face_detect), or the caller's crop box
    crop       square head crop, turned upright by the face's roll (core.crop.face_roll),
               at the network resolution S, and the same
               square again at up to TEXTURE_MAX_SIDE px for texture and detail
    predict    maps N, W, mask, depth, C (core.predict; model cached per weights+device)
    integrate  depth from normals by weighted least squares (core.integration),
               or the network's depth head (``geometry="depth"``)
    mesh       grid mesh arrays in metres (core.mesh), plus the reference
               smoothed vertices (core.smoothing)
    detail     high-pass detail map of the texture crop (core.detail)
    fit        only with ``output="head"``: the template head (core.template_model)
               fitted to the correspondence map, mask and relief depth
               (core.template_fit); its 68 landmarks projected into the photo
    texture    only with ``output="head"`` and ``head_texture_size > 0``: the photo
               baked onto the head's skin UV tiles (core.texture_bake)

Several photos of one person: :func:`reconstruct_person` runs the stages above up to the fit
for every photo, leaves out the photos that fail or show someone else (a warning sentence
each), fits one identity to all the others at once (core.multiview_fit) and fuses their
textures (core.texture_fuse).

Scale: Blender works in metres; the mesh is scaled so the head is
``HEAD_HEIGHT_M`` (0.22 m) tall, taking the head's height in map pixels as the
vertical extent of the predicted mask (rows holding at least two mask pixels).
When the mask is implausibly short (under a quarter of the crop) the crop
framing is used instead: the crop side is 1.3 x the head's extent
(docs/conventions.md), so ``pixel_size_m = 1.3 * HEAD_HEIGHT_M / S``.

Errors: everything the artist can act on raises
:class:`~core.errors.FaceFromPhotoError` with one sentence; cancelling raises
:class:`Cancelled`, a subclass, so catch ``Cancelled`` first when a cancel must
be told apart from a failure.

Heavy modules (cv2, torch, scipy) are imported inside the functions that use
them; importing this module is cheap.
"""

from __future__ import annotations

import math
import numbers
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .errors import FaceFromPhotoError

HEAD_HEIGHT_M = 0.22  # m, crown to chin of the reconstructed head
CROP_HEAD_RATIO = 1.3  # crop side / head extent (docs/conventions.md)
TEXTURE_MAX_SIDE = 1024  # px, largest side of the texture/detail crop
MIN_MASK_FRACTION = 0.01  # the predicted head must cover at least this fraction of the crop
DEFAULT_WEIGHTS = Path(__file__).resolve().parent / "weights" / "face_net.pt"

ProgressFn = Callable[[float, str], None]
StopFn = Callable[[], bool]

# Stage name -> (progress fraction at its start, message shown while it runs).
STAGES: dict[str, tuple[float, str]] = {
    "load": (0.00, "Loading photo"),
    "detect": (0.10, "Finding the face"),
    "crop": (0.20, "Cropping the head"),
    "predict": (0.25, "Predicting normals and depth"),
    "integrate": (0.60, "Integrating normals into depth"),
    "mesh": (0.80, "Building the mesh"),
    "detail": (0.90, "Extracting surface detail"),
}
# Stages that run only for some options.
OPTIONAL_STAGES: dict[str, tuple[float, str]] = {
    "fit": (0.95, "Fitting the template head"),
    "texture": (0.97, "Baking the head texture"),
}
HEAD_TEXTURE_SIZES = (0, 1024, 2048, 4096)
OUTPUTS = ("relief", "head")


class Cancelled(FaceFromPhotoError):
    """The caller asked to stop (``should_stop()`` returned True) between stages."""

    def __init__(self, message: str = "The reconstruction was cancelled.") -> None:
        super().__init__(message)


# --------------------------------------------------------------------------- options


def _whole(value: object) -> bool:
    """True for int-like values (Python or numpy integers), False for bools and floats."""
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


@dataclass(frozen=True)
class ReconstructOptions:
    """Everything the artist can set, copied before work starts (immutable).

    Attributes
    ----------
    resolution : int
        Side S in px of the head crop the maps and the mesh have: 128 (default,
        fast) or 256 (4x the vertices). The shipped networks always see the face
        at their 128 px training scale (the manifest's ``network_side``); at 256
        their maps are upsampled.
    lam : float
        ``lambda`` of the weighted least squares, per px/px of W; 0.1 was
        best in the paper, 0 is plain least squares.
    geometry : str
        ``"normals"`` (integrate N and W, default) or ``"depth"`` (the
        network's direct depth head).
    smoothing_factor : float
        One-ring Laplacian step (Blender SMOOTH modifier factor), 0..1.
    smoothing_iterations : int
        Smoothing repeats, 0..100 (0: no smoothing).
    detail_strength : float
        Displacement along the normal, in m, where the detail map is +-1.
    detail_sigma : float
        Size on the face, in m, below which photo structure counts as detail
        (the detail map's low-pass radius).
    target_faces : int or None
        Approximate triangle count of the mesh; None keeps one vertex per
        map pixel inside the mask.
    device : str
        ``"auto"``, ``"cpu"``, ``"cuda"`` or ``"mps"``.
    face_index : int
        Which face when there are several: 0 is the largest.
    crop_box : tuple of 4 floats or None
        ``(x, y, w, h)`` in px of the upright full-resolution photo (x right,
        y down from the top-left corner): the head with a little margin. When
        given, face detection is skipped and this square (side ``max(w, h)``,
        same centre) is fed to the network.
    weights : str or None
        Path of the network weights; None uses the shipped ``core/weights/face_net.pt``.
    output : str
        ``"relief"`` (the library's default: the grid mesh of the visible face) or
        ``"head"``: the relief as well, plus the template head fitted to the photo
        (``Reconstruction.head``, ``Reconstruction.landmarks68_px``). The extension's
        default (its preferences, hence the panel, API and batch command) is ``"head"``.
    head_depth_weight : float
        Weight of the relief depth in the head fit (core.template_fit), 0..10; 0 fits
        the correspondences alone. 1 measured best of 0 / 0.3 / 1 on 30 real dev photos
        (2-D NME 7.90 % against 8.06 % without depth, mean of the |yaw| band means).
    head_texture_size : int
        Side in px of each baked UV tile of the head (1024, 2048 or 4096), 0 to skip
        the bake (faster, e.g. for landmark benchmarks).
    """

    resolution: int = 128
    lam: float = 0.1
    geometry: str = "normals"
    smoothing_factor: float = 0.5
    smoothing_iterations: int = 3
    detail_strength: float = 0.001
    detail_sigma: float = 0.004
    target_faces: int | None = None
    device: str = "auto"
    face_index: int = 0
    crop_box: tuple[float, float, float, float] | None = None
    weights: str | None = None
    output: str = "relief"
    head_depth_weight: float = 1.0
    head_texture_size: int = 2048

    def __post_init__(self) -> None:
        def bad(sentence: str) -> FaceFromPhotoError:
            return FaceFromPhotoError(sentence)

        def number(name: str, lo: float, hi: float) -> None:
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, numbers.Real) or not lo <= value <= hi:
                raise bad(
                    f"The option {name} = {value!r} is out of range; use a number from {lo:g} to {hi:g}."
                )

        if self.resolution not in (128, 256) or isinstance(self.resolution, bool):
            raise bad(f"The network resolution {self.resolution!r} is not supported; use 128 or 256.")
        number("lam", 0.0, 10.0)
        if self.output not in OUTPUTS:
            raise bad(f"The output {self.output!r} is unknown; use 'relief' or 'head'.")
        number("head_depth_weight", 0.0, 10.0)
        if not _whole(self.head_texture_size) or self.head_texture_size not in HEAD_TEXTURE_SIZES:
            raise bad(
                f"The head texture size {self.head_texture_size!r} is not supported; "
                "use 1024, 2048 or 4096, or 0 for no texture."
            )
        if self.geometry not in ("normals", "depth"):
            raise bad(f"The geometry source {self.geometry!r} is unknown; use 'normals' or 'depth'.")
        number("smoothing_factor", 0.0, 1.0)
        if not _whole(self.smoothing_iterations) or not 0 <= self.smoothing_iterations <= 100:
            raise bad(
                f"The option smoothing_iterations = {self.smoothing_iterations!r} is out of range; "
                "use a whole number from 0 to 100."
            )
        number("detail_strength", 0.0, 0.05)
        number("detail_sigma", 1e-4, 0.05)
        if self.target_faces is not None and (
            not _whole(self.target_faces) or not 100 <= self.target_faces <= 2_000_000
        ):
            raise bad(
                f"The mesh density target_faces = {self.target_faces!r} is out of range; "
                "use a whole number from 100 to 2000000, or leave it unset."
            )
        if self.device not in ("auto", "cpu", "cuda", "mps"):
            raise bad(f"The device {self.device!r} is unknown; use 'auto', 'cpu', 'cuda' or 'mps'.")
        if not _whole(self.face_index) or self.face_index < 0:
            raise bad(
                f"The face index {self.face_index!r} is invalid; use 0 for the largest face, 1 for the next."
            )
        if self.crop_box is not None:
            box = tuple(self.crop_box)
            ok = len(box) == 4 and all(
                isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in box
            )
            if not ok or box[2] <= 0 or box[3] <= 0:
                raise bad(
                    f"The crop box {self.crop_box!r} is invalid; give (x, y, width, height) in pixels "
                    "with a positive width and height."
                )
            object.__setattr__(self, "crop_box", tuple(float(v) for v in box))
        if self.weights is not None:
            object.__setattr__(self, "weights", os.fspath(self.weights))
        for name in ("resolution", "smoothing_iterations", "face_index", "head_texture_size"):
            object.__setattr__(self, name, int(getattr(self, name)))
        for name in ("lam", "smoothing_factor", "detail_strength", "detail_sigma", "head_depth_weight"):
            object.__setattr__(self, name, float(getattr(self, name)))
        if self.target_faces is not None:
            object.__setattr__(self, "target_faces", int(self.target_faces))

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict of the options (for reports and Blender custom properties)."""
        return {
            name: (list(value) if isinstance(value, tuple) else value)
            for name, value in self.__dict__.items()
        }


# --------------------------------------------------------------------------- result


@dataclass
class HeadResult:
    """The template head fitted to the photo (``output="head"``).

    Attributes
    ----------
    vertices : (N, 3) float32
        The fitted head (identity and expression applied) in the template's frame:
        Blender object space, metres, real size, the face toward -Y, unposed.
    identity : (K,) float64
        Identity coefficients, standard deviations.
    expression : (E,) float64
        ARKit-named expression weights in [0, 1], order ``expression_names``.
    expression_names : tuple of str
    rotation : (3, 3) float64
        The head's rotation seen in the photo, in Blender's frame (apply to
        ``vertices`` to pose them as in the photo).
    fit : core.template_fit.TemplateFit
        The camera (crop px per metre, translation) and energy terms.
    correspondences : int
        Pixel <-> vertex pairs the fit used.
    texture : core.texture_bake.TextureBake or None
        The photo baked onto the skin UV tiles; None when ``head_texture_size`` is 0.
    detail_map : (2, T, T) float32 or None
        The relief's fine detail as a displacement along the surface normal, m (positive
        outward), per texel of the same two skin UV tiles as ``texture.tiles`` (tile 0 the
        face, ``u`` in [0, 1]; tile 1 the back of the head, ``u`` in [1, 2]; row 0 at
        ``v = 1``), 0 where the photo does not see the skin and fading to 0 at that border
        (core.detail_bake); drive a Displace modifier through the UVs with it (midlevel 0,
        strength 1 in metres). None when ``head_texture_size`` is 0.
    """

    vertices: np.ndarray
    identity: np.ndarray
    expression: np.ndarray
    expression_names: tuple[str, ...]
    rotation: np.ndarray
    fit: Any
    correspondences: int
    texture: Any = None
    detail_map: np.ndarray | None = None


@dataclass
class Reconstruction:
    """Everything the Blender side and the batch need from one photo.

    Attributes
    ----------
    mesh : core.mesh.MeshArrays
        Base mesh (before smoothing): ``vertices (n, 3) float32`` in m
        (Blender frame: X right, Y away from the viewer, Z up),
        ``triangles (m, 3) int32``, ``uvs (n, 2) float32`` into the crop (and
        equally into ``texture``), ``pixel_index (n,) int32`` into the S x S map.
    smoothed_vertices : (n, 3) float32 or None
        Reference result of the smoothing options (core.smoothing), m; None
        when ``smoothing_iterations`` is 0.
    maps : core.predict.Maps
        Network outputs at S x S px.
    depth : (S, S) float32
        The depth used for the mesh, px, zero median over the mask, NaN outside.
    pixel_size_m : float
        Metres per map pixel.
    crop : (S, S, 3) uint8
        The network's input.
    texture : (T, T, 3) uint8
        The same square at up to ``TEXTURE_MAX_SIDE`` px (T >= S).
    detail : (T, T) float32
        High-pass detail map of ``texture`` in [-1, 1].
    crop_transform, texture_transform : core.crop.CropTransform
        Crop px -> working-photo px.
    face : core.face_detect.FaceBox or None
        The detected face (box, score, ``landmarks5``) in working-photo px; None when a crop box
        was given.
    photo_size : tuple[int, int]
        ``(width, height)`` of the working photo, px.
    original_size : tuple[int, int]
        ``(width, height)`` of the upright full-resolution photo, px.
    timings : dict[str, float]
        Seconds per stage, plus ``"total"``.
    model_sha256 : str
        SHA-256 of the weights file used.
    options : ReconstructOptions
    source : str or None
        The photo's path, None for arrays.
    head : HeadResult or None
        The fitted template head; None unless ``options.output == "head"``.
    landmarks68_px : (68, 3) float64 or None
        The fitted head's 68 Multi-PIE landmark vertices projected into the working photo
        (``photo_size``; the upright photo itself unless it was downscaled), in core.crop's
        continuous coordinates: x right, y down, pixel ``(i, j)`` centred at
        ``(j + 0.5, i + 0.5)``; z toward the viewer in the same px scale, arbitrary offset
        (the layout training/evaluate_real.py scores). None unless ``options.output == "head"``.
    """

    mesh: Any
    smoothed_vertices: np.ndarray | None
    maps: Any
    depth: np.ndarray
    pixel_size_m: float
    crop: np.ndarray
    texture: np.ndarray
    detail: np.ndarray
    crop_transform: Any
    texture_transform: Any
    face: Any
    photo_size: tuple[int, int]
    original_size: tuple[int, int]
    timings: dict[str, float] = field(default_factory=dict)
    model_sha256: str = ""
    options: ReconstructOptions = field(default_factory=ReconstructOptions)
    source: str | None = None
    head: HeadResult | None = None
    landmarks68_px: np.ndarray | None = None

    def photo_uvs(self) -> np.ndarray:
        """UVs of the mesh vertices into the whole upright photo.

        Returns
        -------
        (n, 2) float32
            ``u = x / W``, ``v = 1 - y / H`` (normalised, so they fit the
            photo at any resolution; values outside [0, 1] fall in the padded
            border of a face cut by the photo's edge).
        """
        s = self.crop_transform.size
        i, j = np.divmod(np.asarray(self.mesh.pixel_index, dtype=np.int64), s)
        return self.crop_transform.photo_uv(np.stack([i, j], axis=-1))


# --------------------------------------------------------------------------- model cache

_MODEL_CACHE: dict[tuple, tuple[Any, str]] = {}
_MODEL_LOCK = threading.Lock()


def get_model(weights: str | None = None, device: str = "auto") -> tuple[Any, str]:
    """The network for ``weights`` on ``device``, loaded once and cached.

    Parameters
    ----------
    weights : str or None
        Weights path; None for the shipped weights.
    device : str
        ``"auto"``, ``"cpu"``, ``"cuda"`` or ``"mps"``.

    Returns
    -------
    model : FaceNet
        In eval mode (see core.predict.load_model).
    sha256 : str
        Hex digest of the weights file.

    Notes
    -----
    The cache key is the resolved path, its size and modification time, and
    the device, so replacing the weights file loads it afresh.
    """
    from . import predict

    path = Path(weights) if weights is not None else DEFAULT_WEIGHTS
    try:
        stat = path.stat()
        key: tuple = (str(path.resolve()), stat.st_size, stat.st_mtime_ns, device)
    except OSError:
        key = (str(path), None, None, device)  # load_model reports the missing file
    with _MODEL_LOCK:
        if key not in _MODEL_CACHE:
            _check_device(device)
            model = predict.load_model(None if weights is None else str(path), device=device)
            manifest = getattr(model, "manifest", None)
            sha = manifest.get("sha256") if isinstance(manifest, dict) else None
            sha = sha or predict.sha256_file(path)
            _MODEL_CACHE.clear()  # one model at a time: switching weights or device frees the old one
            _MODEL_CACHE[key] = (model, sha)
        return _MODEL_CACHE[key]


def _check_device(device: str) -> None:
    """Refuse a device this computer does not have, with a sentence instead of a torch error."""
    import torch

    if device == "cuda" and not torch.cuda.is_available():
        missing = "NVIDIA GPU usable by PyTorch (CUDA)"
    elif device == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
        missing = "Apple GPU usable by PyTorch (MPS)"
    else:
        return
    raise FaceFromPhotoError(
        f"The device '{device}' was chosen but this computer has no {missing}; choose 'auto' or 'cpu'."
    )


def clear_model_cache() -> None:
    """Forget the cached network (frees its memory)."""
    with _MODEL_LOCK:
        _MODEL_CACHE.clear()


def _predict(crop: np.ndarray, model: Any) -> Any:
    from .predict import predict_maps

    return predict_maps(crop, model)


# --------------------------------------------------------------------------- stages


class _Stages:
    """Runs the stage bookkeeping: cancel checks, progress and timings."""

    def __init__(self, progress: ProgressFn | None, should_stop: StopFn | None) -> None:
        self.progress = progress
        self.should_stop = should_stop
        self.timings: dict[str, float] = {}
        self._name: str | None = None
        self._t0 = 0.0

    def start(self, name: str) -> None:
        self.finish()
        if self.should_stop is not None and self.should_stop():
            raise Cancelled()
        fraction, message = STAGES[name] if name in STAGES else OPTIONAL_STAGES[name]
        if self.progress is not None:
            self.progress(fraction, message)
        self._name, self._t0 = name, time.perf_counter()

    def finish(self) -> None:
        if self._name is not None:
            self.timings[self._name] = time.perf_counter() - self._t0
            self._name = None


def _load(photo: Any) -> tuple[Any, str | None]:
    from . import image_io

    if isinstance(photo, np.ndarray):
        return image_io.as_photo(photo), None
    if isinstance(photo, (bytes, bytearray, memoryview)):
        return image_io.decode_photo(bytes(photo)), None
    if isinstance(photo, (str, os.PathLike)):
        return image_io.load_photo_info(photo), os.fspath(photo)
    raise FaceFromPhotoError(
        f"The photo must be a file path or an image array, not {type(photo).__name__}; pass a path."
    )


def _box_text(box: tuple[float, ...]) -> str:
    return "(" + ", ".join(f"{v:.0f}" for v in box) + ")"


def _head_square(loaded: Any, options: ReconstructOptions) -> tuple[tuple[float, float], float, float, Any]:
    """Crop square (centre px, side px, roll rad, face box or None) in working-photo pixels."""
    from .crop import crop_box_from_face, face_roll
    from .face_detect import select_face

    image = loaded.image
    h, w = image.shape[:2]
    if options.crop_box is not None:
        x, y, bw, bh = (v * loaded.scale for v in options.crop_box)
        if x >= w or y >= h or x + bw <= 0 or y + bh <= 0:
            ow, oh = loaded.original_size
            raise FaceFromPhotoError(
                f"The crop box {_box_text(options.crop_box)} lies outside the photo ({ow} x {oh} pixels); "
                "give a box around the head in the photo's pixel coordinates."
            )
        side = max(bw, bh)
        if side < 8:
            raise FaceFromPhotoError(
                f"The crop box {_box_text(options.crop_box)} is too small to hold a head; "
                "draw it around the whole head."
            )
        return (x + bw / 2.0, y + bh / 2.0), side, 0.0, None
    face = select_face(image, options.face_index)
    center, side = crop_box_from_face(face)
    return center, side, face_roll(face), face


def _pixel_size(mask: np.ndarray) -> float:
    """Metres per map pixel so that the head is ``HEAD_HEIGHT_M`` tall (see the module notes)."""
    s = mask.shape[0]
    rows = np.flatnonzero(mask.sum(axis=1) >= 2)
    extent = float(rows[-1] - rows[0] + 1) if rows.size else 0.0
    if extent < 0.25 * s:
        extent = s / CROP_HEAD_RATIO
    return HEAD_HEIGHT_M / extent


def _depth(maps: Any, options: ReconstructOptions) -> np.ndarray:
    mask = np.asarray(maps.mask, dtype=bool)
    if options.geometry == "normals":
        from .integration import integrate_normals

        return integrate_normals(maps.normals, maps.grad_mag, mask, lam=options.lam)
    depth = np.asarray(maps.depth, dtype=np.float32).copy()
    depth[~mask] = np.nan
    depth[mask] -= np.median(depth[mask])
    return depth


def _mesh(depth: np.ndarray, maps: Any, pixel_size_m: float, options: ReconstructOptions) -> Any:
    from .mesh import build_mesh

    kwargs: dict[str, Any] = {"pixel_size_m": pixel_size_m, "grad_mag": maps.grad_mag}
    if options.target_faces is not None:
        kwargs["target_faces"] = options.target_faces
    return build_mesh(depth, np.asarray(maps.mask, dtype=bool), **kwargs)


def _fit_inputs(
    maps: Any, depth: np.ndarray, crop_transform: Any, face: Any
) -> tuple[Any, np.ndarray | None]:
    """One photo's pixel <-> vertex pairs and its five detector landmarks in crop px (or None)."""
    from .template_fit import correspondences_from_maps
    from .template_model import load_template

    mask = np.asarray(maps.mask, dtype=bool)
    data = correspondences_from_maps(maps.corr, mask, load_template(), depth=depth)
    if len(data.vertices) < 50:
        raise FaceFromPhotoError(
            "The network's head correspondences are too few to fit the template head; "
            "use a clearer photo or the relief output."
        )
    five = getattr(face, "landmarks5", None)
    crop_five = None
    if five is not None:
        five = np.asarray(five, dtype=np.float64).reshape(5, 2)
        crop_five = crop_transform.to_crop(five) - 0.5  # continuous photo px -> crop pixel centres
    return data, crop_five


def _landmarks68(fit: Any, crop_transform: Any) -> np.ndarray:
    """(68, 3) the fitted head's 68 landmarks in working-photo px (see Reconstruction)."""
    from .template_model import load_template

    uvh = fit.project(fit.vertices[load_template().landmark68])  # crop pixel-centre coordinates, px
    landmarks = np.empty((len(uvh), 3))
    landmarks[:, :2] = crop_transform.to_photo(uvh[:, :2] + 0.5)  # working photo, continuous px
    landmarks[:, 2] = uvh[:, 2] * crop_transform.scale
    return landmarks


def _fit_head(
    maps: Any, depth: np.ndarray, crop_transform: Any, face: Any, options: ReconstructOptions
) -> tuple[HeadResult, np.ndarray]:
    """Fit the template head to the maps; its 68 landmarks in working-photo px (see Reconstruction)."""
    from .template_fit import fit_template
    from .template_model import load_template

    template = load_template()
    data, crop_five = _fit_inputs(maps, depth, crop_transform, face)
    fit = fit_template(template, data, landmarks5=crop_five, depth_weight=options.head_depth_weight)
    head = HeadResult(
        vertices=fit.vertices, identity=fit.identity, expression=fit.expression,
        expression_names=template.expression_names, rotation=fit.rotation, fit=fit,
        correspondences=len(data.vertices),
    )
    return head, _landmarks68(fit, crop_transform)


def _bake_head(head: HeadResult, texture: np.ndarray, mask: np.ndarray, depth: np.ndarray,
               options: ReconstructOptions) -> None:
    """Bake one photo's texture and relief detail onto ``head`` (its fit's camera in the S px crop)."""
    from .detail_bake import bake_detail
    from .template_model import load_template
    from .texture_bake import bake_texture

    template = load_template()
    head.texture = bake_texture(
        template, head.fit, texture, crop_size=mask.shape[0], size=options.head_texture_size, mask=mask,
    )
    head.detail_map = bake_detail(template, head.fit, depth, size=options.head_texture_size)


def reconstruct(
    photo: Any,
    options: ReconstructOptions | None = None,
    progress: ProgressFn | None = None,
    should_stop: StopFn | None = None,
) -> Reconstruction:
    """Reconstruct face mesh arrays from one photo.

    Parameters
    ----------
    photo : str, path-like, bytes or ndarray
        A photo file (JPEG, PNG, BMP, TIFF, WebP), its encoded bytes, or an
        ``(H, W, 3)`` RGB image (uint8, uint16 or float in [0, 1]; grey and
        RGBA accepted).
    options : ReconstructOptions or None
        None uses the defaults.
    progress : callable(fraction: float, message: str) or None
        Called when each stage starts (fraction in [0, 1)) and once with 1.0 at the end.
    should_stop : callable() -> bool or None
        Asked before each stage; True raises :class:`Cancelled`.

    Returns
    -------
    Reconstruction

    Raises
    ------
    FaceFromPhotoError
        With one sentence for the artist (bad photo, no face, bad options,
        missing or damaged weights, no head found by the network).
    Cancelled
        When ``should_stop()`` returned True.
    """
    from .crop import crop_square

    options = options or ReconstructOptions()
    stages = _Stages(progress, should_stop)
    t_start = time.perf_counter()
    try:
        stages.start("load")
        loaded, source = _load(photo)

        stages.start("detect")
        center, side, roll, face = _head_square(loaded, options)

        stages.start("crop")
        s = options.resolution
        crop, crop_transform = crop_square(loaded.image, center, side, s, angle=roll)
        t_side = int(min(TEXTURE_MAX_SIDE, max(s, round(side))))
        texture, texture_transform = crop_square(loaded.image, center, side, t_side, angle=roll)

        stages.start("predict")
        model, sha = get_model(options.weights, options.device)
        maps = _predict(crop, model)
        mask = np.asarray(maps.mask, dtype=bool)
        if mask.sum() < MIN_MASK_FRACTION * s * s:
            raise FaceFromPhotoError(
                "The network found no head in the cropped photo; use a clearer, front-facing photo "
                "or give a crop box around the head."
            )

        stages.start("integrate")
        depth = _depth(maps, options)
        pixel_size_m = _pixel_size(mask)

        stages.start("mesh")
        mesh = _mesh(depth, maps, pixel_size_m, options)
        if len(mesh.triangles) == 0:
            raise FaceFromPhotoError(
                "No mesh could be built from the predicted head; use a clearer, front-facing photo "
                "or give a crop box around the head."
            )
        smoothed = None
        if options.smoothing_iterations > 0 and options.smoothing_factor > 0:
            from .smoothing import laplacian_smooth

            smoothed = laplacian_smooth(
                mesh.vertices, mesh.triangles, options.smoothing_factor, options.smoothing_iterations
            )

        stages.start("detail")
        import cv2

        from .detail import detail_map

        gray = cv2.cvtColor(texture, cv2.COLOR_RGB2GRAY).astype(np.float32) / 255.0
        face_mask = cv2.resize(mask.astype(np.uint8), (t_side, t_side), interpolation=cv2.INTER_NEAREST) > 0
        texel_m = pixel_size_m * s / t_side  # metres per texture pixel
        detail = detail_map(gray, max(0.5, options.detail_sigma / texel_m), mask=face_mask)

        head = landmarks68 = None
        if options.output == "head":
            stages.start("fit")
            head, landmarks68 = _fit_head(maps, depth, crop_transform, face, options)
            if options.head_texture_size:
                stages.start("texture")
                _bake_head(head, texture, mask, depth, options)
        stages.finish()
    except MemoryError:
        raise FaceFromPhotoError(
            "The computer ran out of memory while reconstructing; "
            "close other programs or use a smaller photo."
        ) from None

    stages.timings["total"] = time.perf_counter() - t_start
    if progress is not None:
        progress(1.0, "Done")
    h, w = loaded.image.shape[:2]
    return Reconstruction(
        mesh=mesh,
        smoothed_vertices=smoothed,
        maps=maps,
        depth=depth,
        pixel_size_m=pixel_size_m,
        crop=crop,
        texture=texture,
        detail=np.asarray(detail, dtype=np.float32),
        crop_transform=crop_transform,
        texture_transform=texture_transform,
        face=face,
        photo_size=(w, h),
        original_size=loaded.original_size,
        timings=stages.timings,
        model_sha256=sha,
        options=options,
        source=source,
        head=head,
        landmarks68_px=landmarks68,
    )


# --------------------------------------------------------------------------- several photos


@dataclass
class PersonReconstruction:
    """One head from several photos of one person (:func:`reconstruct_person`).

    Attributes
    ----------
    head : HeadResult
        One identity for all photos; the pose, expression, camera (``fit``), eyes, mouth and
        relief detail (``detail_map``) of the reference photo; ``texture`` fused from every
        photo kept (core.texture_fuse); ``correspondences`` summed over them.
    photos : list of Reconstruction
        One per photo kept, in the order given, each as :func:`reconstruct` makes it with
        ``output="head"`` (its own single-photo head, no texture unless it is the only one).
    fits : list of core.template_fit.TemplateFit
        The joint fit per photo kept: its camera in its crop's px, its expression, the
        shared identity.
    landmarks68_px : list of (68, 3) float64
        The joint head's 68 landmarks in each kept photo (layout of
        ``Reconstruction.landmarks68_px``).
    kept : list of int
        Position of each kept photo in the list given.
    reference : int
        Index into ``photos`` of the most frontal photo.
    warnings : list of str
        One sentence per photo left out, naming it and saying why.
    timings : dict[str, float]
        Seconds: ``"photos"`` (all single-photo stages), ``"joint_fit"``, ``"texture"``, ``"total"``.
    """

    head: HeadResult
    photos: list[Reconstruction]
    fits: list[Any]
    landmarks68_px: list[np.ndarray]
    kept: list[int]
    reference: int
    warnings: list[str] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)


def _photo_name(photo: Any, index: int, first: bool = False) -> str:
    """``photo 2 (name.jpg)`` (1-based; the file name when there is one), ``Photo`` when ``first``."""
    word = "Photo" if first else "photo"
    if isinstance(photo, (str, os.PathLike)):
        return f"{word} {index + 1} ({Path(photo).name})"
    return f"{word} {index + 1}"


def reconstruct_person(
    photos: Any,
    options: ReconstructOptions | None = None,
    progress: ProgressFn | None = None,
    should_stop: StopFn | None = None,
) -> PersonReconstruction:
    """One template head from several photos of one person.

    Every photo goes through :func:`reconstruct` (``output="head"``, its own crop, size and
    EXIF orientation; no texture yet). A photo that fails (no face, no head correspondences)
    is left out; so is one whose single-photo face does not match the others' in shape and
    colouring (another person, a wrong face found: core.multiview_fit.find_strangers, with each
    photo's fit residual and core.multiview_fit.colour_distances of the crops). The rest are fitted
    together (core.multiview_fit.fit_multiview: one identity, a pose and an expression per
    photo, every photo's correspondences at once) and their textures fused
    (core.texture_fuse). With one photo the result is :func:`reconstruct`'s head exactly.

    Parameters
    ----------
    photos : sequence of photos
        What :func:`reconstruct` accepts, one per photo (paths, bytes or arrays).
    options : ReconstructOptions or None
        Applied to every photo; ``output`` is taken as ``"head"``.
    progress, should_stop
        As for :func:`reconstruct`, over the whole set.

    Returns
    -------
    PersonReconstruction
        Photos left out are named, with the reason, in ``warnings``.

    Raises
    ------
    FaceFromPhotoError
        One sentence when no photo is given or none gives a head.
    Cancelled
        When ``should_stop()`` returned True.
    """
    from dataclasses import replace

    from .multiview_fit import (
        face_colours,
        fit_multiview,
        strangers_among,
    )
    from .template_model import load_template
    from .texture_fuse import fuse_textures, most_frontal

    photos = list(photos) if not isinstance(photos, (str, bytes, os.PathLike, np.ndarray)) else [photos]
    if not photos:
        raise FaceFromPhotoError("No photo was given; give one or more photos of the same person.")
    options = replace(options or ReconstructOptions(), output="head")
    t_start = time.perf_counter()
    n = len(photos)
    if n == 1:
        rec = reconstruct(photos[0], options, progress, should_stop)
        assert rec.head is not None and rec.landmarks68_px is not None
        return PersonReconstruction(head=rec.head, photos=[rec], fits=[rec.head.fit],
                                    landmarks68_px=[rec.landmarks68_px], kept=[0], reference=0,
                                    timings={"photos": rec.timings["total"], "total": rec.timings["total"]})

    single = replace(options, head_texture_size=0)
    recs: list[Reconstruction] = []
    kept: list[int] = []
    warnings: list[str] = []
    failures: list[str] = []
    for i, photo in enumerate(photos):
        def sub(fraction: float, message: str, i: int = i) -> None:
            if progress is not None:
                progress((i + min(fraction, 0.999)) / (n + 1), f"Photo {i + 1} of {n}: {message}")
        try:
            rec = reconstruct(photo, single, sub, should_stop)
        except Cancelled:
            raise
        except FaceFromPhotoError as exc:
            reason = str(exc).rstrip(".")
            reason = reason[:1].lower() + reason[1:]
            failures.append(f"{_photo_name(photo, i)}: {reason}")
            warnings.append(f"{_photo_name(photo, i, first=True)} was left out: {reason}.")
            continue
        recs.append(rec)
        kept.append(i)
    t_photos = time.perf_counter() - t_start
    if not recs:
        raise FaceFromPhotoError(
            f"None of the {n} photos gave a head ({failures[0]}); use clear photos of the person's face."
        )
    template = load_template()
    if len(recs) >= 2:
        heads = [r.head for r in recs if r.head is not None]
        looks = [face_colours(template, h.fit, r.crop) for h, r in zip(heads, recs, strict=True)]
        strangers = strangers_among(template, [h.fit for h in heads], looks)
        left_out = {j for j, _, _ in strangers}
        first_kept = next(i for j, i in enumerate(kept) if j not in left_out)
        for j, q, typical in strangers:
            i = kept[j]
            if typical > 0.0:
                why = (f"its face does not match the other photos (shape and colouring together {q:.1f} "
                       f"times the difference allowed, {typical:.1f} times between them)")
            else:  # two photos that disagree: the first given is the reference
                other = _photo_name(photos[first_kept], first_kept)
                why = (f"its face does not match {other}'s (shape and colouring together {q:.1f} times the "
                       "difference allowed)")
            warnings.append(
                f"{_photo_name(photos[i], i, first=True)} was left out: {why}, "
                "so it may show another person or a wrong face was found."
            )
        recs = [r for j, r in enumerate(recs) if j not in left_out]
        kept = [i for j, i in enumerate(kept) if j not in left_out]
    if should_stop is not None and should_stop():
        raise Cancelled()
    if progress is not None:
        progress(n / (n + 1), "Fitting one head to all photos")
    timings = {"photos": t_photos}
    t0 = time.perf_counter()
    if len(recs) == 1:
        rec = recs[0]
        assert rec.head is not None and rec.landmarks68_px is not None
        head = rec.head
        fits, landmarks, ref = [head.fit], [rec.landmarks68_px], 0
        if options.head_texture_size:
            t1 = time.perf_counter()
            _bake_head(head, rec.texture, np.asarray(rec.maps.mask, dtype=bool), rec.depth, options)
            timings["texture"] = time.perf_counter() - t1
    else:
        inputs = [_fit_inputs(r.maps, r.depth, r.crop_transform, r.face) for r in recs]
        mv = fit_multiview(
            template, [d for d, _ in inputs], landmarks5=[f for _, f in inputs],
            singles=[r.head.fit for r in recs if r.head is not None], depth_weight=options.head_depth_weight,
        )
        timings["joint_fit"] = time.perf_counter() - t0
        fits = mv.fits
        ref = most_frontal(fits)
        landmarks = [_landmarks68(f, r.crop_transform) for f, r in zip(fits, recs, strict=True)]
        fit = fits[ref]
        head = HeadResult(
            vertices=fit.vertices, identity=mv.identity, expression=fit.expression,
            expression_names=template.expression_names, rotation=fit.rotation, fit=fit,
            correspondences=sum(len(d.vertices) for d, _ in inputs),
        )
        if options.head_texture_size:
            if should_stop is not None and should_stop():
                raise Cancelled()
            if progress is not None:
                progress((n + 0.5) / (n + 1), "Blending the photos' textures")
            from .detail_bake import bake_detail

            t1 = time.perf_counter()
            head.texture = fuse_textures(
                template, fits, [r.texture for r in recs], crop_sizes=[r.maps.mask.shape[0] for r in recs],
                masks=[np.asarray(r.maps.mask, dtype=bool) for r in recs], size=options.head_texture_size,
                reference=ref,
            )
            head.detail_map = bake_detail(template, fit, recs[ref].depth, size=options.head_texture_size)
            timings["texture"] = time.perf_counter() - t1
    timings["total"] = time.perf_counter() - t_start
    if progress is not None:
        progress(1.0, "Done")
    return PersonReconstruction(head=head, photos=recs, fits=list(fits), landmarks68_px=landmarks, kept=kept,
                                reference=ref, warnings=warnings, timings=timings)
