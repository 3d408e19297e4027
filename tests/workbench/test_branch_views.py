"""Views that understand branches: the shape table's inputs column (and its frozen
parameters), driven on the real window at its default size."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication

from engine.spec import load_spec
from workbench.models.shape_table_model import COL_INPUTS, COL_PARAMS, COL_SETTINGS, COLUMNS


def default_size(window) -> None:
    from workbench.main_window import DOCK_WIDTHS

    window.resize(1440, 900)
    window.resizeDocks(
        [window.palette_dock, window.inspector_dock], list(DOCK_WIDTHS), Qt.Orientation.Horizontal
    )
    QApplication.processEvents()


def test_the_inputs_column_names_each_layers_inputs_and_the_table_still_fits(make_window, qtbot):
    for preset in ("lenet5", "googlenet", "resnet20"):
        window = make_window()
        window.document.replace_network(load_spec(preset), f"Load {preset}")
        default_size(window)
        table = window.shape_table
        model = table.model()
        spec = window.document.spec
        assert model.headerData(COL_INPUTS, Qt.Orientation.Horizontal) == "Inputs"
        assert model.index(1, COL_INPUTS).data() == "input"  # the first layer takes the image
        for i in range(len(spec.layers)):
            expected = ["input" if j < 0 else spec.wiring.ids[j] for j in spec.inputs_of(i)]
            assert model.index(i + 1, COL_INPUTS).data() == ", ".join(expected)
        header = table.horizontalHeader()
        # shown for networks with branches only: in a chain each layer takes the one before
        assert header.isSectionHidden(COL_INPUTS) == spec.is_chain
        bar = table.horizontalScrollBar()
        qtbot.waitUntil(lambda bar=bar: not bar.isVisible(), timeout=2000)
        last = len(COLUMNS) - 1 - spec.is_chain
        assert header.sectionViewportPosition(last) + header.sectionSize(last) <= (
            table.viewport().width()
        )
        natural = table.natural_widths()
        for col in (0, 3, 4, 5, 6):  # numbers are never cut
            assert header.sectionSize(col) >= natural[col], (preset, col)
        if preset == "googlenet":
            concat = next(i for i, layer in enumerate(spec.layers) if layer.type == "concat")
            text = model.index(concat + 1, COL_INPUTS).data()
            assert text.count(",") == 3 and "inception3a_1x1_relu" in text
            tip = model.index(concat + 1, COL_INPUTS).data(Qt.ItemDataRole.ToolTipRole)
            assert f"#{concat + 1} inception3a_cat" in tip and "ReLU" in tip
            window.grab().save("/tmp/shape_table_googlenet.png")
        window.close()


def test_the_totals_row_shows_trainable_and_frozen_parameters(make_window):
    window = make_window()
    spec = window.document.spec
    total = window.shape_table.model().rowCount() - 1
    model = window.shape_table.model()
    assert model.index(total, COL_SETTINGS).data() == ""  # nothing frozen: nothing said
    assert "Frozen parameters: 0" in model.index(total, 0).data(Qt.ItemDataRole.ToolTipRole)
    frozen = spec.replace_layer(0, spec.layers[0].with_trainable(False))
    window.document.edit(frozen, "Freeze")
    report = window.document.report
    assert report.frozen_params == 156
    text = model.index(total, COL_SETTINGS).data()
    assert text == f"{report.trainable_params:,} trainable · 156 frozen".replace(",", "\u202f") or (
        "156 frozen" in text and "trainable" in text
    )
    assert model.index(total, COL_PARAMS).data().replace("\u202f", "").replace(",", "") == str(
        report.total_params
    )


def hover_text(view, pos) -> str:
    """What a person reads after resting the mouse at ``pos`` of ``view``'s viewport."""
    from PySide6.QtCore import QEvent
    from PySide6.QtGui import QHelpEvent
    from PySide6.QtWidgets import QToolTip

    viewport = view.viewport()
    QToolTip.hideText()
    QApplication.sendEvent(
        viewport, QHelpEvent(QEvent.Type.ToolTip, pos, viewport.mapToGlobal(pos))
    )
    return QToolTip.text()


def edge_point(canvas, src: int, dst: int, at: int | None = None):
    """A point on the arrow: the middle of its last segment, or its point ``at``."""
    e = next(e for e in canvas.edges if (e.src, e.dst) == (src, dst))
    point = (e.points[-2] + e.points[-1]) / 2 if at is None else e.points[at]
    canvas.ensureVisible(point.x() - 5, point.y() - 5, 10, 10)
    return canvas.mapFromScene(point)


def test_hovering_an_arrow_shows_its_shape_and_how_it_was_computed(make_window):
    window = make_window()
    canvas = window.design.canvas
    text = hover_text(canvas, edge_point(canvas, 1, 2))  # the first conv's output
    assert "6×28×28" in text and "(32 − 5 + 2·0)/1 + 1 = 28" in text
    assert "parameters" not in text  # the shape's arithmetic, not the weights'
    assert "#1 conv2d_0 (Convolution)" in text and "#2 relu_1 (ReLU)" in text
    assert "the input's channels × height × width" in hover_text(canvas, edge_point(canvas, 0, 1))
    text = hover_text(canvas, edge_point(canvas, 9, 10))  # out of relu after the first dense
    assert "computed by #8 dense_7 (Fully connected): 120, its fields" in text
    assert "passed on unchanged by relu_8" in text
    # a field typed: the arithmetic on the arrow follows
    window.document.set_layer_field(0, "padding", 2)
    text = hover_text(canvas, edge_point(canvas, 1, 2))
    assert "(32 − 5 + 2·2)/1 + 1 = 32" in text

    window.document.replace_network(load_spec("resnet20"), "Load resnet20")
    spec = window.document.spec
    add = next(i for i, layer in enumerate(spec.layers) if layer.type == "add")
    _main, shortcut = spec.inputs_of(add)
    text = hover_text(canvas, edge_point(canvas, shortcut + 1, add + 1, at=2))  # beside the block
    assert "16×32×32" in text and "its input 2 of 2" in text
    # a relu and a batch norm pass their input's shape on: the conv before them made it
    assert "computed by #1 conv2d_0 (Convolution): (32 − 3 + 2·1)/1 + 1 = 32" in text
    assert "passed on unchanged by batch_norm_1, stem_relu" in text
