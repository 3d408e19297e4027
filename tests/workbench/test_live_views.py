"""The live training views: curves, feature maps with receptive fields, filters, confusion
matrix and predict, driven with plain arrays as the training worker's snapshots carry them."""

from __future__ import annotations

import csv
import math
import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import numpy as np
import pyqtgraph as pg
import pytest
from PIL import Image
from PySide6.QtCore import QPointF, Qt
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication

import engine
from engine.network import build
from workbench.views.confusion import ConfusionMatrixView
from workbench.views.curves import TrainingCurves, _ema
from workbench.views.feature_maps import FeatureMapsView, Mosaic
from workbench.views.filters import FiltersView
from workbench.views.predict_view import PredictView


def _settle(qtbot, view) -> None:
    """Show ``view`` and let its graphics layouts take their final geometry."""
    view.show()
    qtbot.waitExposed(view)
    QApplication.processEvents()


# --------------------------------------------------------------------------- curves


def _fill_curves(view: TrainingCurves, batches: int = 30, epochs: int = 2) -> None:
    for e in range(epochs):
        for b in range(batches):
            t = e + (b + 1) / batches
            view.add_batch(t, 2.0 / (1 + t) + 0.01 * (b % 3), None if b == 4 else 0.5 + t / 10)
        view.add_epoch(e + 1, 1.5 / (e + 1), 0.6 + 0.1 * e)


def test_loss_curve_has_points_after_add_batch(qtbot):
    view = TrainingCurves()
    qtbot.addWidget(view)
    loss_plot = view.findChild(pg.PlotWidget, "lossPlot")
    acc_plot = view.findChild(pg.PlotWidget, "accuracyPlot")
    assert loss_plot is not None and acc_plot is not None
    _fill_curves(view)

    def drawn():
        for plot in (loss_plot, acc_plot):  # each in a turn of its own
            xs, _ys = plot.getPlotItem().listDataItems()[0].getData()
            assert xs is not None and len(xs) == 60

    qtbot.waitUntil(drawn, timeout=2000)  # the redraw timer, not a direct call
    val_x, val_y = acc_plot.getPlotItem().listDataItems()[2].getData()
    assert list(val_x) == [1.0, 2.0]
    assert val_y == pytest.approx([60.0, 70.0])


def test_incremental_smoothing_equals_full_ema(qtbot):
    view = TrainingCurves()
    qtbot.addWidget(view)
    _fill_curves(view, epochs=1)
    view.redraw()
    _fill_curves(view, epochs=2)  # more batches after a redraw: the cached EMA is extended
    view.redraw()
    smooth = view.loss_plot.getPlotItem().listDataItems()[1].getData()[1]
    expected = _ema(view.series()["train"][1], 0.8)
    assert smooth == pytest.approx(expected)
    acc_smooth = view.accuracy_plot.getPlotItem().listDataItems()[1].getData()[1]
    acc = view.series()["train"][2]
    assert math.isnan(acc_smooth[4])  # a batch without accuracy stays a gap
    assert acc_smooth[5] == pytest.approx(100 * _ema(acc, 0.8)[5])


def test_log_scale_toggle(qtbot):
    view = TrainingCurves()
    qtbot.addWidget(view)
    view.log_scale.setChecked(True)
    assert view.loss_plot.getPlotItem().ctrl.logYCheck.isChecked()
    view.set_log_scale(False)
    assert not view.log_scale.isChecked()


def test_csv_export_round_trip(qtbot, tmp_path):
    view = TrainingCurves()
    qtbot.addWidget(view)
    _fill_curves(view)
    path = tmp_path / "curves.csv"
    view.export_csv(path)
    with open(path, newline="") as f:
        rows = list(csv.reader(f))
    assert rows[0] == ["series", "epoch", "loss", "accuracy"]
    assert len(rows) == 1 + 60 + 2

    again = TrainingCurves()
    qtbot.addWidget(again)
    again.load_csv(path)
    for name in ("train", "validation"):
        for a, b in zip(view.series()[name], again.series()[name], strict=True):
            np.testing.assert_array_equal(a, b)  # NaN accuracies included
    assert not list(tmp_path.glob(".*.tmp"))  # the atomic write left no temporary file


def test_csv_load_rejects_other_files_and_keeps_curves(qtbot, tmp_path):
    view = TrainingCurves()
    qtbot.addWidget(view)
    _fill_curves(view)
    bad = tmp_path / "bad.csv"
    bad.write_text("series,epoch,loss,accuracy\ntrain,1,oops,\n")
    with pytest.raises(ValueError, match="line 2"):
        view.load_csv(bad)
    assert len(view.series()["train"][0]) == 60


def test_png_export(qtbot, tmp_path):
    view = TrainingCurves()
    qtbot.addWidget(view)
    view.resize(800, 300)
    _fill_curves(view)
    view.export_png(tmp_path / "curves.png")
    with Image.open(tmp_path / "curves.png") as img:
        assert img.format == "PNG" and img.size[0] > 300


# --------------------------------------------------------------------------- feature maps


def test_mosaic_locates_every_tiled_value():
    m = Mosaic.for_shape((6, 5, 7))
    values = np.arange(6 * 5 * 7, dtype=np.float32).reshape(6, 5, 7)
    image = m.tile(values)
    assert image.shape == m.size
    hits = 0
    for py in range(image.shape[0]):
        for px in range(image.shape[1]):
            where = m.locate(py, px)
            if where is None:
                assert np.isnan(image[py, px])
            else:
                assert image[py, px] == values[where]
                hits += 1
    assert hits == values.size


@pytest.fixture
def lenet_maps(qtbot):
    spec = engine.load_spec("lenet5")
    probe = np.random.default_rng(0).normal(size=(1, 1, 32, 32)).astype(np.float32)
    activations = build(spec, seed=0).forward_activations(probe)
    view = FeatureMapsView()
    qtbot.addWidget(view)
    view.resize(1100, 700)
    view.set_spec(spec)
    view.set_probe(probe[0])
    view.update_activations(activations)
    return view, spec, activations


def test_feature_maps_exist_for_every_layer(qtbot, lenet_maps):
    view, spec, activations = lenet_maps
    _settle(qtbot, view)  # shown: the timer renders them in the background
    qtbot.waitUntil(lambda: view.cell_image(len(spec.layers) - 1).image is not None, timeout=3000)
    assert view.cell_image(-1).image is not None  # the probe itself
    for i, act in enumerate(activations):
        image = view.cell_image(i).image
        assert image is not None, f"layer {i} has no picture"
        mosaic = view._cells[i + 1].mosaic
        assert image.shape == (*mosaic.size, 4) and image.dtype == np.uint8  # RGBA bytes
        # every unit of the layer is an opaque pixel of its mosaic; the gaps are transparent
        assert int((image[..., 3] == 255).sum()) == act[0].size
        np.testing.assert_array_equal(view.layer_values(i), act[0])


def test_hovering_a_pixel_outlines_its_receptive_field(qtbot, lenet_maps):
    view, _, _ = lenet_maps
    view.flush()
    _settle(qtbot, view)
    # conv2 (layer 3) is 16×10×10; channel 2 is the third tile. Hover its pixel (4, 6).
    mosaic = Mosaic.for_shape((16, 10, 10))
    oy, ox = mosaic.tile_origin(2)
    item = view.cell_image(3)
    scene_pos = item.mapToScene(QPointF(ox + 6.5, oy + 4.5))
    view.overview.scene().sigMouseMoved.emit(scene_pos)
    boxes = view.highlighted()
    assert (boxes[3].top, boxes[3].left, boxes[3].height, boxes[3].width) == (4, 6, 1, 1)
    assert (boxes[2].height, boxes[2].width) == (5, 5)  # pool1: conv2's 5×5 kernel
    assert (boxes[1].height, boxes[1].width) == (10, 10)  # conv1 output, through 2×2 pooling
    assert (boxes[-1].height, boxes[-1].width) == (14, 14)  # the input: 5 + 4·2 + ... = 14
    assert boxes[-1].top == 8 and boxes[-1].left == 12
    # The outline is drawn in every tile of the layer before (6 channels of pool1).
    assert len(view._cells[3].path.path().toSubpathPolygons()) == 6
    # Moving onto a gap between tiles clears it.
    gap = item.mapToScene(QPointF(ox + 10.5, oy + 4.5))
    view.overview.scene().sigMouseMoved.emit(gap)
    assert view.highlighted() == {}


def test_clicking_a_layer_enlarges_it(qtbot, lenet_maps):
    view, _, _ = lenet_maps
    view.flush()
    _settle(qtbot, view)
    assert view.focused_layer() == 0  # the first conv by default
    target = view._cells[3 + 1].view  # pool1
    centre = target.mapToScene(target.boundingRect().center())
    widget_pos = view.overview.mapFromScene(centre)
    QTest.mouseClick(view.overview.viewport(), Qt.MouseButton.LeftButton, pos=widget_pos)
    assert view.focused_layer() == 3


def test_mismatched_activations_are_reported_not_drawn(qtbot, lenet_maps):
    view, _, activations = lenet_maps
    view.update_activations(activations[:-1])
    view.flush()
    assert "waiting for the next snapshot" in view._status.text()


# --------------------------------------------------------------------------- filters


def test_filters_show_conv_weights_and_warn_about_dead_relus(qtbot):
    spec = engine.load_spec("lenet5")
    net = build(spec, seed=0)
    probes = np.random.default_rng(1).normal(size=(8, 1, 32, 32)).astype(np.float32)
    acts = net.forward_activations(probes)
    acts[4] = np.zeros_like(acts[4])  # relu2: every unit dead
    view = FiltersView()
    qtbot.addWidget(view)
    view.update_snapshot(net.state_dict(), acts, spec)
    view.select_layer(3)
    assert view._filters.image.shape == Mosaic(16 * 6, 5, 5, 16, 6).size
    warnings = view.warnings()
    assert warnings[0] == (
        "conv2: 16 of 16 filters never fire on 8 validation images — try a lower learning "
        "rate or leaky ReLU"
    )
    dead = view.dead_units()
    assert [d.warning for d in dead if d.fraction >= 0.3] == warnings
    assert dead[0].name == "conv1" and dead[0].warning is None
    assert warnings[0] in view.warning_label.text()
    assert [d.name for d in view.dead_units()] == ["conv1", "conv2", "dense1", "dense2"]


def test_one_channel_filters_form_a_near_square_grid(qtbot):
    spec = engine.load_spec("lenet5")
    net = build(spec, seed=0)
    view = FiltersView()
    qtbot.addWidget(view)
    view.update_snapshot(net.state_dict(), None, spec)
    view.select_layer(0)  # conv1: 6 filters of 5x5 over one channel
    h, w = view._filters.image.shape
    assert (h, w) == Mosaic.for_shape((6, 5, 5)).size == (11, 17)


# --------------------------------------------------------------------------- confusion


@pytest.fixture
def confusion(qtbot):
    rng = np.random.default_rng(2)
    n, k = 60, 4
    labels = rng.integers(0, k, n)
    logits = rng.normal(size=(n, k))
    logits[np.arange(n), labels] += 1.0
    probs = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    images = rng.random((n, 1, 8, 8)).astype(np.float32)
    view = ConfusionMatrixView()
    qtbot.addWidget(view)
    view.resize(900, 500)
    view.set_results(probs, labels, ["ant", "bee", "cat", "dog"], images)
    return view, probs, labels


def test_confusion_matrix_sums_to_validation_size(confusion):
    view, probs, labels = confusion
    m = view.matrix()
    assert m.shape == (4, 4) and m.sum() == 60
    assert np.trace(m) == int((probs.argmax(axis=1) == labels).sum())


def test_clicking_a_cell_lists_its_images_most_confident_first(qtbot, confusion):
    view, probs, labels = confusion
    _settle(qtbot, view)
    pred = probs.argmax(axis=1)
    true, guess = max(
        ((t, p) for t in range(4) for p in range(4) if t != p),
        key=lambda c: ((labels == c[0]) & (pred == c[1])).sum(),
    )
    centre = view._image.mapToScene(QPointF(guess + 0.5, true + 0.5))
    QTest.mouseClick(
        view.plot.viewport(), Qt.MouseButton.LeftButton, pos=view.plot.mapFromScene(centre)
    )
    assert view.selected_cell() == (true, guess)
    members = np.flatnonzero((labels == true) & (pred == guess))
    expected = sorted(members, key=lambda i: -probs[i, guess])
    assert view.cell_gallery.keys() == [int(i) for i in expected]
    assert view.cell_gallery.count() == len(expected) > 0


def test_misclassified_gallery(confusion):
    view, probs, labels = confusion
    pred = probs.argmax(axis=1)
    wrong = np.flatnonzero(pred != labels)
    keys = view.mistakes_gallery.keys()
    assert sorted(keys) == sorted(int(i) for i in wrong)
    conf = [probs[i, pred[i]] for i in keys]
    assert conf == sorted(conf, reverse=True)
    assert view.mistakes_gallery.captions()[0].startswith(
        f"{['ant', 'bee', 'cat', 'dog'][labels[keys[0]]]} →\n"
    )


def test_confusion_rejects_mismatched_sizes(confusion):
    view, probs, labels = confusion
    with pytest.raises(ValueError, match="must be"):
        view.set_results(probs[:10], labels, ["ant", "bee", "cat", "dog"])


# --------------------------------------------------------------------------- predict


def test_predict_view_shows_the_top_class(qtbot, tmp_path):
    view = PredictView()
    qtbot.addWidget(view)
    assert view.findChild(PredictView) is None and view.objectName() == "predictView"
    names = ["cat", "dog", "bird"]
    view.show_prediction(np.zeros((3, 16, 16), np.float32), [0.1, 0.7, 0.2], names)
    assert view.top_class() == "dog"
    assert view.shown_bars() == [("dog", 0.7), ("bird", 0.2), ("cat", 0.1)]
    assert view._headline.text() == "dog — 70.0%"
    path = tmp_path / "bird.png"
    Image.fromarray(np.full((20, 30, 3), 200, np.uint8)).save(path)
    view.show_prediction(str(path), [0.05, 0.15, 0.8], names)
    assert view.top_class() == "bird"
    assert "bird.png" in view._detail.text()
    with pytest.raises(ValueError, match="3 class names"):
        view.show_prediction(path, [0.5, 0.5], names)


def test_filters_refuse_activations_of_another_network(qtbot):
    spec = engine.load_spec("lenet5")
    net = build(spec, seed=0)
    acts = net.forward_activations(np.zeros((2, 1, 32, 32), np.float32))
    view = FiltersView()
    qtbot.addWidget(view)
    with pytest.raises(ValueError, match="11 activations for 12 layers"):
        view.update_snapshot(net.state_dict(), acts[:-1], spec)
