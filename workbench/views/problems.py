"""Problems and their fixes, and the banners that say why something cannot be done.

``ProblemsPanel`` lists every problem of the network at once (the engine's message, with its
arithmetic) with one button per fix; while any remain, its header says the network cannot be
trained. ``ProblemList`` is the same list, optionally for one row (the inspector uses it).
``ProblemsArea`` scrolls the panel and is exactly as tall as it (a single line when the
network is fine), up to a share of its parent's height.
"""

from __future__ import annotations

from html import escape

from PySide6.QtCore import QPoint, QRect, QSize, Qt
from PySide6.QtWidgets import (
    QFrame,
    QLabel,
    QLayout,
    QLayoutItem,
    QPushButton,
    QScrollArea,
    QSizePolicy,
    QVBoxLayout,
    QWidget,
)

from engine.resources import resource_path
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
        self.hide()

    def show_message(self, text: str, kind: str | None = None, icon: str = "") -> None:
        """``icon``: the name of an SVG in resources/icons drawn before the text (an icon,
        not an emoji: a desktop without an emoji font shows a box for those)."""
        self.kind = kind or self.kind
        shown = (text, self.kind, icon)
        if shown == getattr(self, "_shown", None):  # the same again (every edit asks)
            self.setVisible(bool(text))
            return
        self._shown = shown
        colour = {"info": "#2563eb", "error": style.PROBLEM_COLOR, "ok": "#059669"}[self.kind]
        sheet = (
            f"QLabel#banner {{ background: {style.rgba(colour, 0.13)}; "
            # Padding, not contents margins: polishing a style sheet resets a label's margins.
            f"border-left: 4px solid {colour}; padding: 6px 10px; }}"
        )
        if sheet != self.styleSheet():  # setting one polishes the label again
            self.setStyleSheet(sheet)
        path = resource_path("icons", f"{icon}.svg") if icon else None
        if text and path is not None and path.exists():
            side = self.fontMetrics().height()
            self.setTextFormat(Qt.TextFormat.RichText)
            self.setText(
                f"<img src='{escape(str(path))}' width='{side}' height='{side}' "
                f"style='vertical-align: middle'>&nbsp; {escape(text)}"
            )
        else:
            self.setTextFormat(Qt.TextFormat.AutoText)
            self.setText(text)
        self.setVisible(bool(text))


class FlowLayout(QLayout):
    """Lays widgets out left to right, wrapping onto more lines when the width runs out."""

    def __init__(self, parent: QWidget | None = None, spacing: int = 6):
        super().__init__(parent)
        self._items: list[QLayoutItem] = []
        self.setSpacing(spacing)
        self.setContentsMargins(0, 0, 0, 0)

    def addItem(self, item: QLayoutItem) -> None:
        self._items.append(item)

    def count(self) -> int:
        return len(self._items)

    def itemAt(self, index: int) -> QLayoutItem | None:
        return self._items[index] if 0 <= index < len(self._items) else None

    def takeAt(self, index: int) -> QLayoutItem | None:
        return self._items.pop(index) if 0 <= index < len(self._items) else None

    def expandingDirections(self) -> Qt.Orientation:
        return Qt.Orientation(0)

    def hasHeightForWidth(self) -> bool:
        return True

    def heightForWidth(self, width: int) -> int:
        return self._arrange(QRect(0, 0, width, 0), move=False)

    def setGeometry(self, rect: QRect) -> None:
        super().setGeometry(rect)
        self._arrange(rect, move=True)

    def sizeHint(self) -> QSize:
        return self.minimumSize()

    def minimumSize(self) -> QSize:
        size = QSize()
        for item in self._items:
            size = size.expandedTo(item.minimumSize())
        return size

    def _arrange(self, rect: QRect, move: bool) -> int:
        """Place the items (if ``move``), each line's items centred on it; the height used."""
        gap = self.spacing()
        lines: list[list[tuple[QLayoutItem, QSize]]] = [[]]
        x = rect.x()
        for item in self._items:
            hint = item.sizeHint()
            if lines[-1] and x + hint.width() > rect.right() + 1:
                lines.append([])
                x = rect.x()
            lines[-1].append((item, hint))
            x += hint.width() + gap
        y = rect.y()
        for line in lines:
            height = max((hint.height() for _, hint in line), default=0)
            x = rect.x()
            for item, hint in line:
                if move:
                    top = y + (height - hint.height()) // 2
                    item.setGeometry(QRect(QPoint(x, top), hint))
                x += hint.width() + gap
            y += height + gap
        return max(0, y - gap - rect.y())


def card_key(problem, where: str) -> tuple:
    """What a problem's card shows: equal keys, the same card."""
    return (problem.layer, where, problem.message, tuple(f.label for f in problem.fixes))


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
        self.fixes = problem.fixes
        self.key = card_key(problem, where)
        if problem.fixes:
            row = FlowLayout(spacing=6)  # wraps in a narrow inspector
            row.addWidget(QLabel("Fix:", self))
            accent = style.accent("conv").name()
            for k, fix in enumerate(problem.fixes):
                button = QPushButton(fix.label, self)
                button.setObjectName("fixButton")
                button.setCursor(Qt.CursorShape.PointingHandCursor)
                button.setStyleSheet(
                    _FIX_BUTTON.format(accent=accent, hover=style.rgba(accent, 0.13))
                )
                button.setToolTip(f"Apply: {fix.label}")
                # The card's current fix: a card is kept across edits that leave its
                # problem as it was, and gets the new report's fixes (workbench ProblemList).
                button.clicked.connect(lambda _=False, k=k: document.apply_fix(self.fixes[k]))
                row.addWidget(button)
                self.fix_buttons.append(button)
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
        """Cards for the problems now. A card whose problem reads as before is kept (with
        the new report's fixes): an edit usually adds or removes one problem, and a new card
        with its style sheets and wrapped text costs far more than keeping one."""
        report = self.document.report
        wanted = []
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
            wanted.append((problem, where))
        keys = [card_key(problem, where) for problem, where in wanted]
        if keys != [card.key for card in self.cards]:
            spare: dict[tuple, list[ProblemCard]] = {}
            for card in self.cards:
                spare.setdefault(card.key, []).append(card)
                self._col.removeWidget(card)
            cards = []
            for (problem, where), key in zip(wanted, keys, strict=True):
                kept = spare.get(key)
                card = kept.pop(0) if kept else ProblemCard(self.document, problem, where, self)
                self._col.addWidget(card)
                # Shown now, not by the layout's queued show: then the page is laid out
                # again before it is painted, rather than painted twice.
                card.setVisible(True)
                cards.append(card)
            for left in spare.values():
                for card in left:
                    card.setParent(None)
                    card.deleteLater()
            self.cards = cards
        for card, (problem, _where) in zip(self.cards, wanted, strict=True):
            card.fixes = problem.fixes
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
        elif warning := _memory_warning(self.document):
            self.header.show_message(f"<b>Too big for this machine</b>: {escape(warning)}", "error")
        else:
            self.header.show_message("<b>No problems</b>: every shape fits; ready to train.", "ok")


def _memory_warning(document: Document) -> str | None:
    """engine.memory_budget's verdict for the batch size the project trains with: shown as
    soon as an edit makes the network too big, long before Train would refuse it."""
    from engine.memory_budget import network_memory_warning

    training = document.settings.get("training") or {}
    batch = training.get("batch_size", 64) if isinstance(training, dict) else 64
    optimizer = training.get("optimizer", "sgd") if isinstance(training, dict) else "sgd"
    return network_memory_warning(document.spec, batch if isinstance(batch, int) else 64, optimizer)


class ProblemsArea(QScrollArea):
    """Holds a ``ProblemsPanel``: as tall as its content, at most ``max_share`` of the parent.

    The parent calls ``updateGeometry`` when it is resized (the limit follows its height).
    """

    def __init__(self, panel: ProblemsPanel, parent: QWidget | None = None, max_share=0.45):
        super().__init__(parent)
        self.setObjectName("problemsArea")
        self.max_share = max_share
        self.setWidgetResizable(True)
        self.setFrameShape(QFrame.Shape.NoFrame)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Fixed)
        self.setWidget(panel)
        # After the panel's own slots (connected first): its cards are rebuilt by then.
        panel.document.specChanged.connect(self.updateGeometry)

    def content_height(self) -> int:
        panel = self.widget()
        width = self.viewport().width() if self.isVisible() else self.width()
        if panel.hasHeightForWidth() and width > 0:
            return panel.heightForWidth(width)
        return panel.sizeHint().height()

    def sizeHint(self) -> QSize:
        parent = self.parentWidget()
        limit = int(parent.height() * self.max_share) if parent is not None else 10**6
        height = min(self.content_height(), max(limit, 48))
        return QSize(super().sizeHint().width(), height + 2 * self.frameWidth())

    def minimumSizeHint(self) -> QSize:
        return QSize(0, self.sizeHint().height())

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        if event.size().width() != event.oldSize().width():  # wrapped text changes height
            self.updateGeometry()
