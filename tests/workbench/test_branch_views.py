"""Views that understand branches: the shape table's inputs column (and its frozen
parameters), driven on the real window at its default size."""

from __future__ import annotations

from PySide6.QtCore import QPointF, Qt
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


# ---------------------------------------------------------------------- feature maps


def small_inception():
    from engine.blocks import GraphBuilder, inception_module
    from engine.graph import INPUT

    g = GraphBuilder()
    x = g.conv(INPUT, 6, 3, padding=1, relu=True, name="stem")
    x = inception_module(g, x, 4, 3, 8, 2, 4, 5, bn=False)
    x = g.layer("global_avg_pool", x, "gap")
    g.layer("dense", x, "logits", units=10)
    return g.spec((3, 16, 16), name="small inception")


def feature_maps(qtbot, spec):
    import numpy as np

    from engine.network import build
    from workbench.views.feature_maps import FeatureMapsView

    view = FeatureMapsView()
    qtbot.addWidget(view)
    view.resize(1200, 760)
    view.show()
    c, h, w = spec.input.shape
    yy, xx = np.mgrid[0:h, 0:w]
    probe = np.repeat(((np.hypot(yy - h / 2, xx - w / 2) < h / 3) * 1.0 - 0.3)[None], c, 0)
    probe = probe.astype(np.float32)
    view.set_spec(spec)
    view.set_probe(probe)
    view.update_activations(build(spec, seed=0).forward_activations(probe[None]))
    view.flush()
    qtbot.waitUntil(lambda: view.cell_image(len(spec.layers) - 1).image is not None)
    qtbot.waitExposed(view)
    QApplication.processEvents()  # the graphics layouts take their final geometry
    return view


def hover_pixel(view, layer: int, channel: int, y: int, x: int) -> None:
    """Move the mouse onto pixel (y, x) of ``channel`` in layer ``layer``'s picture."""
    cell = view._cells[layer + 1]
    oy, ox = cell.mosaic.tile_origin(channel)
    scene_pos = view.cell_image(layer).mapToScene(QPointF(ox + x + 0.5, oy + y + 0.5))
    view.overview.scene().sigMouseMoved.emit(scene_pos)


def test_feature_maps_show_every_branch_labelled_by_id_and_every_paths_field(qtbot):
    spec = small_inception()
    view = feature_maps(qtbot, spec)
    ids = spec.wiring.ids
    assert [cell.title for cell in view._cells] == ["input", *ids]  # a graph: by id
    place = {cell.index: _grid_place(view, cell.view) for cell in view._cells}
    stem = ids.index("stem_relu")
    heads = [i for i in range(len(ids)) if spec.inputs_of(i) == (stem,)]  # the 4 branches
    assert [spec.layers[i].type for i in heads] == ["conv2d"] * 3 + ["max_pool2d"]
    # grouped by block: each branch on a row of its own, starting at column 0
    assert [place[i][1] for i in heads] == [0, 0, 0, 0]
    assert len({place[i][0] for i in heads}) == 4
    three = heads[1] + 2  # 1×1 reduce, relu, 3×3
    assert spec.layers[three]["kernel"] == (3, 3) and place[three] == (place[heads[1]][0], 2)
    concat = [layer.type for layer in spec.layers].index("concat")
    assert place[concat][1] == 0 and place[concat][0] > place[heads[3]][0]
    hover_pixel(view, concat, 9, 8, 8)  # channel 9: the 3×3 branch's output
    paths = view.path_boxes()
    assert sorted(b.width for b in paths[stem]) == [1, 3, 5]  # the branches' own windows
    assert sorted(b.width for b in paths[-1]) == [3, 5, 7]  # then the stem's 3×3
    five_reduce = heads[2]
    assert paths[five_reduce] == [view.highlighted()[five_reduce]]  # one path there
    # the colour probe is one picture: its three boxes are drawn on it, nested
    assert len(view._cells[0].path.path().toSubpathPolygons()) == 3
    assert len(view._cells[stem + 1].path.path().toSubpathPolygons()) == 3 * 6  # every tile
    status = view._status.text()
    assert ids[concat] in status and "4 paths: 3×3, 5×5 (2 paths), 7×7" in status
    assert "together rows 5–11" in status
    view.grab().save("/tmp/feature_maps_inception.png")


def _grid_place(view, item) -> tuple[int, int]:
    layout = view.overview.ci.layout
    for k in range(layout.count()):
        if layout.itemAt(k) is item:
            return _cell_of(layout, item)
    raise AssertionError("not in the overview")


def _cell_of(layout, item) -> tuple[int, int]:
    for r in range(layout.rowCount()):
        for c in range(layout.columnCount()):
            if layout.itemAt(r, c) is item:
                return (r - 1) // 2, c  # a label row above each picture row
    raise AssertionError("not placed")


def test_feature_maps_of_resnet20_trace_the_shortcut_and_the_main_path(qtbot):
    spec = load_spec("resnet20")
    view = feature_maps(qtbot, spec)
    add = [layer.type for layer in spec.layers].index("add")
    _main, shortcut = spec.inputs_of(add)
    hover_pixel(view, add, 0, 10, 10)
    paths = view.path_boxes()
    assert sorted(b.width for b in paths[shortcut]) == [1, 5]  # around the block and through it
    assert sorted(b.width for b in paths[-1]) == [3, 7]
    assert "2 paths: 3×3, 7×7 of the input" in view._status.text()
    assert view._cells[add + 1].title == spec.wiring.ids[add]
    view.grab().save("/tmp/feature_maps_resnet20.png")


def test_the_filters_page_lists_a_graphs_layers_by_id(qtbot):
    import numpy as np

    from engine.network import build
    from workbench.views.filters import FiltersView
    from workbench.views.learned_filters import first_conv_label

    spec = load_spec("resnet20")
    net = build(spec, seed=0)
    probes = np.random.default_rng(1).normal(size=(4, 3, 32, 32)).astype(np.float32)
    view = FiltersView()
    qtbot.addWidget(view)
    view.update_snapshot(net.state_dict(), net.forward_activations(probes), spec)
    ids = spec.wiring.ids
    items = [view.layer_box.itemText(k) for k in range(view.layer_box.count())]
    proj = spec.inputs_of(ids.index("s2b1_proj_bn"))[0]  # the first projection's 1×1 conv
    assert f"{ids[proj]}  (32×16×1×1)" in items
    assert items[0].startswith(ids[0] + "  ")
    view.select_layer(proj)
    view.redraw()
    dead = view.dead_units()
    assert [d.index for d in dead] == [i for i, la in enumerate(spec.layers) if la.type == "relu"]
    assert all(d.name in ids for d in dead)
    assert first_conv_label(spec) == ids[0] and first_conv_label(load_spec("lenet5")) == "conv1"
