# SPDX-License-Identifier: GPL-3.0-or-later
"""Time the first click in a fresh Blender: enable, wait N s, reconstruct the sample photo.

Each case runs in a fresh Python process with bpy (background mode), as a
Blender start does: the extension is enabled from a source tree through a user
repository (a temporary folder with a ``face_from_photo`` symlink, as in
``bench_enable.py``), the process waits N seconds, then runs
``bpy.ops.face_from_photo.reconstruct(filepath=examples/astronaut.png)`` and
times the click until the finished object exists; a second click in the same
process gives the warm figure to compare with. A first process enables the
extension once in the shared user folder, so that Blender's one-time set-up
there (the wheel installation into ``extensions/.local`` when the tree holds
the wheels) is not part of any case.

How the warm-up is triggered here, honestly: in Blender's UI, ``register()``
registers a one-shot timer that calls ``blender.warmup.on_timer``
``TIMER_DELAY_S`` (0.5 s) after enabling. Timers never fire in background
mode, so the benchmark calls that same callback itself, on the main thread, at
the same moment: when the wait is at least ``TIMER_DELAY_S`` it sleeps
``TIMER_DELAY_S``, calls ``on_timer()`` and sleeps the rest of the wait. With a
wait of 0 s the click comes before the timer would have fired: it does the
warm-up itself (``core.warmup.WarmUp.ensure``), and in the UI the timer,
firing during the click, then finds it started and does nothing. The
operator runs ``execute`` (blocking), which waits for a running warm-up
exactly as the UI's worker thread does; the UI's modal path adds its 0.1 s
polling timer on top.

``--baseline-ref REF`` also runs the wait-0 case on ``git archive REF`` (e.g.
``main``: the code before the warm-up) in the same run, for "no slower than
today". ``--repeats K`` runs every case K times, the cases taking turns, and
reports medians (the shared host's load changes by the minute).

Per process: ``enable_s`` (``preferences.addon_enable``), ``heavy_after_enable``
(torch / cv2 / scipy imported by enabling), ``warmup`` (``imports_s``,
``model_s``, ``total_s`` measured in the warm-up thread; ``wall_s`` from
``on_timer()`` to its end), ``click_s`` (click -> finished object),
``waited_for_warmup``, ``second_click_s``, ``click_cpu_s`` and
``second_click_cpu_s`` (CPU time of the main thread during the click: the
work the click itself did, less sensitive to a loaded host than the wall
time; the network's OpenMP threads and the warm-up thread are not in it),
``peak_rss_mb`` (the process's
peak resident memory) and ``rss_before_click_mb``; per case the medians over its processes
(``warmup_total_s`` = imports + network load in the warm-up thread), the
largest peak RSS, and every process's figures under ``each``. Last line: one
JSON object.

``--output relief|head`` sets the panel's Output right after enabling (the warm-up prepares the
template head for *Head* only; ``warmup.stages`` says what it did).

Usage: ``.venv/bin/python benchmarks/bench_first_click.py [--waits 0 5] [--baseline-ref main] [--repeats 3]
[--output relief]``
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PHOTO = ROOT / "examples" / "astronaut.png"
HEAVY = ("torch", "cv2", "scipy")


def rss_mb() -> float:
    """Peak resident memory of this process so far (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def current_rss_mb() -> float:
    try:
        with open("/proc/self/statm") as fh:
            return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
    except OSError:
        return float("nan")


def child(source: Path, wait_s: float, output: str = "") -> dict:
    """One fresh process: enable, (set the panel's output,) wait, click, click again."""
    import importlib

    tmp = Path(tempfile.mkdtemp(prefix="ffp-bench-click-"))
    (tmp / "face_from_photo").symlink_to(source, target_is_directory=True)
    t0 = time.perf_counter()
    import bpy

    import_bpy_s = time.perf_counter() - t0
    bpy.context.preferences.extensions.repos.new(name="bench", module="bench", custom_directory=str(tmp),
                                                 source='USER')
    module = "bl_ext.bench.face_from_photo"
    t0 = time.perf_counter()
    result = bpy.ops.preferences.addon_enable(module=module)
    enable_s = time.perf_counter() - t0
    assert result == {'FINISHED'}, result
    heavy_after_enable = sorted(m for m in HEAVY if m in sys.modules)
    if output:  # the panel's Output, which the warm-up and the click both read
        bpy.context.scene.face_from_photo.output = output
    ext = importlib.import_module(module)
    blender_warmup = getattr(ext.blender, "warmup", None) if hasattr(ext, "blender") else None
    try:
        core_warmup = importlib.import_module(module + ".core.warmup")
    except ImportError:
        core_warmup = None

    warm: dict = {"started": False}
    ended: dict = {}
    delay = getattr(blender_warmup, "TIMER_DELAY_S", 0.0)
    t_wait = time.perf_counter()
    if blender_warmup is not None and wait_s >= delay:
        time.sleep(delay)
        t_timer = time.perf_counter()
        blender_warmup.on_timer()  # what the one-shot timer calls in the UI
        w = core_warmup.WARMUP
        warm["started"] = w.state != core_warmup.IDLE

        def stamp() -> None:
            w.wait()
            ended["t"] = time.perf_counter()

        threading.Thread(target=stamp, daemon=True).start()
    time.sleep(max(0.0, wait_s - (time.perf_counter() - t_wait)))

    rss_before = current_rss_mb()
    running_at_click = core_warmup is not None and core_warmup.WARMUP.running
    t0, c0 = time.perf_counter(), time.thread_time()
    result = bpy.ops.face_from_photo.reconstruct(filepath=str(PHOTO))
    click_s, click_cpu_s = time.perf_counter() - t0, time.thread_time() - c0
    assert result == {'FINISHED'}, result
    obj = bpy.context.view_layer.objects.active
    vertices = len(obj.data.vertices)
    if core_warmup is not None and core_warmup.WARMUP.times is not None:
        warm.update(core_warmup.WARMUP.times.to_dict())
        if getattr(core_warmup.WARMUP, "stages", None):
            warm["stages"] = list(core_warmup.WARMUP.stages)
        if "t" in ended:
            warm["wall_s"] = round(ended["t"] - t_timer, 3)
    t0, c0 = time.perf_counter(), time.thread_time()
    result = bpy.ops.face_from_photo.reconstruct(filepath=str(PHOTO))
    second_s, second_cpu_s = time.perf_counter() - t0, time.thread_time() - c0
    assert result == {'FINISHED'}, result
    import torch

    return {
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "wait_s": wait_s,
        "output": output or "default",
        "import_bpy_s": round(import_bpy_s, 3),
        "enable_s": round(enable_s, 4),
        "heavy_after_enable": heavy_after_enable,
        "warmup": warm,
        "waited_for_warmup": running_at_click,
        "click_s": round(click_s, 3),
        "second_click_s": round(second_s, 3),
        "click_cpu_s": round(click_cpu_s, 3),
        "second_click_cpu_s": round(second_cpu_s, 3),
        "vertices": vertices,
        "rss_before_click_mb": round(rss_before, 1),
        "peak_rss_mb": round(rss_mb(), 1),
    }


def run_child(source: Path, wait_s: float, user: Path, output: str = "") -> dict:
    env = {**os.environ, "BLENDER_USER_RESOURCES": str(user), "PYTHONUNBUFFERED": "1"}
    env.pop("PYTHONPATH", None)
    proc = subprocess.run([sys.executable, __file__, "--child", str(source), "--wait", str(wait_s),
                           "--output", output],
                          capture_output=True, text=True, env=env, timeout=600)
    if proc.returncode != 0:
        raise SystemExit(f"case wait={wait_s} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def export_ref(ref: str, folder: Path) -> Path:
    """The tree of ``ref`` (``git archive``, weights included) in ``folder``."""
    folder.mkdir(parents=True)
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", ref], capture_output=True, check=True)
    subprocess.run(["tar", "-x", "-C", str(folder)], input=archive.stdout, check=True)
    return folder


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--waits", type=float, nargs="+", default=[0.0, 5.0],
                        help="s between enable and click")
    parser.add_argument("--baseline-ref",
                        help="git ref to time with no wait too (the code before the warm-up)")
    parser.add_argument("--repeats", type=int, default=1, help="processes per case, taking turns")
    parser.add_argument("--output", default="", choices=["", "head", "relief"],
                        help="the panel's Output before the warm-up and the click (default: as enabled)")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--wait", type=float, default=0.0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(Path(args.child), args.wait, args.output)))
        return

    load_at_start = [round(x, 2) for x in os.getloadavg()]
    tmp = Path(tempfile.mkdtemp(prefix="ffp-bench-first-click-"))
    user = tmp / "user"
    t0 = time.perf_counter()
    setup = run_child(ROOT, 0.0, user)  # Blender's one-time set-up of the user folder, in no case
    print(f"setup process (first enable in the user folder + one click): {time.perf_counter() - t0:.1f} s",
          flush=True)
    plan: list[tuple[str, Path, float]] = [("this tree", ROOT, w) for w in args.waits]
    if args.baseline_ref:
        plan.append((args.baseline_ref, export_ref(args.baseline_ref, tmp / "baseline"), 0.0))
    runs: dict[tuple[str, float], list[dict]] = {(name, w): [] for name, _, w in plan}
    for r in range(args.repeats):  # cases take turns, so a change in the host's load hits them all
        for name, source, wait_s in plan:
            case = run_child(source, wait_s, user, args.output)
            runs[(name, wait_s)].append(case)
            print(f"[{r + 1}/{args.repeats}] {name}, wait {wait_s:g} s: enable {case['enable_s']:.3f} s, "
                  f"warm-up {case['warmup']}, click -> object {case['click_s']:.3f} s, "
                  f"second click {case['second_click_s']:.3f} s, peak RSS {case['peak_rss_mb']:.0f} MB",
                  flush=True)

    def median(values: list[float]) -> float:
        return round(statistics.median(values), 3)

    cases = []
    for (name, wait_s), items in runs.items():
        cases.append({
            "source": name, "wait_s": wait_s, "output": args.output or "default", "runs": len(items),
            "enable_s": median([c["enable_s"] for c in items]),
            "warmup_total_s": median([c["warmup"]["total_s"] for c in items if "total_s" in c["warmup"]])
            if any("total_s" in c["warmup"] for c in items) else None,
            "click_s": median([c["click_s"] for c in items]),
            "second_click_s": median([c["second_click_s"] for c in items]),
            "click_cpu_s": median([c["click_cpu_s"] for c in items]),
            "second_click_cpu_s": median([c["second_click_cpu_s"] for c in items]),
            "peak_rss_mb": max(c["peak_rss_mb"] for c in items),
            "heavy_after_enable": sorted({m for c in items for m in c["heavy_after_enable"]}),
            "each": items,
        })
    print(json.dumps({"cases": cases, "setup_click_s": setup["click_s"],
                      "cpu_capability": setup["cpu_capability"],
                      "load_average_start": load_at_start,
                      "load_average_end": [round(x, 2) for x in os.getloadavg()]}))


if __name__ == "__main__":
    main()
