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
