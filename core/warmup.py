# SPDX-License-Identifier: GPL-3.0-or-later
"""Import the heavy modules and load the network once, before the first reconstruction.

A fresh process pays about 2-3 s before its first reconstruction: importing
torch (most of it), OpenCV and SciPy, then reading, checking and preparing the
network (:func:`core.pipeline.get_model`). :class:`WarmUp` does that work once:
on a low-priority daemon thread (:meth:`WarmUp.start`, what the add-on does
after it is enabled), in the calling thread (:meth:`WarmUp.run`, what the batch
command line does to time its start-up), or in the thread of a reconstruction
that comes before any warm-up started (:meth:`WarmUp.ensure`). States::

    idle --start() / run() / ensure()--> running --> done
                                                \\--> failed  (the error is kept;
                                                     the reconstruction that
                                                     follows raises it itself)

What it prepares follows the output the artist has chosen (``output``): for the head
(the default) also the template, the fit's k-d tree and the texture bake's tables at the
chosen ``head_texture_size`` (:func:`prepare_head`, ~0.7 s at 2048 px); for the relief
none of that, which the relief never uses. :attr:`WarmUp.stages` names the stages that
ran. A first head click after a relief warm-up prepares the head itself, as before.

The network goes into :func:`core.pipeline.get_model`'s cache, whose lock makes
a reconstruction that asks for it while the warm-up loads it wait for that load
instead of loading it a second time; :meth:`WarmUp.wait_with_progress` lets the
caller show that wait. Nothing here touches Blender data: the caller passes
plain values (weights path, device string).
"""

from __future__ import annotations

import importlib
import os
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .errors import FaceFromPhotoError

#: Modules a reconstruction imports, heaviest first (third-party, then ours, relative to core).
HEAVY_MODULES = ("torch", "cv2", "scipy.sparse.linalg")
CORE_MODULES = (".predict", ".integration", ".face_detect", ".image_io", ".crop", ".mesh",
                ".smoothing", ".detail")
NICE_INCREMENT = 10  # Linux: the warm-up thread's nice value is raised by this much (max 19)
WAIT_STEP_S = 0.1  # s between the should_stop checks of wait_with_progress
WAIT_MESSAGE = "Loading the network (warming up)"
HEAD_WARM_TEXTURE = 2048  # px, the head texture size whose bake tables the warm-up builds (the default)
HEAD_OUTPUT = "head"  # ReconstructOptions.output whose first click needs the template head prepared
STAGE_IMPORTS, STAGE_NETWORK, STAGE_HEAD = "imports", "network", "head"  # WarmUp.stages, in order

IDLE, RUNNING, DONE, FAILED = "idle", "running", "done", "failed"


@dataclass(frozen=True)
class WarmUpTimes:
    """Seconds the warm-up spent, measured in the thread that did it.

    imports_s : importing torch, cv2, SciPy and the core modules that use them
    model_s : loading, checking and preparing the network (``get_model``) and its first pass
        (:func:`first_forward`)
    head_s : loading the template head and the texture bake's tables for the chosen head
        texture size (:func:`prepare_head`); 0 when the output is the relief
    """

    imports_s: float
    model_s: float
    head_s: float = 0.0

    @property
    def total_s(self) -> float:
        return self.imports_s + self.model_s + self.head_s

    def to_dict(self) -> dict[str, float]:
        """JSON-ready, rounded to the millisecond."""
        return {"imports_s": round(self.imports_s, 3), "model_s": round(self.model_s, 3),
                "head_s": round(self.head_s, 3), "total_s": round(self.total_s, 3)}


def first_forward(model: Any, side: int = 128) -> None:
    """One network pass on a grey ``(side, side, 3)`` crop, its result dropped.

    torch's CPU kernels pick and build their primitives on a model's first pass
    (about 0.3-0.5 s on a 2-core CPU); doing it here keeps that off the first click.
    A stand-in without the network's interface is skipped.
    """
    if not hasattr(model, "forward"):
        return
    import numpy as np

    from .predict import predict_maps

    predict_maps(np.full((side, side, 3), 0.5, dtype=np.float32), model)


def prepare_head(texture_size: int = 0) -> bool:
    """Load the template head (SHA-256 checked), the fit's k-d tree and the bake's tables.

    ``texture_size`` px is the tile side whose bake tables are built (0: none).

    The first head reconstruction of a process otherwise pays for both (about 0.5-0.9 s at
    2048 px on a 2-core CPU). A template that cannot load is left for that reconstruction to
    report in its own sentence; the warm-up of the network still counts as done. Returns
    True when everything was prepared.
    """
    try:
        from .template_fit import prepare_fit
        from .template_model import load_template
        from .texture_bake import prepare_layout

        template = load_template()
        prepare_fit(template)
        if texture_size:
            prepare_layout(template, texture_size)
    except FaceFromPhotoError:
        return False
    return True


def lower_thread_priority() -> bool:
    """Make the calling thread yield the CPU to the others; True when the OS took it.

    Linux: the thread's nice value (threads have their own) is raised by
    ``NICE_INCREMENT``; threads it starts later inherit it. Windows: the thread
    gets ``THREAD_PRIORITY_BELOW_NORMAL``. Elsewhere nothing changes.
    """
    try:
        if sys.platform.startswith("linux"):
            tid = threading.get_native_id()
            nice = os.getpriority(os.PRIO_PROCESS, tid)
            os.setpriority(os.PRIO_PROCESS, tid, min(19, nice + NICE_INCREMENT))
            return True
        if sys.platform == "win32":
            import ctypes

            kernel32 = ctypes.windll.kernel32  # type: ignore[attr-defined]
            return bool(kernel32.SetThreadPriority(kernel32.GetCurrentThread(), -1))
    except (OSError, AttributeError, ValueError):
        pass
    return False


def restore_thread_priority(native_id: int, nice: int) -> bool:
    """Give the thread ``native_id`` its nice value ``nice`` back (Linux); True when the OS allowed it.

    Lowering a nice value needs ``CAP_SYS_NICE`` or a ``RLIMIT_NICE`` above the
    default 0, so for most users on Linux the thread keeps its low priority.
    """
    if not sys.platform.startswith("linux"):
        return False
    try:
        os.setpriority(os.PRIO_PROCESS, native_id, nice)
        return True
    except (OSError, AttributeError):
        return False


def import_heavy_modules() -> None:
    """Import torch, cv2, SciPy's sparse solvers and the core modules built on them."""
    for name in HEAVY_MODULES:
        importlib.import_module(name)
    for name in CORE_MODULES:
        importlib.import_module(name, __package__)


class WarmUp:
    """One-time, thread-safe warm-up: heavy imports, then the network into the model cache.

    Only the first :meth:`start`, :meth:`run` or :meth:`ensure` does the work;
    later calls return at once (``start``) or wait for it (``run``, ``ensure``). ``load_model`` is the
    loader, ``core.pipeline.get_model`` by default (tests pass a counting
    wrapper around it).
    """

    def __init__(self, load_model: Callable[[str | None, str], Any] | None = None) -> None:
        self._load_model = load_model
        self._lock = threading.Lock()
        self._finished = threading.Event()
        self._finished.set()  # nothing is running: wait() returns at once
        self._state = IDLE
        self._thread: threading.Thread | None = None
        self.times: WarmUpTimes | None = None
        self.stages: tuple[str, ...] = ()  # the stages that ran (STAGE_*), in order
        self.error: BaseException | None = None
        self.low_priority = False  # the warm-up thread runs at a lowered priority
        self.priority_restored = False  # a reconstruction waited and gave it its priority back
        self._native_id: int | None = None
        self._nice: int | None = None

    # ------------------------------------------------------------------ state

    @property
    def state(self) -> str:
        """``"idle"``, ``"running"``, ``"done"`` or ``"failed"``."""
        return self._state

    @property
    def running(self) -> bool:
        return self._state == RUNNING

    def _claim(self) -> bool:
        """Move idle -> running; False when a warm-up already started."""
        with self._lock:
            if self._state != IDLE:
                return False
            self._state = RUNNING
            self._finished.clear()
            return True

    # ------------------------------------------------------------------ running

    def start(self, weights: str | None = None, device: str = "auto", *, low_priority: bool = True,
              output: str = HEAD_OUTPUT, head_texture_size: int = HEAD_WARM_TEXTURE) -> bool:
        """Warm up on a daemon thread; returns at once, True when this call started it.

        Parameters
        ----------
        weights : str or None
            Weights path as in ``ReconstructOptions.weights``; None: the shipped network.
        device : str
            ``"auto"``, ``"cpu"``, ``"cuda"`` or ``"mps"``.
        low_priority : bool
            Lower the thread's priority first (:func:`lower_thread_priority`).
        output : str
            ``ReconstructOptions.output`` the first click will ask for: ``"head"`` also
            prepares the template head (:func:`prepare_head`), anything else does not.
        head_texture_size : int
            px, the head texture tile side whose bake tables are built (0: none).
        """
        if not self._claim():
            return False
        self._thread = threading.Thread(target=self._work,
                                        args=(weights, device, low_priority, output, head_texture_size),
                                        name="face_from_photo warm-up", daemon=True)
        self._thread.start()
        return True

    def run(self, weights: str | None = None, device: str = "auto", *, output: str = HEAD_OUTPUT,
            head_texture_size: int = HEAD_WARM_TEXTURE) -> WarmUpTimes | None:
        """Warm up in the calling thread (or wait for the warm-up already under way).

        ``output`` and ``head_texture_size`` as in :meth:`start`. Returns the times of the
        warm-up that did the work; raises its :class:`~core.errors.FaceFromPhotoError`
        (missing weights, absent device) when it failed.
        """
        if self._claim():
            self._work(weights, device, False, output, head_texture_size)
        else:
            self._finished.wait()
        if self._state == FAILED and self.error is not None:
            raise self.error
        return self.times

    def _work(self, weights: str | None, device: str, low_priority: bool, output: str = HEAD_OUTPUT,
              head_texture_size: int = HEAD_WARM_TEXTURE) -> None:
        stages: list[str] = []
        try:
            if low_priority:
                self._native_id = threading.get_native_id()
                if sys.platform.startswith("linux"):
                    self._nice = os.getpriority(os.PRIO_PROCESS, self._native_id)
                self.low_priority = lower_thread_priority()
            t0 = time.perf_counter()
            import_heavy_modules()
            stages.append(STAGE_IMPORTS)
            t1 = time.perf_counter()
            load = self._load_model
            if load is None:
                from .pipeline import get_model

                load = get_model
            loaded = load(weights, device)  # the cache holds it
            first_forward(loaded[0] if isinstance(loaded, tuple) else loaded)
            del loaded  # no second reference kept here
            stages.append(STAGE_NETWORK)
            t2 = t3 = time.perf_counter()
            if output == HEAD_OUTPUT:  # the relief never uses the template head
                prepare_head(int(head_texture_size))
                stages.append(STAGE_HEAD)
                t3 = time.perf_counter()
            self.times = WarmUpTimes(t1 - t0, t2 - t1, t3 - t2)
            self._state = DONE
        except BaseException as err:  # noqa: B036 - kept for the caller; the next load raises it again
            self.error = err
            self._state = FAILED
        finally:
            self.stages = tuple(stages)
            self._native_id = None  # the thread id may be reused once this thread ends
            self._finished.set()

    def ensure(
        self,
        weights: str | None = None,
        device: str = "auto",
        progress: Callable[[float, str], None] | None = None,
        should_stop: Callable[[], bool] | None = None,
        *,
        output: str = HEAD_OUTPUT,
        head_texture_size: int = HEAD_WARM_TEXTURE,
    ) -> None:
        """Before a reconstruction: do the warm-up here if none started, else wait for it.

        ``output`` and ``head_texture_size``: the reconstruction's own (:meth:`start`).

        A reconstruction that comes before the background warm-up started does
        the warm-up itself, in its own thread and at its own priority (then
        the warm-up started later finds it done and does nothing); one that
        comes while it runs waits (:meth:`wait_with_progress`). A failure is
        not raised here: the reconstruction's own ``get_model`` raises it with
        its sentence, for the weights and device it asks for.
        """
        if self._claim():
            if progress is not None:
                progress(0.0, WAIT_MESSAGE)
            self._work(weights, device, False, output, head_texture_size)
            return
        self.wait_with_progress(progress, should_stop)

    # ------------------------------------------------------------------ waiting

    def wait(self, timeout: float | None = None) -> bool:
        """Block until no warm-up is running (at most ``timeout`` s); True when none is."""
        return self._finished.wait(timeout)

    def wait_with_progress(
        self,
        progress: Callable[[float, str], None] | None = None,
        should_stop: Callable[[], bool] | None = None,
    ) -> bool:
        """Wait for a running warm-up, telling ``progress`` and honouring ``should_stop``.

        Returns True when it had to wait. ``progress(0.0, WAIT_MESSAGE)`` is
        called once when the wait starts; ``should_stop()`` is asked every
        ``WAIT_STEP_S`` s and a True raises ``core.pipeline.Cancelled`` (the
        warm-up itself goes on: it is shared). The artist now waits for the
        warm-up, so its thread gets its normal priority back where the OS
        allows it (:func:`restore_thread_priority`).
        """
        if self._finished.is_set():
            return False
        if progress is not None:
            progress(0.0, WAIT_MESSAGE)
        native_id = self._native_id
        if self.low_priority and native_id is not None and self._nice is not None:
            self.priority_restored = restore_thread_priority(native_id, self._nice)
        while not self._finished.wait(WAIT_STEP_S):
            if should_stop is not None and should_stop():
                from .pipeline import Cancelled

                raise Cancelled()
        return True


#: The process-wide warm-up the add-on and the batch command line share.
WARMUP = WarmUp()


def startup_report(warmup: WarmUp = WARMUP) -> dict[str, Any]:
    """The start-up as JSON-ready data: state, times, the error sentence when it failed."""
    out: dict[str, Any] = {"state": warmup.state}
    if warmup.times is not None:
        out.update(warmup.times.to_dict())
    if warmup.error is not None:
        err = warmup.error
        out["error"] = str(err) if isinstance(err, FaceFromPhotoError) else f"{type(err).__name__}: {err}"
    return out
