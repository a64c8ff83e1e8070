# SPDX-License-Identifier: GPL-3.0-or-later
"""Proof that the fixed test set regenerates: statistics within tolerance, and bit-exact digests.

    python -m training.synth.checksum            # check the statistics; say whether it is bit-exact
    python -m training.synth.checksum --write    # record new statistics and digest (deliberate change)
    python -m training.synth.checksum --add      # add this CPU's digest beside the recorded ones

Two records live next to this file, for 128 px:

* ``test_set_128.stats.json``: for each of the ``dataset.TEST_SET_SIZE`` samples and
  each channel of ``dataset.KEYS`` (image 3, normals 3, grad_mag 1, mask 1, depth 1,
  corr 3: 12 channels), the mean and the standard deviation over the 128 x 128
  pixels. The test set passes when every regenerated statistic s differs from the
  recorded r by at most ``TOLERANCE`` times the channel's scale (the mean over
  samples of the recorded standard deviation):  max |s - r| / scale <= 1e-3.
  That is what tests/training/test_synth_test_set.py asserts.
* ``test_set_128.sha256``: SHA-256 over every map's name, dtype, shape and bytes,
  one line per CPU family that recorded it. Bit-exactness does not carry across
  CPUs: the same code and packages give a different digest on an AMD EPYC and on
  a third (Intel Xeon) CI machine, because numpy's, OpenCV's and torch's float32
  kernels pick SIMD paths by CPU. Forcing other paths on one machine
  (``NPY_DISABLE_CPU_FEATURES``, ``OPENCV_CPU_DISABLE``, ``ATEN_CPU_CAPABILITY``)
  changes the digest but moves no pixel by more than 5e-7 and flips no mask pixel,
  which is why the statistics, not the digest, decide.

Any change to the generator that moves a statistic beyond the tolerance must come
with ``--write`` and a note saying why.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import sys

import numpy as np

from training.synth.dataset import KEYS, test_set

HERE = os.path.dirname(os.path.abspath(__file__))
TOLERANCE = 1e-3  # largest |regenerated - recorded| statistic, in units of the channel's scale


def digest_path(resolution: int = 128) -> str:
    return os.path.join(HERE, f"test_set_{int(resolution)}.sha256")


def stats_path(resolution: int = 128) -> str:
    return os.path.join(HERE, f"test_set_{int(resolution)}.stats.json")


def digest(samples: list[dict]) -> str:
    """Hex SHA-256 over the maps of ``samples`` (order, names, dtypes, shapes, bytes)."""
    h = hashlib.sha256()
    for s in samples:
        for k in KEYS:
            a = np.ascontiguousarray(s[k])
            h.update(f"{k}:{a.dtype.str}:{a.shape};".encode())
            h.update(a.tobytes())
    return h.hexdigest()


def channel_names(sample: dict) -> list[str]:
    """'image.0', 'image.1', ..., 'grad_mag', 'mask', ... in ``KEYS`` order."""
    names = []
    for k in KEYS:
        a = np.asarray(sample[k])
        names += [f"{k}.{c}" for c in range(a.shape[2])] if a.ndim == 3 else [k]
    return names


def statistics(samples: list[dict]) -> np.ndarray:
    """(N, C, 2) float64: per sample and channel, the mean and the std over the pixels."""
    out = []
    for s in samples:
        rows = []
        for k in KEYS:
            a = np.asarray(s[k], dtype=np.float64)
            a = a.reshape(-1, a.shape[2]) if a.ndim == 3 else a.reshape(-1, 1)
            rows.append(np.stack([a.mean(0), a.std(0)], axis=1))
        out.append(np.concatenate(rows, axis=0))
    return np.stack(out)


def deviation(stats: np.ndarray, recorded: np.ndarray) -> tuple[float, tuple[int, int, int]]:
    """Largest |stats - recorded| in units of each channel's scale, and where (sample, channel, 0=mean/1=std).

    scale_c = mean over samples of the recorded std of channel c (floored at 1e-6).
    """
    if stats.shape != recorded.shape:
        raise ValueError(f"statistics of shape {stats.shape} do not match the recorded {recorded.shape}")
    scale = np.maximum(recorded[:, :, 1].mean(axis=0), 1e-6)
    dev = np.abs(stats - recorded) / scale[None, :, None]
    where = np.unravel_index(int(np.argmax(dev)), dev.shape)
    return float(dev[where]), tuple(int(i) for i in where)


def write_stats(samples: list[dict], resolution: int = 128) -> str:
    path = stats_path(resolution)
    record = {
        "resolution": int(resolution),
        "channels": channel_names(samples[0]),
        "tolerance": TOLERANCE,
        "stats": np.round(statistics(samples), 10).tolist(),
    }
    with open(path, "w") as f:
        json.dump(record, f, separators=(",", ":"))
        f.write("\n")
    return path


def read_stats(resolution: int = 128) -> tuple[list[str], np.ndarray]:
    """(channel names, (N, C, 2) recorded statistics)."""
    with open(stats_path(resolution)) as f:
        record = json.load(f)
    return record["channels"], np.asarray(record["stats"], dtype=np.float64)


def check(samples: list[dict], resolution: int = 128) -> tuple[bool, str]:
    """(passes, one-line explanation) for regenerated ``samples`` against the recorded statistics."""
    names, recorded = read_stats(resolution)
    dev, (i, c, which) = deviation(statistics(samples), recorded)
    ok = dev <= TOLERANCE
    return ok, (
        f"largest deviation {dev:.2e} of the channel scale (tolerance {TOLERANCE:.0e}) "
        f"at sample {i}, {names[c]} {'mean' if which == 0 else 'std'}"
    )


def test_set_digest(resolution: int = 128) -> str:
    return digest(test_set(resolution))


def read_digests(resolution: int = 128) -> list[str]:
    """The recorded digests (first field of each non-empty line), one per CPU family."""
    with open(digest_path(resolution)) as f:
        return [line.split()[0] for line in f if line.strip()]


def _cpu() -> str:
    """'x86_64 Intel(R) Xeon(R) Processor @ 2.50GHz': the machine and, on Linux, the CPU model."""
    model = platform.processor()
    try:
        with open("/proc/cpuinfo") as f:
            names = [line.split(":", 1)[1].strip() for line in f if line.startswith("model name")]
        model = names[0] if names else model
    except OSError:
        pass
    return f"{platform.machine()} {model or ''}".strip()


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--resolution", type=int, default=128)
    ap.add_argument("--write", action="store_true", help="record new statistics and this CPU's digest")
    ap.add_argument("--add", action="store_true", help="add this CPU's digest beside the recorded ones")
    a = ap.parse_args(argv)
    samples = test_set(a.resolution)
    d = digest(samples)
    if a.write:
        with open(digest_path(a.resolution), "w") as f:
            f.write(f"{d}  test_set_{a.resolution}  {_cpu()}\n")
        print(f"wrote {write_stats(samples, a.resolution)} and {digest_path(a.resolution)}: {d}")
        return 0
    if a.add:
        if d not in read_digests(a.resolution):
            with open(digest_path(a.resolution), "a") as f:
                f.write(f"{d}  test_set_{a.resolution}  {_cpu()}\n")
        print(f"recorded {d} in {digest_path(a.resolution)}")
        return 0
    ok, why = check(samples, a.resolution)
    exact = "bit-exact (digest recorded)" if d in read_digests(a.resolution) else "not bit-exact on this CPU"
    print(f"{'OK' if ok else 'MISMATCH'}: test set {a.resolution} px, {why}; {exact}, sha256 {d}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
