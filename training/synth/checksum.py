# SPDX-License-Identifier: GPL-3.0-or-later
"""SHA-256 of the fixed test set: proves it regenerates bit-exactly.

    python -m training.synth.checksum            # check against the committed digest
    python -m training.synth.checksum --write    # record a new digest (after a deliberate change)

The digest covers, for each of the ``dataset.TEST_SET_SIZE`` samples in order, every
map of ``dataset.KEYS`` (name, dtype, shape and raw bytes). The committed digest for
128 px lives in ``training/synth/test_set_128.sha256``; any change to the generator
that alters a single bit of the test set must come with a new digest (``--write``)
and a note saying why.

The file may hold one digest per CPU family: the same code and packages give
one digest on the machine that recorded the first and another on an AMD EPYC
(not thread-dependent, not warp-lang's version; most likely the CPU-dispatched
SIMD paths of OpenCV's or torch's float32 kernels, not yet pinned down).
``--add`` records this machine's digest beside the others; the check passes
when the regenerated digest is one of them.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import sys

import numpy as np

from training.synth.dataset import KEYS, test_set

HERE = os.path.dirname(os.path.abspath(__file__))


def digest_path(resolution: int = 128) -> str:
    return os.path.join(HERE, f"test_set_{int(resolution)}.sha256")


def digest(samples: list[dict]) -> str:
    """Hex SHA-256 over the maps of ``samples`` (order, names, dtypes, shapes, bytes)."""
    h = hashlib.sha256()
    for s in samples:
        for k in KEYS:
            a = np.ascontiguousarray(s[k])
            h.update(f"{k}:{a.dtype.str}:{a.shape};".encode())
            h.update(a.tobytes())
    return h.hexdigest()


def test_set_digest(resolution: int = 128) -> str:
    return digest(test_set(resolution))


def read_digests(resolution: int = 128) -> list[str]:
    """The recorded digests (first field of each non-empty line), one per CPU family."""
    with open(digest_path(resolution)) as f:
        return [line.split()[0] for line in f if line.strip()]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--resolution", type=int, default=128)
    ap.add_argument("--write", action="store_true", help="record the digest instead of checking it")
    ap.add_argument("--add", action="store_true", help="add this CPU's digest beside the recorded ones")
    a = ap.parse_args(argv)
    d = test_set_digest(a.resolution)
    path = digest_path(a.resolution)
    if a.write:
        with open(path, "w") as f:
            f.write(f"{d}  test_set_{a.resolution}\n")
        print(f"wrote {path}: {d}")
        return 0
    want = read_digests(a.resolution)
    if a.add:
        import platform

        if d not in want:
            with open(path, "a") as f:
                f.write(f"{d}  test_set_{a.resolution}  {platform.machine()} {platform.processor() or ''}\n")
        print(f"recorded {d} in {path}")
        return 0
    ok = d in want
    print(f"{'OK' if ok else 'MISMATCH'}: test set {a.resolution} px sha256 {d} (recorded {want})")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
