"""Edit ▸ Make Inception block: the dialog where a person sets the filters of the module's
six convolutions and sees, as the numbers change, the branches drawn side by side and what
the block would be (output shape, parameters and multiply-adds, beside the replaced layer's),
with any problem the change would cause further down. engine.inception_edit computes it all.

Run alone: ``python -m workbench.views.inception_dialog [SPEC [LAYER]]`` (LAYER counts from 1).
"""

from __future__ import annotations

from PySide6.QtCore import QPointF, QRectF, QSize, Qt
from PySide6.QtGui import QPainter, QPalette, QPen
from PySide6.QtWidgets import (
    QCheckBox,
    QDialog,
    QDialogButtonBox,
    QGridLayout,
    QLabel,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from engine.graph_edits import GraphEditError
from engine.inception_edit import (
    MAX_FILTERS,
    InceptionCounts,
    InceptionPreview,
    default_counts,
    preview_inception,
)
from engine.spec import NetworkSpec
from workbench import style
from workbench.models import format as fmt

#: (field of InceptionCounts, objectName of its spin box, branch column, row in the branch)
FIELDS = (
    ("c1", "inceptionC1", 0, 1),
    ("c3_reduce", "inceptionC3Reduce", 1, 0),
    ("c3", "inceptionC3", 1, 1),
    ("c5_reduce", "inceptionC5Reduce", 2, 0),
    ("c5", "inceptionC5", 2, 1),
    ("pool_proj", "inceptionPoolProj", 3, 1),
)
BRANCH_TITLES = ("1×1", "1×1 → 3×3", "1×1 → 5×5", "3×3 max pool → 1×1")
STEP_TITLES = {
    "c1": "1×1 filters",
    "c3_reduce": "1×1 reduce",
    "c3": "3×3 filters",
    "c5_reduce": "1×1 reduce",
    "c5": "5×5 filters",
    "pool_proj": "1×1 filters",
}


class InceptionDialog(QDialog):
    """Counts for replacing layer ``index`` of ``spec``; :meth:`counts` after OK."""

    def __init__(self, spec: NetworkSpec, index: int, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("inceptionDialog")
        self.setWindowTitle("Make Inception block")
        self.spec, self.index = spec, index
        layer = spec.layers[index]
        intro = QLabel(
            f"Replace <b>{layer.kind.label} #{index + 1}</b> with four branches side by side, "
            "joined by a concat along channels. Every branch keeps the height and width."
        )
        intro.setWordWrap(True)
        grid = QGridLayout()
        for col, title in enumerate(BRANCH_TITLES):
            head = QLabel(f"<b>{title}</b>")
            head.setAlignment(Qt.AlignmentFlag.AlignCenter)
            grid.addWidget(head, 0, col)
        start = default_counts(spec, index)
        self.boxes: dict[str, QSpinBox] = {}
        for name, object_name, col, row in FIELDS:
            box = QSpinBox(objectName=object_name)
            box.setRange(1, MAX_FILTERS)
            box.setValue(getattr(start, name))
            box.setPrefix(f"{STEP_TITLES[name]}: ")
            box.setAccessibleName(f"{BRANCH_TITLES[col]} branch, {STEP_TITLES[name]}")
            box.valueChanged.connect(self.update_preview)
            grid.addWidget(box, 1 + row, col)
            self.boxes[name] = box
        pool = QLabel("3×3 max pool, stride 1")
        pool.setAlignment(Qt.AlignmentFlag.AlignCenter)
        grid.addWidget(pool, 1, 3)
        self.batch_norm = QCheckBox("Batch norm after each convolution", objectName="inceptionBn")
        self.batch_norm.setChecked(start.bn)
        self.batch_norm.setToolTip("conv → batch norm → relu (no bias); else conv → relu")
        self.batch_norm.toggled.connect(self.update_preview)
        self.drawing = BranchDrawing(self)
        self.summary = QLabel(objectName="inceptionPreview")
        self.summary.setWordWrap(True)
        self.summary.setTextFormat(Qt.TextFormat.RichText)
        self.buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(intro)
        layout.addLayout(grid)
        layout.addWidget(self.batch_norm)
        layout.addWidget(self.drawing)
        layout.addWidget(self.summary)
        layout.addWidget(self.buttons)
        self.preview: InceptionPreview | None = None
        self.update_preview()

    def counts(self) -> InceptionCounts:
        values = {name: box.value() for name, box in self.boxes.items()}
        return InceptionCounts(**values, bn=self.batch_norm.isChecked())

    def update_preview(self, *_args) -> None:
        """Recompute the block from the counts shown; OK only when it can be made."""
        ok_button = self.buttons.button(QDialogButtonBox.StandardButton.Ok)
        try:
            p = preview_inception(self.spec, self.index, self.counts())
        except GraphEditError as e:
            self.preview = None
            self.summary.setText(f"<span style='color:{style.PROBLEM_COLOR}'>⚠ {e}</span>")
            ok_button.setEnabled(False)
            self.drawing.set_branches((), None)
            return
        self.preview = p
        ok_button.setEnabled(True)
        lines = [
            f"Output <b>{fmt.shape_text(p.output_shape)}</b> "
            f"(was {fmt.shape_text(p.before_shape)})",
            f"<b>{fmt.count_text(p.params)}</b> parameters (was {fmt.count_text(p.before_params)})"
            f" · <b>{fmt.compact_count(p.macs)}</b> multiply-adds "
            f"(was {fmt.compact_count(p.before_macs)})",
        ]
        if p.problems:
            shown = "<br>".join(f"⚠ {m}" for m in p.problems[:3])
            more = f"<br>… and {len(p.problems) - 3} more" if len(p.problems) > 3 else ""
            lines.append(
                f"<span style='color:{style.PROBLEM_COLOR}'>After this change:<br>"
                f"{shown}{more}</span>"
            )
        self.summary.setText("<br>".join(lines))
        self.drawing.set_branches(p.branches, p.output_shape)


class BranchDrawing(QWidget):
    """The module as the canvas draws it, in small: the input on top, the four branches side
    by side (one box per step), the concat below with the output shape."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("inceptionDrawing")
        self.branches: tuple[tuple[str, ...], ...] = ()
        self.output = None
        self.setMinimumHeight(170)

    def sizeHint(self) -> QSize:
        return QSize(560, 180)

    def set_branches(self, branches, output_shape) -> None:
        self.branches, self.output = tuple(branches), output_shape
        self.update()

    def paintEvent(self, _event) -> None:
        if not self.branches:
            return
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        pal = self.palette()
        text = pal.color(QPalette.ColorRole.Text)
        line = QPen(style.muted_text(pal), 1.3)
        w, h = self.width(), self.height()
        n = len(self.branches)
        col_w = (w - 20) / n
        box_w, box_h = min(150.0, col_w - 12), 24.0
        top = QRectF(w / 2 - 60, 4, 120, box_h)
        bottom = QRectF(w / 2 - 90, h - box_h - 4, 180, box_h)
        rows = max(len(b) for b in self.branches)
        gap = (bottom.top() - top.bottom() - rows * box_h) / (rows + 1)

        def box(rect: QRectF, label: str, family: str) -> None:
            painter.setPen(QPen(style.accent(family), 1.2))
            painter.setBrush(style.block_fill(family, pal))
            painter.drawRoundedRect(rect, 5, 5)
            painter.setPen(text)
            painter.drawText(rect, Qt.AlignmentFlag.AlignCenter, label)

        for k, steps in enumerate(self.branches):
            x = 10 + col_w * k + col_w / 2
            previous = QPointF(top.center().x(), top.bottom())
            for r, step in enumerate(steps):
                # a short branch's steps sit at the bottom, so every branch ends on one rank
                y = top.bottom() + gap + (rows - len(steps) + r) * (box_h + gap)
                rect = QRectF(x - box_w / 2, y, box_w, box_h)
                painter.setPen(line)
                painter.drawLine(previous, QPointF(x, rect.top()))
                box(rect, step, "pool" if "pool" in step else "conv")
                previous = QPointF(x, rect.bottom())
            painter.setPen(line)
            painter.drawLine(previous, QPointF(bottom.center().x(), bottom.top()))
        box(top, "input", "input")
        box(bottom, f"concat → {fmt.shape_text(self.output)}", "merge")
        painter.end()


if __name__ == "__main__":
    import sys

    from PySide6.QtWidgets import QApplication

    from engine.spec import load_spec

    app = QApplication(sys.argv)
    style.apply_theme(app, "system")
    spec = load_spec(sys.argv[1] if len(sys.argv) > 1 else "lenet5")
    dialog = InceptionDialog(spec, int(sys.argv[2]) - 1 if len(sys.argv) > 2 else 0)
    dialog.show()
    sys.exit(app.exec())
