"""The Train page's new settings (augmentation controls, early stopping, keep best, transfer),
a preset's recommended settings, and the Data page's augmentation preview, driven by
clicks and keys on the real widgets."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QCheckBox, QDoubleSpinBox, QLineEdit, QPushButton, QSpinBox

from engine.data.augment import augment_batch
from engine.presets import recommended_settings
from engine.resources import resource_path
from engine.training import TrainConfig
from workbench.views.augment_preview import AugmentPreview
from workbench.views.dataset_panel import DatasetPanel
from workbench.views.training_panel import TrainingPanel

SAMPLE = resource_path("sample")


@pytest.fixture
def panel(qtbot):
    p = TrainingPanel()
    qtbot.addWidget(p)
    p.show()
    return p


def type_into(qtbot, box, text: str) -> None:
    """Select all, type ``text`` and press Enter, as a person edits a spin box or line."""
    box.setFocus()
    box.selectAll() if isinstance(box, QLineEdit) else box.lineEdit().selectAll()
    qtbot.keyClicks(box, text)
    qtbot.keyClick(box, Qt.Key.Key_Return)


def test_augmentation_controls_round_trip_every_item(panel):
    cfg = TrainConfig(augment=("flip", "shift=4", "rotate=10", "brightness=0.2", "contrast=0.3"))
    panel.set_config(cfg)
    assert panel.config() == cfg
    for items in (("shift",), ("crop=3",), ("flip", "crop=2")):
        panel.set_config(TrainConfig(augment=items))
        assert panel.config().augment == items
    assert panel.findChild(QSpinBox, "augmentCrop").value() == 2


def test_a_person_turns_augmentation_on_with_clicks_and_keys(panel, qtbot):
    with qtbot.waitSignal(panel.settingsChanged):
        qtbot.mouseClick(panel.findChild(QCheckBox, "augmentFlip"), Qt.MouseButton.LeftButton)
    type_into(qtbot, panel.findChild(QDoubleSpinBox, "augmentRotate"), "15")
    type_into(qtbot, panel.findChild(QSpinBox, "augmentCrop"), "3")
    type_into(qtbot, panel.findChild(QDoubleSpinBox, "augmentContrast"), "0.25")
    cfg = panel.config()
    assert cfg.augment == ("flip", "crop=3", "rotate=15", "contrast=0.25")
    assert cfg.augmentation().rotate == 15 and cfg.augmentation().shift == 3


def test_early_stopping_keep_best_and_transfer_fields(panel, qtbot):
    box = panel.findChild(QSpinBox, "earlyStoppingBox")
    assert box.text() == "off" and panel.config().patience == 0
    type_into(qtbot, box, "3")
    qtbot.mouseClick(panel.findChild(QCheckBox, "keepBestBox"), Qt.MouseButton.LeftButton)
    type_into(qtbot, panel.findChild(QLineEdit, "freezeEdit"), "conv2d_3")
    path_edit = panel.findChild(QLineEdit, "initFromEdit") or panel.init_from.edit
    type_into(qtbot, path_edit, "runs/first")
    cfg = panel.config()
    assert (cfg.patience, cfg.keep_best, cfg.freeze, cfg.init_from) == (
        3, True, "conv2d_3", "runs/first")  # fmt: skip
    panel.set_state("running")
    assert not box.isEnabled() and not panel.findChild(QCheckBox, "augmentFlip").isEnabled()
    panel.set_state("idle")
    assert box.isEnabled()


def test_recommended_settings_fill_the_form_except_what_the_person_changed(panel, qtbot):
    recommended = recommended_settings("fashion")
    assert recommended and recommended["optimizer"] == "adam"
    type_into(qtbot, panel.lr, "0.05")  # the person's own learning rate
    with qtbot.waitSignal(panel.settingsChanged):
        applied = panel.recommend_for("fashion")
    assert "lr" not in applied and "optimizer" in applied
    cfg = panel.config()
    assert cfg.lr == pytest.approx(0.05)
    for key, value in recommended.items():
        if key != "lr":
            want = tuple(value) if key == "augment" else value
            assert getattr(cfg, key) == want, key
    label = panel.recommended_label.text()
    assert label.startswith("Recommended for fashion: ") and "kept your lr" in label
    # A project's settings shown afterwards are the person's starting point again.
    panel.set_config(TrainConfig())
    panel.recommend_for("fashion")
    assert panel.config().lr == recommended["lr"]
    assert panel.recommend_for("lenet5") == [] or panel.recommended_label.isVisible()


def images(n=3) -> np.ndarray:
    return np.random.default_rng(0).integers(0, 256, (n, 1, 10, 12), dtype=np.uint8)


def test_the_preview_shows_each_change_alone_and_together(qtbot):
    view = AugmentPreview()
    qtbot.addWidget(view)
    x = images()
    view.set_images(x, ["a", "b", "c"])
    assert list(view.shown) == ["loaded"] and "No augmentation" in view.message.text()
    view.set_augment(("flip", "crop=2", "rotate=10", "brightness=0.3"))
    assert list(view.shown) == ["loaded", "flip", "crop pad 2", "rotate ±10°",
                                "brightness ±0.3", "all, draw 1", "all, draw 2"]  # fmt: skip
    np.testing.assert_array_equal(view.shown["loaded"], x)
    np.testing.assert_array_equal(view.shown["flip"], x[..., ::-1])
    for title, out in view.shown.items():
        assert out.shape == x.shape and out.dtype == np.uint8, title
    crop = view.shown["crop pad 2"]
    assert any(
        np.array_equal(crop[0], augment_batch(x[:1], None, np.array([[dy, dx]]), 2)[0])
        for dy in range(5) for dx in range(5)
    )  # fmt: skip
    before = view.shown["all, draw 1"].copy()
    qtbot.mouseClick(view.findChild(QPushButton, "augmentRedraw"), Qt.MouseButton.LeftButton)
    assert not np.array_equal(view.shown["all, draw 1"], before)
    view.set_augment(("rotate=500",))
    assert "training setting augment" in view.message.text() and view.shown == {}


def test_the_data_page_previews_the_train_pages_augmentation(qtbot, tmp_path, monkeypatch):
    monkeypatch.setenv("CNN_WORKBENCH_CACHE", str(tmp_path / "cache"))
    data = DatasetPanel()
    train = TrainingPanel()
    qtbot.addWidget(data)
    qtbot.addWidget(train)
    train.show()
    # As the controller keeps them in sync: the Train page's settings reach the preview.
    train.settingsChanged.connect(lambda: data.set_augmentation(train.config().augment))
    with qtbot.waitSignal(data.datasetChanged, timeout=60000):
        data.set_source(str(SAMPLE))
    preview = data.findChild(AugmentPreview, "augmentPreview")
    assert preview is not None and list(preview.shown) == ["loaded"]
    assert len(preview.shown["loaded"]) == min(4, data.loaded.dataset.num_classes)
    qtbot.mouseClick(train.findChild(QCheckBox, "augmentFlip"), Qt.MouseButton.LeftButton)
    assert "flip" in preview.shown
    np.testing.assert_array_equal(preview.shown["flip"], preview.shown["loaded"][..., ::-1])
