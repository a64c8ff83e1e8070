# SPDX-License-Identifier: GPL-3.0-or-later
"""Blender operators of Face from Photo (one operator per module)."""

import bpy

from . import reconstruct

classes = (*reconstruct.classes,)


def register() -> None:
    for cls in classes:
        bpy.utils.register_class(cls)


def unregister() -> None:
    for cls in reversed(classes):
        bpy.utils.unregister_class(cls)
