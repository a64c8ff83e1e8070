# SPDX-License-Identifier: GPL-3.0-or-later
"""Blender UI panels of Face from Photo."""

import bpy

from . import sidebar

classes = (*sidebar.classes,)


def register() -> None:
    for cls in classes:
        bpy.utils.register_class(cls)


def unregister() -> None:
    for cls in reversed(classes):
        bpy.utils.unregister_class(cls)
