"""Render the README's "Learn by seeing" screenshots: playground, step by step, shift test.

    QT_QPA_PLATFORM=offscreen .venv/bin/python docs/make_learning_screenshots.py

Trains LeNet-5 on the bundled sample for 15 epochs with random shifts (seconds), then saves
in docs/screenshots/: the kernel playground (an edge detector on a sample image, conv1's
learned filters below it), the step-by-step view on the tutorial's example and on a pixel of
the trained network ("Explain this pixel"), the baselines with the shift test, and Grad-CAM
in the Predict view.
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from PySide6.QtCore import QEventLoop, QTimer

from engine.resources import resource_path
from workbench.app import application, create_main_window

OUT = Path(__file__).resolve().parent / "screenshots"


def pump(ms: int) -> None:
    loop = QEventLoop()
    QTimer.singleShot(ms, loop.quit)
    loop.exec()


def wait_until(test, timeout_ms: int = 120000) -> None:
    waited = 0
    while not test():
        if waited > timeout_ms:
            raise TimeoutError("the screenshot scene did not get ready in time")
        pump(50)
        waited += 50


def main(theme: str = "light") -> None:
    application()
    window = create_main_window("lenet5", theme=theme, autosave=False)
    c, learn = window.training, window.learning
    c.runs_root = Path(tempfile.mkdtemp(prefix="screenshots-runs-"))
    window.resize(1440, 900)
    window.show()
    # Random shifts while training: the CNN of the shift test learns what pooling alone
    # does not give it (the baselines have no such option: they compare pixels).
    c.training_panel.epochs.setValue(15)
    c.training_panel.shift.setChecked(True)
    c.dataset_panel.set_source(str(resource_path("sample")))
    c.dataset_panel.wait()
    pump(200)
    c.start_training()
    wait_until(lambda: not c.is_training())
    c.feed.flush()
    pump(200)

    # The playground: edge detection on a sample image, conv1's filters below.
    learn.show_tab(learn.playground)
    learn.playground.source.setCurrentText("Sample image")
    learn.playground.select_kernel("edge detection 3")
    pump(300)
    window.grab().save(str(OUT / f"learn-playground-{theme}.png"))

    # Step by step: the tutorial's example, the window at its fifth position.
    learn.show_tab(learn.steps)
    learn.steps.mode.setCurrentText("Convolution")
    learn.steps.show_tutorial()
    learn.steps.slider.setValue(4)
    pump(200)
    window.grab().save(str(OUT / f"learn-step-by-step-{theme}.png"))

    # Explain this pixel: conv1, filter 3, near the middle of the probe image.
    learn.explain(0, 3, 14, 12)
    pump(200)
    window.grab().save(str(OUT / f"learn-explain-pixel-{theme}.png"))

    # Baselines and the shift test.
    learn.show_tab(learn.baselines)
    learn.baselines.run_shift_test()
    wait_until(lambda: "CNN" in learn.baselines.curves())
    pump(300)
    window.grab().save(str(OUT / f"learn-shift-test-{theme}.png"))

    # Grad-CAM on a validation image in the Predict view.
    learn.explain_example(3)
    learn.saliency.wait()
    pump(300)
    window.grab().save(str(OUT / f"learn-grad-cam-{theme}.png"))
    c.shutdown()
    window.document.undo_stack.setClean()
    window.hide()


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "light")
