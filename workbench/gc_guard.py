"""Python's cycle collector runs on the main thread only.

A cycle that holds a Qt object is freed by whichever thread happens to trigger a collection.
When that is a worker thread (loading data, training), a QObject of the GUI thread is
destroyed on the wrong thread: its timers cannot be unregistered, and the next timer event
for it crashes the process (seen as "Segmentation fault" in QTimerInfoList::activateTimers).
So automatic collection is switched off and the GUI thread collects instead, on a timer, the
pattern calibre and other large PyQt/PySide applications use. Reference counting still frees
everything that is not in a cycle at once; only cycles wait for the next tick.
"""

from __future__ import annotations

import gc

from PySide6.QtCore import QCoreApplication, QObject, QTimer

__all__ = ["freeze_startup", "install"]

#: How often the GUI thread looks for garbage cycles.
INTERVAL_MS = 1000


class _Collector(QObject):
    def __init__(self, parent: QObject) -> None:
        super().__init__(parent)
        self.thresholds = gc.get_threshold()
        self.timer = QTimer(self)
        self.timer.timeout.connect(self.check)
        self.timer.start(INTERVAL_MS)

    def check(self) -> None:
        # The cheap generation-by-generation policy of gc itself, run from this thread.
        counts = gc.get_count()
        for generation in (2, 1, 0):
            if counts[generation] > self.thresholds[generation]:
                gc.collect(generation)
                break


_collector: _Collector | None = None


def install() -> None:
    """Switch automatic collection off and collect on the GUI thread (idempotent; needs a
    QCoreApplication)."""
    global _collector
    app = QCoreApplication.instance()
    if app is None or (_collector is not None and _collector.parent() is app):
        return
    gc.disable()
    _collector = _Collector(app)


def freeze_startup() -> None:
    """Collect once, then move every object alive now (modules, classes, the window and its
    widgets: the long-lived ones) out of the collector's sight (``gc.freeze``), so the
    periodic collections on the GUI thread only walk what was made since. Full collections
    of the startup heap measured 7-21 ms each while a network trained (event-loop stalls);
    call it once the main window is built."""
    gc.collect()
    gc.freeze()
