"""Empty path arguments (a script whose variable was unset: --data "$DATA"). Path("") is
the current folder, so --data "" read the working folder as the data set and blamed --out
for being inside it, --resume "" said ".: not a checkpoint", and an empty IMAGE was
reported as "." unreadable. Each is now one line naming the empty argument."""

from __future__ import annotations

import pytest
from hostile_tools import assert_refused, write_spec
from runs_more_tools import start_in


@pytest.fixture
def spec(tmp_path, monkeypatch):
    start_in(tmp_path, monkeypatch, per_class=3)
    return write_spec(tmp_path / "net.json")


@pytest.mark.parametrize(
    ("argv", "named"),
    [
        (("train", "", "--data", "data"), "SPEC is empty"),
        (("train", "SPEC", "--data", ""), "--data is empty"),
        (("train", "SPEC", "--data", "  "), "--data is empty"),
        (("train", "SPEC", "--data", "data", "--resume", ""), "--resume is empty"),
        (("predict", "", "data/a/0.png"), "CHECKPOINT is empty"),
        (("predict", "run", "data/a/0.png", ""), "IMAGE is empty"),
    ],
)
def test_an_empty_path_is_named(spec, cli, tmp_path, argv, named):
    argv = [str(spec) if a == "SPEC" else a for a in argv]
    assert_refused(cli(*argv, "--out", "r") if argv[0] == "train" else cli(*argv), named)
    assert not (tmp_path / "r").exists() and not (tmp_path / "checkpoint").exists()
