# SPDX-License-Identifier: GPL-3.0-or-later
"""Blender operators of Face from Photo (one operator per module)."""

import bpy

from . import (
    add_photos,
    drop,
    import_photo,
    neutral_expression,
    photo_expression,
    reconstruct,
    reset_settings,
)

classes = (
    *reconstruct.classes,
    *import_photo.classes,
    *reset_settings.classes,
    *drop.classes,
    *neutral_expression.classes,
    *photo_expression.classes,
    *add_photos.classes,
)


def register() -> None:
    for cls in classes:
        bpy.utils.register_class(cls)
    import_photo.register()


def unregister() -> None:
    import_photo.unregister()
    for cls in reversed(classes):
        bpy.utils.unregister_class(cls)
