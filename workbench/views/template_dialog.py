"""New from template: [[conv→relu]×n→pool?]×m→flatten→[dense→relu]×k→dense, set up in a
small form with a live preview of the resulting stack and its shapes (engine.templates).
Run alone: ``python -m workbench.views.template_dialog``.
"""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from engine.spec import NetworkSpec
from workbench import style
from workbench.document import Document
from workbench.models import format as fmt
from workbench.project import Project
from workbench.views.layer_stack import LayerStackView

# (name, label, minimum, maximum, default, tooltip)
_COUNTS = (
    (
        "m",
        "stages (m)",
        0,
        8,
        2,
        "how many conv stages; each may end in a pool that halves the size",
    ),
    ("n", "convs per stage (n)", 1, 6, 1, "conv → relu pairs in each stage"),
    (
        "filters",
        "filters",
        1,
        4096,
        32,
        "filters of the first stage; each later stage doubles them",
    ),
    ("kernel", "kernel", 1, 15, 3, "width and height of every conv filter"),
    ("pool_size", "pool size", 1, 8, 2, "the max pool window (and stride) that closes each stage"),
    ("k", "hidden dense (k)", 0, 4, 1, "dense → relu layers between flatten and the output"),
    ("dense_units", "dense units", 1, 65536, 128, "units of each hidden dense layer"),
    ("classes", "classes", 1, 100000, 10, "units of the final dense layer: one per class"),
)
_INPUT = (("channels", 1, 1, 4096), ("height", 28, 1, 65536), ("width", 28, 1, 65536))


class TemplateDialog(QDialog):
    """``spec()`` is the network the current settings make (None while they are invalid)."""

    def __init__(
        self,
        input_shape: tuple[int, int, int] = (1, 28, 28),
        parent: QWidget | None = None,
        classes: int | None = None,
    ):
        """``classes``: the loaded data's class count, the final dense layer's default."""
        super().__init__(parent)
        self.setWindowTitle("New from template")
        self.setObjectName("templateDialog")
        self.boxes: dict[str, QSpinBox] = {}
        form = QFormLayout()
        for name, label, lo, hi, default, tip in _COUNTS:
            box = QSpinBox(self)
            box.setRange(lo, hi)
            box.setValue(classes if name == "classes" and classes else default)
            box.setToolTip(tip)
            box.valueChanged.connect(self._update)
            self.boxes[name] = box
            form.addRow(label, box)
            if name == "kernel":
                self.padding = QComboBox(self)
                self.padding.addItems(["same", "valid"])
                self.padding.setToolTip(
                    "same keeps the size through each conv; valid shrinks it by kernel − 1"
                )
                self.padding.currentTextChanged.connect(self._update)
                form.addRow("padding", self.padding)
                self.pool = QCheckBox("end each stage with a max pool", self)
                self.pool.setChecked(True)
                self.pool.toggled.connect(self._update)
                form.addRow("", self.pool)
        shape_row = QHBoxLayout()
        for i, (name, default, lo, hi) in enumerate(_INPUT):
            box = QSpinBox(self)
            box.setRange(lo, hi)
            box.setValue(input_shape[i] if input_shape else default)
            box.setToolTip(f"input {name}")
            box.valueChanged.connect(self._update)
            self.boxes[name] = box
            shape_row.addWidget(box)
            if i < 2:
                shape_row.addWidget(QLabel("×", self))
        form.addRow("input (C × H × W)", shape_row)
        pattern = QLabel(
            "input → [[conv → relu] × n → pool] × m → flatten → [dense → relu] × k → dense", self
        )
        pattern.setWordWrap(True)
        pattern.setStyleSheet("color: gray")

        self._preview_doc = Document(
            Project(self._make() or NetworkSpec.from_dict(_EMPTY)), parent=self
        )
        self.preview = LayerStackView(self._preview_doc, self)
        self.preview.setObjectName("templatePreview")
        # A picture, not an editor: no selection outline, no focus, no drags.
        self.preview.setSelectionMode(LayerStackView.SelectionMode.NoSelection)
        self.preview.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.preview.setDragEnabled(False)
        self.preview.setAcceptDrops(False)
        self.preview.viewport().setAcceptDrops(False)
        self.preview.selectionModel().clear()
        self.preview.setMinimumWidth(340)
        self._preview_doc.set_locked(True, "preview")
        self.summary = QLabel(self)
        self.summary.setWordWrap(True)
        self.buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel, self
        )
        self.buttons.button(QDialogButtonBox.StandardButton.Ok).setText("Create")
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)

        left = QVBoxLayout()
        left.addWidget(pattern)
        left.addLayout(form)
        left.addStretch(1)
        right = QVBoxLayout()
        right.addWidget(self.preview, 1)
        right.addWidget(self.summary)
        body = QHBoxLayout()
        body.addLayout(left)
        body.addLayout(right, 1)
        outer = QVBoxLayout(self)
        outer.addLayout(body)
        outer.addWidget(self.buttons)
        self.resize(820, 620)
        self._update()

    def _make(self) -> NetworkSpec | None:
        from engine.templates import template

        b = {name: box.value() for name, box in self.boxes.items()}
        try:
            return template(
                n=b["n"],
                m=b["m"],
                k=b["k"],
                filters=b["filters"],
                kernel=b["kernel"],
                pool=self.pool.isChecked(),
                pool_size=b["pool_size"],
                dense_units=b["dense_units"],
                classes=b["classes"],
                input=(b["channels"], b["height"], b["width"]),
                padding=self.padding.currentText(),
            )
        except ValueError as e:
            self._error = str(e)
            return None

    def spec(self) -> NetworkSpec | None:
        return self._make()

    def _update(self, *_args) -> None:
        if not hasattr(self, "_preview_doc"):
            return
        self._error = ""
        spec = self._make()
        ok_button = self.buttons.button(QDialogButtonBox.StandardButton.Ok)
        red = style.problem_color().name()
        if spec is None:
            self.summary.setText(f"<span style='color:{red}'>{self._error}</span>")
            ok_button.setEnabled(False)
            return
        self._preview_doc.set_locked(False)
        self._preview_doc.reset(Project(spec))
        self._preview_doc.set_locked(True, "preview")
        report = self._preview_doc.report
        text = (
            f"<b>{len(spec.layers)} layers</b> · "
            f"{fmt.count_text(report.total_params)} parameters · "
            f"{fmt.compact_count(report.total_macs)} multiply-adds · "
            f"output {fmt.shape_text(report.output_shape)}"
        )
        if report.problems:
            text += f"<br><span style='color:{red}'>⚠ {report.problems[0].message}</span>"
            if len(report.problems) > 1:
                text += f" <span style='color:{red}'>(+{len(report.problems) - 1} more)</span>"
        self.summary.setText(text)
        self.summary.setTextFormat(Qt.TextFormat.RichText)
        ok_button.setEnabled(True)


_EMPTY = {"input": {"channels": 1, "height": 28, "width": 28}, "layers": []}


if __name__ == "__main__":
    import sys

    from PySide6.QtWidgets import QApplication

    app = QApplication(sys.argv)
    style.apply_theme(app, "system")
    dialog = TemplateDialog()
    if dialog.exec():
        print(dialog.spec().to_json())
