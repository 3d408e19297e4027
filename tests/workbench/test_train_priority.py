"""Training threads run below the GUI thread (workbench.workers.priority): during a run in
the window's TrainRunner every thread of the process but the main one has a nice value of at
least TRAIN_NICE, threads started before the run (an engine pool, say) included; the main
thread keeps its own."""

import os
import sys
import threading

import pytest
from PySide6.QtCore import Qt
from test_training_ui import RUN_MS, app_window, button

from workbench.workers import priority

__all__ = ["app_window"]  # the fixture, shared with test_training_ui

linux = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="per-thread nice: Linux")


def _nice(tid: int) -> int:
    return os.getpriority(os.PRIO_PROCESS, tid)


def _thread_waiting(release: threading.Event) -> tuple[threading.Thread, list[int]]:
    seen: list[int] = []

    def body():
        seen.append(threading.get_native_id())
        release.wait(600)

    thread = threading.Thread(target=body, daemon=True)
    thread.start()
    while not seen:
        pass
    return thread, seen


@linux
def test_every_thread_but_the_main_one_is_lowered_and_a_lowered_one_is_left_alone():
    main = threading.main_thread().native_id
    main_before = _nice(main)
    release = threading.Event()
    thread, tid = _thread_waiting(release)
    try:
        assert _nice(tid[0]) == main_before  # a new thread starts with its creator's value
        lowered = priority.lower_background_threads(main_before + 3)
        assert lowered >= 1
        assert _nice(tid[0]) == main_before + 3
        assert _nice(main) == main_before
        # Already as low or lower: not touched (and never raised, which needs a privilege).
        assert priority.lower_background_threads(main_before + 1) == 0
        assert _nice(tid[0]) == main_before + 3
    finally:
        release.set()
        thread.join(10)


def test_off_when_the_value_is_zero():
    assert priority.lower_background_threads(0) == 0


def test_a_bad_setting_falls_back_with_a_message(monkeypatch, capsys):
    monkeypatch.setenv("CNN_WORKBENCH_TRAIN_NICE", "high")
    assert priority._configured() == 8
    assert "CNN_WORKBENCH_TRAIN_NICE='high'" in capsys.readouterr().err
    monkeypatch.setenv("CNN_WORKBENCH_TRAIN_NICE", "40")
    assert priority._configured() == 19
    monkeypatch.setenv("CNN_WORKBENCH_TRAIN_NICE", "0")
    assert priority._configured() == 0


@linux
def test_a_run_in_the_window_lowers_the_threads_started_before_it_and_its_own(app_window, qtbot):
    window, controller = app_window
    controller.training_panel.epochs.setValue(1)
    main = threading.main_thread().native_id
    main_before = _nice(main)
    release = threading.Event()
    before_run, before_tid = _thread_waiting(release)  # stands for a pool started earlier
    seen: dict[str, int] = {}

    def on_epoch(_event):
        others = [int(t) for t in os.listdir("/proc/self/task") if int(t) != main]
        seen["lowest other"] = min(_nice(t) for t in others)
        seen["earlier"] = _nice(before_tid[0])
        seen["main"] = _nice(main)

    controller.runner.epochEnded.connect(on_epoch)
    try:
        # The first run of a process may compile kernels for a minute on a loaded machine.
        with qtbot.waitSignal(controller.runner.started, timeout=5 * RUN_MS):
            qtbot.mouseClick(button(window, "trainButton"), Qt.MouseButton.LeftButton)
        qtbot.waitUntil(lambda: not controller.is_training(), timeout=RUN_MS)
    finally:
        release.set()
        before_run.join(10)
    want = max(main_before, priority.TRAIN_NICE)
    assert seen == {"lowest other": want, "earlier": want, "main": main_before}
