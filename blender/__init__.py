# SPDX-License-Identifier: GPL-3.0-or-later
"""Blender side of Face from Photo: turn core's arrays into Blender data.

The modules here import ``bpy`` and numpy only; core (torch, scipy, cv2) is
imported lazily by :mod:`.job` when a reconstruction actually runs, or by the
warm-up thread :mod:`.warmup` starts from a timer, so that enabling the
extension stays cheap.

- :mod:`.mesh`      arrays -> ``bpy.types.Mesh`` (``foreach_set``)
- :mod:`.images`    numpy maps -> ``bpy.types.Image`` (packed or on disk)
- :mod:`.material`  the photo material
- :mod:`.modifiers` the live SMOOTH -> SUBSURF -> DISPLACE stack
- :mod:`.build`     one finished object from a reconstruction, or nothing
- :mod:`.job`       options -> core call (lazy imports), worker thread
- :mod:`.export`    glb/obj/ply/blend files, atomically, modifiers applied
- :mod:`.preview`   the photo | normals | shaded preview PNG (Cycles)
- :mod:`.settings`  the Scene settings group shown in the sidebar
- :mod:`.warmup`    starts core's background warm-up after enabling
"""
