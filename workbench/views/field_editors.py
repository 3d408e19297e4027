"""The inspector's field editors: one widget per kind of spec field (engine.fields).

Each editor takes its range, choices and tooltip from the field's metadata, shows a value
with ``set_value`` (without signals, so showing is never an edit) and emits ``edited`` with
the new value when the user changes it. ``EDITORS`` maps a field kind to its editor class.
"""

from __future__ import annotations

import math
from abc import ABCMeta, abstractmethod
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QValidator
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QHBoxLayout,
    QLabel,
    QSpinBox,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from engine.fields import FieldInfo

_INT_MAX = 2**31 - 1


class _EditorMeta(type(QWidget), ABCMeta):
    """Qt's metaclass and ABCMeta together: value/set_value are declared abstract (linters and
    ``inspect.isabstract`` see it; Shiboken's object creation does not enforce it)."""


class FieldEditor(QWidget, metaclass=_EditorMeta):
    """Base of the generated editors: ``value()``, ``set_value(v)`` (silent), ``edited``."""

    edited = Signal(object)

    def __init__(self, info: FieldInfo, parent: QWidget | None = None):
        super().__init__(parent)
        self.info = info
        self.setToolTip(info.description)
        self.setAccessibleName(info.label)
        self._layout = QHBoxLayout(self)
        self._layout.setContentsMargins(0, 0, 0, 0)
        self._layout.setSpacing(4)

    def _emit(self, *_args: Any) -> None:
        self.edited.emit(self.value())

    @abstractmethod
    def value(self) -> Any:
        """The field's value as the spec stores it (pairs as tuples)."""

    @abstractmethod
    def set_value(self, value: Any) -> None:
        """Show ``value`` without emitting ``edited``."""


def _spin(info: FieldInfo, parent: QWidget) -> QSpinBox:
    box = QSpinBox(parent)
    box.setRange(
        int(info.minimum if info.minimum is not None else 0),
        int(min(info.maximum or _INT_MAX, _INT_MAX)),
    )
    box.setToolTip(info.description)
    box.setAccelerated(True)
    return box


class IntEditor(FieldEditor):
    def __init__(self, info: FieldInfo, parent=None):
        super().__init__(info, parent)
        self.box = _spin(info, self)
        self._layout.addWidget(self.box)
        self.box.valueChanged.connect(self._emit)

    def value(self) -> int:
        return self.box.value()

    def set_value(self, value: int) -> None:
        _silently(self.box, self.box.setValue, value)


class _CompactDoubleSpinBox(QDoubleSpinBox):
    """Shows 1e-05 rather than 0.000010000000: short, and exact for the spec's floats."""

    def textFromValue(self, value: float) -> str:
        return f"{value:.6g}"

    def valueFromText(self, text: str) -> float:
        try:
            return float(text)
        except ValueError:
            return self.value()

    def validate(self, text: str, pos: int):
        try:
            v = float(text)
        except ValueError:
            return QValidator.State.Intermediate, text, pos
        ok = self.minimum() <= v <= self.maximum()
        return (QValidator.State.Acceptable if ok else QValidator.State.Intermediate), text, pos


class FloatEditor(FieldEditor):
    def __init__(self, info: FieldInfo, parent=None):
        super().__init__(info, parent)
        self.box = _CompactDoubleSpinBox(self)
        step = info.step or 0.1
        self.box.setDecimals(max(2, min(12, 2 - math.floor(math.log10(info.minimum or step or 1)))))
        hi = info.maximum if info.maximum is not None else 1e9
        if info.exclusive_max:  # a dropout rate of 1 would drop everything
            hi -= step / 10
        self.box.setRange(info.minimum if info.minimum is not None else -1e9, hi)
        self.box.setSingleStep(step)
        self.box.setToolTip(info.description)
        self._layout.addWidget(self.box)
        self.box.valueChanged.connect(self._emit)

    def value(self) -> float:
        return self.box.value()

    def set_value(self, value: float) -> None:
        _silently(self.box, self.box.setValue, value)


class BoolEditor(FieldEditor):
    def __init__(self, info: FieldInfo, parent=None):
        super().__init__(info, parent)
        self.box = QCheckBox(self)
        self.box.setToolTip(info.description)
        self._layout.addWidget(self.box)
        self.box.toggled.connect(self._emit)

    def value(self) -> bool:
        return self.box.isChecked()

    def set_value(self, value: bool) -> None:
        _silently(self.box, self.box.setChecked, bool(value))


class ChoiceEditor(FieldEditor):
    def __init__(self, info: FieldInfo, parent=None):
        super().__init__(info, parent)
        self.box = QComboBox(self)
        self.box.addItems(list(info.choices))
        self.box.setToolTip(info.description)
        self._layout.addWidget(self.box)
        self.box.currentTextChanged.connect(self._emit)

    def value(self) -> str:
        return self.box.currentText()

    def set_value(self, value: str) -> None:
        _silently(self.box, self.box.setCurrentText, value)


class PairEditor(FieldEditor):
    """height × width, locked together (square) unless the chain button is released.

    Also serves "optional_pair" (an "auto" tick box: None) and "padding" (a mode combo box:
    a number, "same" or "valid"; on its own line, so the form fits a narrow inspector).
    """

    def __init__(self, info: FieldInfo, parent=None):
        super().__init__(info, parent)
        self.mode: QComboBox | None = None
        self.auto: QCheckBox | None = None
        if info.kind == "padding":
            self.mode = QComboBox(self)
            self.mode.addItems(["pixels", *info.choices])
            self.mode.setToolTip(info.description)
            self.mode.currentIndexChanged.connect(self._mode_changed)
            lines = QVBoxLayout()
            lines.setSpacing(4)
            lines.addWidget(self.mode, 0, Qt.AlignmentFlag.AlignLeft)
            self._layout.addLayout(lines)
            numbers = QHBoxLayout()
            numbers.setSpacing(self._layout.spacing())
            lines.addLayout(numbers)
            self._layout = numbers  # the rest goes on the second line
        if info.kind == "optional_pair":
            self.auto = QCheckBox("auto", self)
            self.auto.setToolTip("same as size: the windows do not overlap")
            self.auto.toggled.connect(self._mode_changed)
            self._layout.addWidget(self.auto)
        self.h, self.w = _spin(info, self), _spin(info, self)
        self.h.setAccessibleName(f"{info.label} height")
        self.w.setAccessibleName(f"{info.label} width")
        self.link = QToolButton(self)
        self.link.setText("1:1")
        self.link.setCheckable(True)
        self.link.setChecked(True)
        self.link.setToolTip("keep height and width equal (a square window)")
        times = QLabel("×", self)
        for w in (self.h, times, self.w, self.link):
            self._layout.addWidget(w)
        self._layout.addStretch(1)
        self.h.valueChanged.connect(lambda v: self._changed(self.h, self.w, v))
        self.w.valueChanged.connect(lambda v: self._changed(self.w, self.h, v))

    def _changed(self, source: QSpinBox, other: QSpinBox, v: int) -> None:
        if self.link.isChecked():
            _silently(other, other.setValue, v)
        self._emit()

    def _mode_changed(self, *_args: Any) -> None:
        self._sync_enabled()
        self._emit()

    def _sync_enabled(self) -> None:
        numeric = (self.mode is None or self.mode.currentIndex() == 0) and not (
            self.auto is not None and self.auto.isChecked()
        )
        for w in (self.h, self.w, self.link):
            w.setEnabled(numeric)

    def value(self) -> Any:
        if self.mode is not None and self.mode.currentIndex() > 0:
            return self.mode.currentText()
        if self.auto is not None and self.auto.isChecked():
            return None
        return [self.h.value(), self.w.value()]

    def set_value(self, value: Any) -> None:
        if self.mode is not None:
            _silently(
                self.mode, self.mode.setCurrentText, value if isinstance(value, str) else "pixels"
            )
        if self.auto is not None:
            _silently(self.auto, self.auto.setChecked, value is None)
        if isinstance(value, tuple | list):
            _silently(self.h, self.h.setValue, value[0])
            _silently(self.w, self.w.setValue, value[1])
            self.link.setChecked(value[0] == value[1])
        self._sync_enabled()


EDITORS = {
    "int": IntEditor,
    "float": FloatEditor,
    "bool": BoolEditor,
    "choice": ChoiceEditor,
    "pair": PairEditor,
    "optional_pair": PairEditor,
    "padding": PairEditor,
}


def _silently(widget: QWidget, setter, value: Any) -> None:
    widget.blockSignals(True)
    try:
        setter(value)
    finally:
        widget.blockSignals(False)
