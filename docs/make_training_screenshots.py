"""Render the README's training screenshots: Data page, Train page mid-run, Inspect views.

    QT_QPA_PLATFORM=offscreen .venv/bin/python docs/make_training_screenshots.py light
    QT_QPA_PLATFORM=offscreen .venv/bin/python docs/make_training_screenshots.py dark
    QT_QPA_PLATFORM=offscreen .venv/bin/python docs/make_training_screenshots.py light resnet20

Trains mnist-2conv on the bundled sample for a few epochs (a few seconds) and saves PNGs in
docs/screenshots/. With a second argument (a graph preset such as resnet20) it trains that on
the sample instead (made 3x32x32 by the preprocessing) and saves only the Train page mid-run,
as training-NAME-THEME.png. The designer's pictures come from
`cnn-workbench --screenshot PATH SPEC`.
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

import numpy as np

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from PySide6.QtCore import QEventLoop, QTimer

from engine.resources import resource_path
from workbench.app import application, create_main_window

OUT = Path(__file__).resolve().parent / "screenshots"


def pump(ms: int) -> None:
    loop = QEventLoop()
    QTimer.singleShot(ms, loop.quit)
    loop.exec()


def on_sample(theme: str, name: str, epochs: int):
    """The window on ``name`` with the bundled sample loaded: (window, its controller)."""
    application()
    window = create_main_window(name, theme=theme, autosave=False)
    c = window.training
    c.runs_root = Path(tempfile.mkdtemp(prefix="screenshots-runs-"))
    window.resize(1440, 900)
    window.show()
    c.training_panel.epochs.setValue(epochs)
    c.training_panel.batch_size.setValue(32)
    c.dataset_panel.set_source(str(resource_path("sample")))
    c.dataset_panel.wait()
    return window, c


def main(theme: str) -> None:
    window, c = on_sample(theme, "mnist-2conv", 6)
    window.pages.setCurrentIndex(c.data_index)
    pump(300)
    window.grab().save(str(OUT / f"training-data-{theme}.png"))
    window.pages.setCurrentIndex(c.train_index)
    pump(700)  # the Train page asks for an epoch-time estimate 0.4 s after it shows
    c.estimator.wait()
    pump(100)

    def on_epoch(event) -> None:
        if event.epoch == 3:
            c.feed.flush()
            c.feature_maps.flush()
            c.curves.redraw()
            pump(50)
            c.feature_maps.hover(2, 1, 5, 6)  # a receptive field, as a hovering mouse shows
            window.grab().save(str(OUT / f"training-train-{theme}.png"))

    c.runner.epochEnded.connect(on_epoch)
    c.start_training()
    while c.is_training():
        pump(100)
    pump(300)
    window.pages.setCurrentIndex(c.inspect_index)
    c.inspect_tabs.setCurrentWidget(c.filters)
    pump(300)
    c.filters.select_layer(0)
    pump(200)
    window.grab().save(str(OUT / f"training-inspect-filters-{theme}.png"))
    c.inspect_tabs.setCurrentWidget(c.confusion)
    pump(300)
    off_diagonal = c.confusion.matrix().copy()
    np.fill_diagonal(off_diagonal, -1)
    c.confusion.select_cell(*np.unravel_index(off_diagonal.argmax(), off_diagonal.shape))
    pump(200)
    window.grab().save(str(OUT / f"training-inspect-confusion-{theme}.png"))
    window.maybe_save = lambda prepare=None: True
    window.close()


def graph_run(theme: str, name: str) -> None:
    """The Train page of ``name`` training on the sample, after its second epoch."""
    window, c = on_sample(theme, name, 3)
    window.pages.setCurrentIndex(c.train_index)
    pump(700)
    c.estimator.wait()
    pump(100)

    def on_epoch(event) -> None:
        if event.epoch == 2:
            c.feed.flush()
            c.feature_maps.flush()
            c.curves.redraw()
            pump(50)
            window.grab().save(str(OUT / f"training-{name}-{theme}.png"))

    c.runner.epochEnded.connect(on_epoch)
    c.start_training()
    while c.is_training():
        pump(100)
    window.maybe_save = lambda prepare=None: True
    window.close()


if __name__ == "__main__":
    if len(sys.argv) > 2:
        graph_run(sys.argv[1], sys.argv[2])
    else:
        main(sys.argv[1] if len(sys.argv) > 1 else "light")
    os._exit(0)  # skip interpreter teardown of Qt objects: the pictures are saved
