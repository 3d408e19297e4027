"""The inspector: a form generated from the selected layer's field metadata (engine.fields).

One editor per field kind (views.field_editors: spin box with the field's range, combo box,
check box, an [h × w] pair with a square lock); the field's description is its tooltip.
Every change is a document edit at once, so the stack and the shape table follow as the user
types. Row 0 (the input) shows the input's channels, height and width. Run alone:
``python -m workbench.views.inspector``.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QEvent, QSize, Qt
from PySide6.QtWidgets import QFormLayout, QHBoxLayout, QLabel, QScrollArea, QVBoxLayout, QWidget

from engine.spec import INPUT_FIELDS, SpecError
from workbench import style
from workbench.document import Document
from workbench.views.field_editors import (  # noqa: F401 (the editors' old home)
    EDITORS,
    BoolEditor,
    ChoiceEditor,
    FieldEditor,
    FloatEditor,
    IntEditor,
    PairEditor,
)
from workbench.views.problems import Banner, ProblemList


def _plain(value: Any) -> Any:
    """Pairs compare equal whether they are tuples or lists."""
    return list(value) if isinstance(value, tuple) else value


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
        scroll = self._scroll = QScrollArea(self)
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QScrollArea.Shape.NoFrame)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)  # text wraps
        scroll.setWidget(body)
        body.installEventFilter(self)  # its layout changes: so may our minimum width
        self._asked_width = 0  # the form's width in the last minimumSizeHint
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
            if self.form_host.isVisible():  # shown now, not a turn later: the minimum width
                label.show()  # below counts them before the window lays its docks out
                editor.show()
            self.editors[info.name] = editor
        family = style.family_of(kind)
        self.icon.setPixmap(style.family_icon(family).pixmap(28, 28))
        self._locked(self.document.locked, self.document.lock_reason)
        self.updateGeometry()  # another form: another minimum width (below)

    def eventFilter(self, obj, event) -> bool:
        # A new form's editors are shown (and counted by the layout) a turn after they are
        # made: the body asks for a new layout then, and the dock must hear of it too.
        if event.type() == QEvent.Type.LayoutRequest and obj is self._scroll.widget():
            if self._form_width() != self._asked_width:  # only then: a relayout of the
                self.updateGeometry()  # window's docks on every edit repainted the stack
        return super().eventFilter(obj, event)

    def _form_width(self) -> int:
        bar = self._scroll.verticalScrollBar().sizeHint().width()
        return self._scroll.widget().minimumSizeHint().width() + bar

    def minimumSizeHint(self) -> QSize:
        """Never narrower than the form: the scroll area does not scroll sideways (its text
        wraps), so a dock narrower than a kernel's [h] × [w] [1:1] row cut that row and the
        summary off at the right edge."""
        hint = super().minimumSizeHint()
        self._asked_width = self._form_width()
        return QSize(max(hint.width(), self._asked_width), hint.height())

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
