"""Editors for the training settings, made from the engine's catalogue
(``engine.train_settings.SETTINGS``): one widget per setting, read and written by name, so
the Train page lists no setting by hand (as ``field_editors`` does for layer fields).

``editor(setting)`` makes the widget; ``read(setting, widget)`` and ``write(setting, widget,
value)`` convert between it and a ``TrainConfig`` value; ``changed(widget)`` is its signal.
The augmentation list gets ``AugmentEditor``: flip, crop padding, rotation, brightness and
contrast, each its own control, so "shift=4" or "rotate=10" survive the round trip.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFileDialog,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QSpinBox,
    QToolButton,
    QWidget,
)

from engine.train_settings import Setting

__all__ = ["PER_LAYER", "AugmentEditor", "PathEditor", "changed", "editor", "read", "write"]

#: The optional initialiser's "None": each layer keeps its own.
PER_LAYER = "per layer"

#: Setting name -> objectName, for tests and accessibility (the old names kept).
OBJECT_NAMES = {"optimizer": "optimizerBox", "lr": "lrBox", "batch_size": "batchSizeBox",
                "epochs": "epochsBox", "patience": "earlyStoppingBox",
                "keep_best": "keepBestBox", "init_from": "initFromEdit",
                "freeze": "freezeEdit", "augment": "augmentEditor"}  # fmt: skip


def _spin(s: Setting) -> QSpinBox | QDoubleSpinBox:
    if s.kind == "int":
        box: QSpinBox | QDoubleSpinBox = QSpinBox()
        box.setRange(int(s.lo), int(s.hi))
    else:
        box = QDoubleSpinBox()
        box.setDecimals(s.decimals)
        box.setRange(s.lo, s.hi)
        box.setSingleStep(s.step)
    if s.name == "patience":
        box.setSpecialValueText("off")
    box.setKeyboardTracking(False)
    return box


def editor(s: Setting) -> QWidget:
    """A widget for setting ``s``, with its tooltip and objectName."""
    if s.kind in ("int", "float"):
        w: QWidget = _spin(s)
    elif s.kind in ("choice", "optional_choice"):
        w = QComboBox()
        w.addItems(([PER_LAYER] if s.kind == "optional_choice" else []) + list(s.choices))
    elif s.kind == "bool":
        w = QCheckBox(s.label.lower())
    elif s.kind == "augment":
        w = AugmentEditor()
    elif s.name == "init_from":
        w = PathEditor()
    else:
        w = QLineEdit()
        w.setPlaceholderText("none" if s.name != "freeze" else "none (a layer id: conv2d_3)")
        w.setClearButtonEnabled(True)
    w.setToolTip(s.tip)
    w.setObjectName(OBJECT_NAMES.get(s.name, f"{s.name}Setting"))
    return w


def read(s: Setting, w: QWidget) -> Any:
    """The value ``w`` shows, as TrainConfig wants it."""
    if isinstance(w, QSpinBox | QDoubleSpinBox):
        return w.value()
    if isinstance(w, QComboBox):
        text = w.currentText()
        return None if s.kind == "optional_choice" and text == PER_LAYER else text
    if isinstance(w, QCheckBox):
        return w.isChecked()
    if isinstance(w, AugmentEditor):
        return w.items()
    text = (w.text() if isinstance(w, QLineEdit | PathEditor) else "").strip()
    return text or None


def write(s: Setting, w: QWidget, value: Any) -> None:
    """Show ``value`` (a valid TrainConfig value) in ``w``."""
    if isinstance(w, QSpinBox):
        w.setValue(int(value))
    elif isinstance(w, QDoubleSpinBox):
        w.setValue(float(value))
    elif isinstance(w, QComboBox):
        w.setCurrentText(PER_LAYER if value is None else str(value))
    elif isinstance(w, QCheckBox):
        w.setChecked(bool(value))
    elif isinstance(w, AugmentEditor):
        w.set_items(tuple(value))
    elif isinstance(w, QLineEdit | PathEditor):
        w.setText(value or "")


def changed(w: QWidget):
    """The signal ``w`` emits when the person changes it."""
    if isinstance(w, QSpinBox | QDoubleSpinBox):
        return w.valueChanged
    if isinstance(w, QComboBox):
        return w.currentIndexChanged
    if isinstance(w, QCheckBox):
        return w.toggled
    if isinstance(w, AugmentEditor | PathEditor):
        return w.changed
    return w.editingFinished


class PathEditor(QWidget):
    """A run folder: a line edit and a "…" button that opens a folder dialog."""

    changed = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.edit = QLineEdit(placeholderText="none (a run folder)")
        self.edit.setClearButtonEnabled(True)
        self.browse = QToolButton(text="…")
        self.browse.setToolTip("Choose a run folder")
        self.browse.clicked.connect(self._choose)
        row = QHBoxLayout(self)
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(self.edit, 1)
        row.addWidget(self.browse)
        self.edit.editingFinished.connect(self.changed)

    def text(self) -> str:
        return self.edit.text()

    def setText(self, text: str) -> None:
        self.edit.setText(text)

    def _choose(self) -> None:
        path = QFileDialog.getExistingDirectory(self, "Start from a run folder", self.text())
        if path:
            self.edit.setText(path)
            self.changed.emit()


class AugmentEditor(QWidget):
    """The ``augment`` items as controls: flip, crop padding (pixels; "shift"), rotation
    (degrees), brightness and contrast (fractions). ``items()`` gives them in that order;
    an item read by ``set_items`` whose value is unchanged comes back spelt as it was."""

    changed = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.flip = QCheckBox("flip", objectName="augmentFlip")
        self.flip.setToolTip("Mirror half of the training images left-right")
        self.shift = self._box(QSpinBox(), "augmentCrop", 0, 8, 1, 0, " px",
                               "Random crop with padding: pad this many pixels, crop back "
                               "(shifts each image by up to as many)")  # fmt: skip
        self.rotate = self._box(QDoubleSpinBox(), "augmentRotate", 0, 45, 5, 0, "°",
                                "Rotate each image by a random angle up to this")  # fmt: skip
        self.brightness = self._box(QDoubleSpinBox(), "augmentBrightness", 0, 1, 0.05, 2, "",
                                    "Multiply each image by 1 ± up to this")  # fmt: skip
        self.contrast = self._box(QDoubleSpinBox(), "augmentContrast", 0, 1, 0.05, 2, "",
                                  "Scale each image's contrast by 1 ± up to this")  # fmt: skip
        grid = QGridLayout(self)  # two controls a row: the Train page stays short
        grid.setContentsMargins(0, 0, 0, 0)
        grid.addWidget(self.flip, 0, 0, 1, 2, Qt.AlignmentFlag.AlignLeft)
        cells = (
            ("Crop pad", self.shift, 0, 2),
            ("Rotate", self.rotate, 1, 0),
            ("Bright", self.brightness, 2, 0),
            ("Contrast", self.contrast, 2, 2),
        )
        for label, box, row, col in cells:
            grid.addWidget(QLabel(label), row, col)
            grid.addWidget(box, row, col + 1)  # fmt: skip
        grid.setColumnStretch(4, 1)
        self.flip.toggled.connect(self.changed)
        self._spelling: dict[str, str] = {}

    def _box(self, box, name, lo, hi, step, decimals, suffix, tip):
        box.setObjectName(name)
        box.setRange(lo, hi)
        box.setSingleStep(step)
        if decimals:
            box.setDecimals(decimals)
        elif isinstance(box, QDoubleSpinBox):
            box.setDecimals(0)
        box.setSuffix(suffix)
        box.setSpecialValueText("off")
        box.setToolTip(tip)
        box.setKeyboardTracking(False)
        box.valueChanged.connect(self.changed)
        return box

    def items(self) -> tuple[str, ...]:
        out = ["flip"] if self.flip.isChecked() else []
        for name, box in (
            ("shift", self.shift),
            ("rotate", self.rotate),
            ("brightness", self.brightness),
            ("contrast", self.contrast),
        ):
            value = box.value()
            if not value:
                continue
            text = f"{value:g}" if isinstance(value, float) else str(value)
            old = self._spelling.get(name)
            if old is not None and _value(old) == value:
                out.append(old)
            else:
                out.append(f"crop={text}" if name == "shift" else f"{name}={text}")
        return tuple(out)  # fmt: skip

    def set_items(self, items: tuple[str, ...]) -> None:
        values = {"shift": 0, "rotate": 0.0, "brightness": 0.0, "contrast": 0.0}
        self._spelling = {}
        for item in items:
            name = item.partition("=")[0]
            name = "shift" if name == "crop" else name
            if name in values:
                values[name] = _value(item)
                self._spelling[name] = item
        blocked = self.blockSignals(True)
        try:
            self.flip.setChecked("flip" in items)
            self.shift.setValue(int(values["shift"]))
            for name in ("rotate", "brightness", "contrast"):
                getattr(self, name).setValue(values[name])
        finally:
            self.blockSignals(blocked)


def _value(item: str) -> float:
    """The number of an augment item: "shift" is 2 pixels; "crop=3" is 3."""
    if item == "shift":
        return 2
    return float(item.partition("=")[2])
