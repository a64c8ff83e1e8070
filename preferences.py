# SPDX-License-Identifier: GPL-3.0-or-later
"""Add-on preferences: network, device, background warm-up, image packing and the default options."""

from __future__ import annotations

from typing import Any

import bpy

from .blender.job import SUBDIV_MAX
from .blender.settings import CORE_FIELDS, OptionProps, core_values

DEVICE_ITEMS = [
    ('auto', "Automatic", "GPU when one is available (CUDA, Apple MPS), else the CPU"),
    ('cpu', "CPU", "Always the CPU"),
    ('cuda', "CUDA", "NVIDIA GPU"),
    ('mps', "Apple GPU", "Apple silicon GPU (MPS)"),
]


NETWORK_ITEMS = [
    ('standard', "Standard", "2.7 M parameters: the fastest, trainable on a laptop CPU"),
    ('large', "Large", "5.1 M parameters, trained for 7 minutes on a GPU: slightly sharper normals, "
                       "slower than Standard on a CPU"),
]


class FaceFromPhotoPreferences(OptionProps, bpy.types.AddonPreferences):
    bl_idname = __package__

    network: bpy.props.EnumProperty(name="Network", items=NETWORK_ITEMS, default='standard',
                                    description="Which shipped network predicts the maps")

    device: bpy.props.EnumProperty(name="Device", items=DEVICE_ITEMS, default='auto',
                                   description="Where the network runs")
    warm_up: bpy.props.BoolProperty(name="Warm Up in Background", default=True,
                                    description="After Blender starts, load PyTorch and the network on a "
                                                "low-priority thread, so the first reconstruction is as "
                                                "quick as the next ones (the memory is taken from the start)")
    pack_images: bpy.props.BoolProperty(name="Pack Images", default=True,
                                        description="Pack the photo and the predicted maps into the .blend; "
                                                    "otherwise save them as files and reference them")
    store_maps: bpy.props.BoolProperty(name="Keep Predicted Maps", default=True,
                                       description="Keep normals, gradient, mask and depth as images")
    subdiv_levels: bpy.props.IntProperty(name="Viewport Subdivision", default=0, min=0, max=SUBDIV_MAX,
                                         description="Subdivision levels of the live stack in the viewport "
                                                     "(0 keeps it interactive)")
    subdiv_render_levels: bpy.props.IntProperty(name="Render Subdivision", default=0, min=0, max=SUBDIV_MAX,
                                                description="Subdivision levels for rendering")

    def draw(self, context: bpy.types.Context) -> None:
        layout = self.layout
        layout.use_property_split = True
        col = layout.column(heading="Run")
        col.prop(self, "network")
        col.prop(self, "device")
        col.prop(self, "warm_up")
        col = layout.column(heading="Images")
        col.prop(self, "pack_images")
        col.prop(self, "store_maps")
        col = layout.column(heading="Modifiers")
        col.prop(self, "subdiv_levels")
        col.prop(self, "subdiv_render_levels")
        col = layout.column(heading="Default Options")
        for name in CORE_FIELDS:
            col.prop(self, name)


def get(context: Any = None) -> FaceFromPhotoPreferences | None:
    """The add-on's preferences, or None when the add-on is not enabled."""
    prefs = (context or bpy.context).preferences
    addon = prefs.addons.get(__package__) if __package__ else None
    return addon.preferences if addon is not None else None


def run_values(prefs: FaceFromPhotoPreferences) -> dict[str, Any]:
    """The device and, for a network other than the standard one, its weights file."""
    from .core.models import weights_option

    values: dict[str, Any] = {"device": prefs.device}
    weights = weights_option(prefs.network)
    if weights is not None:
        values["weights"] = weights
    return values


def default_values(context: Any = None) -> dict[str, Any]:
    """Default core options (preferences), plus the device and network."""
    p = get(context)
    if p is None:
        return {}
    return {**core_values(p), **run_values(p)}


classes = (FaceFromPhotoPreferences,)


def register() -> None:
    for cls in classes:
        bpy.utils.register_class(cls)


def unregister() -> None:
    for cls in reversed(classes):
        bpy.utils.unregister_class(cls)
