"""Feature maps are colour-mapped off the GUI thread and set only where they can be seen.

The colour mapping (workbench.models.map_picture) against pyqtgraph's own float + lookup
table path, and the view: a hidden view renders nothing, a shown one renders in the
background and sets the pictures of the cells in its viewport only, the rest when scrolled to.
"""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import numpy as np
import pyqtgraph as pg
import pytest
from PySide6.QtWidgets import QApplication

import engine
from engine.network import build
from workbench.models.map_picture import colour_map, layer_levels, layer_picture
from workbench.models.mosaic import Mosaic
from workbench.views.feature_maps import _POSITIVE, _SIGNED, FeatureMapsView

# --------------------------------------------------------------------------- colour mapping


def test_colour_map_matches_pyqtgraphs_float_lookup():
    rng = np.random.default_rng(0)
    image = rng.normal(size=(9, 13)).astype(np.float32)
    levels = (-2.0, 2.0)
    item = pg.ImageItem()
    item.setImage(image, autoLevels=False, levels=levels)
    item.setLookupTable(_SIGNED)
    item.render()
    q = item.qimage.convertToFormat(pg.QtGui.QImage.Format.Format_RGBA8888)
    ours = colour_map(image, levels, _SIGNED)
    theirs = np.frombuffer(q.constBits(), np.uint8).reshape(q.height(), q.bytesPerLine())
    theirs = theirs[:, : 4 * q.width()].reshape(q.height(), q.width(), 4)
    np.testing.assert_array_equal(ours, theirs)


def test_nan_is_transparent_and_infinities_take_the_end_colours():
    image = np.array([[np.nan, -np.inf, np.inf, 0.5]], np.float32)
    out = colour_map(image, (0.0, 1.0), _POSITIVE)
    assert out.shape == (1, 4, 4) and out.dtype == np.uint8
    assert out[0, 0, 3] == 0  # NaN: transparent
    np.testing.assert_array_equal(out[0, 1, :3], _POSITIVE[0])
    np.testing.assert_array_equal(out[0, 2, :3], _POSITIVE[-1])
    np.testing.assert_array_equal(out[0, 3, :3], _POSITIVE[128])  # 0.5 · 256 = 128
    assert (out[0, 1:, 3] == 255).all()


def test_levels_are_symmetric_for_signed_outputs_and_start_at_zero_otherwise():
    assert layer_levels(np.array([-1.0, 3.0])) == ((-3.0, 3.0), True)
    assert layer_levels(np.array([0.5, 2.0])) == ((0.0, 2.0), False)
    assert layer_levels(np.array([np.nan, 2.0])) == ((0.0, 2.0), False)
    assert layer_levels(np.full(3, np.nan)) == ((0.0, 1e-12), False)


def test_bad_inputs_are_refused_with_the_shape():
    with pytest.raises(ValueError, match=r"\(H, W\) image, not shape \(2, 2, 2\)"):
        colour_map(np.zeros((2, 2, 2)), (0, 1), _POSITIVE)
    with pytest.raises(ValueError, match=r"\(N, 3\) or \(N, 4\)"):
        colour_map(np.zeros((2, 2)), (0, 1), np.zeros((4, 2), np.uint8))


def test_a_layer_picture_is_its_mosaic_with_transparent_gaps():
    values = np.arange(6 * 4 * 4, dtype=np.float32).reshape(6, 4, 4)
    mosaic = Mosaic.for_shape(values.shape)
    picture, levels = layer_picture(values, mosaic, _SIGNED, _POSITIVE)
    assert levels == (0.0, float(values.max()))
    assert picture.shape == (*mosaic.size, 4)
    opaque = picture[..., 3] == 255
    assert opaque.sum() == values.size
    for py, px in zip(*np.nonzero(~opaque), strict=True):
        assert mosaic.locate(py, px) is None  # only gaps are see-through


# --------------------------------------------------------------------------- the view


@pytest.fixture
def deep_maps(qtbot):
    """resnet20's 70-odd maps in a view too small to show them all."""
    spec = engine.load_spec("resnet20")
    probe = np.random.default_rng(0).normal(size=(1, 3, 32, 32)).astype(np.float32)
    activations = build(spec, seed=0).forward_activations(probe)
    view = FeatureMapsView()
    qtbot.addWidget(view)
    view.resize(900, 500)
    view.set_spec(spec)
    view.set_probe(probe[0])
    return view, spec, activations


def _drawn(view: FeatureMapsView, spec) -> list[int]:
    return [i for i in range(len(spec.layers)) if view.cell_image(i).image is not None]


def test_a_hidden_view_keeps_activations_without_rendering(qtbot, deep_maps):
    view, spec, activations = deep_maps
    view.update_activations(activations)
    qtbot.wait(600)  # three timer periods
    assert _drawn(view, spec) == [] and view.layer_values(0) is None


def test_a_shown_view_sets_the_pictures_it_shows_and_the_rest_when_scrolled_to(qtbot, deep_maps):
    view, spec, activations = deep_maps
    view.show()
    qtbot.waitExposed(view)
    view.update_activations(activations)
    qtbot.waitUntil(lambda: view.layer_values(len(spec.layers) - 1) is not None, timeout=5000)
    QApplication.processEvents()
    drawn = _drawn(view, spec)
    assert 0 < len(drawn) < len(spec.layers) // 2  # the first rows only
    assert view.focused_layer() in drawn  # the enlarged layer too
    # Only those were coloured in the background; the rest wait until they are shown.
    assert [i for i in range(len(spec.layers)) if view._pictures[i + 1] is not None] == drawn
    for i in range(len(spec.layers)):  # every layer's values arrived, drawn or not
        np.testing.assert_array_equal(view.layer_values(i), activations[i][0])
    bar = view.overview_scroll.verticalScrollBar()
    bar.setValue(bar.maximum())  # scrolled to the end, as a person would
    last = len(spec.layers) - 1
    assert last in _drawn(view, spec)
    mosaic = view._cells[last + 1].mosaic
    expected = layer_picture(activations[last][0], mosaic, _SIGNED, _POSITIVE)[0]
    np.testing.assert_array_equal(view.cell_image(last).image, expected)
    view.flush()  # at once, every cell
    assert _drawn(view, spec) == list(range(len(spec.layers)))


def test_a_render_of_an_older_network_is_dropped(qtbot, deep_maps):
    view, _spec, activations = deep_maps
    view.show()
    qtbot.waitExposed(view)
    view.update_activations(activations)
    view._tick()  # starts the background render
    assert view._render.is_busy()
    view.set_spec(engine.load_spec("lenet5"))  # the network changed meanwhile
    view._render.wait()
    QApplication.processEvents()
    assert all(v is None for v in view._values[1:])


def test_flush_draws_what_a_background_render_is_still_drawing(qtbot, deep_maps):
    # The timer took the activations and started rendering them; flush() (a caller that
    # needs every picture now) must not find nothing to draw.
    view, spec, activations = deep_maps
    view.show()
    qtbot.waitExposed(view)
    view.update_activations(activations)
    view._tick()
    assert view._render.is_busy()
    view.flush()
    assert _drawn(view, spec) == list(range(len(spec.layers)))
    view._render.wait()
    QApplication.processEvents()  # the background result, now older, is dropped
    assert _drawn(view, spec) == list(range(len(spec.layers)))


def test_laying_out_a_big_network_resizes_each_cell_about_once(qtbot, monkeypatch):
    """pyqtgraph lays its grid out again after every cell it adds: resnet50's 175 cells were
    resized 6,984 times (densenet121's 428: 52,885 times, 4.7 s). The cells are laid out
    once, after the last is added."""
    resizes = []
    original = pg.ViewBox.resizeEvent
    monkeypatch.setattr(pg.ViewBox, "resizeEvent",
                        lambda self, ev: resizes.append(self) or original(self, ev))  # fmt: skip
    view = FeatureMapsView()
    qtbot.addWidget(view)
    view.resize(800, 600)
    view.show()
    QApplication.processEvents()
    resizes.clear()
    view.set_spec(engine.load_spec("resnet50"))
    QApplication.processEvents()
    cells = len(view._cells)
    assert cells > 150
    assert len(resizes) <= 2 * cells, f"{len(resizes)} resizes of {cells} cells"
    # Laid out all the same: the cells sit in distinct places of the grid.
    places = {(round(c.view.pos().x()), round(c.view.pos().y())) for c in view._cells}
    assert len(places) == cells
