"""Colours, icons and palettes: one place decides how the workbench looks.

Every layer family has one accent colour (the block's stripe, the palette icon, the table's
swatch). Fills are derived from the accent and the current palette, so the same code reads
well on a light and a dark window. Problems are always the same red.
"""

from __future__ import annotations

import gc
from functools import cache

from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QIcon, QPalette
from PySide6.QtWidgets import QApplication, QWidget

from engine.layers import LAYER_TYPES
from engine.resources import resource_path

#: Accent colour of each layer family ("input" is the network's input block).
FAMILY_COLORS: dict[str, str] = {
    "input": "#475569",
    "conv": "#2563eb",
    "activation": "#d97706",
    "pool": "#059669",
    "reshape": "#0891b2",
    "dense": "#7c3aed",
    "regularization": "#c026d3",
    "merge": "#e11d48",
}

#: Human names of the families, in the order the palette lists them.
FAMILY_TITLES: dict[str, str] = {
    "conv": "Convolution",
    "pool": "Pooling",
    "activation": "Activations",
    "reshape": "Reshaping",
    "dense": "Fully connected",
    "regularization": "Regularisation",
    "merge": "Branches",
}

PROBLEM_COLOR = "#dc2626"
THEMES = ("system", "light", "dark")


def family_of(layer_type: str) -> str:
    """The family of a layer type name; "input" for the input pseudo-layer."""
    info = LAYER_TYPES.get(layer_type)
    return info.family if info is not None else "input"


def accent(family: str) -> QColor:
    return QColor(FAMILY_COLORS.get(family, FAMILY_COLORS["input"]))


def is_dark(palette: QPalette | None = None) -> bool:
    """Whether the palette's window colour is dark (text is then light)."""
    pal = palette if palette is not None else QApplication.palette()
    return pal.color(QPalette.ColorRole.Window).lightnessF() < 0.5


def block_fill(family: str, palette: QPalette | None = None) -> QColor:
    """A block's background: the accent blended into the base colour, lightly."""
    pal = palette if palette is not None else QApplication.palette()
    base = pal.color(QPalette.ColorRole.Base)
    return mix(base, accent(family), 0.20 if is_dark(pal) else 0.10)


def problem_color(palette: QPalette | None = None) -> QColor:
    """The red of broken layers; a little lighter on dark windows for contrast."""
    red = QColor(PROBLEM_COLOR)
    return red.lighter(130) if is_dark(palette) else red


def problem_fill(palette: QPalette | None = None) -> QColor:
    pal = palette if palette is not None else QApplication.palette()
    return mix(
        pal.color(QPalette.ColorRole.Base), QColor(PROBLEM_COLOR), 0.28 if is_dark(pal) else 0.12
    )


def rgba(colour: str | QColor, alpha: float) -> str:
    """A style-sheet colour with transparency (style sheets read #AARRGGBB, not #RRGGBBAA)."""
    c = QColor(colour)
    return f"rgba({c.red()}, {c.green()}, {c.blue()}, {round(alpha * 255)})"


def without_label(message: str, label: str) -> str:
    """The engine's message without its leading "conv2d #1: " where the layer is shown already."""
    prefix = f"{label}: "
    return message[len(prefix) :] if label and message.startswith(prefix) else message


def mix(a: QColor, b: QColor, t: float) -> QColor:
    """``a`` moved a fraction ``t`` of the way towards ``b`` (per RGB channel)."""
    return QColor(
        round(a.red() + (b.red() - a.red()) * t),
        round(a.green() + (b.green() - a.green()) * t),
        round(a.blue() + (b.blue() - a.blue()) * t),
    )


def muted_text(palette: QPalette | None = None) -> QColor:
    """Secondary text (shapes, hints): the text colour halfway to the background."""
    pal = palette if palette is not None else QApplication.palette()
    return mix(pal.color(QPalette.ColorRole.Text), pal.color(QPalette.ColorRole.Base), 0.38)


@cache
def family_icon(family: str) -> QIcon:
    """The family's SVG icon from resources/icons (a plain swatch if the file is missing)."""
    path = resource_path("icons", f"{family}.svg")
    if path.exists():
        return QIcon(str(path))
    return QIcon()


def layer_icon(layer_type: str) -> QIcon:
    return family_icon(family_of(layer_type))


def app_icon() -> QIcon:
    return family_icon("app")


# --------------------------------------------------------------------------- palettes


def light_palette() -> QPalette:
    return _palette(
        window="#f3f4f6",
        base="#ffffff",
        alt="#f8fafc",
        text="#111827",
        button="#e5e7eb",
        highlight="#2563eb",
        mid="#cbd5e1",
        disabled="#9ca3af",
    )


def dark_palette() -> QPalette:
    return _palette(
        window="#1f2329",
        base="#16191e",
        alt="#1c2026",
        text="#e5e7eb",
        button="#2b3038",
        highlight="#3b82f6",
        mid="#3a414c",
        disabled="#6b7280",
    )


def _palette(**c: str) -> QPalette:
    R, G = QPalette.ColorRole, QPalette.ColorGroup
    pal = QPalette()
    roles = {
        R.Window: c["window"],
        R.WindowText: c["text"],
        R.Base: c["base"],
        R.AlternateBase: c["alt"],
        R.Text: c["text"],
        R.Button: c["button"],
        R.ButtonText: c["text"],
        R.ToolTipBase: c["base"],
        R.ToolTipText: c["text"],
        R.PlaceholderText: c["disabled"],
        R.Highlight: c["highlight"],
        R.HighlightedText: "#ffffff",
        R.Mid: c["mid"],
        R.Midlight: c["mid"],
        R.Dark: c["mid"],
        R.Light: c["base"],
        R.Link: c["highlight"],
        R.BrightText: "#ffffff",
    }
    for role, colour in roles.items():
        pal.setColor(role, QColor(colour))
    for role in (R.WindowText, R.Text, R.ButtonText):
        pal.setColor(G.Disabled, role, QColor(c["disabled"]))
    return pal


def apply_theme(app: QApplication, theme: str) -> None:
    """Switch the whole application to the "light", "dark" or "system" palette.

    Fusion is used throughout: it follows a QPalette faithfully on every platform, which the
    native styles do not, and it scales cleanly on high-DPI screens. Its scroll bars are
    drawn flat (workbench.flat_scrollbars: Fusion's cost 1.6-1.9 ms per paint).
    """
    if theme not in THEMES:
        raise ValueError(f"theme must be one of {', '.join(THEMES)}, got {theme!r}")
    from workbench.flat_scrollbars import FlatScrollBarStyle

    if not isinstance(app.style(), FlatScrollBarStyle):  # once: a theme switch keeps it
        app.setStyle(FlatScrollBarStyle())
    if theme == "light":
        app.setPalette(light_palette())
    elif theme == "dark":
        app.setPalette(dark_palette())
    else:
        hints = app.styleHints()
        dark = hints.colorScheme() == Qt.ColorScheme.Dark
        app.setPalette(dark_palette() if dark else app.style().standardPalette())
    # A palette change repaints every widget. The explicit update is for top-level windows
    # only, with the collector paused: iterating allWidgets() while Python's GC destroyed
    # an orphaned widget of a closed window left a dangling entry and segfaulted (tests).
    gc_was_on = gc.isenabled()
    gc.disable()
    try:
        for widget in app.topLevelWidgets():
            widget.update()
    finally:
        if gc_was_on:
            gc.enable()


def heading_font(widget: QWidget, scale: float = 1.0, bold: bool = True):
    """The widget's font, scaled in points (so it follows high-DPI scaling) and bolded."""
    font = widget.font()
    if font.pointSizeF() > 0:
        font.setPointSizeF(font.pointSizeF() * scale)
    font.setBold(bold)
    return font
