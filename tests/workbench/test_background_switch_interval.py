"""While any worker thread lives, the GIL switch interval is short (workbench.workers.background
.GIL_SWITCH_S), so the GUI's paints and slots get the lock back quickly; the interval the
process had returns when the last worker has finished. A run's final dead-unit count once ran
at the default 5 ms after the training thread had ended, and the paints around the run's end
waited for it (the worst stall of a resnet20 run)."""

import sys
import threading

from workbench.workers.background import GIL_SWITCH_S, BackgroundCall


def test_the_switch_interval_is_short_while_a_worker_lives_and_restored_after(qtbot):
    before = sys.getswitchinterval()
    assert before != GIL_SWITCH_S
    release_first, release_second = threading.Event(), threading.Event()
    seen = []

    def job(release):
        seen.append(sys.getswitchinterval())  # what the worker runs under
        release.wait(10)
        return True

    first, second = BackgroundCall(), BackgroundCall()
    first.start(lambda: job(release_first))
    second.start(lambda: job(release_second))
    assert sys.getswitchinterval() == GIL_SWITCH_S
    with qtbot.waitSignal(first.result, timeout=10000):
        release_first.set()
    qtbot.waitUntil(lambda: not first.is_busy(), timeout=10000)
    qtbot.wait(50)  # the registry's reap of the first thread has run
    assert sys.getswitchinterval() == GIL_SWITCH_S  # the second still runs
    with qtbot.waitSignal(second.result, timeout=10000):
        release_second.set()
    qtbot.waitUntil(lambda: sys.getswitchinterval() == before, timeout=10000)
    assert seen == [GIL_SWITCH_S, GIL_SWITCH_S]
