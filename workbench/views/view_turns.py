"""The live views take turns: one view's drawing per turn of the event loop, a gap apart.

While a network trains, the curves, the feature maps, the filters and histograms and the
confusion matrix each redraw on their own timer, and a training snapshot makes all of them
due at once. Drawn in one turn of the event loop (each view's data pushed, then every plot
painted), they held the GUI thread for 85-140 ms after the first snapshot of a resnet20 run
(benchmarks/bench_gui.py, sampled: pyqtgraph axis layout and paints of a dozen plots back to
back). Here each view's step runs alone, ``GAP_MS`` after the previous one, so Qt paints it
and handles input before the next starts: the longest stall is one view's, not their sum.

    turns = view_turns()
    turns.request(self, "histograms", self._draw_histograms)   # coalesced per (owner, name)

A request for an (owner, name) already waiting replaces its function but keeps its place in
the line, so a view that falls behind draws its newest data once. A step whose owner has
been deleted is skipped. ``run_all`` runs every waiting step now (a run's end, tests).
"""

from __future__ import annotations

from collections.abc import Callable

import shiboken6
from PySide6.QtCore import QCoreApplication, QObject, QTimer

__all__ = ["GAP_MS", "ViewTurns", "view_turns"]

#: Between the end of one step and the start of the next: time for Qt to paint what the
#: step changed and to handle input and timers (the benchmark's 10 ms probe among them).
GAP_MS = 12


class ViewTurns(QObject):
    """A line of drawing steps, run one per ``GAP_MS`` on the thread that owns it (the GUI
    thread). Steps must not raise; one that does is dropped and the line goes on."""

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._line: dict[tuple[int, str], tuple[QObject, Callable[[], object]]] = {}
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(GAP_MS)
        self._timer.timeout.connect(self._run_one)

    def request(self, owner: QObject, name: str, step: Callable[[], object]) -> None:
        """Run ``step()`` in a later turn; replaces the waiting step of ``(owner, name)``."""
        key = (id(owner), name)
        self._line[key] = (owner, step)  # an existing key keeps its place (dict order)
        if not self._timer.isActive():
            self._timer.start()

    def waiting(self, owner: QObject | None = None) -> int:
        """How many steps wait (of ``owner`` only, when given)."""
        if owner is None:
            return len(self._line)
        return sum(1 for who, _ in self._line.values() if who is owner)

    def run_all(self) -> None:
        """Run every waiting step now, in order (and those they request in turn)."""
        self._timer.stop()
        for _ in range(1000):  # a step that re-requests itself for ever stops here
            if not self._line:
                return
            self._run_one(restart=False)

    def _run_one(self, restart: bool = True) -> None:
        if not self._line:
            return
        key = next(iter(self._line))
        owner, step = self._line.pop(key)
        try:
            if shiboken6.isValid(owner):
                step()
        finally:
            if restart and self._line:
                self._timer.start()


_shared: ViewTurns | None = None


def view_turns() -> ViewTurns:
    """The application's line (made on first use, owned by the QCoreApplication)."""
    global _shared
    turns = _shared
    if turns is not None and shiboken6.isValid(turns):
        return turns
    app = QCoreApplication.instance()
    if app is None:
        raise RuntimeError("view_turns() needs a QApplication")
    _shared = turns = ViewTurns(app)
    turns.setObjectName("viewTurns")
    return turns
