"""What the network canvas draws: a block per layer and an arrow per connection.

A block looks as it does in the layer stack (workbench.views.layer_stack): rounded, tinted
by its family, with the family stripe and icon, the layer's name, its key hyperparameters
and parameter count, its output shape in a pill, and the red outline and message of a broken
layer. It has an input port on top and an output port below; dragging from the output port
draws a new connection (workbench.views.network_canvas). An arrow carries the shape of the
tensor that flows along it (``64×56×56``) beside its head.

A frozen layer (``"trainable": false``, transfer learning) is drawn hatched with a closed
padlock at its lower right; a trainable layer with parameters shows the padlock open and
faint (a layer without parameters only under the mouse). A click on the padlock freezes or
unfreezes the layer as one undoable edit of the document (workbench.views.canvas_padlock).

Items only paint: they hold what the shared LayerStackModel says about their row, and the
canvas turns every gesture on them into a document edit.
"""

from __future__ import annotations

from dataclasses import dataclass

from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import (
    QBrush,
    QColor,
    QFont,
    QFontMetrics,
    QPainter,
    QPainterPath,
    QPainterPathStroker,
    QPalette,
    QPen,
    QPolygonF,
)
from PySide6.QtWidgets import (
    QApplication,
    QGraphicsItem,
    QGraphicsPathItem,
    QStyleOptionGraphicsItem,
)

from workbench import style
from workbench.models import format as fmt
from workbench.models.graph_layout import BLOCK_H, BLOCK_W
from workbench.models.layer_stack_model import StackRole
from workbench.views.canvas_padlock import draw_padlock, toggle_frozen

PORT_R = 5.0  # radius of a port's dot; the grip around it is larger
PORT_GRIP = 11.0
OVERVIEW_LOD = 0.3  # below this scale, blocks are coloured boxes and arrows bare lines
#: The padlock at a block's lower right, in item coordinates, and the area a click finds it in.
PADLOCK = QRectF(BLOCK_W / 2 - 24, 3, 14, 17)
PADLOCK_GRIP = PADLOCK.adjusted(-5, -4, 5, 4)
#: Arrows shorter than this (scene units) are kept as pixmaps, as blocks are (see BlockItem).
EDGE_CACHE_HEIGHT = 600.0


_BLOCK_BOUNDS = QRectF(
    -BLOCK_W / 2 - 5, -BLOCK_H / 2 - PORT_R - 8, BLOCK_W + 18, BLOCK_H + 2 * PORT_R + 12
)


@dataclass(frozen=True)
class BlockData:
    """What a block shows, read from the stack model's roles for its row."""

    row: int
    type: str
    family: str
    title: str
    detail: str
    shape: str
    problems: tuple[str, ...]
    tooltip: str
    #: Its layer is frozen ("trainable": false); ``has_params``: it has any to freeze.
    frozen: bool = False
    has_params: bool = False


class BlockItem(QGraphicsItem):
    """One layer (or the input) at its layout position; ``row`` as the stack numbers rows."""

    def __init__(self, data: BlockData, centre: tuple[float, float]):
        super().__init__()
        self.data_ = data
        self.row = data.row
        self.rows: tuple[int, ...] = (data.row,)  # a collapsed repeat stands for many
        self.setPos(QPointF(*centre))
        self.setFlag(QGraphicsItem.GraphicsItemFlag.ItemIsSelectable, True)
        self.setAcceptHoverEvents(True)
        self.setToolTip(data.tooltip)
        self.setZValue(1)
        self.setData(0, f"block:{data.row}")
        # Drawn once into a pixmap at the view's scale, then copied: a resize, a scroll or
        # an edit elsewhere repaints the view without calling paint() again (update(),
        # when the block's texts or state change, draws it afresh).
        self.setCacheMode(QGraphicsItem.CacheMode.DeviceCoordinateCache)
        self._hovered = False
        self._padlock_pressed = False

    def boundingRect(self) -> QRectF:
        return _BLOCK_BOUNDS  # asked for several times per paint: one shared rectangle

    def block_rect(self) -> QRectF:
        return QRectF(-BLOCK_W / 2, -BLOCK_H / 2, BLOCK_W, BLOCK_H)

    def output_port(self) -> QPointF:
        """The output port's centre, in scene coordinates."""
        return self.mapToScene(QPointF(0, BLOCK_H / 2))

    def input_port(self) -> QPointF:
        return self.mapToScene(QPointF(0, -BLOCK_H / 2))

    def on_output_port(self, scene_pos: QPointF) -> bool:
        d = scene_pos - self.output_port()
        return d.x() ** 2 + d.y() ** 2 <= PORT_GRIP**2

    # ---- the overview (workbench.views.canvas_minimap draws blocks as paint() does below
    # OVERVIEW_LOD, without a call into Python per item)
    def overview_key(self) -> tuple:
        """What its look at overview scale depends on (besides the palette)."""
        return (bool(self.data_.problems), self.data_.family, self.opacity())

    def overview_colour(self, pal: QPalette) -> QColor:
        """The colour of its box at overview scale: red when broken, else its family's."""
        return style.problem_color(pal) if self.data_.problems else style.accent(self.data_.family)

    # ---- the padlock
    def has_padlock(self) -> bool:
        """A layer's block (not the input, not a collapsed repeat) has a padlock to click."""
        return self.row > 0 and len(self.rows) == 1

    def padlock_centre(self) -> QPointF:
        """The padlock's centre, in scene coordinates (where a click toggles it)."""
        return self.mapToScene(PADLOCK.center())

    def on_padlock(self, item_pos: QPointF) -> bool:
        return self.has_padlock() and PADLOCK_GRIP.contains(item_pos)

    def hoverEnterEvent(self, event) -> None:
        self._hovered = True
        self.update()
        super().hoverEnterEvent(event)

    def hoverLeaveEvent(self, event) -> None:
        self._hovered = False
        self.update()
        super().hoverLeaveEvent(event)

    def mousePressEvent(self, event) -> None:
        left = event.button() == Qt.MouseButton.LeftButton
        self._padlock_pressed = left and self.on_padlock(event.pos())
        if self._padlock_pressed:
            event.accept()  # a click on the padlock neither selects nor starts a move
            return
        super().mousePressEvent(event)

    def mouseReleaseEvent(self, event) -> None:
        pressed, self._padlock_pressed = self._padlock_pressed, False
        if pressed:
            event.accept()
            if self.on_padlock(event.pos()):
                toggle_frozen(self.scene(), self.row - 1)
            return
        super().mouseReleaseEvent(event)

    def paint(self, painter: QPainter, option: QStyleOptionGraphicsItem, widget=None) -> None:
        d = self.data_
        pal = widget.palette() if widget is not None else QApplication.palette()
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        red = style.problem_color(pal)
        colour = red if d.problems else style.accent(d.family)
        block = self.block_rect()
        if option.levelOfDetailFromTransform(painter.worldTransform()) < OVERVIEW_LOD:
            painter.fillRect(block, colour)  # too small to read: a box in its colour
            return
        fill = style.problem_fill(pal) if d.problems else style.block_fill(d.family, pal)
        selected = self.isSelected()
        path = QPainterPath()
        path.addRoundedRect(block, 7, 7)
        base = pal.color(QPalette.ColorRole.Base)
        if len(self.rows) > 1:  # a collapsed repeat: a stack of cards behind it
            for k in (2, 1):
                painter.setPen(QPen(style.mix(base, colour, 0.45), 1.0))
                painter.setBrush(fill)
                painter.drawRoundedRect(block.translated(4 * k, -4 * k), 7, 7)
        painter.fillPath(path, fill)
        if d.frozen:  # frozen: hatched like frost over the tint
            hatch = QBrush(style.mix(fill, colour, 0.28), Qt.BrushStyle.BDiagPattern)
            painter.fillPath(path, hatch)
        border = colour if (d.problems or selected) else style.mix(base, colour, 0.45)
        painter.setPen(QPen(border, 2.2 if (selected or d.problems) else 1.0))
        painter.setBrush(Qt.BrushStyle.NoBrush)
        painter.drawPath(path)
        if selected:  # the stack's dashed halo in the highlight colour
            halo = QPen(pal.color(QPalette.ColorRole.Highlight), 1.2, Qt.PenStyle.DashLine)
            painter.setPen(halo)
            painter.drawRoundedRect(block.adjusted(-3.5, -3.5, 3.5, 3.5), 9, 9)
        painter.save()
        painter.setClipRect(QRectF(block.left(), block.top(), 6, block.height()))
        painter.fillPath(path, colour)
        painter.restore()

        font = QFont(widget.font() if widget is not None else QApplication.font())
        fm = QFontMetrics(font)
        bold = QFont(font)
        bold.setBold(True)
        bfm = QFontMetrics(bold)
        icon = QRectF(block.left() + 12, -11, 22, 22).toRect()
        style.layer_icon(d.type).paint(painter, icon)
        left = icon.right() + 8
        pill_w = bfm.horizontalAdvance(d.shape) + 14
        pill = QRectF(block.right() - pill_w - 7, block.top() + 6, pill_w, fm.height() + 4)
        line1 = QRectF(left, block.top() + 6, pill.left() - left - 5, fm.height() + 4)
        right = PADLOCK.left() - 4 if self.has_padlock() else block.right() - 8
        line2 = QRectF(left, line1.bottom() + 3, right - left, fm.height() + 2)
        painter.setFont(bold)
        painter.setPen(pal.color(QPalette.ColorRole.Text))
        title = bfm.elidedText(d.title, Qt.TextElideMode.ElideRight, int(line1.width()))
        painter.drawText(line1, Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter, title)
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(style.mix(fill, colour, 0.22))
        painter.drawRoundedRect(pill, pill.height() / 2, pill.height() / 2)
        painter.setPen(red if d.problems else pal.color(QPalette.ColorRole.Text))
        painter.drawText(pill, Qt.AlignmentFlag.AlignCenter, d.shape)
        painter.setFont(font)
        if d.problems:
            painter.setPen(red)
            text = "⚠ " + d.problems[0]
        else:
            painter.setPen(style.muted_text(pal))
            text = f"frozen · {d.detail}" if d.frozen else d.detail
        text = fm.elidedText(text, Qt.TextElideMode.ElideRight, int(line2.width()))
        painter.drawText(line2, Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter, text)
        if self.has_padlock() and (d.frozen or d.has_params or self._hovered):
            text_colour = pal.color(QPalette.ColorRole.Text)
            if d.frozen:
                lock = text_colour
            else:
                lock = style.mix(fill, style.muted_text(pal), 0.9 if self._hovered else 0.55)
            draw_padlock(painter, PADLOCK, d.frozen, lock, fill)

        painter.setPen(QPen(border, 1.2))
        painter.setBrush(base)
        if d.row > 0:
            painter.drawEllipse(QPointF(0, block.top()), PORT_R - 1.5, PORT_R - 1.5)
        painter.setBrush(colour)
        painter.drawEllipse(QPointF(0, block.bottom()), PORT_R, PORT_R)


class EdgeItem(QGraphicsPathItem):
    """The connection from ``src`` into ``dst`` (rows), labelled with its tensor's shape.
    Selectable, so that Delete can remove it."""

    def __init__(self, src: int, dst: int, slot: int, points, label: str, tooltip: str):
        super().__init__()
        self.src, self.dst, self.slot, self.label = src, dst, slot, label
        #: The rows it goes into: ``(dst,)``, or, into a collapsed repeat (drawn as its last
        #: row), those of the repeat's layers that take ``src``.
        self.targets: tuple[int, ...] = (dst,)
        self.mismatch = False  # its shape does not meet the merge's other inputs (drawn red)
        self.points = [QPointF(x, y) for x, y in points]
        path = QPainterPath(self.points[0])
        for p in self.points[1:]:
            path.lineTo(p)
        self.setPath(path)
        self._bounds = path.boundingRect().adjusted(-110, -8, 110, 8)  # room for the label
        if self._bounds.height() < EDGE_CACHE_HEIGHT:  # a long one would be a large pixmap
            self.setCacheMode(QGraphicsItem.CacheMode.DeviceCoordinateCache)
        self.setFlag(QGraphicsItem.GraphicsItemFlag.ItemIsSelectable, True)
        self.setToolTip(tooltip)
        self.setZValue(0)
        self.setData(0, f"edge:{src}->{dst}")
        self._hit = None

    def shape(self) -> QPainterPath:
        if self._hit is None:  # a grip wide enough to hit with a mouse
            stroker = QPainterPathStroker()
            stroker.setWidth(12)
            self._hit = stroker.createStroke(self.path())
        return self._hit

    def boundingRect(self) -> QRectF:
        return self._bounds  # its path is set once, in __init__

    def overview_key(self) -> tuple:
        """What its look at overview scale (its line alone) depends on, besides the palette."""
        return (self.isSelected(), self.mismatch)

    def line_pen(self, pal: QPalette) -> QPen:
        """Its line: the highlight when selected, red into a broken merge, else muted."""
        selected = self.isSelected()
        if selected:
            colour = pal.color(QPalette.ColorRole.Highlight)
        else:
            colour = style.problem_color(pal) if self.mismatch else style.muted_text(pal)
        return QPen(colour, 2.6 if (selected or self.mismatch) else 1.5)

    def label_anchor(self) -> tuple[QPointF, bool]:
        """Where the shape is written: beside the middle of the last segment, on the side
        away from where the segment comes from (so the labels of two arrows into one merge
        do not overlap). ``True``: the text ends at the point (it stands to the left)."""
        a, b = self.points[-2], self.points[-1]
        middle = QPointF((a.x() + b.x()) / 2, (a.y() + b.y()) / 2)
        to_left = b.x() - a.x() > 1.0  # coming from the left: write on the left
        return QPointF(middle.x() + (-7 if to_left else 7), middle.y()), to_left

    def paint(self, painter: QPainter, option: QStyleOptionGraphicsItem, widget=None) -> None:
        pal = widget.palette() if widget is not None else QApplication.palette()
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        selected = self.isSelected()
        pen = self.line_pen(pal)
        colour = pen.color()
        painter.setPen(pen)
        painter.setBrush(Qt.BrushStyle.NoBrush)
        painter.drawPath(self.path())
        if option.levelOfDetailFromTransform(painter.worldTransform()) < OVERVIEW_LOD:
            return
        tip = self.points[-1]
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(colour)
        a = self.points[-2]
        direction = tip - a
        length = max(1e-6, (direction.x() ** 2 + direction.y() ** 2) ** 0.5)
        ux, uy = direction.x() / length, direction.y() / length
        base = QPointF(tip.x() - 8 * ux, tip.y() - 8 * uy)
        normal = QPointF(-uy * 4.5, ux * 4.5)
        painter.drawPolygon(QPolygonF([tip, base + normal, base - normal]))
        if self.label:
            font = QFont(widget.font() if widget is not None else QApplication.font())
            font.setPointSizeF(max(6.0, font.pointSizeF() * 0.85))
            painter.setFont(font)
            painter.setPen(colour if (selected or self.mismatch) else QColor(style.muted_text(pal)))
            fm = QFontMetrics(font)
            at, to_left = self.label_anchor()
            x = at.x() - fm.horizontalAdvance(self.label) if to_left else at.x()
            painter.drawText(QPointF(x, at.y() + fm.ascent() / 2 - 1), self.label)


def edge_text(spec, report, edge) -> tuple[str, str]:
    """An arrow's label (the shape of its source's output) and its hover text; ``edge`` has
    src and dst rows (a collapsed repeat's arrows too)."""
    if edge.src == 0:
        shape = fmt.shape_text(spec.input.shape)
    else:
        row = report[edge.src - 1] if edge.src - 1 < len(report) else None
        shape = fmt.shape_text(row.output_shape if row is not None else None)
    source = "the input" if edge.src == 0 else spec.wiring.ids[edge.src - 1]
    return shape, f"{shape}: the output of {source} into {spec.wiring.ids[edge.dst - 1]}"


def block_data(model, row: int) -> BlockData:
    """What the block of ``row`` shows, from ``model`` (a LayerStackModel: its roles for
    the row, read through ``row_data``, which keeps them until an edit changes the row)."""

    def get(role=Qt.ItemDataRole.DisplayRole):
        return model.row_data(row, role)

    params = get(StackRole.PARAMS)
    detail = " · ".join(
        p for p in (get(StackRole.DETAIL), f"{params} params" if params else "") if p
    )
    index = get(StackRole.LAYER_INDEX)
    spec = model.document.spec
    frozen = (
        index is not None and 0 <= index < len(spec.layers) and not spec.layers[index].trainable
    )
    tooltip = get(Qt.ItemDataRole.ToolTipRole) or ""
    if row > 0:
        lock = (
            "Frozen: its parameters stay as loaded while the rest trains; click the padlock "
            "to train it again"
            if frozen
            else "Click the padlock to freeze it (its parameters then stay as loaded)"
        )
        tooltip = f"{tooltip}<br>{lock}" if tooltip else lock
    return BlockData(
        row=row,
        type=get(StackRole.TYPE),
        family=get(StackRole.FAMILY),
        title=get(),
        detail=detail or ("image in" if row == 0 else "no parameters"),
        shape=get(StackRole.OUTPUT),
        problems=tuple(get(StackRole.PROBLEMS) or ()),
        tooltip=tooltip,
        frozen=bool(frozen),
        has_params=bool(params),
    )
