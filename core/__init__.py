# SPDX-License-Identifier: GPL-3.0-or-later
"""Blender-free reconstruction core: photo -> maps -> depth -> mesh arrays.

Nothing in this package imports bpy. Heavy dependencies (torch, scipy, cv2)
are imported by the modules that need them, never by this package itself.
"""

import os as _os
import sys as _sys

# libgomp, torch's OpenMP runtime on Linux, reads OMP_WAIT_POLICY once, when torch loads it.
# By default an idle OpenMP thread spins for a while on its core; PASSIVE makes it sleep, which
# core.fused_decoders needs to run its two decoder branches on two cores at once. A policy the
# user set wins, and nothing changes when torch was loaded before this package.
_user_policy = _os.environ.get("OMP_WAIT_POLICY")
if _user_policy is None and "torch" not in _sys.modules:
    _os.environ["OMP_WAIT_POLICY"] = "PASSIVE"

#: True when torch's idle OpenMP threads sleep (see above); core.fused_decoders branches only then.
OPENMP_PASSIVE = _os.environ.get("OMP_WAIT_POLICY", "").upper() == "PASSIVE" and (
    _user_policy is not None or "torch" not in _sys.modules
)
