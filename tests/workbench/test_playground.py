"""The kernel playground, the step-by-step view and the learned-filter comparison, driven as a
person would: pick, type, step."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image
from PySide6.QtCore import Qt

from engine.explain import TUTORIAL_OUTPUT
from engine.named_kernels import NAMED_KERNELS
from workbench.views.kernel_playground import CUSTOM, KernelPlayground, sample_image
from workbench.views.learned_filters import LearnedFiltersView, first_conv_weight
from workbench.views.step_by_step import StepByStepView


def _correlate(x, w, stride=1, padding=0):
    xp = np.pad(x.astype(np.float64), padding)
    windows = np.lib.stride_tricks.sliding_window_view(xp, w.shape)[::stride, ::stride]
    return np.einsum("ijkl,kl->ij", windows, w.astype(np.float64))


@pytest.fixture
def playground(qtbot):
    view = KernelPlayground()
    qtbot.addWidget(view)
    view.show()
    return view


def test_playground_output_is_a_direct_numpy_correlation_of_the_sample(playground):
    assert playground.objectName() == "kernelPlayground"
    playground.select_kernel("sobel x")
    out = playground.output()
    image = sample_image()[0]
    np.testing.assert_allclose(out[0], _correlate(image, NAMED_KERNELS["sobel x"]), atol=1e-5)
    assert "(28 − 3 + 2·0)/1 + 1 = 26" in playground.formula.text()


def test_stride_and_padding_change_the_output_and_the_formula(playground):
    playground.select_kernel("box blur")
    playground.stride.setValue(2)
    playground.padding.setValue(1)
    out = playground.output()
    assert out.shape == (1, 14, 14)
    image = sample_image()[0]
    np.testing.assert_allclose(
        out[0], _correlate(image, NAMED_KERNELS["box blur"], 2, 1), atol=1e-5
    )
    assert "(28 − 3 + 2·1)/2 + 1 = 14.5: not whole, rounded down to 14" in playground.formula.text()


def test_typing_in_the_grid_is_live_and_makes_a_custom_kernel(playground, qtbot):
    playground.select_kernel("identity")
    before = playground.output().copy()
    playground.grid.item(1, 1).setText("2")  # what editing the cell commits
    assert playground.picker.currentText() == CUSTOM
    np.testing.assert_allclose(playground.output(), 2 * before, atol=1e-6)
    playground.grid.item(1, 1).setText("1")
    assert playground.picker.currentText() == "identity"
    playground.kernel_size.setValue(5)
    assert playground.kernel().shape == (5, 5)
    assert playground.output().shape == (1, 24, 24)


def test_kernel_that_does_not_fit_says_so(playground):
    playground.set_image(np.zeros((3, 3), np.uint8))
    playground.select_kernel("gaussian blur 5×5")
    assert playground.output() is None
    assert "does not fit" in playground.formula.text()


def test_rgb_file_is_convolved_per_channel_or_in_grey(playground, tmp_path):
    rgb = np.random.default_rng(0).integers(0, 255, (9, 11, 3)).astype(np.uint8)
    path = tmp_path / "colour.png"
    Image.fromarray(rgb).save(path)
    assert playground.open_path(str(path))
    playground.select_kernel("emboss")
    out = playground.output()
    assert out.shape == (3, 7, 9)
    for c in range(3):
        expected = _correlate(rgb[..., c] / 255.0, NAMED_KERNELS["emboss"])
        np.testing.assert_allclose(out[c], expected, atol=1e-5)
    playground.gray.setChecked(True)
    assert playground.output().shape == (1, 7, 9)
    assert not playground.open_path(str(tmp_path / "missing.png"))


def test_loaded_images_become_a_source(playground):
    boot = np.zeros((1, 6, 6), np.uint8)
    boot[0, 2:4] = 255
    playground.set_source_images("Loaded data set", [("bag 1", boot)])
    playground.source.setCurrentText("Loaded data set")
    assert playground.picture.count() == 1
    np.testing.assert_allclose(playground.image(), boot / 255.0)


def test_step_by_step_defaults_to_the_tutorial_and_steps(qtbot):
    view = StepByStepView()
    qtbot.addWidget(view)
    assert view.objectName() == "stepByStep"
    np.testing.assert_array_equal(view.output(), TUTORIAL_OUTPUT)
    assert view.slider.maximum() == 8
    sums = []
    for _ in range(9):
        sums.append(view.current_step().total)
        qtbot.mouseClick(view.next, Qt.MouseButton.LeftButton)
    assert sums == TUTORIAL_OUTPUT.ravel().tolist()
    assert view.slider.value() == 8  # Next stops at the last cell
    qtbot.mouseClick(view.previous, Qt.MouseButton.LeftButton)
    assert view.current_step().oy == 2 and view.current_step().ox == 1
    assert view.formula.text().endswith("= 3 → 3")
    view.padding.setValue(1)
    assert view.output().shape == (5, 5) and view.slider.maximum() == 24
    assert view.input_grid.values().shape == (7, 7)


def test_step_by_step_pooling_and_relu(qtbot):
    view = StepByStepView()
    qtbot.addWidget(view)
    view.mode.setCurrentText("Max pooling")
    assert view.output().tolist() == [[6, 8], [3, 4]]
    view.mode.setCurrentText("Average pooling")
    assert view.output()[0, 0] == pytest.approx(13 / 4)
    view.mode.setCurrentText("L2 pooling")
    assert view.output()[0, 0] == pytest.approx(np.sqrt(1 + 1 + 25 + 36))
    view.mode.setCurrentText("ReLU")
    assert view.output().min() == 0
    view.slider.setValue(0)
    assert view.current_step().formula.startswith("max(0, ")


def test_play_walks_to_the_end(qtbot):
    view = StepByStepView()
    qtbot.addWidget(view)
    view._timer.setInterval(5)
    view.play.setChecked(True)
    qtbot.waitUntil(lambda: not view.play.isChecked(), timeout=3000)
    assert view.slider.value() == view.slider.maximum()


def test_a_patch_from_the_playground(qtbot, playground):
    view = StepByStepView()
    qtbot.addWidget(view)
    playground.select_kernel("sobel y")
    playground.stepRequested.connect(view.set_input)
    qtbot.mouseClick(playground.step_button, Qt.MouseButton.LeftButton)
    patch = sample_image()[0, 10:17, 10:17]
    np.testing.assert_allclose(
        view.output(), _correlate(patch, NAMED_KERNELS["sobel y"]), atol=1e-5
    )


def test_learned_filters_name_their_nearest_kernel(qtbot):
    view = LearnedFiltersView()
    qtbot.addWidget(view)
    w = np.stack([NAMED_KERNELS["sobel x"], -NAMED_KERNELS["sharpen"]])[:, None]
    view.set_weights(w)
    assert view.grid.captions() == ["≈ sobel x\nr = +1.00", "≈ sharpen (inverted)\nr = -1.00"]
    assert "2 of 2 conv1 filters" in view.summary.text()
    chosen = []
    view.filterChosen.connect(chosen.append)
    view.grid.imageActivated.emit(0)
    np.testing.assert_allclose(chosen[0], NAMED_KERNELS["sobel x"])


def test_first_conv_weight_finds_conv1():
    import engine

    spec = engine.load_spec("lenet5")
    weights = engine.build(spec, seed=0).state_dict()
    assert first_conv_weight(spec, weights).shape == (6, 1, 5, 5)
