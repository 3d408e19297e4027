"""Hostile JSON through every reader: a spec (summary), a project, an autosave, a checkpoint
manifest. Each case must end in one line naming the file and the problem, never a traceback,
a hang or a blown memory, and a bad autosave must not stop the next start."""

from __future__ import annotations

import json
import os

import pytest
from hostile_tools import SPEC_V1, assert_refused, bounded

from engine.spec import SpecError

DEEP = 100_000


def _spec_with(**layer) -> bytes:
    spec = json.loads(json.dumps(SPEC_V1))
    spec["layers"][0].update(layer)
    return json.dumps(spec).encode()


def _raw_layer(field_text: str) -> bytes:
    # A layer field written verbatim, for what json.dumps would never produce.
    return (
        b'{"format": "cnn-workbench/network", "version": 1, '
        b'"input": {"channels": 1, "height": 8, "width": 8}, "layers": [{"type": "conv2d", '
        + field_text.encode()
        + b'}, {"type": "flatten"}, {"type": "dense", "units": 2}]}'
    )


# (id, content, a word the one line must contain)
CASES = [
    ("deep-list", lambda: b"[" * DEEP + b"]" * DEEP, "nested"),
    ("deep-object", lambda: b'{"a":' * DEEP + b"1" + b"}" * DEEP, "nested"),
    ("deep-in-field", lambda: _raw_layer('"filters": ' + "[" * DEEP + "]" * DEEP), "nested"),
    ("deep-unclosed", lambda: b"[" * DEEP, "nested"),
    ("deep-in-string-is-fine", lambda: _spec_with(name="[" * DEEP), "name"),
    (
        "huge-int-version",
        lambda: b'{"format": "cnn-workbench/network", "version": ' + b"9" * 5000 + b"}",
        "digits",
    ),
    ("huge-int-kernel", lambda: _raw_layer('"filters": 2, "kernel": ' + "7" * 5000), "digits"),
    ("huge-negative-int", lambda: _raw_layer('"filters": -' + "1" * 5000), "digits"),
    (
        "huge-int-deep-inside",
        lambda: _raw_layer('"filters": [[[' + "3" * 100_000 + "]]]"),
        "digits",
    ),
    ("int-of-41-digits", lambda: _raw_layer('"filters": ' + "1" * 41), "digits"),
    (
        "duplicate-kernel",
        lambda: _raw_layer('"filters": 2, "kernel": 3, "kernel": 5'),
        'duplicate key "kernel"',
    ),
    ("duplicate-top-level", lambda: b'{"version": 1, "version": 2}', 'duplicate key "version"'),
    (
        "duplicate-input-field",
        lambda: b'{"input": {"channels": 1, "channels": 3}}',
        'duplicate key "channels"',
    ),
    (
        "duplicate-long-key",
        lambda: ('{"' + "k" * 5000 + '": 1, "' + "k" * 5000 + '": 2}').encode(),
        "duplicate key",
    ),
    ("50MB-of-json", lambda: b'{"name": "' + b"x" * (50 * 2**20) + b'"}', "MiB"),
    ("1MB-bad-type", lambda: _spec_with(type="x" * 2**20), "shortened"),
    ("5MB-bad-padding", lambda: _spec_with(padding="y" * (5 * 2**20)), "shortened"),
    ("million-item-kernel", lambda: _spec_with(kernel=[1] * 1_000_000), "shortened"),
    ("1MB-unknown-field", lambda: _spec_with(**{"z" * 2**20: 1}), "shortened"),
    ("not-utf8", lambda: b'{"name": "\xff\xfe\xfa"}', "UTF-8"),
    ("utf16-file", lambda: json.dumps(SPEC_V1).encode("utf-16"), "UTF-8"),
    ("empty-file", lambda: b"", "not valid JSON"),
    ("two-million-escaped-quotes", lambda: b'{"name": "' + b'\\"' * 2_000_000, "not valid JSON"),
    ("many-strings", lambda: b"[" + b",".join([b'"ab"'] * 200_000) + b"]", "JSON object"),
    ("truncated", lambda: json.dumps(SPEC_V1).encode()[:-7], "not valid JSON"),
    ("nul-bytes", lambda: b"\0" * 1000, "not valid JSON"),
    ("nan-kernel", lambda: _raw_layer('"filters": 2, "kernel": NaN'), "kernel"),
    ("infinite-kernel", lambda: _raw_layer('"filters": 2, "kernel": 1e999'), "kernel"),
    ("top-level-list", lambda: b"[1, 2, 3]", "JSON object"),
    ("top-level-null", lambda: b"null", "JSON object"),
]
IDS = [c[0] for c in CASES]


@pytest.mark.parametrize(("name", "make", "word"), CASES, ids=IDS)
def test_summary_of_a_hostile_spec_says_one_line(tmp_path, cli, name, make, word):
    path = tmp_path / f"{name}.json"
    path.write_bytes(make())
    result = cli("summary", path, seconds=20, megabytes=500)
    line = assert_refused(result, str(path), codes=(2,))
    assert word in line


PROJECT_CASES = [c for c in CASES if c[0] not in ("top-level-list", "top-level-null")]


@pytest.mark.parametrize(("name", "make", "word"), PROJECT_CASES, ids=[c[0] for c in PROJECT_CASES])
def test_a_hostile_project_is_refused_with_the_path(tmp_path, name, make, word):
    from workbench.project import load_project

    path = tmp_path / f"{name}.cnnwb"
    content = make()
    if word not in ("MiB", "UTF-8"):  # these stay what they are at the top level
        content = b'{"format": "cnn-workbench/project", "version": 1, "network": ' + content + b"}"
    path.write_bytes(content)
    with bounded(20, 500), pytest.raises(SpecError) as caught:
        load_project(path)
    first = caught.value.problems[0]
    assert str(path) in first and len(first) < 600 and "\n" not in first
    if word not in ("JSON object",):
        assert word in " ".join(caught.value.problems)


AUTOSAVE_CASES = [
    "deep-list",
    "deep-object",
    "huge-int-version",
    "duplicate-top-level",
    "not-utf8",
    "truncated",
]


@pytest.mark.parametrize("name", AUTOSAVE_CASES)
def test_a_hostile_autosave_is_dropped_and_the_next_start_goes_on(tmp_path, name):
    from workbench.project import Autosave

    make = dict((c[0], c[1]) for c in CASES)[name]
    (tmp_path / "session-dead.json").write_bytes(make())
    with bounded(20, 300):
        orphans = Autosave(tmp_path).orphans()
    assert orphans == [] and not (tmp_path / "session-dead.json").exists()


def test_a_fifo_named_like_a_spec_does_not_block(tmp_path, cli):
    fifo = tmp_path / "net.json"
    os.mkfifo(fifo)
    line = assert_refused(cli("summary", fifo, seconds=5), str(fifo), codes=(2,))
    assert "FIFO" in line


@pytest.mark.parametrize("device", ["/dev/zero", "/dev/urandom", "/dev/null"])
def test_a_device_as_spec_is_refused_at_once(cli, device):
    line = assert_refused(cli("summary", device, seconds=5), device, codes=(2,))
    assert "device" in line


def test_a_symlink_loop_as_spec_is_named(tmp_path, cli):
    loop = tmp_path / "loop.json"
    loop.symlink_to(loop)
    line = assert_refused(cli("summary", loop, seconds=5), str(loop), codes=(2,))
    assert "symlink loop" in line


def test_a_link_to_dev_zero_is_a_device(tmp_path, cli):
    link = tmp_path / "zero.json"
    link.symlink_to("/dev/zero")
    assert "device" in assert_refused(cli("summary", link, seconds=5), str(link), codes=(2,))


def test_a_sparse_40GB_spec_is_refused_without_reading(tmp_path, cli):
    big = tmp_path / "big.json"
    with open(big, "wb") as f:
        f.truncate(40 * 2**30)  # sparse: no disk used, and nothing may be read
    line = assert_refused(cli("summary", big, seconds=5, megabytes=50), str(big), codes=(2,))
    assert "GiB" in line


def test_a_folder_as_spec_is_refused(tmp_path, cli):
    folder = tmp_path / "spec.json"
    folder.mkdir()
    assert "folder" in assert_refused(cli("summary", folder), str(folder), codes=(2,))
