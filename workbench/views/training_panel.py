"""The training panel: settings, Train / Pause / Stop, progress with ETA, predicted epoch time.

The panel only collects settings and shows progress; it owns no thread. Its form is made from
the engine's catalogue of settings (``engine.train_settings``, through
``train_settings_form``), so no setting is listed here by hand. ``config()`` freezes the form
into an ``engine.training.TrainConfig`` (the engine validates it); ``recommend`` shows a
preset's recommended settings except those the person changed; the controller
(``workbench.training_ui``) starts and stops runs and feeds ``show_batches`` and friends.
"""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QFormLayout,
    QFrame,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QScrollArea,
    QStyle,
    QVBoxLayout,
    QWidget,
)

from engine.train_settings import INITIALISERS as _INITS
from engine.train_settings import SETTINGS, setting
from engine.training import TrainConfig
from workbench.style import PROBLEM_COLOR
from workbench.views.train_settings_form import PER_LAYER, changed, editor, read, write

__all__ = ["TrainingPanel", "format_duration"]

#: The first entry keeps each layer's own initialiser (TrainConfig.init = None).
INITIALISERS = (PER_LAYER, *_INITS)
_AUGMENT = ("augment",)
_TRANSFER = ("init_from", "freeze")


def format_duration(seconds: float | None) -> str:
    """``75.2`` → ``"1:15"``; ``3725`` → ``"1:02:05"``; under 10 s one decimal ("4.2 s"),
    under 0.1 s milliseconds ("30 ms", not "0.0 s": it did take time)."""
    if seconds is None or seconds != seconds or seconds < 0:
        return "–"
    if 0 < seconds < 0.1:
        return f"{max(1, round(seconds * 1000))} ms"
    if seconds < 10:
        return f"{seconds:.1f} s"
    s = round(seconds)
    h, rem = divmod(s, 3600)
    m, sec = divmod(rem, 60)
    return f"{h}:{m:02d}:{sec:02d}" if h else f"{m}:{sec:02d}"


class TrainingPanel(QWidget):
    trainRequested = Signal()
    pauseRequested = Signal()
    resumeRequested = Signal()
    stopRequested = Signal()
    settingsChanged = Signal()
    fixRequested = Signal()  # the blocker's one-click fix was pressed

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("trainingPanel")
        self._state = "idle"
        self._blocker = ""
        self._total_epochs = 0
        self._first = (1, 0)
        self._programmatic = False
        self._touched: set[str] = set()  # settings the person changed since set_config
        self._build()
        self.set_config(TrainConfig())

    # ------------------------------------------------------------------ building

    def _build(self) -> None:
        self.editors: dict[str, QWidget] = {}
        for s in SETTINGS:
            w = editor(s)
            self.editors[s.name] = w
            setattr(self, s.name, w)  # panel.lr, panel.epochs, ... as before
            changed(w).connect(lambda *_, name=s.name: self._edited(name))
        self.flip, self.shift = self.augment.flip, self.augment.shift

        def form_of(names, title):
            form = QFormLayout()
            form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.FieldsStayAtSizeHint)
            for name in names:
                s = setting(name)
                if s.kind == "augment":
                    form.addRow(self.editors[name])  # its own labelled rows
                else:
                    form.addRow("" if s.kind == "bool" else s.label, self.editors[name])
            box = QGroupBox(title)
            box.setLayout(form)
            return form, box

        grouped = {*_AUGMENT, *_TRANSFER}
        main = [s.name for s in SETTINGS if s.name not in grouped]
        self._form, settings = form_of(main, "Settings")
        _, self.augment_box = form_of(_AUGMENT, "Augmentation")
        _, self.transfer_box = form_of(_TRANSFER, "Transfer learning")
        self.recommended_label = QLabel(objectName="recommendedLabel", wordWrap=True)
        self.recommended_label.setVisible(False)

        self.train_button = QPushButton("Train", objectName="trainButton")
        self.train_button.setDefault(True)
        self.pause_button = QPushButton("Pause", objectName="pauseButton")
        self.stop_button = QPushButton("Stop", objectName="stopButton")
        buttons = QHBoxLayout()
        for b in (self.train_button, self.pause_button, self.stop_button):
            buttons.addWidget(b)

        self.estimate_label = QLabel(objectName="estimateLabel", wordWrap=True)
        self.blocker_label = QLabel(objectName="blockerLabel", wordWrap=True)
        self.blocker_label.setStyleSheet(f"color: {PROBLEM_COLOR};")
        self.blocker_fix = QPushButton(objectName="blockerFixButton")
        self.blocker_fix.setVisible(False)
        self.blocker_fix.clicked.connect(self.fixRequested)
        self.progress = QProgressBar(objectName="trainProgress")
        self.progress.setTextVisible(True)
        # Two fixed lines, no word wrap: a new text then never changes the panel's layout.
        self.progress_label = QLabel(objectName="progressLabel", wordWrap=True)
        self.progress_label.setMinimumHeight(2 * self.fontMetrics().lineSpacing() + 4)
        self.status_label = QLabel(objectName="statusLabel", wordWrap=True)

        # The settings scroll on their own, so Train, the progress and the status stay in
        # view and the page fits a 1200x800 window.
        form_page = QWidget(objectName="trainSettings")
        forms = QVBoxLayout(form_page)
        forms.setContentsMargins(0, 0, 0, 0)
        for w in (self.recommended_label, settings, self.augment_box, self.transfer_box):
            forms.addWidget(w)
        forms.addStretch(1)
        self.settings_scroll = QScrollArea(objectName="trainSettingsScroll")
        self.settings_scroll.setWidgetResizable(True)
        self.settings_scroll.setFrameShape(QFrame.Shape.NoFrame)
        self.settings_scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.settings_scroll.setWidget(form_page)
        bar = self.style().pixelMetric(QStyle.PixelMetric.PM_ScrollBarExtent)
        self.settings_scroll.setMinimumWidth(form_page.sizeHint().width() + bar + 2)

        layout = QVBoxLayout(self)
        layout.addWidget(self.settings_scroll, 1)
        layout.addLayout(buttons)
        layout.addWidget(self.blocker_label)
        layout.addWidget(self.blocker_fix, 0, Qt.AlignmentFlag.AlignLeft)
        layout.addWidget(self.estimate_label)
        layout.addWidget(self.progress)
        layout.addWidget(self.progress_label)
        layout.addWidget(self.status_label)

        self.train_button.clicked.connect(self.trainRequested)
        self.pause_button.clicked.connect(self._pause_clicked)
        self.stop_button.clicked.connect(self.stopRequested)
        self.schedule.currentTextChanged.connect(self._update_enabled)
        self.optimizer.currentTextChanged.connect(self._update_enabled)

    # ------------------------------------------------------------------ settings

    def config(self) -> TrainConfig:
        """The form as a TrainConfig; raises the engine's error for an invalid combination."""
        values = {s.name: read(s, self.editors[s.name]) for s in SETTINGS}
        return TrainConfig.from_dict(values)

    def set_config(self, config: TrainConfig | dict) -> None:
        """Show ``config`` (a TrainConfig or its to_dict(), as saved in a project). What the
        person changed is forgotten: a later ``recommend`` may set every setting."""
        if isinstance(config, dict):
            config = TrainConfig.from_dict({**TrainConfig().to_dict(), **config})
        self._show(config.to_dict())
        self._touched.clear()

    def recommend(self, settings: dict | None, source: str = "") -> list[str]:
        """Show the recommended ``settings`` (a partial TrainConfig dict, as
        ``engine.presets.recommended_settings`` gives) of ``source`` (a preset name), except
        the settings the person changed since the last ``set_config``; says which in
        ``recommended_label``. Returns the names applied; emits ``settingsChanged`` when
        any. Raises ValueError for an invalid setting (nothing is changed then)."""
        if not settings:
            self.recommended_label.setVisible(False)
            return []
        applied = {k: v for k, v in settings.items() if k not in self._touched}
        kept = sorted(set(settings) - set(applied))
        merged = {**self.config().to_dict(), **applied}
        TrainConfig.from_dict(merged)  # validate before showing anything
        self._show(merged)
        from engine.presets import describe

        words = describe(applied) if applied else "none"
        tail = f"; kept your {', '.join(kept)}" if kept else ""
        self.recommended_label.setText(f"Recommended for {source or 'this network'}: {words}{tail}")
        self.recommended_label.setVisible(True)
        if applied:
            self.settingsChanged.emit()
        return list(applied)

    def recommend_for(self, spec_source) -> list[str]:
        """``recommend`` what ``engine.presets`` has for ``spec_source`` (a preset name or
        spec file); a bad sidecar is shown in the status line instead."""
        from engine.presets import recommended_settings

        try:
            return self.recommend(recommended_settings(spec_source), str(spec_source))
        except ValueError as exc:
            self.set_status(str(exc))
            return []

    def _show(self, values: dict) -> None:
        self._programmatic = True
        self.blockSignals(True)
        try:
            for s in SETTINGS:
                write(s, self.editors[s.name], values[s.name])
        finally:
            self.blockSignals(False)
            self._programmatic = False
        self._update_enabled()

    def _edited(self, name: str) -> None:
        if self._programmatic:
            return
        self._touched.add(name)
        self.settingsChanged.emit()

    # ------------------------------------------------------------------ state

    def set_blocker(self, reason: str, fix: str = "") -> None:
        """Why Train is disabled ("" when it is not): shown in red under the buttons, with a
        button for its one-click ``fix`` (a label; "" for none)."""
        self._blocker = reason
        self.blocker_label.setText(f"Cannot train: {reason}" if reason else "")
        self.blocker_label.setVisible(bool(reason))
        self.blocker_fix.setText(f"Fix: {fix}")
        self.blocker_fix.setToolTip(f"Apply: {fix}; Undo takes it back")
        self.blocker_fix.setVisible(bool(reason and fix))
        self._update_enabled()

    def set_state(self, state: str) -> None:
        """ "idle", "running", "paused" or "stopping"."""
        self._state = state
        self.pause_button.setText("Resume" if state == "paused" else "Pause")
        if state == "stopping":
            self.status_label.setText("Stopping after this batch…")
        elif state == "paused":
            self.status_label.setText("Paused")
        self._update_enabled()

    def set_status(self, text: str) -> None:
        self.status_label.setText(text)

    def start_run(self, started) -> None:
        """Reset the progress for an engine ``Started`` event (epochs and batches 1-based)."""
        self._total_epochs = started.total_epochs
        self._first = (started.start_epoch, started.start_batch)
        bpe = started.batches_per_epoch
        todo = (started.total_epochs - started.start_epoch + 1) * bpe - started.start_batch
        self.progress.setRange(0, max(1, todo))
        self.progress.setValue(0)
        self.progress_label.setText(
            f"Epoch {started.start_epoch}/{started.total_epochs} · {started.num_train:,} "
            f"training and {started.num_val:,} validation images"
        )
        self.status_label.setText("Training")

    def show_batch(self, event) -> None:
        """Progress from an engine ``BatchEnd`` (epoch and batch 1-based)."""
        first_epoch, first_batch = self._first
        done = (event.epoch - first_epoch) * event.batches_per_epoch + event.batch - first_batch
        self.progress.setValue(max(0, min(done, self.progress.maximum())))
        self.progress_label.setText(
            f"Epoch {event.epoch}/{self._total_epochs} · batch {event.batch}/"
            f"{event.batches_per_epoch} · ETA {format_duration(event.eta_s)}\n"
            f"{event.images_per_s:,.0f} images/s · loss {event.loss:.4f}"
        )

    def show_estimate(self, epoch_s: float | None, images_per_s: float | None = None) -> None:
        if epoch_s is None:
            self.estimate_label.setText("Predicted epoch time: measuring on this machine…")
            return
        speed = f" ({images_per_s:,.0f} images/s here)" if images_per_s else ""
        self.estimate_label.setText(f"Predicted epoch time: ~{format_duration(epoch_s)}{speed}")

    def show_estimate_text(self, text: str) -> None:
        self.estimate_label.setText(text)

    def _pause_clicked(self) -> None:
        if self._state == "paused":
            self.resumeRequested.emit()
        else:
            self.pauseRequested.emit()

    def _update_enabled(self) -> None:
        idle = self._state == "idle"
        self.train_button.setEnabled(idle and not self._blocker)
        self.train_button.setToolTip(self._blocker or "Start training with these settings")
        self.pause_button.setEnabled(self._state in ("running", "paused"))
        self.stop_button.setEnabled(self._state in ("running", "paused"))
        for w in self.editors.values():
            w.setEnabled(idle)
        step = self.schedule.currentText() == "step"
        self.step_size.setEnabled(idle and step)
        self.gamma.setEnabled(idle and step)
        self.momentum.setEnabled(idle and self.optimizer.currentText() == "sgd")
