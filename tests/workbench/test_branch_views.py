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
