"""The application style: Fusion with flat scroll bars (workbench.flat_scrollbars), kept
across theme switches, painting its slider and groove in the palette's colours and leaving
every scroll bar's geometry and behaviour to Fusion."""

from __future__ import annotations

from PySide6.QtCore import QPoint, Qt
from PySide6.QtWidgets import QApplication, QListWidget, QStyle, QStyleOptionSlider

from workbench import style
from workbench.flat_scrollbars import FlatScrollBarStyle, slider_colour


def _list(qtbot, rows=400) -> QListWidget:
    view = QListWidget()
    view.addItems([f"row {i}" for i in range(rows)])
    view.resize(200, 240)
    qtbot.addWidget(view)
    view.show()
    qtbot.waitExposed(view)
    return view


def _slider_centre(bar) -> QPoint:
    option = QStyleOptionSlider()
    bar.initStyleOption(option)
    rect = bar.style().subControlRect(
        QStyle.ComplexControl.CC_ScrollBar, option, QStyle.SubControl.SC_ScrollBarSlider, bar
    )
    return rect.center()


def test_apply_theme_installs_it_once(qtbot):
    app = QApplication.instance()
    style.apply_theme(app, "light")
    first = app.style()
    assert isinstance(first, FlatScrollBarStyle)
    assert first.baseStyle().name().lower() == "fusion"
    style.apply_theme(app, "dark")
    try:
        assert app.style() is first  # a theme switch changes the palette, not the style
    finally:
        style.apply_theme(app, "light")


def test_slider_and_groove_are_painted_in_palette_colours(qtbot):
    style.apply_theme(QApplication.instance(), "light")
    view = _list(qtbot)
    bar = view.verticalScrollBar()
    assert bar.maximum() > 0
    image = bar.grab().toImage()
    centre = _slider_centre(bar)
    assert image.pixelColor(centre) == slider_colour(bar.palette(), False, False)
    # Below the slider (it starts at the top): the groove, a different, lighter colour.
    below = QPoint(bar.width() // 2, bar.height() - bar.width() - 4)
    groove = image.pixelColor(below)
    assert groove != image.pixelColor(centre)
    assert groove.lightness() > image.pixelColor(centre).lightness()


def test_dragging_the_slider_scrolls_and_darkens_it(qtbot):
    style.apply_theme(QApplication.instance(), "light")
    view = _list(qtbot)
    bar = view.verticalScrollBar()
    centre = _slider_centre(bar)
    qtbot.mousePress(bar, Qt.MouseButton.LeftButton, pos=centre)
    qtbot.mouseMove(bar, centre + QPoint(0, 60))
    qtbot.wait(10)
    pressed = bar.grab().toImage().pixelColor(_slider_centre(bar))
    qtbot.mouseRelease(bar, Qt.MouseButton.LeftButton, pos=centre + QPoint(0, 60))
    assert bar.value() > 0  # Fusion's hit testing: the drag moved the view
    assert pressed == slider_colour(bar.palette(), False, True)
    assert pressed.lightness() < slider_colour(bar.palette(), False, False).lightness()


def test_horizontal_bars_and_arrows_paint(qtbot):
    style.apply_theme(QApplication.instance(), "dark")
    try:
        view = _list(qtbot)
        view.addItem("a very long row " * 40)
        view.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOn)
        qtbot.wait(10)
        bar = view.horizontalScrollBar()
        assert bar.maximum() > 0
        image = bar.grab().toImage()
        assert image.pixelColor(_slider_centre(bar)) == slider_colour(bar.palette(), False, False)
        # The arrow button at the right end draws an arrow: more than one colour there.
        end = {image.pixelColor(x, y).rgb()
               for x in range(bar.width() - bar.height(), bar.width())
               for y in range(bar.height())}  # fmt: skip
        assert len(end) > 1
    finally:
        style.apply_theme(QApplication.instance(), "light")
