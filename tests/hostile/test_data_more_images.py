"""Image files that decode but carry damage Pillow complains about (a TIFF tag pointing past
the end, an EXIF block that is not TIFF), images that declare more pixels than any training
picture has, and formats classic data sets ship in (Netpbm). A damaged-but-decodable file
is used with nothing on stderr; a bomb is skipped with its reason whatever Pillow's own limit
says; nothing crashes the whole load."""

from __future__ import annotations

import io
import struct
import warnings
import zlib

import numpy as np
import pytest
from PIL import Image

from engine.data import Preprocessing, apply_image, check_dataset, load_dataset


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def _tiff_with_a_tag_past_the_end(w: int = 4, h: int = 3) -> bytes:
    """A grey TIFF whose ImageDescription tag points 99999 bytes in: Pillow warns
    "Tag data larger than file" three times and decodes the pixels fine."""
    pixels = bytes(range(w * h))
    entries = [(256, 3, 1, w), (257, 3, 1, h), (258, 3, 1, 8), (259, 3, 1, 1), (262, 3, 1, 1),
               (273, 4, 1, 0), (277, 3, 1, 1), (278, 3, 1, h), (279, 4, 1, len(pixels)),
               (270, 2, 1000, 99999)]  # fmt: skip
    start = 8 + 2 + 12 * len(entries) + 4
    out = b"II*\0" + struct.pack("<IH", 8, len(entries))
    for tag, kind, count, value in entries:
        value = start if tag == 273 else value
        packed = struct.pack("<HH", value, 0) if kind == 3 else struct.pack("<I", value)
        out += struct.pack("<HHI", tag, kind, count) + packed
    return out + struct.pack("<I", 0) + pixels


def _png_with_broken_exif() -> bytes:
    """An RGB PNG whose eXIf chunk does not start with a TIFF header: Pillow's getexif()
    raises SyntaxError on it, though the pixels are intact."""
    buf = io.BytesIO()
    Image.new("RGB", (6, 4), (200, 10, 10)).save(buf, "PNG")
    png = buf.getvalue()
    exif = Image.Exif()
    exif[0x0112] = 6
    raw = bytearray(exif.tobytes())
    raw[raw.index(b"MM") if b"MM" in raw else raw.index(b"II")] = 0x5A  # "ZM": not TIFF
    at = png.index(b"IDAT") - 4
    return png[:at] + _chunk(b"eXIf", bytes(raw)) + png[at:]


def _folder(root, odd_name: str, odd: bytes):
    for name in ("a", "b"):
        (root / name).mkdir(parents=True)
        for i in range(2):
            Image.new("L", (4, 3), 50 * i + ord(name)).save(root / name / f"{i}.png")
    (root / "a" / odd_name).write_bytes(odd)
    return root


ODD = [
    ("tiff-tag-past-end", "odd.tif", _tiff_with_a_tag_past_the_end),
    ("png-broken-exif", "odd.png", _png_with_broken_exif),
]


@pytest.mark.parametrize(("name", "filename", "make"), ODD, ids=[o[0] for o in ODD])
def test_damaged_metadata_uses_the_image_and_prints_nothing(tmp_path, cli, name, filename, make):
    root = _folder(tmp_path / "set", filename, make())
    result = cli("data", root, seconds=10)
    assert result.code == 0 and result.err == "", result.err
    assert "5 images" in result.out and "skipped" not in result.out
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a warning let through would end the load here
        ds = load_dataset(root, Preprocessing(1, 3, 4), cache=False, val_fraction=0.0)
    assert ds.report.total == 5 and not ds.report.skipped


def test_predict_on_an_opened_image_with_broken_exif(tmp_path):
    image = Image.open(io.BytesIO(_png_with_broken_exif()))
    x = apply_image(Preprocessing(3, 4, 6), image)
    np.testing.assert_allclose(x[:, 0, 0], np.array([200, 10, 10]) / 255.0, rtol=1e-6)


def _huge_png(side: int) -> bytes:
    """A 1-bit PNG of side x side black pixels: a few kB on disk, ``side**2`` pixels."""
    row = b"\0" + bytes((side + 7) // 8)
    pack = zlib.compressobj(9)
    body = b"".join(pack.compress(row) for _ in range(side)) + pack.flush()
    header = struct.pack(">IIBBBBB", side, side, 1, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _chunk(b"IHDR", header)
        + _chunk(b"IDAT", body)
        + _chunk(b"IEND", b"")
    )


@pytest.mark.parametrize("pillow_limit", ["default", "disabled"])
def test_an_image_over_the_pixel_limit_is_skipped_whatever_pillows_limit(
    tmp_path, monkeypatch, pillow_limit
):
    # 11000 x 11000 = 121 M pixels: above Pillow's warning level (89 M), below its error
    # level (179 M), so Pillow alone would decode it; with MAX_IMAGE_PIXELS = None, anything.
    if pillow_limit == "disabled":
        monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", None)
    root = _folder(tmp_path / "set", "bomb.png", _huge_png(11000))
    skipped = dict(check_dataset(root).skipped)
    assert "too large" in skipped["a/bomb.png"] and "11000x11000" in skipped["a/bomb.png"]
    loaded = load_dataset(root, Preprocessing(1, 3, 4), cache=False)
    assert dict(loaded.report.skipped) == skipped and loaded.report.total == 4


def test_netpbm_files_of_any_case_are_images(tmp_path):
    # GTSRB ships .ppm, the ORL faces .pgm.
    for name, mode in (("signs", "RGB"), ("faces", "L")):
        (tmp_path / name).mkdir()
        for i, ext in enumerate((".ppm", ".PGM", ".pnm") if mode == "L" else (".ppm", ".PPM")):
            Image.new(mode, (5, 5), 30 * i + 1).save(tmp_path / name / f"{i}{ext}", "PPM")
    report = check_dataset(tmp_path)
    assert report.counts["train"] == {"faces": 3, "signs": 2} and not report.skipped


@pytest.mark.parametrize(
    ("field", "values", "words"),
    [
        ("std", [0.0], "std[0] = 0.0"),
        ("std", [-0.2], "positive"),
        ("std", [float("inf")], "std[0] = inf"),
        ("mean", [float("nan")], "mean[0] = nan"),
    ],
)
def test_stored_statistics_that_would_make_every_prediction_inf_are_refused(field, values, words):
    from engine.data import DatasetError

    stored = {"channels": 1, "height": 2, "width": 2, "center": "channel", "standardize": True}
    stored |= {"mean": [0.5], "std": [0.25], field: values}
    with pytest.raises(DatasetError, match=words.replace("[", r"\[").replace("]", r"\]")):
        Preprocessing.from_dict(stored)


def test_a_dark_sixteen_bit_image_is_scaled_like_a_bright_one(tmp_path):
    from engine.data.images import Geometry, decode_file

    # Two 16-bit files of one set: one dark (max 250 of 65535), one bright. The value 250
    # must come out the same in both (about 1), not 250 in the dark one.
    Image.fromarray(np.array([[0, 250]], np.uint16)).save(tmp_path / "dark.png")
    Image.fromarray(np.array([[250, 65535]], np.uint16)).save(tmp_path / "bright.png")
    dark = decode_file(tmp_path / "dark.png", Geometry(1, 1, 2)).pixels[0, 0]
    bright = decode_file(tmp_path / "bright.png", Geometry(1, 1, 2)).pixels[0, 0]
    assert dark[1] == bright[0] == 1 and bright[1] == 255
    # A 16-bit PGM (maxval 65535), as Pillow opens it (mode I): the same rule.
    (tmp_path / "dark.pgm").write_bytes(b"P5\n2 1\n65535\n" + np.array([0, 250], ">u2").tobytes())
    assert decode_file(tmp_path / "dark.pgm", Geometry(1, 1, 2)).pixels[0, 0, 1] == 1


def test_an_unforeseen_decoder_failure_skips_that_file_only(tmp_path, monkeypatch):
    # Pillow's plug-ins raise what their parsers raise; one that raises something no one
    # listed (here, from the conversion) must cost that file, not the whole load.
    from engine.data import images

    buf = io.BytesIO()
    Image.new("RGB", (6, 4), (1, 2, 3)).save(buf, "PNG")
    root = _folder(tmp_path / "set", "odd.png", buf.getvalue())
    real = images.image_to_array

    def flaky(img, geometry):
        if img.size == (6, 4):  # the odd file only
            raise RuntimeError("plug-in bug")
        return real(img, geometry)

    monkeypatch.setattr(images, "image_to_array", flaky)
    ds = load_dataset(root, Preprocessing(1, 3, 4), cache=False, val_fraction=0.0)
    assert dict(ds.report.skipped) == {"a/odd.png": "cannot be decoded (RuntimeError: plug-in bug)"}
    assert ds.report.total == 4


@pytest.mark.parametrize("big", ["file", "pixels"])
def test_big_files_and_big_images_are_decoded_one_at_a_time(tmp_path, monkeypatch, big):
    # Eight threads each holding a 200 MB file, or an 80-megapixel image, would need GBs.
    # The thresholds are lowered so that small files stand for big ones.
    import threading
    import time

    from engine.data import folder, images

    monkeypatch.setattr(images, "_BIG_BYTES" if big == "file" else "_BIG_PIXELS", 10)
    monkeypatch.setattr(folder, "_workers", lambda entries: 4)
    busy, most, lock = [0], [0], threading.Lock()
    real = images._decode

    def counted(*args):
        with lock:
            busy[0] += 1
            most[0] = max(most[0], busy[0])
        time.sleep(0.02)
        try:
            return real(*args)
        finally:
            with lock:
                busy[0] -= 1

    monkeypatch.setattr(images, "_decode", counted)
    noise = np.random.default_rng(0).integers(0, 255, (64, 64), dtype=np.uint8)
    for name in ("a", "b"):
        (tmp_path / name).mkdir()
        for i in range(6):
            shifted = np.roll(noise, i + 7 * ord(name))
            Image.fromarray(shifted, "L").save(tmp_path / name / f"{i}.png")
    ds = load_dataset(tmp_path, Preprocessing(1, 8, 8), cache=False, val_fraction=0.0)
    assert ds.report.total == 12 and most[0] == 1
