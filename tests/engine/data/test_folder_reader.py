"""The image-folder reader: layouts, formats, modes, EXIF, and unusable files skipped."""

from __future__ import annotations

import numpy as np
import pytest
from data_builders import make_folder, save_image
from PIL import Image

from engine.data import DatasetError, Geometry, detect_source
from engine.data.images import decode_file

GEOM = Geometry(3, 8, 8)


def test_flat_layout_sorted_classes_and_labels(tmp_path):
    make_folder(tmp_path / "ds", {"zebra": 2, "ant": 3, "mole": 1})
    source = detect_source(tmp_path / "ds")
    assert source.kind == "folder"
    decoded = source.read(GEOM)
    assert decoded.class_names == ("ant", "mole", "zebra")
    train = decoded.splits["train"]
    assert list(decoded.splits) == ["train"]
    assert train.images.shape == (6, 3, 8, 8) and train.images.dtype == np.uint8
    assert train.labels.dtype == np.int64
    assert train.labels.tolist() == [0, 0, 0, 1, 2, 2]
    assert train.names[0] == "ant/000.png"


def test_train_test_layout_shares_class_names(tmp_path):
    root = tmp_path / "ds"
    make_folder(root / "train", {"cat": 2, "dog": 2})
    make_folder(root / "test", {"dog": 1}, seed=5)
    (root / "extra").mkdir()
    decoded = detect_source(root).read(GEOM)
    assert decoded.class_names == ("cat", "dog")
    assert decoded.splits["test"].labels.tolist() == [1]
    assert len(decoded.splits["train"]) == 4
    assert any("extra" in note for note in decoded.notes)


def test_val_folder_names_are_recognised(tmp_path):
    root = tmp_path / "ds"
    make_folder(root / "train", {"a": 1, "b": 1})
    make_folder(root / "validation", {"a": 1, "b": 1}, seed=3)
    assert set(detect_source(root).read(GEOM).splits) == {"train", "val"}


@pytest.mark.parametrize(
    ("name", "fmt"),
    [("a.png", None), ("b.jpg", None), ("c.bmp", None), ("d.gif", None), ("e.tiff", None),
     ("f.webp", None)],
)  # fmt: skip
def test_every_format_decodes(tmp_path, name, fmt):
    path = save_image(tmp_path / name, (9, 7), "RGB", value=(200, 10, 10), fmt=fmt)
    pixels = decode_file(path, Geometry(3, 7, 9)).pixels
    assert pixels.shape == (3, 7, 9)
    # Lossy formats move values a little; the colour must still be clearly red.
    assert abs(int(pixels[0].mean()) - 200) < 12 and pixels[1].mean() < 30


def test_gif_uses_the_first_frame(tmp_path):
    frames = [Image.new("L", (4, 4), v) for v in (30, 220)]
    frames[0].save(tmp_path / "anim.gif", save_all=True, append_images=frames[1:])
    pixels = decode_file(tmp_path / "anim.gif", Geometry(1, 4, 4)).pixels
    assert int(pixels.mean()) == 30


def test_exif_orientation_is_honoured(tmp_path):
    a = np.zeros((4, 8, 3), dtype=np.uint8)  # 8 wide, 4 high; a bright left edge
    a[:, 0] = 255
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 CW to display"
    Image.fromarray(a).save(tmp_path / "r.png", exif=exif)
    result = decode_file(tmp_path / "r.png", Geometry(1, 8, 4))
    assert result.size == (4, 8)  # displayed upright: 4 wide, 8 high
    assert result.pixels[0, 0].min() == 255  # the left edge became the top row


@pytest.mark.parametrize("mode", ["L", "RGB", "RGBA", "P", "I;16"])
def test_modes_convert_to_gray_and_rgb(tmp_path, mode):
    path = save_image(tmp_path / f"m.{'tiff' if mode == 'I;16' else 'png'}", (5, 6), mode)
    gray = decode_file(path, Geometry(1, 6, 5)).pixels
    rgb = decode_file(path, Geometry(3, 6, 5)).pixels
    assert gray.shape == (1, 6, 5) and rgb.shape == (3, 6, 5)
    assert gray.dtype == rgb.dtype == np.uint8
    assert gray.std() > 0  # real content survived the conversion


def test_sixteen_bit_is_scaled_not_clipped(tmp_path):
    img = Image.fromarray(np.full((2, 2), 65535, dtype=np.uint16))
    img.save(tmp_path / "w.png")
    assert decode_file(tmp_path / "w.png", Geometry(1, 2, 2)).pixels.min() == 255
    img = Image.fromarray(np.full((2, 2), 32896, dtype=np.uint16))
    img.save(tmp_path / "h.png")
    assert decode_file(tmp_path / "h.png", Geometry(1, 2, 2)).pixels.min() == 128


def test_unusable_files_are_skipped_with_reasons(tmp_path):
    root = make_folder(tmp_path / "ds", {"a": 2, "b": 2}, size=(10, 10), mode="L")
    (root / "a" / "empty.png").write_bytes(b"")
    good = (root / "a" / "000.png").read_bytes()
    (root / "b" / "cut.png").write_bytes(good[: len(good) // 2])
    (root / "b" / "notes.png").write_text("this is text, not a picture")
    (root / "b" / "readme.txt").write_text("hello")
    decoded = detect_source(root).read(Geometry(1, 10, 10))
    reasons = dict(decoded.skipped)
    assert reasons["a/empty.png"] == "zero bytes"
    assert reasons["b/cut.png"].startswith("truncated or corrupt")
    assert reasons["b/notes.png"].startswith("not an image")
    assert reasons["b/readme.txt"].startswith("not an image file")
    train = decoded.splits["train"]
    assert len(train) == 4 and train.images.shape == (4, 1, 10, 10)
    assert decoded.sizes == {"10x10": 4} and decoded.modes == {"L": 4}


def test_check_only_read_keeps_no_pixels(tmp_path):
    make_folder(tmp_path / "ds", {"a": 1, "b": 1}, mode="RGBA")
    decoded = detect_source(tmp_path / "ds").read(None)
    assert decoded.splits["train"].images is None
    assert decoded.modes == {"RGBA": 2} and decoded.sizes == {"12x10": 2}


def test_missing_and_empty_folders_raise_one_line(tmp_path):
    with pytest.raises(DatasetError, match="no such folder"):
        detect_source(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DatasetError, match="empty") as info:
        detect_source(tmp_path / "empty")
    assert "\n" not in str(info.value)
    (tmp_path / "loose").mkdir()
    save_image(tmp_path / "loose" / "x.png")
    with pytest.raises(DatasetError, match="no class folders"):
        detect_source(tmp_path / "loose")
