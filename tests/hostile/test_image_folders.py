"""Hostile entries in an image folder: FIFOs, devices, symlink loops, huge or broken files,
modes Pillow cannot convert. The health check (``data``) must finish, list the file with its
reason, and training must skip exactly the same files for exactly the same reasons."""

from __future__ import annotations

import socket

import numpy as np
import pytest
from hostile_tools import assert_refused, bounded, write_spec
from PIL import Image

from engine.data import Preprocessing, check_dataset, load_dataset


def _folder(root):
    rng = np.random.default_rng(0)
    for name in ("a", "b"):
        (root / name).mkdir(parents=True)
        for i in range(3):
            Image.fromarray(rng.integers(0, 255, (8, 8), dtype=np.uint8), "L").save(
                root / name / f"{i}.png"
            )
    return root


def _fifo(p):
    import os

    os.mkfifo(p)


def _socket(p):
    s = socket.socket(socket.AF_UNIX)
    s.bind(str(p))  # left bound: the listing must not try to read it
    _SOCKETS.append(s)


_SOCKETS: list[socket.socket] = []


def _sparse(size):
    def make(p):
        with open(p, "wb") as f:
            f.truncate(size)

    return make


def _lab_tiff(p):
    Image.new("LAB", (8, 8), (50, 10, 10)).save(p)


def _bomb_png(p):
    Image.new("1", (20000, 20000)).save(p)  # 400 M pixels: twice Pillow's bomb limit


# (id, entry name, how to make it, a word of the reason)
ENTRIES = [
    ("fifo", "p.png", _fifo, "FIFO"),
    ("link-to-dev-zero", "x.png", lambda p: p.symlink_to("/dev/zero"), "device"),
    ("link-to-dev-urandom", "u.png", lambda p: p.symlink_to("/dev/urandom"), "device"),
    ("symlink-loop", "loop.png", lambda p: p.symlink_to(p), "symlink loop"),
    (
        "two-link-loop",
        "l1.png",
        lambda p: (p.with_name("l2.png").symlink_to(p), p.symlink_to(p.with_name("l2.png"))),
        "loop",
    ),
    ("dangling-link", "gone.png", lambda p: p.symlink_to(p.with_name("nothing.png")), "cannot"),
    ("socket", "s.png", _socket, "socket"),
    ("sparse-300MB", "big.png", _sparse(300 * 2**20), "larger than"),
    ("lab-tiff", "lab.tif", _lab_tiff, "mode"),
    ("zero-bytes", "empty.png", lambda p: p.write_bytes(b""), "zero bytes"),
    ("truncated-png", "cut.png", lambda p: p.write_bytes(_png_bytes()[:600]), "truncated"),
    ("text-as-png", "readme.png", lambda p: p.write_text("hello"), "not an image"),
    ("decompression-bomb", "bomb.png", _bomb_png, "too large"),
]


def _png_bytes() -> bytes:
    import io

    buf = io.BytesIO()
    noise = np.random.default_rng(1).integers(0, 255, (64, 64), dtype=np.uint8)
    Image.fromarray(noise, "L").save(buf, "PNG")  # noise: the pixel data spans the file
    return buf.getvalue()


@pytest.fixture(scope="module")
def _cleanup_sockets():
    yield
    for s in _SOCKETS:
        s.close()


@pytest.mark.parametrize(("name", "entry", "make", "word"), ENTRIES, ids=[e[0] for e in ENTRIES])
def test_data_lists_the_entry_and_training_skips_it_the_same_way(
    tmp_path, cli, name, entry, make, word, _cleanup_sockets
):
    root = _folder(tmp_path / "set")
    make(root / "a" / entry)
    result = cli("data", root, seconds=20, megabytes=300)
    assert result.code == 0 and not result.err, result.err
    assert f"a/{entry}:" in result.out and word in result.out
    with bounded(20, 300):
        checked = dict(check_dataset(root).skipped)
        loaded = load_dataset(root, Preprocessing(1, 8, 8), cache_dir=tmp_path / "cache")
    assert dict(loaded.report.skipped) == checked  # same files, same reasons
    assert f"a/{entry}" in checked and word in checked[f"a/{entry}"]
    assert loaded.report.total == 6


def test_train_skips_a_fifo_and_trains(tmp_path, cli, monkeypatch):
    monkeypatch.setenv("CNN_WORKBENCH_CACHE", str(tmp_path / "cache"))
    root = _folder(tmp_path / "set")
    _fifo(root / "a" / "p.png")
    spec = tmp_path / "s.json"
    write_spec(spec)
    result = cli(
        "train",
        spec,
        "--data",
        root,
        "--epochs",
        "1",
        "--batch-size",
        "4",
        "--val-split",
        "0",
        "--out",
        tmp_path / "run",
        seconds=60,
        megabytes=None,
    )
    assert result.code == 0, result.err
    assert "a/p.png: a named pipe (FIFO), not a file" in result.out


def test_a_data_path_that_is_a_fifo_is_refused(tmp_path, cli):
    fifo = tmp_path / "data"
    _fifo(fifo)
    assert_refused(cli("data", fifo, seconds=5), str(fifo))


def test_a_class_folder_that_is_a_link_loop_is_not_walked(tmp_path, cli):
    root = _folder(tmp_path / "set")
    (root / "a" / "again").symlink_to(root)  # os.walk does not follow links: no cycle
    result = cli("data", root, seconds=10)
    assert result.code == 0 and "6 images" in result.out


def test_loading_at_a_65536_square_input_is_refused_before_a_cache_file(tmp_path):
    from engine.data import DatasetError

    root = _folder(tmp_path / "set")
    with bounded(10, 50), pytest.raises(DatasetError, match=r"3x65536x65536.*this machine has"):
        load_dataset(root, Preprocessing(3, 65536, 65536), cache_dir=tmp_path / "cache")
    assert not (tmp_path / "cache").exists()


def test_a_subfolder_that_cannot_be_listed_is_reported(tmp_path, cli, monkeypatch):
    # Root may list anything, so the refusal the kernel would give is given here.
    import errno
    import os

    root = _folder(tmp_path / "set")
    (root / "a" / "sub").mkdir()
    real_scandir = os.scandir

    def denied(path="."):
        if str(path) == str(root / "a" / "sub"):
            raise PermissionError(errno.EACCES, "Permission denied", str(path))
        return real_scandir(path)

    monkeypatch.setattr(os, "scandir", denied)
    result = cli("data", root, seconds=10)
    assert result.code == 0 and "a/sub: folder cannot be read (Permission denied)" in result.out
