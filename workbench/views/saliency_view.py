"""What the network looks at: Grad-CAM or an occlusion map laid over the image.

``SaliencyPanel`` (objectName ``saliencyPanel``) sits in the Predict view. Given a network (a
``ModelWeights``), a preprocessed image and a class, it asks the engine
(:mod:`engine.saliency`) for Grad-CAM on a chosen layer (the last convolution by default) or
for an occlusion map, in a background thread, and draws the map over the image in warm
colours. Choosing another class, layer, method or opacity redraws.
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtGui import QPixmap
from PySide6.QtWidgets import (
    QComboBox,
    QFormLayout,
    QLabel,
    QSlider,
    QVBoxLayout,
    QWidget,
)

from engine.inspect import layer_names
from engine.saliency import default_cam_layer, grad_cam, occlusion_map
from workbench.views.image_grid import display_array, to_qimage

__all__ = ["METHODS", "SaliencyPanel", "compute_saliency", "overlay"]

METHODS = ("Grad-CAM", "Occlusion")
SIDE = 220
_HEAT = pg.colormap.get("inferno").getLookupTable(nPts=256)  # (256, 3) uint8
_SPATIAL = ("conv2d", "relu", "leaky_relu", "max_pool2d", "avg_pool2d", "batch_norm", "tanh",
            "sigmoid", "dropout")  # fmt: skip


def overlay(image: np.ndarray, heat: np.ndarray, alpha: float = 0.5) -> np.ndarray:
    """``image`` (any layout ``display_array`` takes) blended with ``heat`` float (H, W) in
    [0, 1] through the inferno colour map, the map's opacity growing with its value up to
    ``alpha``: uint8 (H, W, 3)."""
    base = display_array(image).astype(np.float32)
    if base.ndim == 2:
        base = np.repeat(base[..., None], 3, axis=2)
    h = np.clip(np.asarray(heat, dtype=np.float32), 0.0, 1.0)
    if h.shape != base.shape[:2]:
        raise ValueError(f"heat map {h.shape} does not match the image {base.shape[:2]}")
    colour = _HEAT[(h * 255).round().astype(int)].astype(np.float32)
    a = (alpha * h)[..., None]
    return ((1 - a) * base + a * colour).round().clip(0, 255).astype(np.uint8)


def compute_saliency(model, image: np.ndarray, target: int, method: str, layer: int | None):
    """The engine's map for ``model`` (``ModelWeights``) and ``image`` float32 (C, H, W):
    a :class:`engine.saliency.SaliencyMap`. Runs in a worker thread."""
    from engine.network import build

    net = build(model.spec, weights=model.weights)
    if method == "Occlusion":
        side = min(image.shape[1:])
        patch = max(2, side // 7)
        return occlusion_map(net, image, target, patch=patch, stride=max(1, patch // 2))
    return grad_cam(net, image, target, layer)


class SaliencyPanel(QWidget):
    """``saliencyPanel``: the overlay, method, class, layer and opacity controls."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("saliencyPanel")
        from workbench.workers.background import BackgroundCall

        self._model = None
        self._image: np.ndarray | None = None
        self._map = None
        self.picture = QLabel("Predict an image to see\nwhere the network looks")
        self.picture.setObjectName("saliencyImage")
        self.picture.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.picture.setFixedSize(SIDE, SIDE)
        self.picture.setFrameShape(QLabel.Shape.StyledPanel)
        self.method = QComboBox(objectName="saliencyMethod")
        self.method.addItems(list(METHODS))
        self.target = QComboBox(objectName="saliencyClass")
        self.layer = QComboBox(objectName="saliencyLayer")
        self.opacity = QSlider(Qt.Orientation.Horizontal, objectName="saliencyOpacity")
        self.opacity.setRange(0, 100)
        self.opacity.setValue(60)
        self.note = QLabel(objectName="saliencyNote")
        self.note.setWordWrap(True)
        form = QFormLayout()
        form.addRow("Map", self.method)
        form.addRow("Class", self.target)
        form.addRow("Layer", self.layer)
        form.addRow("Opacity", self.opacity)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        title = QLabel("<b>What the network looks at</b>")
        layout.addWidget(title)
        layout.addWidget(self.picture)
        layout.addLayout(form)
        layout.addWidget(self.note)
        layout.addStretch(1)
        self._worker = BackgroundCall(self)
        self._worker.result.connect(self._on_map)
        self._worker.error.connect(lambda m: self.note.setText(f"Cannot compute the map: {m}"))
        for combo in (self.method, self.target, self.layer):
            combo.currentIndexChanged.connect(self.recompute)
        self.method.currentTextChanged.connect(lambda t: self.layer.setEnabled(t == "Grad-CAM"))
        self.opacity.valueChanged.connect(lambda _v: self._draw())

    def set_subject(self, model, image: np.ndarray, target: int | None = None) -> None:
        """Explain ``image`` float32 (C, H, W) (preprocessed as ``model`` expects) for class
        ``target`` (default: the class the network predicts)."""
        self._model, self._image = model, np.asarray(image, dtype=np.float32)
        spec = model.spec
        names = layer_names(spec)
        for combo in (self.target, self.layer):
            combo.blockSignals(True)
            combo.clear()
        self.target.addItems([str(n) for n in model.class_names])
        spatial = []
        for i, layer in enumerate(spec.layers):
            if layer.type == "flatten" or layer.type == "global_avg_pool":
                break
            if layer.type in _SPATIAL:
                spatial.append(i)
                self.layer.addItem(names[i], i)
        try:
            default = default_cam_layer(spec)
        except ValueError:
            default = spatial[-1] if spatial else None
        if default in spatial:
            self.layer.setCurrentIndex(spatial.index(default))
        if target is None:
            from engine.network import build

            net = build(spec, weights=model.weights)
            target = int(net.forward(self._image[None]).argmax())
        self.target.setCurrentIndex(int(target))
        for combo in (self.target, self.layer):
            combo.blockSignals(False)
        if not spatial:
            self.method.setCurrentText("Occlusion")
        self.recompute()

    def recompute(self, *_args) -> None:
        if self._model is None or self._image is None:
            return
        model, image = self._model, self._image
        target, method = self.target.currentIndex(), self.method.currentText()
        layer = self.layer.currentData() if method == "Grad-CAM" else None
        self.note.setText(f"Computing {method}…")
        self._worker.start(lambda: compute_saliency(model, image, target, method, layer))

    def heat(self) -> np.ndarray | None:
        """The map shown, float32 (H, W) in [0, 1]; None before one."""
        return None if self._map is None else self._map.heat.copy()

    def wait(self, timeout_ms: int = 60000) -> bool:
        return self._worker.wait(timeout_ms)

    def _on_map(self, saliency) -> None:
        self._map = saliency
        name = self.target.itemText(saliency.target)
        if saliency.layer is None:
            self.note.setText(
                f"Occlusion: red where greying out a patch lowers p({name}) most "
                f"(largest drop {float(saliency.raw.max()):.1%})."
            )
        else:
            self.note.setText(
                f"Grad-CAM for {name} on {self.layer.currentText()}: bright where the "
                "feature maps that raise this class's score are active."
            )
        self._draw()

    def _draw(self) -> None:
        if self._map is None or self._image is None:
            return
        blended = overlay(self._image, self._map.heat, self.opacity.value() / 100)
        pix = QPixmap.fromImage(to_qimage(blended)).scaled(
            SIDE - 8, SIDE - 8, Qt.AspectRatioMode.KeepAspectRatio,
            Qt.TransformationMode.FastTransformation,
        )  # fmt: skip
        self.picture.setPixmap(pix)


def _demo() -> SaliencyPanel:
    import engine
    from engine.data import Preprocessing
    from engine.network import build
    from workbench.views.kernel_playground import sample_image
    from workbench.workers.predict_worker import ModelWeights

    spec = engine.load_spec("lenet5")
    net = build(spec, seed=0)
    pre = Preprocessing(1, 32, 32)
    model = ModelWeights(spec, net.state_dict(), pre, tuple(str(i) for i in range(10)))
    image = np.pad(sample_image(), ((0, 0), (2, 2), (2, 2)))
    panel = SaliencyPanel()
    panel.set_subject(model, image)
    panel.wait()
    return panel


if __name__ == "__main__":
    import sys

    from PySide6.QtWidgets import QApplication

    app = QApplication(sys.argv)
    view = _demo()
    view.resize(300, 420)
    view.show()
    if len(sys.argv) > 1:
        view.grab().save(sys.argv[1])
    else:
        sys.exit(app.exec())
