"""The Design tab: the layer stack beside the network's graph (workbench.views.network_canvas)
above the shape table, with the network's problems below the table and a banner while the
network is read-only.

The problems take one line while the network is fine and grow with each problem (up to
about half the page, then they scroll), so the table keeps the room. The stack keeps its
width when the window is resized; the table takes the rest. Run alone:
``python -m workbench.views.design_page [SPEC]``.
"""

from __future__ import annotations

from PySide6.QtCore import QCoreApplication, QEvent, Qt
from PySide6.QtWidgets import QSplitter, QVBoxLayout, QWidget

from workbench.document import Document
from workbench.views.layer_stack import LayerStackView
from workbench.views.network_canvas import NetworkCanvas
from workbench.views.problems import Banner, ProblemsArea, ProblemsPanel
from workbench.views.shape_table import ShapeTable

STACK_WIDTH = 290  # the stack's default width; blocks stay readable down to its minimum, 280
GRAPH_SHARE = 0.55  # of the height beside the stack, for the graph at first (the table below)


class DesignPage(QWidget):
    """``stack``, ``canvas`` (the graph, above the table), ``shape_table``, ``problems`` and
    ``lock_banner``; ``splitter`` between the stack and the rest (its state is what the main
    window remembers)."""

    def __init__(self, document: Document, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("designPage")
        self.lock_banner = Banner(self)
        self.stack = LayerStackView(document, self)
        # The graph shares the stack's selection: a click there selects here (and the
        # inspector follows); the stack's edits act on what is selected in either.
        self.canvas = NetworkCanvas(document, self.stack.selectionModel(), self)
        self.shape_table = ShapeTable(document, self)
        self.problems = ProblemsPanel(document, self)
        self.problems_area = ProblemsArea(self.problems, self)

        right = QWidget(self)
        right_col = QVBoxLayout(right)
        right_col.setContentsMargins(0, 0, 0, 0)
        right_col.setSpacing(0)
        self.graph_splitter = QSplitter(Qt.Orientation.Vertical, right)
        self.graph_splitter.setObjectName("designGraphSplitter")
        self.graph_splitter.setChildrenCollapsible(False)
        self.graph_splitter.addWidget(self.canvas)
        self.graph_splitter.addWidget(self.shape_table)
        self.graph_splitter.setStretchFactor(0, 1)  # the graph and the table share the height
        self.graph_splitter.setStretchFactor(1, 1)
        self._graph_sized = False
        right_col.addWidget(self.graph_splitter, 1)
        right_col.addWidget(self.problems_area)  # below both: its limit is half the column

        self.splitter = QSplitter(Qt.Orientation.Horizontal, self)
        self.splitter.setObjectName("designSplitter")
        self.splitter.setChildrenCollapsible(False)
        self.splitter.addWidget(self.stack)
        self.splitter.addWidget(right)
        self.splitter.setStretchFactor(0, 0)
        self.splitter.setStretchFactor(1, 1)
        self._sized = False  # the default split waits for the page's real width

        col = QVBoxLayout(self)
        col.setContentsMargins(0, 0, 0, 0)
        col.setSpacing(0)
        col.addWidget(self.lock_banner)
        col.addWidget(self.splitter, 1)
        # After the views' own slots (connected above): lay the page out again now.
        document.specChanged.connect(self._lay_out_now)

    def _lay_out_now(self) -> None:
        """Apply the layout changes an edit made (a problem card more or less grows or shrinks
        the problems, and with them the graph and the table) before anything is painted.
        Left to the event loop, each step of that chain is posted behind the pending repaint,
        so the graph and the table were painted twice per keystroke: 15 of resnet50's ms."""
        if self.isVisible():
            for _ in range(4):  # each step may ask for the next; a chain is rarely longer
                QCoreApplication.sendPostedEvents(None, QEvent.Type.LayoutRequest)

    def restore_state(self, state) -> bool:
        """Restore a split saved with ``splitter.saveState()``; False keeps the default."""
        self._sized = bool(state) and self.splitter.restoreState(state)
        return self._sized

    def showEvent(self, event) -> None:
        super().showEvent(event)
        if not self._sized:  # later growth goes to the table (stretch factor 1)
            self._sized = True
            self.splitter.setSizes([STACK_WIDTH, max(1, self.splitter.width() - STACK_WIDTH)])
        if not self._graph_sized:  # a little more than half for the graph, the rest the table's
            self._graph_sized = True
            h = self.graph_splitter.height()
            self.graph_splitter.setSizes([round(h * GRAPH_SHARE), h - round(h * GRAPH_SHARE)])

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        self.problems_area.updateGeometry()  # its height limit follows the page's


if __name__ == "__main__":
    import sys

    from PySide6.QtWidgets import QApplication

    from engine.spec import load_spec
    from workbench import style

    app = QApplication(sys.argv)
    style.apply_theme(app, "system")
    page = DesignPage(Document(load_spec(sys.argv[1] if len(sys.argv) > 1 else "lenet5")))
    page.resize(900, 700)
    page.show()
    sys.exit(app.exec())
