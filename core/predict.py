# SPDX-License-Identifier: GPL-3.0-or-later
"""Load the shipped FaceNet weights (hash-checked) and predict the per-pixel maps of a crop.

``core/weights/face_net.pt`` holds a state dict (float16 or float32 tensors,
loadable with ``torch.load(..., weights_only=True)``); ``core/weights/manifest.json``
holds its SHA-256, the :class:`~core.network.NetConfig`, the training step and
commit, the evaluation metrics and the ``inference`` settings the add-on runs the
network with (:class:`InferenceSettings`).  Every problem with these files becomes a
:class:`~core.errors.FaceFromPhotoError` with one sentence for the artist.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import numpy as np
import torch

from .errors import FaceFromPhotoError
from .fused_decoders import fuse_decoders
from .inference_blocks import inference_blocks
from .models import DEFAULT_WEIGHTS
from .network import FaceNet, NetConfig, fuse_batchnorm
from .pointwise import pointwise_as_matmul
from .views import forward_views
from .weights_manifest import check_state, config_from_manifest, expected_state

MANIFEST_NAME = "manifest.json"
MAX_MANIFEST_BYTES = 1 << 20  # a manifest is a few kB
MASK_THRESHOLD = 0.5  # head-probability threshold when the manifest names none
MAX_SHIFT_PX = 32  # largest test-time shift (px of a 128 px crop); the head fills the middle 1/1.3
MIN_SCALE, MAX_SCALE = 0.5, 2.0  # test-time resampling factors allowed
MIN_NETWORK_SIDE, MAX_NETWORK_SIDE = 16, 1024  # px


@dataclass(frozen=True)
class InferenceSettings:
    """How the network is run on a crop; stored in the manifest's ``inference`` block.

    flip_average : also run the left-right mirrored copy of every view and average
        its maps, mirrored back, with the direct ones (:func:`core.views.forward_maps`):
        two network passes per view instead of one.
    shifts : extra views, the crop translated by (dy, dx) px per 128 px of its side
        (:func:`core.views.shifted_view`); at most ``MAX_SHIFT_PX``.
    scales : extra views, the crop resampled by these factors to the nearest multiple
        of the network's stride (:func:`core.views.scaled_view`), in [MIN_SCALE, MAX_SCALE].
    network_side : px; the views are taken of the crop resampled to this side and
        their maps resampled back (:func:`core.views.forward_views`); the export sets
        the training resolution, so a 256 px crop is seen at the 128 px scale the
        network learnt (17.4 -> 8.6 deg on the 256 px test set). 0: the crop's own side.
    mask_threshold : probability above which a pixel belongs to the head. The
        export chooses it on validation heads (``training.calibrate``); 0.5
        when the manifest names none.
    """

    flip_average: bool = True
    shifts: tuple[tuple[int, int], ...] = ()
    scales: tuple[float, ...] = ()
    network_side: int = 0
    mask_threshold: float = MASK_THRESHOLD

    def __post_init__(self) -> None:
        if not isinstance(self.flip_average, bool):
            raise ValueError(f"flip_average must be true or false, got {self.flip_average!r}")
        try:
            shifts = tuple((int(dy), int(dx)) for dy, dx in self.shifts)
            scales = tuple(float(k) for k in self.scales)
        except (TypeError, ValueError):
            raise ValueError(f"shifts must be [dy, dx] pairs of px and scales numbers, got "
                             f"{self.shifts!r} and {self.scales!r}") from None
        if any(max(abs(dy), abs(dx)) > MAX_SHIFT_PX for dy, dx in shifts):
            raise ValueError(f"shifts must stay within {MAX_SHIFT_PX} px, got {shifts}")
        if any(not MIN_SCALE <= k <= MAX_SCALE for k in scales):
            raise ValueError(f"scales must lie in [{MIN_SCALE}, {MAX_SCALE}], got {scales}")
        object.__setattr__(self, "shifts", shifts)
        object.__setattr__(self, "scales", scales)
        if isinstance(self.network_side, bool) or not isinstance(self.network_side, int) or not (
                self.network_side == 0 or MIN_NETWORK_SIDE <= self.network_side <= MAX_NETWORK_SIDE):
            raise ValueError(f"network_side must be 0 or a side in px from {MIN_NETWORK_SIDE} to "
                             f"{MAX_NETWORK_SIDE}, got {self.network_side!r}")
        if not 0.0 < float(self.mask_threshold) < 1.0:
            raise ValueError(f"mask_threshold must lie in (0, 1), got {self.mask_threshold}")

    @property
    def mask_logit(self) -> float:
        """The threshold as a logit, log(p / (1 - p)), to compare with ``mask_logits``."""
        p = float(self.mask_threshold)
        return float(np.log(p / (1.0 - p)))

    @property
    def passes(self) -> int:
        """Network passes per crop: one per view, twice that with the mirror."""
        return (1 + len(self.shifts) + len(self.scales)) * (2 if self.flip_average else 1)

    def to_dict(self) -> dict:
        """JSON-ready: shifts as [dy, dx] lists."""
        d = asdict(self)
        d["shifts"] = [list(s) for s in self.shifts]
        d["scales"] = list(self.scales)
        return d

    @classmethod
    def from_manifest(cls, manifest: dict | None) -> InferenceSettings:
        """Settings of a manifest dict (defaults for keys it lacks); bad values raise ``ValueError``."""
        block = (manifest or {}).get("inference") or {}
        if not isinstance(block, dict):
            raise ValueError("the manifest's 'inference' entry must be an object")
        unknown = set(block) - {f.name for f in fields(cls)}
        if unknown:
            raise ValueError(f"unknown inference settings: {sorted(unknown)}")
        return cls(**block)


@dataclass
class Maps:
    """Per-pixel network outputs for one square crop of side S (numpy, row i down, column j right).

    normals   : (S, S, 3) float32, unit vectors in the camera frame (x right, y up, z to viewer)
    grad_mag  : (S, S) float32, predicted |grad h| (px/px), >= 0
    mask      : (S, S) bool, head pixels (mask_prob > the manifest's mask threshold)
    mask_prob : (S, S) float32 in [0, 1]
    depth     : (S, S) float32, direct depth head (px), zero median over ``mask``
    corr      : (S, S, 3) float32 in [0, 1], canonical mean-head coordinates
    """

    normals: np.ndarray
    grad_mag: np.ndarray
    mask: np.ndarray
    mask_prob: np.ndarray
    depth: np.ndarray
    corr: np.ndarray


def sha256_file(path: Path) -> str:
    """Hex SHA-256 of a file's bytes."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def write_untrained_weights(folder: str | Path, *, seed: int = 0, **config: object) -> Path:
    """Untrained ``face_net.pt`` + a matching ``manifest.json`` in ``folder``, for tests and benchmarks.

    The mask head's bias is set so the whole crop counts as head: the pipeline
    then runs every stage at full cost (a larger mesh than a real head gives).
    ``config`` overrides :class:`NetConfig` fields. Returns the weights path.
    """
    torch.manual_seed(seed)
    cfg = NetConfig(**config)  # type: ignore[arg-type]
    state = FaceNet(cfg).state_dict()
    state["decoders.mask_logits.head.bias"].fill_(6.0)
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "face_net.pt"
    torch.save(state, path)
    (folder / "manifest.json").write_text(json.dumps({"sha256": sha256_file(path), "config": cfg.to_dict()}))
    return path


def model_from_state(cfg: NetConfig, state: dict[str, torch.Tensor]) -> FaceNet:
    """FaceNet of ``cfg`` in eval mode with ``state`` loaded, floating tensors cast to float32
    (the shipped file stores float16). Raises ``RuntimeError`` when ``state`` does not fit ``cfg``."""
    model = FaceNet(cfg).eval()
    model.load_state_dict({k: v.float() if v.is_floating_point() else v for k, v in state.items()})
    return model


def pick_device(device: str = "auto") -> torch.device:
    """``"auto"`` -> cuda if present, else mps, else cpu; other strings are passed to torch."""
    if device != "auto":
        return torch.device(device)
    if torch.cuda.is_available():
        return torch.device("cuda")
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def load_model(path: str | Path | None = None, device: str = "auto") -> FaceNet:
    """Load FaceNet weights after checking them against ``manifest.json`` in the same folder.

    Parameters
    ----------
    path : weights file; default ``core/weights/face_net.pt``.
    device : ``"auto"`` (cuda > mps > cpu), or a torch device string.

    Returns the model in eval mode, float32, BatchNorm folded, on ``device``;
    ``model.manifest`` holds the manifest dict and ``model.inference`` its
    :class:`InferenceSettings`.

    Raises FaceFromPhotoError when the weights or manifest are missing,
    unreadable, altered, or do not match the network architecture; a
    manifest describing an impossible or oversized network is refused before
    any model is built (:mod:`core.weights_manifest`).
    """
    path = Path(path) if path is not None else DEFAULT_WEIGHTS
    manifest_path = path.parent / MANIFEST_NAME
    if not path.is_file():
        raise FaceFromPhotoError(
            f"The network weights file {path} is missing; reinstall the extension or export weights."
        )
    if not manifest_path.is_file():
        raise FaceFromPhotoError(
            f"The weights manifest {manifest_path} is missing; reinstall the extension or export weights."
        )
    try:
        if manifest_path.stat().st_size > MAX_MANIFEST_BYTES:
            raise ValueError("the manifest is too large")
        manifest = json.loads(manifest_path.read_text())
        expected = manifest["sha256"]
        if not isinstance(expected, str):
            raise TypeError("sha256 is not a string")
        InferenceSettings.from_manifest(manifest)
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise FaceFromPhotoError(
            f"The weights manifest {manifest_path} is unreadable ({type(exc).__name__}); "
            "reinstall the extension."
        ) from exc
    try:  # the network the manifest describes, checked before anything is allocated (core.weights_manifest)
        cfg = config_from_manifest(manifest)
        shapes = expected_state(cfg)
    except (ValueError, TypeError) as exc:
        raise FaceFromPhotoError(
            f"The weights manifest {manifest_path} describes an impossible network ({exc}); "
            "reinstall the extension."
        ) from exc
    if sha256_file(path) != expected:
        raise FaceFromPhotoError(
            f"The network weights {path} do not match their manifest (damaged or altered file); "
            "reinstall the extension."
        )
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # truncated zip, pickle error, ... all mean the same to the artist
        raise FaceFromPhotoError(
            f"The network weights {path} cannot be read ({type(exc).__name__}); reinstall the extension."
        ) from exc
    if not isinstance(state, dict):
        raise FaceFromPhotoError(f"The network weights {path} are not a state dict; reinstall the extension.")
    try:
        check_state(shapes, state)  # names, shapes and so the parameter count, before the real build
        model = model_from_state(cfg, state)
    except (ValueError, RuntimeError, AttributeError) as exc:
        raise FaceFromPhotoError(
            f"The network weights {path} do not fit the network architecture in the manifest; "
            "reinstall the extension."
        ) from exc
    model = prepare_for_inference(model, pick_device(device))
    model.manifest = manifest
    model.inference = InferenceSettings.from_manifest(manifest)
    return model


def memory_format(device: torch.device) -> torch.memory_format:
    """Tensor layout for inference on ``device``: NHWC (channels_last) on CPU.

    On the 2-core reference CPU NHWC runs the shipped network's depthwise-separable
    convolutions in half the time of NCHW: 12.5 instead of 24.7 ms at 128 px and
    28.4 instead of 67.2 ms at 256 px, 2 threads (``benchmarks/bench_network.py``
    reports both layouts). GPUs keep the default layout.
    """
    return torch.channels_last if device.type == "cpu" else torch.contiguous_format


def prepare_for_inference(model: FaceNet, device: torch.device | str = "cpu", *,
                          pointwise_matmul: bool = True, inference_sum: bool = True) -> FaceNet:
    """Eval mode, BatchNorm folded (:func:`~core.network.fuse_batchnorm`), decoders re-cut
    (:func:`~core.fused_decoders.fuse_decoders`), 1 x 1 convolutions as matrix products
    (:func:`~core.pointwise.pointwise_as_matmul`; ``pointwise_matmul=False`` leaves them,
    for comparison), the separable blocks summing into their inputs
    (:func:`~core.inference_blocks.inference_blocks`, with ``pointwise_matmul``;
    ``inference_sum=False`` leaves them), moved to ``device`` in the layout of
    :func:`memory_format`; in place, returns the model."""
    device = torch.device(device)
    model.eval()
    fuse_batchnorm(model)
    fuse_decoders(model)
    if pointwise_matmul:
        pointwise_as_matmul(model)
    if pointwise_matmul and inference_sum:
        inference_blocks(model)
    return model.to(device, memory_format=memory_format(device))


def to_image_tensor(crop: np.ndarray) -> torch.Tensor:
    """(S, S, 3) uint8 or float in [0, 1] -> (1, 3, S, S) float32 in [0, 1]."""
    crop = np.asarray(crop)
    if crop.ndim != 3 or crop.shape[2] != 3:
        raise ValueError(f"crop must have shape (S, S, 3), got {crop.shape}")
    if crop.dtype == np.uint8:
        img = crop.astype(np.float32) / 255.0
    else:
        img = np.clip(crop.astype(np.float32), 0.0, 1.0)
    return torch.from_numpy(np.ascontiguousarray(img.transpose(2, 0, 1)))[None]


def inference_settings(model: FaceNet) -> InferenceSettings:
    """The settings :func:`load_model` attached to ``model``; the defaults for a bare FaceNet."""
    return getattr(model, "inference", None) or InferenceSettings()


def run_network(model: FaceNet, images: torch.Tensor, settings: InferenceSettings | None = None) -> dict:
    """The network's maps of images (B, 3, S, S) in [0, 1], averaged over the views of ``settings``.

    ``settings`` default: ``model.inference``. Keys and shapes as ``FaceNet.forward``; see
    :func:`core.views.forward_views`. Call under ``torch.inference_mode()`` for inference.
    """
    if settings is None:
        settings = inference_settings(model)
    return forward_views(model, images, settings.flip_average, settings.shifts, settings.scales,
                         settings.network_side)


def predict_maps(crop: np.ndarray, model: FaceNet, settings: InferenceSettings | None = None) -> Maps:
    """Run the network on one square RGB crop.

    Parameters
    ----------
    crop : (S, S, 3) uint8, or float in [0, 1]; RGB, framed as in training
        (square, head about 1/1.3 of the side, see ``core.crop``). S must be a
        multiple of ``model.cfg.stride`` (16 for the shipped model: 128, 256, ...).
    model : from :func:`load_model`.
    settings : mirror averaging and mask threshold; default ``model.inference``
        (the manifest's), else :class:`InferenceSettings` ().
    """
    if settings is None:
        settings = inference_settings(model)
    x = to_image_tensor(crop)
    s = model.cfg.stride
    if x.shape[-1] != x.shape[-2] or x.shape[-1] % s:
        raise ValueError(f"crop must be square with a side that is a multiple of {s} px, got {crop.shape}")
    device = next(model.parameters()).device
    with torch.inference_mode():
        out = run_network(model, x.to(device, memory_format=memory_format(device)), settings)
    out = {k: v[0].float().cpu().numpy() for k, v in out.items()}
    prob = 1.0 / (1.0 + np.exp(-out["mask_logits"][0]))
    mask = prob > settings.mask_threshold
    depth = out["depth"][0]
    if mask.any():
        depth = depth - np.median(depth[mask])
    return Maps(
        normals=np.ascontiguousarray(out["normals"].transpose(1, 2, 0), dtype=np.float32),
        grad_mag=out["grad_mag"][0].astype(np.float32),
        mask=mask,
        mask_prob=prob.astype(np.float32),
        depth=depth.astype(np.float32),
        corr=np.ascontiguousarray(out["corr"].transpose(1, 2, 0), dtype=np.float32),
    )
