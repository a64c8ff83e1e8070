# SPDX-License-Identifier: GPL-3.0-or-later
"""Test-time views: run FaceNet on altered copies of a crop and average the maps.

Each view alters the crop in a way whose effect on every map is known, runs the
network, undoes the alteration on the predicted maps and joins the average:

- **mirror** (:func:`mirror_back`): columns reversed; the normal's x and the
  correspondence's canonical X change side;
- **shift** (:func:`shifted_view`): the crop translated by (dy, dx) px, its
  border pixels repeated; the maps are translated back. Normals, W, mask,
  correspondence and depth (zero-median later) do not change under a
  translation of the image;
- **scale** (:func:`scaled_view`): the crop resampled to side S' = k S; the
  maps are resampled back to S. Normals, W = |grad h| (depth px per px),
  mask and correspondence do not change with the pixel scale; depth in px
  scales by k, so it is divided by k.

The network is not exactly equivariant to any of these (stride-16 pooling,
padding, finite training), so the views disagree a little and their mean is
a better estimate than any one of them: on the 200 synthetic test heads the
shipped model's mean normal error is 9.25 deg with one pass, 8.81 with the
mirror and 8.62 with the mirrored crop, crop shifted by (4, 4) px and crop
resampled to 144 px (:class:`core.predict.InferenceSettings`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F

from .network import FaceNet

REFERENCE_SIDE = 128  # shifts are given in px of a crop of this side and scale with the crop
MAX_BATCH = 32  # images per network call in run_batched (bounds the activations' memory)
Undo = Callable[[dict[str, torch.Tensor]], dict[str, torch.Tensor]]  # a view's maps -> the crop's frame


def mirror_back(out: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Maps predicted for a left-right mirrored image, mirrored back into the original's frame.

    Columns are reversed; the normal's x component changes sign (x right in the
    camera frame); the correspondence's canonical X becomes 1 - X (the mean head
    is mirror-symmetric about X = 0 and X is normalised to [0, 1] by its box).
    Other maps are scalars per pixel.
    """
    back = {k: v.flip(-1) for k, v in out.items()}
    back["normals"] = torch.cat([-back["normals"][:, :1], back["normals"][:, 1:]], dim=1)
    back["corr"] = torch.cat([1.0 - back["corr"][:, :1], back["corr"][:, 1:]], dim=1)
    return back


def average_maps(outs: Sequence[dict[str, torch.Tensor]]) -> dict[str, torch.Tensor]:
    """Mean of several predictions of the same maps (B, C, S, S).

    Normals: the normalised mean of the unit vectors; mask: the mean logit;
    the other maps: plain means.
    """
    avg = {k: sum(o[k] for o in outs) / len(outs) for k in outs[0]}
    n = avg["normals"]
    avg["normals"] = n * torch.rsqrt((n * n).sum(dim=1, keepdim=True).clamp_min(1e-12))
    return avg


def forward_maps(model: FaceNet, images: torch.Tensor, flip_average: bool = True) -> dict[str, torch.Tensor]:
    """Network outputs for images (B, 3, S, S) in [0, 1]; keys and shapes as ``FaceNet.forward``.

    With ``flip_average`` the mirrored images are run too and, mirrored back
    (:func:`mirror_back`), averaged with the direct outputs (:func:`average_maps`).
    Call under ``torch.inference_mode()`` for inference.
    """
    out = model(images)
    if not flip_average:
        return out
    return mirror_average(out, model(images.flip(-1)))


def mirror_average(direct: dict[str, torch.Tensor],
                   mirrored: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The maps of images and of their mirror images (:func:`mirror_back` applied here), averaged."""
    return average_maps([direct, mirror_back(mirrored)])


def layout_of(x: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """``x`` contiguous in the memory layout of ``like`` (NHWC stays NHWC for the CPU kernels)."""
    if like.is_contiguous(memory_format=torch.channels_last):
        return x.contiguous(memory_format=torch.channels_last)
    return x.contiguous()


def _translate(x: torch.Tensor, dy: int, dx: int) -> torch.Tensor:
    """(B, C, S, S) content moved down by dy and right by dx px, border pixels repeated."""
    p = max(abs(dy), abs(dx))
    if p == 0:
        return x
    s_h, s_w = x.shape[-2:]
    padded = F.pad(x, (p, p, p, p), mode="replicate")
    return padded[..., p - dy:p - dy + s_h, p - dx:p - dx + s_w]


def _shifted(images: torch.Tensor, dy: int, dx: int) -> tuple[torch.Tensor, Undo]:
    """The images (B, 3, S, S) translated by (dy, dx) px, and the function that translates
    their maps back (pixels the shift brought in take the nearest predicted pixel). ``|dy|, |dx| < S``."""
    side = images.shape[-1]
    if max(abs(dy), abs(dx)) >= side:
        raise ValueError(f"a shift of ({dy}, {dx}) px does not fit a {side} px crop")
    return (layout_of(_translate(images, dy, dx), images),
            lambda out: {k: _translate(v, -dy, -dx) for k, v in out.items()})


def shifted_view(model: FaceNet, images: torch.Tensor, dy: int, dx: int,
                 flip_average: bool = True) -> dict[str, torch.Tensor]:
    """Maps of the images (B, 3, S, S) translated by (dy, dx) px, translated back (see module docstring)."""
    x, undo = _shifted(images, dy, dx)
    return undo(forward_maps(model, x, flip_average))


def scaled_side(side: int, scale: float, stride: int) -> int:
    """The side (px) of a crop of ``side`` px resampled by ``scale``: the nearest multiple of ``stride``."""
    return max(stride, round(side * scale / stride) * stride)


def _resample(x: torch.Tensor, side: int) -> torch.Tensor:
    return F.interpolate(x, size=(side, side), mode="bilinear", align_corners=False, antialias=True)


def _resampled(images: torch.Tensor, new: int) -> tuple[torch.Tensor, Undo]:
    """The images (B, 3, S, S) resampled to ``new`` px, and the function that resamples their
    maps back to S.

    Bilinear, antialiased both ways. Depth (px of the resampled crop) is divided
    by new / S; the other maps do not depend on the pixel scale.
    """
    side = images.shape[-1]

    def undo(out: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        back = {k: _resample(v, side) for k, v in out.items()}
        back["depth"] = back["depth"] * (side / new)
        return back

    return layout_of(_resample(images, new), images), undo


def _at_side(images: torch.Tensor, new: int,
             run: Callable[[torch.Tensor], dict[str, torch.Tensor]]) -> dict[str, torch.Tensor]:
    """``run``'s maps of the images (B, 3, S, S) resampled to ``new`` px, resampled back to S
    (:func:`_resampled`)."""
    x, undo = _resampled(images, new)
    return undo(run(x))


def scaled_view(model: FaceNet, images: torch.Tensor, scale: float,
                flip_average: bool = True) -> dict[str, torch.Tensor]:
    """Maps of the images (B, 3, S, S) resampled to S' = :func:`scaled_side`, resampled back to S
    (see :func:`_at_side`)."""
    new = scaled_side(images.shape[-1], scale, model.cfg.stride)
    return _at_side(images, new, lambda x: forward_maps(model, x, flip_average))


def forward_views(
    model: FaceNet,
    images: torch.Tensor,
    flip_average: bool = True,
    shifts: Sequence[tuple[int, int]] = (),
    scales: Sequence[float] = (),
    network_side: int = 0,
) -> dict[str, torch.Tensor]:
    """The maps of images (B, 3, S, S) averaged over the crop and its extra views.

    Views: the crop itself, each shift (dy, dx) in px of a :data:`REFERENCE_SIDE`
    crop (so (4, 4) is 8 px at S = 256), each scale factor; every view mirror
    averaged when ``flip_average``. ``1 + len(shifts) + len(scales)`` views,
    twice that many network passes with the mirror, run batched by size
    (:func:`run_batched`).

    ``network_side`` (px, 0 = S): the side the network sees. When it differs
    from S, the views are taken of the crop resampled to that side and their
    mean is resampled back to S (depth times S / network_side), so a network
    trained on 128 px crops sees faces at the scale it learnt whatever S is.
    Call under ``torch.inference_mode()`` for inference.
    """
    side = images.shape[-1]
    if network_side and network_side != side:
        if network_side % model.cfg.stride:
            raise ValueError(f"network_side must be a multiple of {model.cfg.stride} px, got {network_side}")
        out = _at_side(images, network_side, lambda x: forward_views(model, x, flip_average, shifts, scales))
        return average_maps([out])  # renormalises the resampled normals
    k = side / REFERENCE_SIDE
    views: list[tuple[torch.Tensor, Undo]] = [(images, lambda out: out)]
    views += [_shifted(images, round(dy * k), round(dx * k)) for dy, dx in shifts]
    views += [_resampled(images, scaled_side(side, scale, model.cfg.stride)) for scale in scales]
    passes = [x for view, _ in views for x in ((view, view.flip(-1)) if flip_average else (view,))]
    outs = run_batched(model, passes)
    per_view = []
    for i, (_, undo) in enumerate(views):
        out = mirror_average(outs[2 * i], outs[2 * i + 1]) if flip_average else outs[i]
        per_view.append(undo(out))
    return per_view[0] if len(per_view) == 1 else average_maps(per_view)


def run_batched(model: FaceNet, inputs: Sequence[torch.Tensor],
                max_images: int = MAX_BATCH) -> list[dict[str, torch.Tensor]]:
    """``model``'s maps of each (B_i, 3, H_i, W_i) input, the inputs of one size run as one batch.

    Returns one dict per input, in order. Inputs of the same size are stacked (in
    the first one's memory layout) and run in batches of at most ``max_images``.
    The shipped six views of a 128 px crop (two sizes) took 160 ms run this way
    against 251 ms as six passes on the AVX2 host of 2026-12-01, 2 threads
    (``network_ms`` of ``benchmarks/bench_network.py``). The network has no batch statistics in eval mode, so
    the maps are those of separate passes up to float rounding.
    """
    results: list[dict[str, torch.Tensor]] = [{} for _ in inputs]
    by_size: dict[tuple[int, ...], list[int]] = {}
    for i, x in enumerate(inputs):
        by_size.setdefault(tuple(x.shape[1:]), []).append(i)
    for idx in by_size.values():
        batch = layout_of(torch.cat([inputs[i] for i in idx]), inputs[idx[0]])
        chunks = [model(batch[a:a + max_images]) for a in range(0, batch.shape[0], max_images)]
        sizes = [inputs[i].shape[0] for i in idx]
        for key in chunks[0]:
            for i, part in zip(idx, torch.cat([c[key] for c in chunks]).split(sizes), strict=True):
                results[i][key] = part
    return results
