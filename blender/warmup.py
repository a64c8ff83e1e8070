# SPDX-License-Identifier: GPL-3.0-or-later
"""Start core's warm-up (:mod:`core.warmup`) once the extension is enabled.

``register()`` only registers a one-shot timer (it imports nothing heavy and
stays well under 0.2 s); the timer fires ``TIMER_DELAY_S`` after Blender's
event loop runs and calls :func:`on_timer`, which reads the preferences on the
main thread and hands plain values (weights path, device, the output the panel is
set to and its head texture size) to ``core.warmup.WARMUP.start``: torch, OpenCV,
SciPy and the network (and, for the head output, the template head) then load on
a low-priority thread. The sidebar panel calls :func:`request` when it draws, in
case it is shown before the timer fires. Both do nothing when the
"Warm Up in Background" preference is off.

Background mode (``blender -b``, bpy as a module): timers never fire, so no
warm-up starts by itself; the batch command line warms up in its own thread
and reports the time, and a script's first reconstruction loads the network
itself, as before.
"""

from __future__ import annotations

from typing import Any

import bpy

TIMER_DELAY_S = 0.5  # s after enabling: lets Blender finish starting before the warm-up competes for the CPU


def chosen_output(context: Any, prefs: Any) -> tuple[str, int]:
    """The output and head texture size the next click will use: the panel's (the scene's
    Face from Photo settings, which the click reads), or the preferences' defaults where the
    scene has none."""
    scene = getattr(context or bpy.context, "scene", None)
    settings = getattr(scene, "face_from_photo", None) if scene is not None else None
    src = settings if settings is not None else prefs
    return str(src.output), int(src.head_texture_size)


def start(context: Any = None) -> bool:
    """Start the warm-up for the preferences' network and device and the chosen output
    (:func:`chosen_output`: the head's tables only for the head); True when this call started it.

    Main thread only (it reads the preferences). False when the preference is
    off, the add-on is not enabled, or a warm-up already started.
    """
    from ..core.warmup import IDLE, WARMUP

    if WARMUP.state != IDLE:
        return False
    from .. import preferences

    prefs = preferences.get(context)
    if prefs is None or not prefs.warm_up:
        return False
    values = preferences.run_values(prefs)
    output, texture_size = chosen_output(context, prefs)
    return WARMUP.start(values.get("weights"), str(values["device"]), output=output,
                        head_texture_size=texture_size)


def request(context: Any = None) -> bool:
    """:func:`start`, with any error printed to the console instead of raised (timer, panel draw)."""
    try:
        return start(context)
    except Exception as err:  # noqa: BLE001 - a warm-up that cannot start leaves the first click as before
        print(f"Face from Photo: the background warm-up did not start ({type(err).__name__}: {err})")
        return False


def on_timer() -> None:
    """The one-shot timer's callback: start the warm-up; returning None ends the timer."""
    request()


def register() -> None:
    if not bpy.app.background:
        bpy.app.timers.register(on_timer, first_interval=TIMER_DELAY_S)


def unregister() -> None:
    if bpy.app.timers.is_registered(on_timer):
        bpy.app.timers.unregister(on_timer)
