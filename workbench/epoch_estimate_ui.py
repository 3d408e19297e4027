"""The Train page's "Predicted epoch time": when to measure it, and what the panel says.

The number is the engine's (``engine.estimate``), measured off the GUI thread by
``workers.warmup.EpochTimeEstimator``. ``EpochEstimateUI`` decides when: only while the
Train page is on screen, once a data set is loaded and the network has no problem, 400 ms
after the last edit (a debounce), never during a run, and not again for a network, batch
size and data size it has already measured. After a run the panel also shows that run's
own time per epoch.
"""

from __future__ import annotations

from PySide6.QtCore import QObject, QTimer

from workbench.workers.warmup import EpochTimeEstimator

__all__ = ["EpochEstimateUI"]

DEBOUNCE_MS = 400


class EpochEstimateUI(QObject):
    """Measures and shows the epoch time of ``document``'s network on ``data`` (a
    ``LoadedDataModel``) at the batch size of ``pages.training_panel``. ``runner``: the
    ``TrainRunner`` (no measurement while it is active); ``feed``: the ``LiveFeed``, asked to
    lay the feature maps out while idle, before a measurement takes the GIL."""

    def __init__(self, pages, document, data, runner, feed, parent: QObject | None = None):
        super().__init__(parent)
        self.pages, self.document, self.data = pages, document, data
        self.runner, self.feed = runner, feed
        self.estimator = EpochTimeEstimator(self)
        self.estimate: tuple | None = None  # (key, EpochEstimate) of the latest answer
        self.asked: tuple | None = None  # key being measured
        self.last_epoch_s: float | None = None  # the last run's own epoch time
        self.timer = QTimer(self, singleShot=True, interval=DEBOUNCE_MS)
        self.timer.timeout.connect(self.request)
        self.estimator.estimated.connect(self._on_estimate)
        self.estimator.failed.connect(self._on_failed)
        runner.epochEnded.connect(self._epoch_ended)

    def schedule(self) -> None:
        """Something the estimate depends on changed: measure after the debounce."""
        self.timer.start()

    def warm_up(self) -> None:
        """Compile the engine's kernels now (once per process): training is likely next."""
        self.estimator.warm_up()

    def key(self) -> tuple | None:
        """What a measurement depends on: (spec, batch size, training and validation image
        counts); None until data is loaded (no stand-in size)."""
        sizes = self.data.split_sizes()
        if sizes is None:
            return None
        return (self.document.spec, self.pages.training_panel.batch_size.value(), *sizes)

    def request(self) -> None:
        """Measure the epoch time when it is on screen and something it depends on changed
        (the timer debounces edits); an unchanged network and batch size reuse the answer."""
        tp = self.pages.training_panel
        if self.runner.is_active():
            return
        if self.document.train_blocker:
            tp.show_estimate_text("Predicted epoch time: fix the network first")
            return
        if not self.pages.train_page.isVisible():
            return  # measured when the Train page is next shown
        key = self.key()
        if key is None:
            tp.show_estimate_text("Predicted epoch time: shown once a data set is loaded")
            return
        if self.estimate is not None and self.estimate[0] == key:
            self.show()
            return
        if key == self.asked:
            return  # being measured
        self.asked = key
        self.feed.show_spec(self.document.spec)
        tp.show_estimate(None)
        self.estimator.request(*key)

    def show(self) -> None:
        """The latest measurement (and the last run's own epoch time) on the panel."""
        tp = self.pages.training_panel
        if self.estimate is None or self.estimate[0] is None:
            tp.show_estimate_text("Predicted epoch time: measured when you open the Train page")
            return
        est = self.estimate[1]
        tp.show_estimate(est.epoch_s, est.images_per_s)
        if self.last_epoch_s is not None:
            from workbench.views.training_panel import format_duration

            tp.show_estimate_text(
                f"{tp.estimate_label.text()}\nLast run: {format_duration(self.last_epoch_s)}"
                " per epoch"
            )

    def run_started(self) -> None:
        """A run starts: no measurement may slow it down."""
        self.timer.stop()
        self.estimator.cancel()  # a waiting measurement would only slow the run down
        if self.estimate is None or self.estimate[0] != self.key():
            self.pages.training_panel.show_estimate_text(
                "Predicted epoch time: not measured (training started first)"
            )

    def run_ended(self) -> None:
        """Settle on the measured value (and the run's own), never a "measuring…" left over
        from before the run, and measure again if something changed meanwhile."""
        self.show()
        self.schedule()

    def shutdown(self) -> None:
        """Drop a waiting request; a measurement still running is left to the background
        registry (it ends within a second or two)."""
        self.estimator.cancel()
        self.timer.stop()

    def _epoch_ended(self, event) -> None:
        self.last_epoch_s = event.elapsed_s / max(1, event.epoch)

    def _on_estimate(self, estimate) -> None:
        self.estimate = (self.asked, estimate)
        self.asked = None
        if not self.runner.is_active():
            self.show()
        if self.key() != self.estimate[0]:
            self.schedule()  # edited while measuring

    def _on_failed(self, message: str) -> None:
        self.asked = None
        self.pages.training_panel.show_estimate_text(f"No epoch-time estimate: {message}")
