"""Feeding the live views from a training run's events, at a bounded rate.

The runner's signals arrive already thinned: batches coalesced (at most 4 a second) and
snapshots at most once per ``snapshot_interval_s``. Here they are shaped for the views:

- curves and the progress bar take every batch (the curves redraw on their own timer);
- the newest snapshot goes to the feature maps and the filter/histogram view on a 2 Hz
  timer (``FEED_MS``), older ones are dropped unseen;
- the confusion matrix takes the newest epoch's validation results, on the same timer, in a
  turn of the event loop of its own (workbench.views.view_turns).

A view that is not on screen is not fed (unless ``update_hidden_views``); it catches up with
the newest snapshot and epoch when it is shown. So the GUI thread only does work that can be
seen, which is what keeps it responsive while the training thread computes.
"""

from __future__ import annotations

from PySide6.QtCore import QObject, QTimer, Signal

from workbench.views.view_turns import view_turns
from workbench.workers.predict_worker import ModelWeights

__all__ = ["LiveFeed"]

#: How often the views are handed the newest snapshot and epoch: snapshots come at most once
#: a second, so 2 Hz shows each within half a second, with half the drawing turns of 4 Hz
#: (each one takes the interpreter lock from the training thread; see curves.REDRAW_MS).
FEED_MS = 500


class LiveFeed(QObject):
    """Connects a ``TrainRunner`` to the views of one window. ``modelChanged(ModelWeights)``
    fires when newer weights are available (for predictions)."""

    modelChanged = Signal(object)

    def __init__(self, runner, views, data, parent: QObject | None = None) -> None:
        """``views``: an object with ``curves``, ``feature_maps``, ``filters``, ``confusion``
        and ``training_panel`` attributes (the pages); ``data``: the window's
        ``LoadedDataModel`` (its preprocessing and class names go with each snapshot's
        weights, its validation images with the confusion matrix)."""
        super().__init__(parent)
        self.views = views
        self.data = data
        self.update_hidden_views = False
        self.history: dict[str, list] = {}
        self._spec = None
        self._class_names: tuple[str, ...] = ()
        self._pending = None  # newest Snapshot not yet handed out
        self._shown = None  # (Snapshot, spec) handed out last
        self._fed: set[str] = set()  # views that have drawn _shown
        self._confusion = None  # (probs, labels, names, images) not yet drawn
        self._maps_spec = None
        self._timer = QTimer(self, interval=FEED_MS)
        self._timer.timeout.connect(self.flush)
        runner.started.connect(self._on_started)
        runner.batches.connect(self._on_batches)
        runner.snapshot.connect(self._on_snapshot)
        runner.epochEnded.connect(self._on_epoch)

    # ------------------------------------------------------------------ run lifecycle

    def begin(self, spec, probe, epochs: int | None = None) -> None:
        """A run of ``spec`` starts; ``probe`` float32 (P, C, H, W) or None; ``epochs``:
        its length, when known (the curves' x axis is laid out once, now, rather than again
        when the run's first event arrives)."""
        self._spec = spec
        self.history = {}
        self._pending = self._shown = self._confusion = None
        self.views.curves.clear(epochs, in_turns=True)  # Train's turn paints enough
        self.views.training_panel.progress.setValue(0)
        self.show_spec(spec)
        if probe is not None:
            self.views.feature_maps.set_probe(probe[0])
        self._timer.start()

    def end(self) -> None:
        """The run is over: show what is still pending, stop the timer."""
        self._timer.stop()
        self.flush()

    def show_spec(self, spec, fresh: bool = False) -> None:
        """Lay the feature maps out for ``spec`` unless they already are (``fresh``: anew
        even so, blank, when what they show belongs to another image). Building the cells
        takes tens of milliseconds, so the controller calls this while idle, not on Train."""
        if fresh or spec != self._maps_spec:
            self._maps_spec = spec
            self.views.feature_maps.set_spec(spec)

    def show_history(self, history: dict[str, list]) -> None:
        """The curves of a finished run from its per-epoch history (a reopened run)."""
        curves = self.views.curves
        curves.clear()
        curves.set_epoch_range(len(history.get("epoch", [])))
        for i, epoch in enumerate(history.get("epoch", [])):
            curves.add_batch(
                epoch, _at(history, "train_loss", i), _at(history, "train_accuracy", i)
            )
            curves.add_epoch(epoch, _at(history, "val_loss", i), _at(history, "val_accuracy", i))

    # ------------------------------------------------------------------ events

    def _on_started(self, event) -> None:
        self._class_names = tuple(event.class_names)
        self.views.curves.set_epoch_range(event.total_epochs)
        self.views.training_panel.start_run(event)

    def _on_batches(self, events) -> None:
        curves = self.views.curves
        for e in events:
            curves.add_batch(e.epoch - 1 + e.batch / e.batches_per_epoch, e.loss, e.accuracy)
        self.views.training_panel.show_batch(events[-1])

    def _on_snapshot(self, snapshot) -> None:
        self._pending = snapshot

    def _on_epoch(self, e) -> None:
        for key, value in (("epoch", e.epoch), ("train_loss", e.train_loss),
                           ("train_accuracy", e.train_accuracy), ("val_loss", e.val_loss),
                           ("val_accuracy", e.val_accuracy), ("lr", e.lr)):  # fmt: skip
            self.history.setdefault(key, []).append(value)
        self.views.curves.add_epoch(e.epoch, e.val_loss, e.val_accuracy)
        probs, labels = e.val_predictions
        if len(labels):
            images = self.data.validation_images(len(labels))
            # Drawn by the next tick of the timer, not here: the epoch's end brings several
            # events at once (this one, a snapshot, the run's end), and one turn of the event
            # loop doing all their drawing was the window's longest stall.
            self._confusion = (probs, labels, self._class_names, images)

    # ------------------------------------------------------------------ feeding

    def flush(self) -> None:
        """Hand the newest snapshot and epoch results to the views (the 2 Hz timer calls
        this)."""
        snap, spec = self._pending, self._spec
        if snap is None or spec is None:
            # An epoch's confusion matrix without a newer snapshot: drawn in a turn of its
            # own too (drawn here, its 10-20 ms added to the paints of the same turn).
            self._feed(staged=True)
            return
        self._pending = None
        self._shown = (snap, spec)
        self._fed = set()
        ds = self.data.dataset
        if ds is not None:
            self.modelChanged.emit(
                ModelWeights(spec, snap.weights, ds.preprocessing, tuple(ds.class_names))
            )
        self._feed(staged=True)

    def feed_visible(self, *_args) -> None:
        """Give the newest snapshot and epoch result to each view on screen that has not
        drawn them yet (connected to page and tab changes, so a shown view catches up)."""
        self._feed(staged=False)

    def _feed(self, staged: bool) -> None:
        """``staged``: the confusion matrix is drawn in a turn of its own, after the other
        views' drawing of the same tick (workbench.views.view_turns); else now."""
        v, every = self.views, self.update_hidden_views
        if self._confusion is not None and (every or v.confusion.isVisible()):
            if staged:
                view_turns().request(self, "confusion", self._draw_confusion)
            else:
                self._draw_confusion()
        if self._shown is None:
            return
        snap, spec = self._shown
        if "maps" not in self._fed and (every or v.feature_maps.isVisible()):
            if snap.activations is not None:
                v.feature_maps.update_activations(snap.activations)
            self._fed.add("maps")
        if "filters" not in self._fed and (every or v.filters.isVisible()):
            v.filters.update_snapshot(snap.weights, snap.activations, spec)
            self._fed.add("filters")

    def _draw_confusion(self) -> None:
        if self._confusion is not None:
            confusion, self._confusion = self._confusion, None
            self.views.confusion.set_results(*confusion)


def _at(history: dict[str, list], key: str, i: int):
    values = history.get(key, [])
    return values[i] if i < len(values) else None
