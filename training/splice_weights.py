# SPDX-License-Identifier: GPL-3.0-or-later
"""Replace some tensors of exported weights by a fine-tuned checkpoint's, keep the rest bit-exact.

    .venv/bin/python -m training.splice_weights --base core/weights \\
        --checkpoint checkpoints/ft_corr/checkpoint.pt --prefix decoders.corr --out-dir core/weights

A run trained with ``training.train --trainable PREFIX`` changes only the parameters under
``PREFIX`` (its other parameters and their BatchNorm statistics stay as loaded). Splicing those
tensors into the shipped ``face_net.pt`` (in its dtype) gives weights whose other outputs are the
shipped ones bit for bit, so the mask threshold, the inference settings and every metric of the
untouched outputs carry over; the manifest is copied with the new file's SHA-256 and size and a
``fine_tuned`` entry naming the prefixes, the checkpoint's step and its training config.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
from pathlib import Path

import torch

from core.predict import MANIFEST_NAME, sha256_file


def splice(base_dir: str | Path, checkpoint: str | Path, prefixes: list[str], out_dir: str | Path) -> dict:
    """Write ``out_dir/face_net.pt`` + manifest: ``base_dir``'s weights with the tensors under
    ``prefixes`` taken from ``checkpoint`` (cast to the base dtype). Returns the new manifest.

    Raises ``ValueError`` when a prefix names no tensor or a tensor's shape differs.
    """
    base_dir, out_dir = Path(base_dir), Path(out_dir)
    manifest = json.loads((base_dir / MANIFEST_NAME).read_text())
    state = torch.load(base_dir / manifest.get("file", "face_net.pt"), map_location="cpu", weights_only=True)
    ckpt = torch.load(checkpoint, map_location="cpu", weights_only=False)
    new = ckpt["model"] if isinstance(ckpt.get("model"), dict) else ckpt
    replaced = 0
    for pre in prefixes:
        names = [k for k in state if k.startswith(pre)]
        if not names:
            raise ValueError(f"prefix {pre!r} names no tensor of {base_dir}")
        for k in names:
            if k not in new or new[k].shape != state[k].shape:
                raise ValueError(f"{checkpoint} has no tensor {k} of shape {tuple(state[k].shape)}")
            state[k] = new[k].to(state[k].dtype).clone()
            replaced += 1
    out_dir.mkdir(parents=True, exist_ok=True)
    weights = out_dir / "face_net.pt"
    tmp = weights.with_name(weights.name + ".tmp")
    torch.save(state, tmp)
    os.replace(tmp, weights)
    manifest.update(
        file=weights.name,
        sha256=sha256_file(weights),
        bytes=weights.stat().st_size,
        fine_tuned={
            "prefixes": list(prefixes),
            "tensors": replaced,
            "step": int(ckpt.get("step", 0)),
            "training_config": ckpt.get("config", {}),
            "spliced": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        },
    )
    (out_dir / MANIFEST_NAME).write_text(json.dumps(manifest, indent=2) + "\n")
    return manifest


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description="Splice fine-tuned tensors into exported FaceNet weights.")
    ap.add_argument("--base", default="core/weights", help="folder with face_net.pt and manifest.json")
    ap.add_argument("--checkpoint", required=True, help="training checkpoint.pt of the fine-tuning run")
    ap.add_argument("--prefix", nargs="+", required=True, help="parameter-name prefixes to take from it")
    ap.add_argument("--out-dir", required=True)
    args = ap.parse_args(argv)
    m = splice(args.base, args.checkpoint, args.prefix, args.out_dir)
    n = m["fine_tuned"]["tensors"]
    print(f"wrote {args.out_dir}/face_net.pt ({n} tensors replaced, sha256 {m['sha256']})")


if __name__ == "__main__":
    main()
