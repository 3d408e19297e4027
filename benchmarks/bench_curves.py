"""What one live update of the training curves costs the GUI thread as a run grows.

    QT_QPA_PLATFORM=offscreen .venv/bin/python benchmarks/bench_curves.py [--batches 300 5000]

For each count of batches already drawn: the median, over 150 updates, of one batch added
and the curves redrawn (``TrainingCurves.redraw``: the data pushed to the plot items) and of
both plots then painted (``repaint`` of their viewports, what Qt does after a redraw), with
the x axis fixed to the run's 10 epochs as during a run. The curves redraw twice a second
while a network trains, and all of this holds the interpreter lock the training needs.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import numpy as np  # noqa: E402


def measure(batches: int, updates: int = 150) -> tuple[float, float]:
    """(redraw ms, paint ms): medians per update with ``batches`` already drawn."""
    from workbench.views.curves import TrainingCurves

    view = TrainingCurves()
    view.resize(1000, 400)
    view.show()
    from PySide6.QtWidgets import QApplication

    app = QApplication.instance()
    app.processEvents()
    view.set_epoch_range(10)
    rng = np.random.default_rng(0)
    total = batches + updates

    def add(i: int) -> None:
        t = 10 * (i + 1) / total
        loss = 2.3 * math.exp(-t * 0.5) + 0.08 + 0.3 * rng.standard_normal() ** 2
        view.add_batch(t, loss, min(1.0, 1.0 - loss / 2.6 + 0.04 * rng.standard_normal()))
        if (i + 1) % max(1, total // 10) == 0:
            view.add_epoch(t, 2.3 * math.exp(-t * 0.5) + 0.12, 0.7 + 0.02 * t)

    for i in range(batches):
        add(i)
    view.redraw()
    app.processEvents()
    redraws, paints = [], []
    for i in range(batches, total):
        add(i)
        t0 = time.perf_counter()
        view.redraw()
        t1 = time.perf_counter()
        view.loss_plot.viewport().repaint()
        view.accuracy_plot.viewport().repaint()
        t2 = time.perf_counter()
        redraws.append(t1 - t0)
        paints.append(t2 - t1)
    view.close()
    view.deleteLater()
    return 1000 * float(np.median(redraws)), 1000 * float(np.median(paints))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--batches", type=int, nargs="+", default=[300, 5000])
    args = parser.parse_args(argv)
    from workbench.app import application

    application()
    for n in args.batches:
        redraw, paint = measure(n)
        print(f"{n:6,d} batches drawn: redraw {redraw:5.2f} ms + paint {paint:5.2f} ms "
              f"= {redraw + paint:5.2f} ms per update")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
