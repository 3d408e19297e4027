"""Problems and their fixes, and the banners that say why something cannot be done.

``ProblemsPanel`` lists every problem of the network at once (the engine's message, with its
arithmetic) with one button per fix; while any remain, its header says the network cannot be
trained. ``ProblemList`` is the same list, optionally for one row (the inspector uses it).
"""

from __future__ import annotations

from html import escape

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QPushButton, QVBoxLayout, QWidget

from workbench import style
from workbench.document import Document

_FIX_BUTTON = """
QPushButton {{ border: 1px solid {accent}; border-radius: 10px; padding: 2px 10px;
              color: {accent}; background: transparent; }}
QPushButton:hover {{ background: {hover}; }}
QPushButton:disabled {{ color: gray; border-color: gray; }}
"""


class Banner(QLabel):
    """A coloured strip with a message (hidden when the message is empty)."""

    def __init__(self, parent: QWidget | None = None, kind: str = "info"):
        super().__init__(parent)
        self.setWordWrap(True)
        self.setObjectName("banner")
        self.kind = kind
        self.setContentsMargins(10, 6, 10, 6)
        self.hide()

    def show_message(self, text: str, kind: str | None = None) -> None:
        self.kind = kind or self.kind
        colour = {"info": "#2563eb", "error": style.PROBLEM_COLOR, "ok": "#059669"}[self.kind]
        self.setStyleSheet(
            f"QLabel#banner {{ background: {style.rgba(colour, 0.13)}; "
            f"border-left: 4px solid {colour}; }}"
        )
        self.setText(text)
        self.setVisible(bool(text))


class ProblemCard(QFrame):
    """One problem: where, what (the engine's message), and a button per fix."""

    def __init__(self, document: Document, problem, where: str, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("problemCard")
        red = style.problem_color().name()
        self.setStyleSheet(
            f"QFrame#problemCard {{ border-left: 3px solid {red}; "
            f"background: {style.rgba(red, 0.08)}; }}"
        )
        col = QVBoxLayout(self)
        col.setContentsMargins(10, 6, 8, 6)
        col.setSpacing(4)
        message = escape(style.without_label(problem.message, where))
        text = QLabel(f"<b style='color:{red}'>⚠ {escape(where)}</b>&nbsp; {message}", self)
        text.setWordWrap(True)
        text.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        text.setToolTip("Click a fix to apply it; Undo takes it back.")
        col.addWidget(text)
        self.fix_buttons: list[QPushButton] = []
        if problem.fixes:
            row = QHBoxLayout()
            row.setSpacing(6)
            row.addWidget(QLabel("Fix:", self))
            accent = style.accent("conv").name()
            for fix in problem.fixes:
                button = QPushButton(fix.label, self)
                button.setObjectName("fixButton")
                button.setCursor(Qt.CursorShape.PointingHandCursor)
                button.setStyleSheet(
                    _FIX_BUTTON.format(accent=accent, hover=style.rgba(accent, 0.13))
                )
                button.setToolTip(f"Apply: {fix.label}")
                button.clicked.connect(lambda _=False, f=fix: document.apply_fix(f))
                row.addWidget(button)
                self.fix_buttons.append(button)
            row.addStretch(1)
            col.addLayout(row)
        if problem.layer is not None:
            self.setCursor(Qt.CursorShape.PointingHandCursor)
        self._document, self._layer = document, problem.layer

    def mousePressEvent(self, event) -> None:
        if self._layer is not None:
            self._document.show_row(self._layer + 1)
        super().mousePressEvent(event)


class ProblemList(QWidget):
    """Cards for the network's problems: all of them, or those of one row (``only_row``)."""

    def __init__(self, document: Document, parent: QWidget | None = None, only_row: bool = False):
        super().__init__(parent)
        self.document = document
        self.only_row = only_row
        self.row = 0
        self.cards: list[ProblemCard] = []
        self._col = QVBoxLayout(self)
        self._col.setContentsMargins(0, 0, 0, 0)
        self._col.setSpacing(6)
        document.specChanged.connect(self.rebuild)
        self.rebuild()

    def set_row(self, row: int) -> None:
        self.row = row
        self.rebuild()

    def rebuild(self) -> None:
        for card in self.cards:
            card.setParent(None)
            card.deleteLater()
        self.cards = []
        report = self.document.report
        for problem in report.problems:
            row = 0 if problem.layer is None else problem.layer + 1
            if self.only_row and row != self.row:
                continue
            if problem.layer is None:
                where = "Network"
            else:
                where = (
                    report[problem.layer].label if problem.layer < len(report) else f"layer {row}"
                )
            card = ProblemCard(self.document, problem, where, self)
            self._col.addWidget(card)
            self.cards.append(card)
        self.setVisible(bool(self.cards))

    def fix_buttons(self) -> list[QPushButton]:
        return [b for card in self.cards for b in card.fix_buttons]


class ProblemsPanel(QWidget):
    """The whole network's problems under a header that says whether it can be trained."""

    def __init__(self, document: Document, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("problems")
        self.document = document
        self.header = Banner(self)
        self.list = ProblemList(document, self)
        col = QVBoxLayout(self)
        col.setContentsMargins(0, 0, 0, 0)
        col.setSpacing(6)
        col.addWidget(self.header)
        col.addWidget(self.list)
        document.specChanged.connect(self._update_header)
        self._update_header()

    def _update_header(self) -> None:
        n = len(self.document.report.problems)
        if n:
            what = "problem" if n == 1 else "problems"
            self.header.show_message(
                f"<b>{n} {what}</b>: the network cannot be trained until "
                f"{'it is' if n == 1 else 'they are'} fixed.",
                "error",
            )
        elif not self.document.spec.layers:
            self.header.show_message("Add layers from the palette to build a network.", "info")
        else:
            self.header.show_message("<b>No problems</b>: every shape fits; ready to train.", "ok")
