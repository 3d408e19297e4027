"""Atomic writes leave either the old file or the new one, never half of either."""

from __future__ import annotations

import os

import pytest

from engine.io import atomic_write_bytes, atomic_write_text


def test_atomic_write_replaces_and_leaves_no_temp(tmp_path):
    target = tmp_path / "sub" / "project.json"
    atomic_write_text(target, "one")
    atomic_write_text(target, "two")
    assert target.read_text() == "two"
    assert sorted(os.listdir(target.parent)) == ["project.json"]


def test_failed_write_keeps_the_old_file(tmp_path, monkeypatch):
    target = tmp_path / "weights.bin"
    atomic_write_bytes(target, b"good")

    def broken_replace(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(OSError, match="disk full"):
        atomic_write_bytes(target, b"bad")
    assert target.read_bytes() == b"good"
    assert sorted(os.listdir(tmp_path)) == ["weights.bin"]


def test_a_failed_write_names_the_file_asked_for_not_the_temporary_one(tmp_path, monkeypatch):
    import errno

    target = tmp_path / "project.cnnwb"

    def full(fd):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fsync", full)
    with pytest.raises(OSError, match="No space left") as caught:
        atomic_write_bytes(target, b"x")
    assert caught.value.filename == str(target) and caught.value.errno == errno.ENOSPC
    assert not list(tmp_path.iterdir())  # the temporary file is gone

    def denied(*a, **k):
        raise PermissionError(errno.EACCES, "Permission denied", str(tmp_path / ".x.tmp"))

    monkeypatch.setattr("tempfile.mkstemp", denied)
    with pytest.raises(PermissionError) as caught:
        atomic_write_bytes(target, b"x")
    assert caught.value.filename == str(target)
