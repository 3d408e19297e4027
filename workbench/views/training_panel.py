"""The training panel: settings, Train / Pause / Stop, progress with ETA, predicted epoch time.

The panel only collects settings and shows progress; it owns no thread. ``config()`` freezes
the form into an ``engine.training.TrainConfig`` (the engine validates it); the controller
(``workbench.training_ui``) starts and stops runs and feeds ``show_batches`` and friends.
"""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from engine.fields import INIT_CHOICES
from engine.training import TrainConfig
from workbench.style import PROBLEM_COLOR

__all__ = ["TrainingPanel", "format_duration"]

#: The first entry keeps each layer's own initialiser (TrainConfig.init = None).
INITIALISERS = ("per layer", *(c for c in INIT_CHOICES if c != "auto"))


def format_duration(seconds: float | None) -> str:
    """``75.2`` → ``"1:15"``; ``3725`` → ``"1:02:05"``; under 10 s one decimal ("4.2 s")."""
    if seconds is None or seconds != seconds or seconds < 0:
        return "–"
    if seconds < 10:
        return f"{seconds:.1f} s"
    s = round(seconds)
    h, rem = divmod(s, 3600)
    m, sec = divmod(rem, 60)
    return f"{h}:{m:02d}:{sec:02d}" if h else f"{m}:{sec:02d}"


def _double(lo: float, hi: float, decimals: int, step: float, tip: str) -> QDoubleSpinBox:
    box = QDoubleSpinBox()
    box.setRange(lo, hi)
    box.setDecimals(decimals)
    box.setSingleStep(step)
    box.setToolTip(tip)
    box.setKeyboardTracking(False)
    return box


def _int(lo: int, hi: int, tip: str) -> QSpinBox:
    box = QSpinBox()
    box.setRange(lo, hi)
    box.setToolTip(tip)
    box.setKeyboardTracking(False)
    return box


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
        self._build()
        self.set_config(TrainConfig())

    # ------------------------------------------------------------------ building

    def _build(self) -> None:
        self.optimizer = QComboBox(objectName="optimizerBox")
        self.optimizer.addItems(["sgd", "adam"])
        self.optimizer.setToolTip("SGD with momentum, or Adam")
        self.lr = _double(1e-6, 1e6, 6, 0.001, "Learning rate: the size of each step")
        self.lr.setObjectName("lrBox")
        self.momentum = _double(0.0, 0.999, 3, 0.05, "Momentum of SGD (ignored by Adam)")
        self.weight_decay = _double(0.0, 1.0, 6, 1e-4, "L2 penalty on the weights")
        self.schedule = QComboBox()
        self.schedule.addItems(["constant", "step", "cosine"])
        self.schedule.setToolTip("How the learning rate changes over the epochs")
        self.step_size = _int(1, 1000, "Step schedule: epochs between decays")
        self.gamma = _double(0.01, 1.0, 3, 0.05, "Step schedule: factor applied at each decay")
        self.batch_size = _int(1, 8192, "Images per gradient step")
        self.batch_size.setObjectName("batchSizeBox")
        self.epochs = _int(1, 10000, "Passes over the training split")
        self.epochs.setObjectName("epochsBox")
        self.seed = _int(0, 2**31 - 1, "Seeds the initial weights, the split and the shuffles")
        self.val_split = _double(0.0, 0.9, 2, 0.05, "Fraction of training images held out")
        self.init = QComboBox()
        self.init.addItems(INITIALISERS)
        self.init.setToolTip("Weight initialiser for every layer ('per layer': each layer's own)")
        self.flip = QCheckBox("flip")
        self.flip.setToolTip("Mirror training images left-right at random")
        self.shift = QCheckBox("shift")
        self.shift.setToolTip("Shift training images by a few pixels at random")
        self.loss = QComboBox()
        self.loss.addItems(["cross_entropy", "total_error"])

        aug = QHBoxLayout()
        aug.setContentsMargins(0, 0, 0, 0)
        aug.addWidget(self.flip)
        aug.addWidget(self.shift)
        aug.addStretch(1)
        form = QFormLayout()
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.FieldsStayAtSizeHint)
        for label, w in (
            ("Optimiser", self.optimizer),
            ("Learning rate", self.lr),
            ("Momentum", self.momentum),
            ("Weight decay", self.weight_decay),
            ("Schedule", self.schedule),
            ("Step every", self.step_size),
            ("Decay factor", self.gamma),
            ("Batch size", self.batch_size),
            ("Epochs", self.epochs),
            ("Seed", self.seed),
            ("Validation split", self.val_split),
            ("Initialiser", self.init),
            ("Loss", self.loss),
        ):
            form.addRow(label, w)
        form.addRow("Augmentation", aug)
        self._form = form
        settings = QGroupBox("Settings")
        settings.setLayout(form)

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

        layout = QVBoxLayout(self)
        layout.addWidget(settings)
        layout.addLayout(buttons)
        layout.addWidget(self.blocker_label)
        layout.addWidget(self.blocker_fix, 0, Qt.AlignmentFlag.AlignLeft)
        layout.addWidget(self.estimate_label)
        layout.addWidget(self.progress)
        layout.addWidget(self.progress_label)
        layout.addWidget(self.status_label)
        layout.addStretch(1)

        self.train_button.clicked.connect(self.trainRequested)
        self.pause_button.clicked.connect(self._pause_clicked)
        self.stop_button.clicked.connect(self.stopRequested)
        self.schedule.currentTextChanged.connect(self._update_enabled)
        self.optimizer.currentTextChanged.connect(self._update_enabled)
        for box in (self.optimizer, self.schedule, self.init, self.loss):
            box.currentIndexChanged.connect(self.settingsChanged)
        for spin in (self.lr, self.momentum, self.weight_decay, self.step_size, self.gamma,
                     self.batch_size, self.epochs, self.seed, self.val_split):  # fmt: skip
            spin.valueChanged.connect(self.settingsChanged)
        for check in (self.flip, self.shift):
            check.toggled.connect(self.settingsChanged)

    # ------------------------------------------------------------------ settings

    def config(self) -> TrainConfig:
        """The form as a TrainConfig; raises the engine's error for an invalid combination."""
        augment = tuple(n for n, c in (("flip", self.flip), ("shift", self.shift)) if c.isChecked())
        init = self.init.currentText()
        values = {
            "epochs": self.epochs.value(),
            "batch_size": self.batch_size.value(),
            "optimizer": self.optimizer.currentText(),
            "lr": self.lr.value(),
            "momentum": self.momentum.value(),
            "weight_decay": self.weight_decay.value(),
            "schedule": self.schedule.currentText(),
            "step_size": self.step_size.value(),
            "gamma": self.gamma.value(),
            "seed": self.seed.value(),
            "val_split": self.val_split.value(),
            "augment": augment,
            "loss": self.loss.currentText(),
            "init": None if init == INITIALISERS[0] else init,
        }
        return TrainConfig.from_dict({**TrainConfig().to_dict(), **values})

    def set_config(self, config: TrainConfig | dict) -> None:
        """Show ``config`` (a TrainConfig or its to_dict(), as saved in a project)."""
        if isinstance(config, dict):
            config = TrainConfig.from_dict({**TrainConfig().to_dict(), **config})
        self.blockSignals(True)
        try:
            self.optimizer.setCurrentText(config.optimizer)
            self.lr.setValue(config.lr)
            self.momentum.setValue(config.momentum)
            self.weight_decay.setValue(config.weight_decay)
            self.schedule.setCurrentText(config.schedule)
            self.step_size.setValue(int(config.step_size or 1))
            self.gamma.setValue(float(config.gamma or 0.1))
            self.batch_size.setValue(config.batch_size)
            self.epochs.setValue(config.epochs)
            self.seed.setValue(config.seed)
            self.val_split.setValue(config.val_split)
            self.init.setCurrentText(config.init or INITIALISERS[0])
            self.loss.setCurrentText(config.loss)
            self.flip.setChecked("flip" in config.augment)
            self.shift.setChecked("shift" in config.augment)
        finally:
            self.blockSignals(False)
        self._update_enabled()

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
        for i in range(self._form.rowCount()):
            item = self._form.itemAt(i, QFormLayout.ItemRole.FieldRole)
            if item is not None and item.widget() is not None:
                item.widget().setEnabled(idle)
        for w in (self.flip, self.shift):
            w.setEnabled(idle)
        step = self.schedule.currentText() == "step"
        self.step_size.setEnabled(idle and step)
        self.gamma.setEnabled(idle and step)
        self.momentum.setEnabled(idle and self.optimizer.currentText() == "sgd")
