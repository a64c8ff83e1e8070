# SPDX-License-Identifier: GPL-3.0-or-later
"""FaceNet: one shared encoder, one U-Net decoder per predicted map.

The design follows FaceVision-GAN (single encoder, several decoders, each with
skip connections from every encoder level) and the normals paper's outputs
(unit normals N, depth-gradient magnitude W, a mask), plus a direct depth head
and a correspondence map.  It is kept lean so that the add-on runs it on a
laptop CPU: depthwise-separable convolutions, a narrow decoder per output.

Shapes (S must be a multiple of ``2 ** (len(widths) - 1)``)::

    image (B, 3, S, S) float32 in [0, 1]
      -> normals     (B, 3, S, S)  unit vectors, camera frame (x right, y up, z to viewer)
         grad_mag    (B, 1, S, S)  |grad h| in px/px, >= 0
         mask_logits (B, 1, S, S)  logits of "pixel belongs to the head"
         depth       (B, 1, S, S)  depth in px of the map, grows toward the viewer
         corr        (B, 3, S, S)  canonical mean-head coordinates in [0, 1]

This module needs torch only; it never imports bpy.
"""

from __future__ import annotations

import itertools
from dataclasses import asdict, dataclass, fields

import torch
import torch.nn.functional as F
from torch import nn

#: Output name -> number of channels.  ``mask_logits`` is the mask decoder's output.
OUTPUT_CHANNELS = {"normals": 3, "grad_mag": 1, "mask_logits": 1, "depth": 1, "corr": 3}


@dataclass
class NetConfig:
    """Architecture knobs of :class:`FaceNet` (all JSON-serialisable).

    Attributes
    ----------
    widths : encoder channels per level; level 0 runs at full resolution, each
        further level halves it (5 levels: S/16 bottleneck).
    decoder_widths : channels of every decoder per level (same length as
        ``widths``); decoders are narrow because there are five of them.
    encoder_blocks : separable residual blocks per encoder level after the
        downsampling block.
    normals_decoder_widths : channels of the normals decoder per level, when it
        should differ from the others (the metric that matters most reads only
        this decoder); empty = ``decoder_widths``.
    half_res_outputs : outputs (keys of ``OUTPUT_CHANNELS``) whose decoder stops
        at S/2 and whose map is upsampled x2 bilinearly: a decoder's full-resolution
        level costs most of its time, and smooth maps (W, depth, C) need little of it.
    bottleneck_blocks : extra separable blocks at the coarsest level (context).
    kernel : depthwise kernel size (px).
    upsample : decoder upsampling, ``"nearest"`` (fast on CPU) or ``"bilinear"``.
    """

    # Wide where the maps are small: the S/8 and S/16 levels hold half the parameters
    # for 5 % of the training step's time (207 k parameters vs 98.5 k for 16-24-40-64-96).
    widths: tuple[int, ...] = (16, 24, 48, 96, 160)
    decoder_widths: tuple[int, ...] = (8, 12, 16, 32, 48)
    normals_decoder_widths: tuple[int, ...] = ()
    half_res_outputs: tuple[str, ...] = ()
    encoder_blocks: int = 1
    bottleneck_blocks: int = 2
    kernel: int = 3
    upsample: str = "nearest"

    def __post_init__(self) -> None:
        self.widths = tuple(int(w) for w in self.widths)
        self.decoder_widths = tuple(int(w) for w in self.decoder_widths)
        self.normals_decoder_widths = tuple(int(w) for w in self.normals_decoder_widths)
        self.half_res_outputs = tuple(str(o) for o in self.half_res_outputs)
        unknown = set(self.half_res_outputs) - set(OUTPUT_CHANNELS)
        if unknown:
            known = list(OUTPUT_CHANNELS)
            raise ValueError(f"half_res_outputs: unknown outputs {sorted(unknown)}; known: {known}")
        for name in ("decoder_widths", "normals_decoder_widths"):
            d = getattr(self, name)
            if (d or name == "decoder_widths") and len(d) != len(self.widths):
                raise ValueError(f"widths {self.widths} and {name} {d} need the same length")
        if len(self.widths) < 2:
            raise ValueError(f"need at least 2 levels, got widths {self.widths}")

    @property
    def stride(self) -> int:
        """Input side must be a multiple of this (px)."""
        return 2 ** (len(self.widths) - 1)

    def widths_of(self, output: str) -> tuple[int, ...]:
        """Decoder channels per level for ``output`` (a key of ``OUTPUT_CHANNELS``)."""
        if output == "normals" and self.normals_decoder_widths:
            return self.normals_decoder_widths
        return self.decoder_widths

    def to_dict(self) -> dict:
        """JSON-ready dict (tuples become lists)."""
        d = asdict(self)
        return {k: list(v) if isinstance(v, tuple) else v for k, v in d.items()}

    @classmethod
    def from_dict(cls, d: dict) -> NetConfig:
        """Inverse of :meth:`to_dict`; unknown keys raise ``ValueError``."""
        names = {f.name for f in fields(cls)}
        unknown = set(d) - names
        if unknown:
            raise ValueError(f"unknown NetConfig keys: {sorted(unknown)}")
        return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in d.items()})


class ConvBNAct(nn.Sequential):
    """Conv2d (no bias) -> BatchNorm -> ReLU (the activation is optional)."""

    def __init__(self, cin: int, cout: int, k: int = 1, stride: int = 1, groups: int = 1, act: bool = True):
        layers: list[nn.Module] = [
            nn.Conv2d(cin, cout, k, stride, k // 2, groups=groups, bias=False),
            nn.BatchNorm2d(cout),
        ]
        if act:
            layers.append(nn.ReLU(inplace=True))
        super().__init__(*layers)


class SepBlock(nn.Module):
    """Depthwise k x k (stride s) -> pointwise 1 x 1; residual when shapes match.

    (B, cin, H, W) -> (B, cout, H / s, W / s)
    """

    def __init__(self, cin: int, cout: int, k: int = 3, stride: int = 1):
        super().__init__()
        self.dw = ConvBNAct(cin, cin, k, stride, groups=cin)
        self.pw = ConvBNAct(cin, cout, 1, act=False)
        self.residual = stride == 1 and cin == cout

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.pw(self.dw(x))  # a new tensor, which the backward passes of pw do not read
        if self.residual:
            y.add_(x)
        return y.relu_()  # in place: no (B, cout, H, W) allocation per block


class Encoder(nn.Module):
    """Shared encoder: returns one feature map per level, full resolution first."""

    def __init__(self, cfg: NetConfig):
        super().__init__()
        w, k = cfg.widths, cfg.kernel
        self.stem = nn.Sequential(ConvBNAct(3, w[0], 3), SepBlock(w[0], w[0], k))
        self.levels = nn.ModuleList()
        for i in range(1, len(w)):
            n_extra = cfg.encoder_blocks + (cfg.bottleneck_blocks if i == len(w) - 1 else 0)
            blocks = [SepBlock(w[i - 1], w[i], k, stride=2)]
            blocks += [SepBlock(w[i], w[i], k) for _ in range(n_extra)]
            self.levels.append(nn.Sequential(*blocks))

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        feats = [self.stem(x)]
        for level in self.levels:
            feats.append(level(feats[-1]))
        return feats


class Decoder(nn.Module):
    """U-Net decoder for one output, with a skip from every encoder level.

    At each level (coarse to fine): upsample x2, concatenate the encoder's
    features of that level, fuse with a 1 x 1 conv, refine with a separable block.
    The fuse conv runs as ``_fuse_conv`` does: its upsampled half at the coarse level.
    With ``half_res`` the last level is S/2: the head's (B, C, S/2, S/2) output
    is upsampled bilinearly to (B, C, S, S).
    """

    def __init__(
        self, cfg: NetConfig, out_channels: int, widths: tuple[int, ...] | None = None, half_res: bool = False
    ):
        super().__init__()
        w, d, k = cfg.widths, widths or cfg.decoder_widths, cfg.kernel
        n = len(w)
        last = 1 if half_res else 0
        self.entry = ConvBNAct(w[-1], d[-1], 1)
        self.fuse = nn.ModuleList()
        self.refine = nn.ModuleList()
        for i in range(n - 2, last - 1, -1):
            self.fuse.append(ConvBNAct(d[i + 1] + w[i], d[i], 1))
            self.refine.append(SepBlock(d[i], d[i], k))
        self.head = nn.Conv2d(d[last], out_channels, 3, padding=1)
        self.upsample = cfg.upsample
        self.half_res = half_res

    def forward(self, feats: list[torch.Tensor]) -> torch.Tensor:
        y = self.entry(feats[-1])
        for j, (fuse, refine) in enumerate(zip(self.fuse, self.refine, strict=True)):
            skip = feats[len(feats) - 2 - j]
            y = self._fuse_conv(fuse[0], y, skip)
            for layer in itertools.islice(fuse, 1, None):  # BatchNorm, ReLU
                y = layer(y)
            y = refine(y)
        if self.half_res:
            return F.interpolate(self.head(y), size=feats[0].shape[-2:], mode="bilinear", align_corners=False)
        return self.head(y)

    def _fuse_conv(self, conv: nn.Module, y: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        """The fuse level's 1 x 1 conv of ``cat([up(y), skip])``, without the upsampled concatenation.

        y (B, c_y, H, W), skip (B, c_s, 2H, 2W) -> (B, O, 2H, 2W). With the weight split along its
        input channels, W = [W_y | W_s], conv(cat[up(y), skip]) = up(W_y y) + W_s skip + b, equation
        (1) of core.fused_decoders: a 1 x 1 conv commutes with nearest and bilinear upsampling, so the
        y half runs at the coarse level on a quarter of the pixels and no (B, c_y + c_s, 2H, 2W)
        tensor is built. The same parameters as the concatenating form: the state dict is unchanged.
        """
        c_y = y.shape[1]
        w_y, w_s = torch.split(conv.weight, [c_y, conv.weight.shape[1] - c_y], dim=1)
        coarse = F.interpolate(F.conv2d(y, w_y), size=skip.shape[-2:], mode=self.upsample)
        return F.conv2d(skip, w_s, getattr(conv, "bias", None)).add_(coarse)


class FaceNet(nn.Module):
    """Image (B, 3, S, S) in [0, 1] -> dict of per-pixel maps (see module docstring)."""

    def __init__(self, cfg: NetConfig | None = None):
        super().__init__()
        self.cfg = cfg or NetConfig()
        self.encoder = Encoder(self.cfg)
        self.decoders = nn.ModuleDict(
            {
                name: Decoder(self.cfg, c, self.cfg.widths_of(name),
                              half_res=name in self.cfg.half_res_outputs)
                for name, c in OUTPUT_CHANNELS.items()
            }
        )
        with torch.no_grad():  # start W and depth near their typical scale
            self.decoders["grad_mag"].head.bias.fill_(-1.0)
            self.decoders["depth"].head.bias.zero_()
        self.fused_decoders: nn.Module | None = None  # inference only: core.fused_decoders.fuse_decoders

    def forward(self, image: torch.Tensor) -> dict[str, torch.Tensor]:
        """image (B, 3, S, S) float in [0, 1] -> dict of (B, C, S, S) float maps."""
        if image.ndim != 4 or image.shape[1] != 3:
            raise ValueError(f"expected image of shape (B, 3, S, S), got {tuple(image.shape)}")
        s = self.cfg.stride
        if image.shape[-1] % s or image.shape[-2] % s:
            raise ValueError(f"image side must be a multiple of {s} px, got {tuple(image.shape[-2:])}")
        feats = self.encoder(image * 2.0 - 1.0)
        if self.fused_decoders is not None:
            raw = self.fused_decoders(feats)
        else:
            raw = {name: dec(feats) for name, dec in self.decoders.items()}
        n = torch.tanh(raw["normals"])
        return {
            "normals": n * torch.rsqrt((n * n).sum(dim=1, keepdim=True).clamp_min(1e-12)),
            "grad_mag": F.softplus(raw["grad_mag"]),
            "mask_logits": raw["mask_logits"],
            "depth": raw["depth"],
            "corr": torch.sigmoid(raw["corr"]),
        }


def count_parameters(model: nn.Module) -> int:
    """Number of trainable scalars."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def fuse_batchnorm(model: FaceNet) -> FaceNet:
    """Fold every BatchNorm into the convolution before it, in place (inference only).

    The maps are unchanged up to float rounding; a forward pass is ~20 % faster
    on CPU.  The model must be in eval mode and is no longer trainable afterwards.
    """
    if model.training:
        raise ValueError("fuse_batchnorm needs a model in eval mode")
    for module in model.modules():
        if isinstance(module, ConvBNAct) and isinstance(module[1], nn.BatchNorm2d):
            conv, bn = module[0], module[1]
            scale = bn.weight / torch.sqrt(bn.running_var + bn.eps)  # (cout,)
            fused = nn.Conv2d(
                conv.in_channels, conv.out_channels, conv.kernel_size, conv.stride, conv.padding,
                groups=conv.groups, bias=True,
            ).to(conv.weight.device, conv.weight.dtype)
            with torch.no_grad():
                fused.weight.copy_(conv.weight * scale.view(-1, 1, 1, 1))
                fused.bias.copy_(bn.bias - bn.running_mean * scale)
            module[0] = fused
            module[1] = nn.Identity()
    return model
