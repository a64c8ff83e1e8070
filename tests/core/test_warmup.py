# SPDX-License-Identifier: GPL-3.0-or-later
"""core.warmup: one warm-up per process, a reconstruction that comes early waits and loads nothing twice."""

from __future__ import annotations

import sys
import threading
from pathlib import Path

import pytest

from core import pipeline, predict, warmup
from core.errors import FaceFromPhotoError
from core.pipeline import Cancelled


@pytest.fixture
def weights(tmp_path: Path) -> str:
    """Untrained weights + manifest the core accepts (real files, real loading)."""
    return str(predict.write_untrained_weights(tmp_path / "weights"))


@pytest.fixture
def loads(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every real ``predict.load_model`` call, recorded (it still loads); the cache starts empty."""
    calls: list[str] = []
    real = predict.load_model

    def counted(path=None, device="auto"):  # type: ignore[no-untyped-def]
        calls.append(str(path))
        return real(path, device=device)

    pipeline.clear_model_cache()
    monkeypatch.setattr(predict, "load_model", counted)
    yield calls
    pipeline.clear_model_cache()


class Gate:
    """``get_model`` that waits for ``open()`` first: holds a warm-up in its running state."""

    def __init__(self) -> None:
        self.entered = threading.Event()
        self._open = threading.Event()

    def open(self) -> None:
        self._open.set()

    def __call__(self, weights: str | None, device: str):  # type: ignore[no-untyped-def]
        self.entered.set()
        assert self._open.wait(30), "the test never opened the gate"
        return pipeline.get_model(weights, device)


def test_the_warm_up_runs_once_and_fills_the_model_cache(weights: str, loads: list[str]) -> None:
    w = warmup.WarmUp()
    assert w.state == warmup.IDLE and w.wait(0)
    assert w.start(weights, "cpu") is True
    assert w.start(weights, "cpu") is False  # a second start is a no-op
    assert w.wait(60) and w.state == warmup.DONE, w.error
    assert w.run(weights, "cpu") is w.times  # run() after it: nothing more to do
    assert loads == [weights]
    assert {"torch", "cv2", "scipy.sparse.linalg", "core.integration", "core.face_detect"} <= set(sys.modules)
    times = w.times
    assert times is not None and times.imports_s >= 0 and times.model_s > 0
    assert times.total_s == pytest.approx(times.imports_s + times.model_s + times.head_s)
    pipeline.get_model(weights, "cpu")
    assert loads == [weights]  # the click takes the warmed-up network from the cache
    report = warmup.startup_report(w)
    assert report["state"] == "done" and set(report) == {"state", "imports_s", "model_s", "head_s", "total_s"}


def test_an_early_reconstruction_waits_with_progress_and_gets_the_same_model(
        weights: str, loads: list[str]) -> None:
    gate = Gate()
    w = warmup.WarmUp(load_model=gate)
    assert w.start(weights, "cpu")
    assert gate.entered.wait(60)  # imports done, the warm-up is about to load the network
    assert w.state == warmup.RUNNING and not w.wait(0.05)

    messages: list[tuple[float, str]] = []
    got: dict[str, object] = {}

    def click() -> None:  # what blender.job.run_core does on the worker thread
        got["waited"] = w.wait_with_progress(lambda f, m: messages.append((f, m)))
        got["model"] = pipeline.get_model(weights, "cpu")[0]

    clicker = threading.Thread(target=click)
    clicker.start()
    clicker.join(0.3)
    assert clicker.is_alive()  # still waiting for the warm-up
    assert messages == [(0.0, warmup.WAIT_MESSAGE)]
    gate.open()
    clicker.join(60)
    assert w.state == warmup.DONE and got["waited"] is True
    assert got["model"] is pipeline.get_model(weights, "cpu")[0]
    assert loads == [weights]


def test_a_click_that_does_not_wait_still_loads_the_network_once(weights: str, loads: list[str]) -> None:
    """Without waiting, the model cache's lock serialises the click and the warm-up."""
    w = warmup.WarmUp()
    models: list[object] = []
    clickers = [threading.Thread(target=lambda: models.append(pipeline.get_model(weights, "cpu")[0]))
                for _ in range(3)]
    w.start(weights, "cpu", low_priority=False)
    for t in clickers:
        t.start()
    for t in clickers:
        t.join(60)
    assert w.wait(60) and w.state == warmup.DONE
    assert len(models) == 3 and all(m is models[0] for m in models)
    assert loads == [weights]


def test_a_click_before_the_warm_up_started_does_it_itself(weights: str, loads: list[str]) -> None:
    threads: list[str] = []

    def load(weights_: str | None, device: str):  # type: ignore[no-untyped-def]
        threads.append(threading.current_thread().name)
        return pipeline.get_model(weights_, device)

    w = warmup.WarmUp(load_model=load)
    messages: list[str] = []
    w.ensure(weights, "cpu", lambda f, m: messages.append(m))
    assert w.state == warmup.DONE and threads == [threading.current_thread().name]
    assert messages == [warmup.WAIT_MESSAGE]
    assert w.start(weights, "cpu") is False  # the timer firing later: nothing to do
    w.ensure(weights, "cpu")  # the next click: nothing to do either
    pipeline.get_model(weights, "cpu")
    assert loads == [weights] and len(threads) == 1


def test_ensure_leaves_failures_to_the_reconstruction(tmp_path: Path, weights: str, loads: list[str]) -> None:
    w = warmup.WarmUp()
    w.ensure(str(tmp_path / "missing.pt"), "cpu")  # does not raise
    assert w.state == warmup.FAILED
    w.ensure(weights, "cpu")  # a later click with good weights: not the old error either
    assert pipeline.get_model(weights, "cpu")[0] is not None


def test_waiting_can_be_cancelled_and_the_warm_up_goes_on(weights: str, loads: list[str]) -> None:
    gate = Gate()
    w = warmup.WarmUp(load_model=gate)
    w.start(weights, "cpu")
    assert gate.entered.wait(60)
    with pytest.raises(Cancelled):
        w.wait_with_progress(None, lambda: True)
    gate.open()
    assert w.wait(60) and w.state == warmup.DONE and loads == [weights]


def test_no_waiting_when_no_warm_up_runs() -> None:
    w = warmup.WarmUp()
    messages: list[str] = []
    assert w.wait_with_progress(lambda f, m: messages.append(m), lambda: True) is False
    assert messages == [] and w.state == warmup.IDLE


def test_a_failed_warm_up_keeps_its_sentence(tmp_path: Path, loads: list[str]) -> None:
    missing = str(tmp_path / "nowhere" / "face_net.pt")
    w = warmup.WarmUp()
    with pytest.raises(FaceFromPhotoError, match="missing"):
        w.run(missing, "cpu")
    assert w.state == warmup.FAILED and w.times is None
    report = warmup.startup_report(w)
    assert report["state"] == "failed" and report["error"].endswith(".")
    assert not w.start(missing, "cpu")  # once is once, also after a failure


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="thread nice values are Linux's")
def test_the_warm_up_runs_at_a_lower_priority_until_a_click_waits(weights: str, loads: list[str]) -> None:
    import os

    seen: dict[str, int] = {}
    gate = Gate()

    def load(weights_: str | None, device: str):  # type: ignore[no-untyped-def]
        tid = threading.get_native_id()
        seen["nice"] = os.getpriority(os.PRIO_PROCESS, tid)
        model = gate(weights_, device)
        seen["nice_after_wait"] = os.getpriority(os.PRIO_PROCESS, tid)
        return model

    before = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
    w = warmup.WarmUp(load_model=load)
    w.start(weights, "cpu")
    assert gate.entered.wait(60) and w.low_priority
    assert seen["nice"] == min(19, before + warmup.NICE_INCREMENT)
    assert os.getpriority(os.PRIO_PROCESS, threading.get_native_id()) == before  # this thread untouched
    opener = threading.Timer(0.3, gate.open)
    opener.start()
    assert w.wait_with_progress() is True
    # back to normal where the OS lets a process lower a nice value (root, RLIMIT_NICE), else kept low
    assert seen["nice_after_wait"] == (before if w.priority_restored else seen["nice"])


def test_the_warm_up_prepares_the_head_and_its_default_bake_tables(weights: str, loads: list[str]) -> None:
    from core import texture_bake
    from core.template_model import load_template

    texture_bake._LAYOUTS.clear()
    w = warmup.WarmUp()
    w.run(weights, "cpu")
    assert w.times is not None and w.times.head_s > 0
    assert w.stages == (warmup.STAGE_IMPORTS, warmup.STAGE_NETWORK, warmup.STAGE_HEAD)
    key = (load_template().sha256, warmup.HEAD_WARM_TEXTURE)
    assert key in texture_bake._LAYOUTS  # the first head's bake finds them ready
    assert w.times.to_dict()["total_s"] == pytest.approx(w.times.imports_s + w.times.model_s + w.times.head_s,
                                                          abs=2e-3)


def test_a_relief_warm_up_leaves_the_head_alone(weights: str, loads: list[str]) -> None:
    from core import texture_bake

    texture_bake._LAYOUTS.clear()
    w = warmup.WarmUp()
    w.run(weights, "cpu", output="relief")
    assert w.state == warmup.DONE and w.stages == (warmup.STAGE_IMPORTS, warmup.STAGE_NETWORK)
    assert w.times is not None and w.times.head_s == 0.0
    assert not texture_bake._LAYOUTS  # no bake tables built for a head nobody asked for
    assert loads == [weights]  # the network is warm all the same


def test_the_head_warm_up_builds_the_tables_of_the_chosen_size(weights: str, loads: list[str]) -> None:
    from core import texture_bake
    from core.template_model import load_template

    texture_bake._LAYOUTS.clear()
    w = warmup.WarmUp()
    w.start(weights, "cpu", low_priority=False, output="head", head_texture_size=1024)
    assert w.wait(120) and w.state == warmup.DONE, w.error
    sha = load_template().sha256
    assert w.stages[-1] == warmup.STAGE_HEAD
    assert (sha, 1024) in texture_bake._LAYOUTS and (sha, 2048) not in texture_bake._LAYOUTS


def test_a_click_that_warms_up_itself_prepares_what_it_will_build(weights: str, loads: list[str]) -> None:
    relief, head = warmup.WarmUp(), warmup.WarmUp()
    relief.ensure(weights, "cpu", output="relief")
    head.ensure(weights, "cpu", output="head", head_texture_size=0)  # no texture: template and fit only
    assert relief.stages == (warmup.STAGE_IMPORTS, warmup.STAGE_NETWORK)
    assert head.stages == (warmup.STAGE_IMPORTS, warmup.STAGE_NETWORK, warmup.STAGE_HEAD)


def test_a_template_that_cannot_load_leaves_the_network_warm(tmp_path: Path, weights: str, loads: list[str],
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    from core import template_model

    def broken(*_args, **_kwargs):  # type: ignore[no-untyped-def]
        raise FaceFromPhotoError("The template head file is damaged; reinstall the extension.")

    monkeypatch.setattr(template_model, "load_template", broken)
    assert warmup.prepare_head(1024) is False
    w = warmup.WarmUp()
    w.run(weights, "cpu")
    assert w.state == warmup.DONE and w.error is None and len(loads) == 1
