# SPDX-License-Identifier: GPL-3.0-or-later
"""Blender-free reconstruction core: photo -> maps -> depth -> mesh arrays.

Nothing in this package imports bpy. Heavy dependencies (torch, scipy, cv2)
are imported by the modules that need them, never by this package itself.
"""
