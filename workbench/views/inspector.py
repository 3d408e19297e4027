"""The inspector: a form generated from the selected layer's field metadata (engine.fields).

One editor per field kind (spin box with the field's range, combo box, check box, an
[h × w] pair with a square lock); the field's description is its tooltip. Every change is a
document edit at once, so the stack and the shape table follow as the user types. Row 0 (the
input) shows the input's channels, height and width. Run alone: ``python -m
workbench.views.inspector``.
"""

from __future__ import annotations

import math
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QValidator
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QScrollArea,
    QSpinBox,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from engine.fields import FieldInfo
from engine.spec import INPUT_FIELDS, SpecError
from workbench import style
from workbench.document import Document
from workbench.views.problems import Banner, ProblemList

_INT_MAX = 2**31 - 1


class FieldEditor(QWidget):
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

    def value(self) -> Any:
        raise NotImplementedError

    def set_value(self, value: Any) -> None:
        raise NotImplementedError


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
    a number, "same" or "valid").
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
            self._layout.addWidget(self.mode)
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


def _plain(value: Any) -> Any:
    """Pairs compare equal whether they are tuples or lists."""
    return list(value) if isinstance(value, tuple) else value


def _silently(widget: QWidget, setter, value: Any) -> None:
    widget.blockSignals(True)
    try:
        setter(value)
    finally:
        widget.blockSignals(False)


class Inspector(QWidget):
    """The selected row's form, its arithmetic and its problems with their fixes."""

    def __init__(self, document: Document, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("inspector")
        self.setAccessibleName("Layer inspector")
        self.document = document
        self.row = 0
        self._type = ""
        self.editors: dict[str, FieldEditor] = {}
        self.banner = Banner(self)
        self.title = QLabel(self)
        self.title.setFont(style.heading_font(self, 1.25))
        self.icon = QLabel(self)
        self.summary = QLabel(self)
        self.summary.setWordWrap(True)
        self.formula = QLabel(self)
        self.formula.setWordWrap(True)
        self.formula.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.error = QLabel(self)
        self.error.setWordWrap(True)
        self.problems = ProblemList(document, self, only_row=True)
        self.form_host = QWidget(self)
        self.form = QFormLayout(self.form_host)
        self.form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.ExpandingFieldsGrow)
        self.form.setLabelAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)

        head = QHBoxLayout()
        head.addWidget(self.icon)
        head.addWidget(self.title, 1)
        body = QWidget(self)
        col = QVBoxLayout(body)
        col.setContentsMargins(10, 8, 10, 8)
        col.setSpacing(8)
        for item in (head, self.summary, self.form_host, self.error, self.formula, self.problems):
            col.addLayout(item) if isinstance(item, QHBoxLayout) else col.addWidget(item)
        col.addStretch(1)
        scroll = QScrollArea(self)
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QScrollArea.Shape.NoFrame)
        scroll.setWidget(body)
        outer = QVBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        outer.setSpacing(0)
        outer.addWidget(self.banner)
        outer.addWidget(scroll)

        document.specChanged.connect(self.refresh)
        document.lockedChanged.connect(self._locked)
        self.show_row(0)

    def show_row(self, row: int) -> None:
        """Show the input (row 0) or layer ``row - 1``; rebuilds the form if its type changed."""
        spec = self.document.spec
        self.row = max(0, min(row, len(spec.layers)))
        self.problems.set_row(self.row)
        kind = "input" if self.row == 0 else spec.layers[self.row - 1].type
        if kind != self._type:
            self._build(kind)
        self.refresh()

    def _build(self, kind: str) -> None:
        while self.form.rowCount():
            self.form.removeRow(0)
        self.editors = {}
        self._type = kind
        fields = (
            tuple(INPUT_FIELDS.values())
            if kind == "input"
            else self.document.spec.layers[self.row - 1].kind.fields
        )
        for info in fields:
            editor = EDITORS[info.kind](info, self.form_host)
            editor.setObjectName(f"field_{info.name}")
            editor.edited.connect(lambda v, name=info.name: self._edited(name, v))
            label = QLabel(info.label, self.form_host)
            label.setToolTip(info.description)
            label.setBuddy(editor)
            self.form.addRow(label, editor)
            self.editors[info.name] = editor
        family = style.family_of(kind)
        self.icon.setPixmap(style.family_icon(family).pixmap(28, 28))
        self._locked(self.document.locked, self.document.lock_reason)

    def refresh(self) -> None:
        """Re-read values, arithmetic and problems from the document (no signals)."""
        spec = self.document.spec
        if self.row > len(spec.layers):
            self.show_row(len(spec.layers))
            return
        kind = "input" if self.row == 0 else spec.layers[self.row - 1].type
        if kind != self._type:
            self._build(kind)
        report = self.document.report
        if self.row == 0:
            values = {
                "channels": spec.input.channels,
                "height": spec.input.height,
                "width": spec.input.width,
            }
            self.title.setText("Input")
            self.summary.setText("The images the network reads: channels × height × width.")
            self.formula.setText("")
        else:
            layer = spec.layers[self.row - 1]
            values = layer.as_dict()
            self.title.setText(f"{layer.kind.label}  <span style='color:gray'>#{self.row}</span>")
            self.summary.setText(layer.kind.summary)
            info = report[self.row - 1] if self.row - 1 < len(report) else None
            formula = info.formula if info is not None else ""
            self.formula.setText(
                f"<b>Shape</b><br>{formula.replace('; ', '<br>')}" if formula else ""
            )
        for name, editor in self.editors.items():
            if _plain(editor.value()) != _plain(values[name]):  # untouched while typing
                editor.set_value(values[name])

    def _edited(self, name: str, value: Any) -> None:
        try:
            if self.row == 0:
                self.document.set_input(**{name: value})
            else:
                self.document.set_layer_field(self.row - 1, name, value)
            self.error.clear()
        except SpecError as e:
            red = style.problem_color().name()
            self.error.setText(f"<span style='color:{red}'>{'<br>'.join(e.problems)}</span>")

    def _locked(self, locked: bool, reason: str) -> None:
        self.banner.show_message(f"Read-only: {reason}" if locked else "")
        self.form_host.setEnabled(not locked)
        self.problems.setEnabled(not locked)


if __name__ == "__main__":
    import sys

    from PySide6.QtWidgets import QApplication

    from engine.spec import load_spec

    app = QApplication(sys.argv)
    style.apply_theme(app, "system")
    inspector = Inspector(Document(load_spec(sys.argv[1] if len(sys.argv) > 1 else "lenet5")))
    inspector.show_row(1)
    inspector.resize(360, 600)
    inspector.show()
    sys.exit(app.exec())
