# SPDX-License-Identifier: GPL-3.0-or-later
"""Train FaceNet on synthetic heads: one process, or several through torchrun (DDP).

Examples::

    .venv/bin/python -m training.train --out-dir checkpoints/face_net --steps 20000
    .venv/bin/python -m training.train --out-dir checkpoints/face_net --steps 20000 --resume
    torchrun --nproc_per_node 2 -m training.train --out-dir checkpoints/ddp --steps 100

Everything in ``out_dir``: ``checkpoint.pt`` (model, optimizer, config, step,
RNG states; written atomically every ``checkpoint_minutes``, at the end and on
Ctrl-C / SIGTERM; with ``snapshot_from`` a copy of each one written from that
point of the schedule on is kept in ``snapshots/``, for ``training.export
--average-from``), ``metrics.jsonl`` (one JSON object per log line) and
``tb/`` (TensorBoard scalars and image grids).

Data: sample ``k`` of the training stream is a pure function of (seed, k), and
step t on rank r reads samples ``r * (length // world) + t * batch + [0, batch)``
(each rank reads its own contiguous stretch: the generator builds heads in
blocks, so sequential reading is its fast path); a resumed run sees exactly the
batches the uninterrupted run would have seen.
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib
import importlib.util
import json
import math
import os
import random
import shutil
import signal
import sys
import time
import typing
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist
from torch.utils.data import DataLoader, Sampler

from core.network import FaceNet, NetConfig, count_parameters
from core.views import layout_of
from training.augment import mirror_samples
from training.model_losses import Discriminators, LossConfig, generator_terms, weighted_total


@dataclass
class TrainConfig:
    """Every knob of a training run; the command line is generated from these fields."""

    out_dir: str = "checkpoints/face_net"  # checkpoint.pt, metrics.jsonl, tb/
    dataset: str = "training.synth:SynthDataset"  # "module:Class" or "path/file.py:Class"
    data_dir: str = ""  # folder of shards (training.synth.shards) to train on instead of on-the-fly `dataset`
    data_on_device: bool = False  # with data_dir: decode every shard once into the training device's
    # memory and gather batches there, no DataLoader (a GPU outruns the workers; 13 GB at 36 864 x 128 px)
    resolution: int = 128  # crop side S (px)
    steps: int = 20000  # optimizer steps in the whole run (the lr schedule spans them)
    batch_size: int = 16  # samples per step per process
    optimizer: str = "adam"  # "adam" or "rmsprop" (the normals paper: RMSprop lr 1e-4)
    lr: float = 2e-3  # peak learning rate
    lr_min_ratio: float = 0.02  # cosine decay to lr * this at the last step
    warmup_steps: int = 200  # linear warm-up (steps)
    weight_decay: float = 0.0
    grad_clip: float = 5.0  # max global gradient norm (0 = off)
    seed: int = 0  # model init and data stream
    num_workers: int = 1  # DataLoader worker processes generating samples
    threads: int = 0  # torch intra-op threads in the main process (0 = cores - workers, >= 1)
    device: str = "auto"  # "auto" (cuda when present), "cpu", "cuda"
    tf32: bool = True  # on CUDA: TensorFloat-32 convolutions and matmuls (faster); --no-tf32 keeps full
    # float32 arithmetic, as on the CPU (for a GPU replay of a CPU recipe)
    channels_last: bool = True  # NHWC tensors: 1.7x the samples/s of NCHW on this CPU (1 thread, 128 px)
    bf16: bool = False  # forward pass under torch.autocast(bfloat16) (convolutions in bfloat16, weights,
    # gradients, optimizer and losses in float32): 0.75x the step time on a CPU with AVX-512 (the hosts
    # up to 2026-11-30); ignored, with a warning, where bfloat16 is not native (see native_bf16)
    bf16_emulated: bool = False  # with bf16: autocast even where the CPU only emulates bfloat16 (AVX2:
    # 10x the float32 step time on the host of 2026-12-01; for tests and comparisons)
    data_length: int = 100_000_000  # length of the on-the-fly training stream (samples)
    val_size: int = 64  # validation images (split "val")
    val_every: int = 1000  # steps between validations (0 = off)
    log_every: int = 20  # steps between scalar logs
    image_every: int = 500  # steps between TensorBoard image grids (0 = off)
    checkpoint_minutes: float = 10.0  # wall-clock minutes between checkpoints
    max_minutes: float = 0.0  # stop (with a checkpoint) after this many minutes of training in
    # total, the time before a resume included (0 = no limit)
    anneal_by_time: bool = False  # with max_minutes: decay progress = max(steps, time) so the lr
    # reaches its minimum when max_minutes run out, whatever the throughput (not bit-exact on resume)
    crop_size: int = 0  # train on random crop_size x crop_size windows of each sample (px, a
    # multiple of net.stride; 0 = whole samples) while the schedule's progress is below crop_until
    crop_until: float = 0.0  # fraction of the schedule (steps, or time with anneal_by_time) trained on crops
    mirror_prob: float = 0.0  # chance that a sample is mirrored left-right (image and targets,
    # training.augment), drawn per sample from a generator seeded per step and rank (exact resume)
    snapshot_from: float = 0.0  # keep a copy of every checkpoint written once the schedule's progress
    # reaches this fraction, as snapshots/step_NNNNNN.pt (0 = keep none; training.export averages them)
    halt_at_step: int = 0  # stop (with a checkpoint) when reaching this step (0 = off; for tests)
    resume: bool = False  # continue from out_dir/checkpoint.pt
    init_from: str = ""  # start from these weights (exported face_net.pt, float16 or float32, or a
    # checkpoint.pt's model) at step 0 with a fresh optimizer: fine-tuning; ignored when resuming
    progress: bool = True  # tqdm bar on rank 0
    # train only the parameters whose names start with one of these prefixes (e.g. "decoders.corr");
    # the rest stay as loaded, their BatchNorm statistics too (frozen modules run in eval mode); () = all
    trainable: tuple[str, ...] = ()
    net: NetConfig = field(default_factory=NetConfig)
    loss: LossConfig = field(default_factory=LossConfig)

    @classmethod
    def from_dict(cls, d: dict) -> TrainConfig:
        d = dict(d)
        net = NetConfig.from_dict(d.pop("net", {}))
        # lists (JSON, the command line) back to the tuples of tuple-typed fields
        loss = LossConfig(**{k: tuple(v) if isinstance(v, list) else v for k, v in d.pop("loss", {}).items()})
        d = {k: tuple(v) if isinstance(v, list) else v for k, v in d.items()}  # e.g. trainable
        return cls(**d, net=net, loss=loss)


# ----------------------------------------------------------------------------- command line


def _add_fields(parser: argparse.ArgumentParser, cls: type, prefix: str = "") -> None:
    hints = typing.get_type_hints(cls)
    defaults = cls()
    for f in dataclasses.fields(cls):
        tp, default = hints[f.name], getattr(defaults, f.name)
        if dataclasses.is_dataclass(tp):
            _add_fields(parser, tp, prefix + f.name + ".")
            continue
        flag = "--" + (prefix + f.name).replace("_", "-")
        dest = prefix + f.name
        if tp is bool:
            parser.add_argument(flag, dest=dest, action=argparse.BooleanOptionalAction, default=default)
        elif typing.get_origin(tp) is tuple:
            parser.add_argument(flag, dest=dest, type=typing.get_args(tp)[0], nargs="+", default=default)
        else:
            parser.add_argument(flag, dest=dest, type=tp, default=default, help=f"default: {default}")


def parse_args(argv: list[str] | None = None) -> TrainConfig:
    """TrainConfig from the command line (``--net.widths 16 24 ...``, ``--loss.w-gan 0.002``)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    _add_fields(parser, TrainConfig)
    ns = vars(parser.parse_args(argv))
    nested: dict = {"net": {}, "loss": {}}
    top = {}
    for key, value in ns.items():
        head, _, tail = key.partition(".")
        if tail:
            nested[head][tail] = list(value) if isinstance(value, tuple | list) else value
        else:
            top[key] = value
    return TrainConfig.from_dict({**top, **nested})


# ----------------------------------------------------------------------------- data


def load_dataset_class(spec: str) -> type:
    """``"module:Class"`` or ``"path/to/file.py:Class"`` -> the class."""
    target, _, name = spec.rpartition(":")
    if target.endswith(".py"):
        mod_name = "_dataset_" + Path(target).stem
        module = sys.modules.get(mod_name)
        if module is None:
            s = importlib.util.spec_from_file_location(mod_name, target)
            module = importlib.util.module_from_spec(s)
            sys.modules[mod_name] = module
            s.loader.exec_module(module)
    else:
        module = importlib.import_module(target)
    return getattr(module, name)


class StepBatchSampler(Sampler):
    """Batches of sample indices for steps ``start .. stop - 1`` of this rank (see module docstring)."""

    def __init__(self, start: int, stop: int, batch: int, rank: int, world: int, length: int):
        self.start, self.stop, self.batch, self.rank, self.world, self.length = (
            start, stop, batch, rank, world, length,
        )

    def __len__(self) -> int:
        return max(0, self.stop - self.start)

    def __iter__(self):
        per_rank = self.length // self.world
        for step in range(self.start, self.stop):
            first = self.rank * per_rank + step * self.batch
            yield [(first + i) % self.length for i in range(self.batch)]


# ----------------------------------------------------------------------------- helpers


def schedule_progress(step: int, cfg: TrainConfig) -> float:
    """Fraction in [0, 1] of the cosine decay reached at ``step`` (0 during warm-up)."""
    return min(1.0, max(0.0, (step - cfg.warmup_steps) / max(1, cfg.steps - cfg.warmup_steps)))


def decay_progress(step: int, elapsed_s: float, cfg: TrainConfig) -> float:
    """The schedule's decay fraction after ``step`` steps and ``elapsed_s`` s of training.

    By steps (:func:`schedule_progress`), or with ``anneal_by_time`` and
    ``max_minutes`` the larger of that and elapsed / max time (not clipped to 1).
    """
    if not (cfg.anneal_by_time and cfg.max_minutes > 0):
        return schedule_progress(step, cfg)
    return max(schedule_progress(step, cfg), elapsed_s / (cfg.max_minutes * 60))


def checkpoint_progress(ckpt: dict) -> float:
    """:func:`decay_progress` of a saved checkpoint (from its step, elapsed time and config)."""
    return decay_progress(ckpt["step"], ckpt.get("elapsed_s", 0.0), TrainConfig.from_dict(ckpt["config"]))


def lr_at(step: int, cfg: TrainConfig, progress: float | None = None) -> float:
    """Linear warm-up then cosine decay to ``lr * lr_min_ratio`` at ``cfg.steps``.

    ``progress`` overrides the decay fraction (used by ``anneal_by_time``).
    """
    if step < cfg.warmup_steps:
        return cfg.lr * (step + 1) / cfg.warmup_steps
    t = schedule_progress(step, cfg) if progress is None else min(1.0, progress)
    return cfg.lr * (cfg.lr_min_ratio + (1 - cfg.lr_min_ratio) * 0.5 * (1 + math.cos(math.pi * t)))


def make_optimizer(params, cfg: TrainConfig) -> torch.optim.Optimizer:
    if cfg.optimizer == "adam":
        return torch.optim.Adam(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    if cfg.optimizer == "rmsprop":
        return torch.optim.RMSprop(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    raise ValueError(f"optimizer must be 'adam' or 'rmsprop', got {cfg.optimizer!r}")


def save_atomic(obj: dict, path: Path) -> None:
    """torch.save to a temporary file in the same folder, then rename over ``path``."""
    tmp = path.with_name(path.name + ".tmp")
    torch.save(obj, tmp)
    with open(tmp, "rb") as fh:
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def rng_states() -> dict:
    return {
        "torch": torch.get_rng_state(),
        "numpy": np.random.get_state(),  # noqa: NPY002 - the global state is what resume must restore
        "python": random.getstate(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
    }


def set_rng_states(s: dict) -> None:
    """Restore :func:`rng_states` (CPU byte tensors, also when the checkpoint was mapped to a GPU)."""
    torch.set_rng_state(s["torch"].cpu())
    np.random.set_state(s["numpy"])  # noqa: NPY002
    random.setstate(s["python"])
    if s.get("cuda") and torch.cuda.is_available():
        torch.cuda.set_rng_state_all([t.cpu() for t in s["cuda"]])


def git_commit() -> str:
    """``git rev-parse HEAD`` of this repository ('unknown' outside git)."""
    import subprocess

    try:
        res = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=Path(__file__).resolve().parents[1],
            capture_output=True, text=True, check=True,
        )
        return res.stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def to_device(batch: dict, device: torch.device, channels_last: bool = False) -> dict[str, torch.Tensor]:
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    return {k: v.to(device, non_blocking=True, memory_format=fmt).float() for k, v in batch.items()}


def training_set(cfg: TrainConfig):
    """The training stream: shards in ``cfg.data_dir`` when set, else ``cfg.dataset`` on the fly."""
    if cfg.data_dir:
        from training.synth.dataset import ShardDataset

        ds = ShardDataset(cfg.data_dir)
        side = ds[0]["image"].shape[-1]
        if side != cfg.resolution:
            raise ValueError(f"shards in {cfg.data_dir} are {side} px, the config asks for {cfg.resolution}")
        return ds
    dataset_cls = load_dataset_class(cfg.dataset)
    return dataset_cls(split="train", resolution=cfg.resolution, length=cfg.data_length, seed=cfg.seed)


def random_crops(batch: dict[str, torch.Tensor], size: int, generator: torch.Generator) -> dict:
    """One random ``size`` x ``size`` window per sample, the same window in every map.

    Maps are (B, C, S, S); returns (B, C, size, size). Pixel scale is kept (no
    resampling), so the gradient magnitude W (depth units per pixel) stays valid;
    depth losses remove the per-sample offset, so a window's depth needs no shift.
    Windows are drawn from ``generator`` (seeded per step and rank: exact resume).
    """
    n, _, _, side = next(iter(batch.values())).shape
    if not 0 < size <= side:
        raise ValueError(f"crop_size must be in 1..{side} px, got {size}")
    ys = torch.randint(0, side - size + 1, (n,), generator=generator).tolist()
    xs = torch.randint(0, side - size + 1, (n,), generator=generator).tolist()
    return {
        k: layout_of(torch.stack([v[i, :, y:y + size, x:x + size]
                                  for i, (y, x) in enumerate(zip(ys, xs, strict=True))]), v)
        for k, v in batch.items()
    }


def normal_error_deg(pred: torch.Tensor, gt: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean angle (degrees) between (B, 3, H, W) unit normals over mask (B, 1, H, W)."""
    cos = (pred * gt).sum(1, keepdim=True).clamp(-1, 1)
    ang = torch.rad2deg(torch.acos(cos))
    return (ang * mask).sum() / mask.sum().clamp_min(1)


def image_grid(batch: dict, out: dict, n: int = 4) -> torch.Tensor:
    """(3, n*S, 8*S) grid in [0, 1]: input | N pred | N gt | W pred | W gt | mask pred | D pred | D gt."""

    def gray(x: torch.Tensor) -> torch.Tensor:
        return x.expand(-1, 3, -1, -1)

    def depth_vis(d: torch.Tensor, m: torch.Tensor) -> torch.Tensor:
        s = d.shape[-1] / 4
        return gray((d / s * 0.5 + 0.5).clamp(0, 1) * m)

    b = {k: v[:n].detach().float().cpu() for k, v in batch.items()}
    o = {k: v[:n].detach().float().cpu() for k, v in out.items()}
    cols = [
        b["image"],
        o["normals"] * 0.5 + 0.5,
        b["normals"] * 0.5 + 0.5,
        gray(torch.tanh(o["grad_mag"])),
        gray(torch.tanh(b["grad_mag"])),
        gray(torch.sigmoid(o["mask_logits"])),
        depth_vis(o["depth"] - (o["depth"] * b["mask"]).flatten(1).mean(1).view(-1, 1, 1, 1), b["mask"]),
        depth_vis(b["depth"], b["mask"]),
    ]
    rows = torch.cat(cols, dim=3)  # (n, 3, S, 8S)
    return torch.cat(list(rows), dim=1).clamp(0, 1)


# ----------------------------------------------------------------------------- training


def native_bf16(device: torch.device) -> bool:
    """Whether ``device`` runs bfloat16 convolutions natively (fast), not emulated.

    CUDA: ``torch.cuda.is_bf16_supported()``. CPU: oneDNN's bfloat16 kernels,
    which need AVX-512 (``torch.ops.mkldnn._is_mkldnn_bf16_supported``). On the
    AVX2-only host of 2026-12-01 a training step of the shipped network under
    bfloat16 autocast took 24.9 s against 2.5 s in float32 (one thread, batch 16;
    ``benchmarks/bench_train_step.py --variants 2.7M_shipped 2.7M_shipped_bf16``).
    """
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):  # a build without oneDNN
        return False


def load_initial_weights(model: FaceNet, path: str | Path) -> None:
    """Copy the weights of ``path`` into ``model`` (cast to its dtype), for ``--init-from``.

    ``path``: exported weights (a state dict, as ``training.export`` writes, float16 or float32)
    or a training checkpoint (its ``"model"``). Raises ``ValueError`` when the file is not a
    state dict of this architecture (missing, unexpected or differently shaped tensors).
    """
    state = torch.load(path, map_location="cpu", weights_only=False)
    if isinstance(state, dict) and isinstance(state.get("model"), dict):
        state = state["model"]
    if not isinstance(state, dict):
        raise ValueError(f"{path}: not a state dict or a training checkpoint")
    try:
        model.load_state_dict(state)  # strict: same keys and shapes; copying casts float16 to float32
    except (RuntimeError, TypeError) as e:
        raise ValueError(f"{path}: its weights do not fit this network's config (--net.*)") from e


def select_trainable(model: torch.nn.Module, prefixes: tuple[str, ...]) -> list[torch.nn.Parameter]:
    """Freeze every parameter whose name starts with none of ``prefixes`` (all train when empty).

    Returns the trainable parameters, for the optimizer. Raises ``ValueError`` when a prefix
    names no parameter (a typo would otherwise train nothing).
    """
    names = [n for n, _ in model.named_parameters()]
    for pre in prefixes:
        if not any(n.startswith(pre) for n in names):
            raise ValueError(f"--trainable {pre!r} names no parameter of the network")
    keep = []
    for n, p in model.named_parameters():
        p.requires_grad_(not prefixes or any(n.startswith(pre) for pre in prefixes))
        if p.requires_grad:
            keep.append(p)
    return keep


def set_train_mode(model: torch.nn.Module, prefixes: tuple[str, ...]) -> None:
    """``model.train()``, except modules with no trainable parameter of their own or below stay in
    eval mode (their BatchNorm keeps the loaded statistics) when ``prefixes`` freezes part of it."""
    model.train()
    if not prefixes:
        return
    for module in model.modules():
        params = list(module.parameters())
        if params and not any(p.requires_grad for p in params):
            module.eval()


def train(cfg: TrainConfig) -> tuple[FaceNet, dict]:
    """Run (or resume) training; works alone or under torchrun.

    Returns the trained (unwrapped) model and the last logged training metrics
    (empty on ranks other than 0).
    """
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    use_cuda = cfg.device == "cuda" or (cfg.device == "auto" and torch.cuda.is_available())
    device = torch.device(f"cuda:{local_rank}" if use_cuda else "cpu")
    if world > 1 and not dist.is_initialized():
        dist.init_process_group("nccl" if use_cuda else "gloo")
    if use_cuda:
        torch.cuda.set_device(device)
        torch.backends.cudnn.benchmark = True  # fixed input shapes: let cuDNN pick its fastest kernels
        torch.backends.cudnn.allow_tf32 = cfg.tf32
        torch.backends.cuda.matmul.allow_tf32 = cfg.tf32
    if not use_cuda:
        cores = len(os.sched_getaffinity(0)) // world
        torch.set_num_threads(cfg.threads or max(1, cores - cfg.num_workers))

    out_dir = Path(cfg.out_dir)
    ckpt_path = out_dir / "checkpoint.pt"
    is_main = rank == 0
    bf16 = cfg.bf16 and (cfg.bf16_emulated or native_bf16(device))
    if cfg.bf16 and not bf16 and is_main:
        print(f"--bf16 ignored: {device.type} has no native bfloat16 convolutions (emulated they are "
              "several times slower); training in float32", flush=True)
    if is_main:
        out_dir.mkdir(parents=True, exist_ok=True)

    # Deterministic initialisation (identical on every rank).
    torch.manual_seed(cfg.seed)
    np.random.seed(cfg.seed)  # noqa: NPY002 - seeds third-party code using the global RNG
    random.seed(cfg.seed)
    model = FaceNet(cfg.net).to(device)
    if cfg.crop_size % model.cfg.stride or cfg.crop_size > cfg.resolution:
        raise ValueError(f"crop_size must be a multiple of {model.cfg.stride} px up to the resolution "
                         f"{cfg.resolution}, got {cfg.crop_size}")
    if cfg.channels_last:
        model = model.to(memory_format=torch.channels_last)
    opt = make_optimizer(select_trainable(model, cfg.trainable), cfg)
    discs = d_opt = None
    if cfg.loss.w_gan > 0:
        discs = Discriminators(cfg.loss.d_width).to(device)
        d_opt = torch.optim.Adam(discs.parameters(), lr=cfg.loss.d_lr, betas=(0.5, 0.999))

    step, elapsed_before = 0, 0.0
    resumed = cfg.resume and ckpt_path.exists()
    if resumed:
        ckpt = torch.load(ckpt_path, map_location=device, weights_only=False)
        model.load_state_dict(ckpt["model"])
        opt.load_state_dict(ckpt["optimizer"])
        if discs is not None and ckpt.get("discriminators") is not None:
            discs.load_state_dict(ckpt["discriminators"])
            d_opt.load_state_dict(ckpt["disc_optimizer"])
        step, elapsed_before = ckpt["step"], ckpt.get("elapsed_s", 0.0)
        set_rng_states(ckpt["rng"])
        if is_main:
            print(f"resumed from {ckpt_path} at step {step}", flush=True)
    elif cfg.resume and is_main and not cfg.init_from:
        print(f"no checkpoint at {ckpt_path}; starting from scratch", flush=True)
    if cfg.init_from and not resumed:
        load_initial_weights(model, cfg.init_from)
        if is_main:
            print(f"starting from the weights of {cfg.init_from}", flush=True)

    ddp_model = model
    if world > 1:
        ddp_model = torch.nn.parallel.DistributedDataParallel(
            model, device_ids=[local_rank] if use_cuda else None
        )

    stop = cfg.steps if cfg.halt_at_step <= 0 else min(cfg.steps, cfg.halt_at_step)
    if cfg.data_on_device:
        if not cfg.data_dir:
            raise ValueError("data_on_device needs data_dir (a folder of shards)")
        from training.synth.dataset import ShardTensors

        t_load = time.time()
        tensors = ShardTensors(cfg.data_dir, device, threads=max(1, len(os.sched_getaffinity(0)) // world))
        if tensors.tensors["image"].shape[-1] != cfg.resolution:
            raise ValueError(f"shards in {cfg.data_dir} are not {cfg.resolution} px")
        if is_main:
            print(f"{len(tensors)} samples decoded onto {device} in {time.time() - t_load:.0f} s", flush=True)
        sampler = StepBatchSampler(step, stop, cfg.batch_size, rank, world, len(tensors))
        loader = (tensors.batch(ix) for ix in sampler)
    else:
        train_set = training_set(cfg)
        loader = DataLoader(
            train_set,
            batch_sampler=StepBatchSampler(step, stop, cfg.batch_size, rank, world, len(train_set)),
            num_workers=cfg.num_workers,
            persistent_workers=False,
            prefetch_factor=4 if cfg.num_workers > 0 else None,
            pin_memory=use_cuda,
        )
    val_batches: list[dict] = []
    if is_main and cfg.val_every > 0 and cfg.val_size > 0:
        val_cls = load_dataset_class(cfg.dataset)
        val_set = val_cls(split="val", resolution=cfg.resolution, length=cfg.val_size, seed=cfg.seed)
        val_loader = DataLoader(val_set, batch_size=min(32, cfg.val_size), num_workers=0)
        val_batches = list(val_loader)

    writer = None
    if is_main:
        try:
            from torch.utils.tensorboard import SummaryWriter

            writer = SummaryWriter(str(out_dir / "tb"), purge_step=step)
        except ImportError:  # TensorBoard is optional
            writer = None
        with open(out_dir / "config.json", "w") as fh:
            json.dump(asdict(cfg), fh, indent=2)
        print(f"FaceNet: {count_parameters(model)} parameters, device {device}, world {world}", flush=True)

    commit = git_commit()
    stop_requested = {"flag": False}

    def request_stop(signum, frame):  # noqa: ARG001 - signal handler signature
        stop_requested["flag"] = True

    old_handlers = {s: signal.signal(s, request_stop) for s in (signal.SIGINT, signal.SIGTERM)}

    def checkpoint() -> None:
        if not is_main:
            return
        dm = discs
        elapsed_s = elapsed_before + time.time() - t_start
        save_atomic(
            {
                "model": model.state_dict(),
                "optimizer": opt.state_dict(),
                "discriminators": dm.state_dict() if dm is not None else None,
                "disc_optimizer": d_opt.state_dict() if d_opt is not None else None,
                "config": asdict(cfg),
                "step": step,
                "elapsed_s": elapsed_s,
                "rng": rng_states(),
                "git_commit": commit,
            },
            ckpt_path,
        )
        if 0 < cfg.snapshot_from <= decay_progress(step, elapsed_s, cfg):  # as checkpoint_progress reads it
            (out_dir / "snapshots").mkdir(exist_ok=True)
            shutil.copyfile(ckpt_path, out_dir / "snapshots" / f"step_{step:06d}.pt")

    def log(record: dict) -> None:
        with open(out_dir / "metrics.jsonl", "a") as fh:
            fh.write(json.dumps(record) + "\n")
        if writer is not None:
            for k, v in record.items():
                if isinstance(v, int | float) and k != "step":
                    writer.add_scalar(f"{record.get('split', 'train')}/{k}", v, record["step"])

    def validate() -> dict:
        model.eval()
        sums: dict[str, float] = {}
        with torch.no_grad():
            for vb in val_batches:
                vb = to_device(vb, device, cfg.channels_last)
                vo = model(vb["image"])
                terms = generator_terms(vo, vb, cfg.loss)
                terms["loss"] = weighted_total(terms, cfg.loss)
                terms["normal_deg"] = normal_error_deg(vo["normals"], vb["normals"], vb["mask"])
                for k, v in terms.items():
                    sums[k] = sums.get(k, 0.0) + float(v) / len(val_batches)
        set_train_mode(model, cfg.trainable)
        return sums

    pbar = None
    if is_main and cfg.progress:
        from tqdm import tqdm

        pbar = tqdm(total=cfg.steps, initial=step, mininterval=10.0, dynamic_ncols=True)

    t_start = time.time()

    def synced_clock() -> tuple[float, bool]:
        """Seconds since this run started and whether a stop was requested, equal on every rank.

        Rank 0's clock and any rank's request (one all-reduce of 2 numbers per
        step): time-based lr and stopping must agree across DDP replicas, or they
        drift apart or one waits forever for the other's gradients.
        """
        if world == 1:  # nothing to agree on, and no GPU round trip stalling the step queue
            return time.time() - t_start, stop_requested["flag"]
        t = torch.tensor([time.time() - t_start if is_main else 0.0, float(stop_requested["flag"])],
                         dtype=torch.float64, device=device)
        dist.all_reduce(t, op=dist.ReduceOp.MAX)
        return float(t[0]), bool(t[1])

    def progress_now(elapsed: float) -> float:
        """:func:`decay_progress` now, ``elapsed`` s into this part of the run."""
        return decay_progress(step, elapsed_before + elapsed, cfg)

    crop_gen = torch.Generator()
    mirror_gen = torch.Generator()

    last_ckpt = time.time()
    t_log, samples_since = time.time(), 0
    last: dict = {}
    running: dict[str, torch.Tensor] = {}  # sums on the device, read at log time (one sync per log)
    set_train_mode(model, cfg.trainable)
    interrupted = False
    try:
        for batch in loader:
            batch = to_device(batch, device, cfg.channels_last)
            elapsed, stop_flag = synced_clock()
            progress = progress_now(elapsed)
            for g in opt.param_groups:
                g["lr"] = lr_at(step, cfg, progress)
            if cfg.crop_size and progress < cfg.crop_until:
                crop_gen.manual_seed(cfg.seed * 1_000_003 + step * 97 + rank)
                batch = random_crops(batch, cfg.crop_size, crop_gen)
            if cfg.mirror_prob > 0:
                mirror_gen.manual_seed(cfg.seed * 1_000_033 + step * 89 + rank)
                draws = torch.rand(batch["image"].shape[0], generator=mirror_gen)
                batch = mirror_samples(batch, draws.to(device) < cfg.mirror_prob)
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
                out = ddp_model(batch["image"])
            if bf16:
                out = {k: v.float() for k, v in out.items()}
            terms = generator_terms(out, batch, cfg.loss)
            loss = weighted_total(terms, cfg.loss)
            if discs is not None:
                d_opt.zero_grad(set_to_none=True)
                d_loss = discs.loss_d(out, batch)
                d_loss.backward()
                if world > 1:  # the discriminators are not DDP-wrapped: average their gradients here
                    for p in discs.parameters():
                        if p.grad is not None:
                            dist.all_reduce(p.grad)
                            p.grad /= world
                d_opt.step()
                for p in discs.parameters():
                    p.requires_grad_(False)
                g_adv = discs.loss_g(out, batch)
                for p in discs.parameters():
                    p.requires_grad_(True)
                terms["gan_g"], terms["gan_d"] = g_adv, d_loss
                loss = loss + cfg.loss.w_gan * g_adv
            opt.zero_grad(set_to_none=True)
            loss.backward()
            if cfg.grad_clip > 0:
                torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
            opt.step()
            step += 1
            samples_since += cfg.batch_size * world
            terms["loss"] = loss
            for k, v in terms.items():
                running[k] = running[k] + v.detach() if k in running else v.detach().clone()
            if pbar is not None:
                pbar.update(1)
                pbar.set_postfix(loss=f"{float(loss.detach()):.4f}", refresh=False)

            if is_main and (step % cfg.log_every == 0 or step == stop):
                n = cfg.log_every if step % cfg.log_every == 0 else (step % cfg.log_every)
                now = time.time()
                last = {"step": step, "split": "train", "lr": opt.param_groups[0]["lr"]}
                last.update({k: float(v) / n for k, v in running.items()})
                last["samples_per_s"] = samples_since / max(1e-9, now - t_log)
                last["elapsed_s"] = elapsed_before + now - t_start
                log(last)
                running, samples_since, t_log = {}, 0, now
            if is_main and writer is not None and cfg.image_every > 0 and step % cfg.image_every == 0:
                writer.add_image("train/input|N|N_gt|W|W_gt|mask|D|D_gt", image_grid(batch, out), step)
                writer.flush()
            if is_main and val_batches and step % cfg.val_every == 0:
                v = validate()
                log({"step": step, "split": "val", **v})
                print(f"step {step} val loss {v['loss']:.4f} normal {v['normal_deg']:.2f} deg", flush=True)
            if time.time() - last_ckpt > cfg.checkpoint_minutes * 60:
                checkpoint()
                last_ckpt = time.time()
            over_time = cfg.max_minutes > 0 and elapsed_before + elapsed > cfg.max_minutes * 60
            if stop_flag or over_time:
                interrupted = True
                break
    except RuntimeError:
        if not stop_requested["flag"]:  # a worker killed by Ctrl-C lands here; anything else re-raises
            raise
        interrupted = True
    finally:
        for s, h in old_handlers.items():
            signal.signal(s, h)
        if pbar is not None:
            pbar.close()
    checkpoint()
    if is_main:
        why = "stopped" if interrupted else "finished"
        print(f"{why} at step {step}; checkpoint {ckpt_path}", flush=True)
        if writer is not None:
            writer.close()
    if world > 1:
        dist.barrier()
    return model, last


def main(argv: list[str] | None = None) -> None:
    cfg = parse_args(argv)
    try:
        train(cfg)
    finally:
        if dist.is_initialized():
            dist.destroy_process_group()


if __name__ == "__main__":
    main()
