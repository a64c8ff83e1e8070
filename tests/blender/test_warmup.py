# SPDX-License-Identifier: GPL-3.0-or-later
"""The background warm-up in Blender: not at enable time, once, shared with the click, off by preference.

Timers never fire in background mode, so these tests call the timer's own
callback (``blender.warmup.on_timer``) where Blender's event loop would.
"""

from __future__ import annotations

import pytest

from tests.blender.ffp_run import PHOTO, WEIGHTS, run_script

pytestmark = pytest.mark.blender

COUNT_LOADS = """
predict = importlib.import_module(MODULE + ".core.predict")
loads = []
_real_load = predict.load_model
def _counted(path=None, device="auto"):
    loads.append(str(path))
    return _real_load(path, device=device)
predict.load_model = _counted  # still the real loader, counted
"""

ONCE = """
import sys, time
ext = enable_from_source()
after_enable = sorted(m for m in ("torch", "scipy", "cv2") if m in sys.modules)
core_warmup = importlib.import_module(MODULE + ".core.warmup")
W = core_warmup.WARMUP
state_after_enable = W.state
timer_registered = bpy.app.timers.is_registered(ext.blender.warmup.on_timer)
""" + COUNT_LOADS + """
ext.blender.warmup.on_timer()          # what the one-shot timer calls after enabling
state_after_timer = W.state
# the click comes at once, while the warm-up thread still imports torch
result = bpy.ops.face_from_photo.reconstruct(filepath=sys.argv[1])
obj = bpy.context.view_layer.objects.active
state_after_click = W.state
ext.blender.warmup.on_timer()          # the panel drawing later, or a second timer: nothing more
ext.blender.warmup.request(bpy.context)
second = bpy.ops.face_from_photo.reconstruct(filepath=sys.argv[1])
emit({"after_enable": after_enable, "state_after_enable": state_after_enable,
      "timer_registered": timer_registered, "state_after_timer": state_after_timer,
      "state_after_click": state_after_click, "result": sorted(result), "second": sorted(second),
      "vertices": len(obj.data.vertices) if obj is not None else 0, "loads": loads,
      "low_priority": W.low_priority, "times": W.times.to_dict() if W.times else None,
      "torch_now": "torch" in sys.modules})
"""


@pytest.mark.skipif(not WEIGHTS.is_file(), reason="needs the shipped weights")
def test_enable_imports_nothing_and_a_click_during_the_warm_up_loads_the_network_once(run_bpy) -> None:
    r = run_script(run_bpy, ONCE, args=[str(PHOTO)])
    assert r["after_enable"] == [], "enabling must not import torch, scipy or cv2"
    assert r["state_after_enable"] == "idle"
    assert r["timer_registered"] is False  # background mode: no timer (it would never fire)
    assert r["state_after_timer"] in ("running", "done")
    assert r["result"] == ["FINISHED"] and r["second"] == ["FINISHED"] and r["vertices"] > 1000
    assert r["state_after_click"] == "done"  # the click waited for the warm-up to end
    assert len(r["loads"]) == 1, r["loads"]  # warm-up, click and second click: one load
    assert r["times"]["imports_s"] > 0 and r["times"]["model_s"] > 0
    assert r["torch_now"] and r["low_priority"]


CLICK_FIRST = """
import sys
ext = enable_from_source()
W = importlib.import_module(MODULE + ".core.warmup").WARMUP
""" + COUNT_LOADS + """
result = bpy.ops.face_from_photo.reconstruct(filepath=sys.argv[1])  # before the timer fired
state_after_click = W.state
ext.blender.warmup.on_timer()  # the timer, late
emit({"result": sorted(result), "state_after_click": state_after_click,
      "state_after_timer": W.state, "loads": loads})
"""


@pytest.mark.skipif(not WEIGHTS.is_file(), reason="needs the shipped weights")
def test_a_click_before_the_timer_warms_up_itself_and_the_timer_does_nothing(run_bpy) -> None:
    r = run_script(run_bpy, CLICK_FIRST, args=[str(PHOTO)])
    assert r["result"] == ["FINISHED"]
    assert r["state_after_click"] == "done" and r["state_after_timer"] == "done"
    assert len(r["loads"]) == 1


OFF = """
import sys
ext = enable_from_source()
prefs = bpy.context.preferences.addons[MODULE].preferences
default = prefs.warm_up
prefs.warm_up = False
ext.blender.warmup.on_timer()
ext.blender.warmup.request(bpy.context)
W = importlib.import_module(MODULE + ".core.warmup").WARMUP
emit({"default": default, "state": W.state,
      "heavy": sorted(m for m in ("torch", "scipy", "cv2") if m in sys.modules)})
"""


def test_the_preference_off_means_no_warm_up(run_bpy) -> None:
    r = run_script(run_bpy, OFF)
    assert r["default"] is True
    assert r["state"] == "idle" and r["heavy"] == []


FRESH_ENABLE = """
import sys
ext = enable_from_source()
emit({"torch": "torch" in sys.modules, "cv2": "cv2" in sys.modules, "scipy": "scipy" in sys.modules,
      "state": importlib.import_module(MODULE + ".core.warmup").WARMUP.state})
"""


def test_registering_in_a_fresh_process_imports_no_torch(run_bpy) -> None:
    """A fresh interpreter: enabling (register()) leaves torch, cv2 and SciPy unimported."""
    r = run_script(run_bpy, FRESH_ENABLE)
    assert r == {"torch": False, "cv2": False, "scipy": False, "state": "idle"}


FOLLOWS_THE_PANEL = """
import sys, types
ext = enable_from_source()
W = importlib.import_module(MODULE + ".core.warmup").WARMUP
prefs = bpy.context.preferences.addons[MODULE].preferences
settings = bpy.context.scene.face_from_photo
settings.output, settings.head_texture_size = sys.argv[1], sys.argv[2]
prefs.output = 'head' if sys.argv[1] == 'relief' else 'relief'  # the panel wins: the click reads it
no_scene = ext.blender.warmup.chosen_output(types.SimpleNamespace(scene=None), prefs)
ext.blender.warmup.on_timer()
W.wait(300)
emit({"state": W.state, "stages": list(W.stages), "head_s": W.times.head_s if W.times else None,
      "no_scene": list(no_scene)})
"""


@pytest.mark.skipif(not WEIGHTS.is_file(), reason="needs the shipped weights")
@pytest.mark.parametrize(("output", "size", "stages"), [
    ("relief", "2048", ["imports", "network"]),
    ("head", "1024", ["imports", "network", "head"]),
])
def test_the_warm_up_prepares_the_head_only_for_the_head_output(run_bpy, output: str, size: str,
                                                                 stages: list[str]) -> None:
    r = run_script(run_bpy, FOLLOWS_THE_PANEL, args=[output, size])
    assert r["state"] == "done" and r["stages"] == stages
    assert (r["head_s"] > 0) == (output == "head")
    assert r["no_scene"] == ["head" if output == "relief" else "relief", 2048]  # else the preferences'
