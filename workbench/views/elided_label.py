"""Text shortened for display: ``ElidedLabel``, a one-line label that shortens its text with
an ellipsis instead of pushing its neighbours over (the whole text is its tooltip and
``full_text()``), and ``shorten_runs`` for messages that quote what a person pasted."""

from __future__ import annotations

import re

from PySide6.QtCore import QSize, Qt
from PySide6.QtWidgets import QLabel, QSizePolicy, QWidget


class ElidedLabel(QLabel):
    """Plain text on one line, elided at ``mode`` when narrower than the text. The label
    asks for its text's width but accepts any (its minimum is one "…"), so a row of widgets
    never overlaps or clips it mid-letter."""

    def __init__(
        self,
        text: str = "",
        parent: QWidget | None = None,
        mode: Qt.TextElideMode = Qt.TextElideMode.ElideRight,
    ) -> None:
        super().__init__(parent)
        self._full = ""
        self._mode = mode
        self.setTextFormat(Qt.TextFormat.PlainText)
        self.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.setText(text)

    def full_text(self) -> str:
        return self._full

    def setText(self, text: str) -> None:
        self._full = str(text)
        self.setToolTip(self._full)
        self._elide()

    def sizeHint(self) -> QSize:
        return QSize(
            self.fontMetrics().horizontalAdvance(self._full) + 4, super().sizeHint().height()
        )

    def minimumSizeHint(self) -> QSize:
        return QSize(
            self.fontMetrics().horizontalAdvance("…") + 4, super().minimumSizeHint().height()
        )

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        self._elide()

    def _elide(self) -> None:
        shown = self.fontMetrics().elidedText(self._full, self._mode, max(0, self.width() - 2))
        super().setText(shown)


#: The longest unbroken run of characters a message quotes whole (a long path fits).
LONGEST_RUN = 240


def shorten_runs(text: str, limit: int = LONGEST_RUN) -> str:
    """``text`` with every run of non-space characters longer than ``limit`` cut to its
    start and end around "…" and its length: a message quoting a 10,000-character paste
    stays a readable box (word wrap cannot break a run that has no spaces)."""
    keep = max(8, limit // 2 - 20)

    def cut(match: re.Match) -> str:
        run = match.group(0)
        return f"{run[:keep]}…{run[-keep:]} ({len(run):,} characters)"

    return re.sub(rf"\S{{{limit + 1},}}", cut, text)
