# SPDX-License-Identifier: GPL-3.0-or-later
"""Contact sheet of synthetic samples: RGB | N | W | mask | depth | C per row.

    python -m training.synth.contact_sheet -o docs/synth_contact_sheet.png

N is shown as (N + 1) / 2, W as min(W / 3, 1), depth normalised per sample over the mask.
"""

from __future__ import annotations

import argparse

import cv2
import numpy as np

from training.synth import generator


def tiles(s: dict) -> np.ndarray:
    m = s["mask"]
    d = s["depth"]
    dn = np.zeros_like(d)
    if m.any():
        dn = np.where(m, (d - d[m].min()) / max(float(np.ptp(d[m])), 1e-6), 0.0)
    g = lambda a: np.repeat(a[..., None], 3, 2).astype(np.float32)  # noqa: E731
    return np.concatenate([s["image"], (s["normals"] + 1) / 2, g(np.clip(s["grad_mag"] / 3, 0, 1)),
                           g(m), g(dn), s["corr"]], 1)


def contact_sheet(samples: list[dict]) -> np.ndarray:
    """(rows*S + header, 6*S, 3) uint8 RGB."""
    S = samples[0]["image"].shape[0]
    body = np.concatenate([tiles(s) for s in samples], 0)
    header = np.zeros((24, body.shape[1], 3), np.float32)
    for k, name in enumerate(["RGB", "N", "W", "mask", "depth", "C"]):
        cv2.putText(header, name, (k * S + 6, 17), cv2.FONT_HERSHEY_SIMPLEX, 0.55, (1, 1, 1), 1, cv2.LINE_AA)
    return (np.clip(np.concatenate([header, body], 0), 0, 1) * 255 + 0.5).astype(np.uint8)


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("-o", "--out", default="docs/synth_contact_sheet.png")
    ap.add_argument("--split", default="val", choices=sorted(generator.SPLITS))
    ap.add_argument("--count", type=int, default=12)
    ap.add_argument("--start", type=int, default=0)
    ap.add_argument("--resolution", type=int, default=128)
    a = ap.parse_args(argv)
    samples = []
    b = a.start // generator.BLOCK
    while len(samples) < a.count:
        for k, s in enumerate(generator.generate_block(a.split, b, a.resolution)):
            if b * generator.BLOCK + k >= a.start and len(samples) < a.count:
                samples.append(s)
        b += 1
    img = contact_sheet(samples)
    cv2.imwrite(a.out, img[..., ::-1])
    print(f"wrote {a.out} ({img.shape[1]}x{img.shape[0]})")


if __name__ == "__main__":
    main()
