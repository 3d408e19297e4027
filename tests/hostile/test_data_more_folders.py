"""Image folders as people's disks hold them: a zip made on a Mac (``__MACOSX/`` beside the
classes), Windows' ``Thumbs.db`` and ``desktop.ini`` in every folder, classes assembled from
links to folders elsewhere, links that lead back into the data set or around in a loop.
Junk is no class and no skipped file; a link outside is followed; a link that would read
images twice is listed with its reason; nothing loops."""

from __future__ import annotations

from PIL import Image

from engine.data import Preprocessing, check_dataset, load_dataset


def _images(folder, count: int, base: int = 0) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(count):
        Image.new("L", (4, 4), base + 9 * i).save(folder / f"{i}.png")


def test_what_macs_and_windows_leave_is_no_class_and_no_skip(tmp_path, cli):
    root = tmp_path / "set"
    _images(root / "cat", 2)
    _images(root / "dog", 2, 100)
    for cls in ("cat", "dog"):  # a zip from a Mac: resource forks under __MACOSX/
        (root / "__MACOSX" / cls).mkdir(parents=True)
        (root / "__MACOSX" / cls / "._0.png").write_bytes(b"\0\5\26\7" + bytes(60))
    (root / "cat" / "Thumbs.db").write_bytes(bytes(40))
    (root / "dog" / "desktop.ini").write_text("[.ShellClassInfo]\n")
    report = check_dataset(root)
    assert report.class_names == ("cat", "dog")
    assert not report.skipped and not report.warnings
    result = cli("data", root, seconds=10)
    assert result.code == 0 and "no problems found" in result.out, result.out


def test_macosx_beside_split_folders_is_not_noted(tmp_path):
    root = tmp_path / "set"
    for k, split in enumerate(("train", "test")):
        _images(root / split / "cat", 2, 3 * k)
        _images(root / split / "dog", 2, 100 + 3 * k)
    (root / "__MACOSX" / "train").mkdir(parents=True)
    assert not check_dataset(root).warnings


def test_a_link_to_a_folder_elsewhere_is_followed(tmp_path):
    elsewhere = tmp_path / "disk2" / "more cats"
    _images(elsewhere, 3, 50)
    _images(elsewhere / "deeper", 1, 200)
    root = tmp_path / "set"
    _images(root / "cat", 1)
    _images(root / "dog", 2, 100)
    (root / "cat" / "from disk2").symlink_to(elsewhere)
    ds = load_dataset(root, Preprocessing(1, 4, 4), cache_dir=tmp_path / "cache", val_fraction=0)
    assert ds.report.counts["train"] == {"cat": 5, "dog": 2}
    assert "cat/from disk2/deeper/0.png" in ds.split("train").source.names


def test_links_that_would_read_images_twice_or_loop_are_listed_not_followed(tmp_path, cli):
    root = tmp_path / "set"
    _images(root / "cat", 2)
    _images(root / "dog", 2, 100)
    outside = tmp_path / "outside"
    _images(outside, 1, 150)
    (outside / "back").symlink_to(outside)  # a loop outside the data set
    (root / "cat" / "dogs too").symlink_to(root / "dog")  # dog's images labelled cat
    (root / "cat" / "everything").symlink_to(tmp_path)  # holds the data set itself
    (root / "dog" / "out").symlink_to(outside)
    report = check_dataset(root)
    skipped = dict(report.skipped)
    assert "a link into class folder dog/" in skipped["cat/dogs too"]
    assert "a link to a folder that holds class folder" in skipped["cat/everything"]
    assert "already read" in skipped["dog/out/back"]
    assert report.counts["train"] == {"cat": 2, "dog": 3}
    result = cli("data", root, seconds=10)
    assert result.code == 0 and "cat/dogs too: a link into class folder dog/" in result.out


def test_class_folders_holding_train_and_test_keep_their_test_split(tmp_path, cli):
    # cat/train/, cat/test/, dog/train/, dog/test/: read as all training images, the test
    # images would train the model and no test split would be left to say so.
    root = tmp_path / "set"
    for k, cls in enumerate(("cat", "dog")):
        _images(root / cls / "train", 3, 10 * k)
        _images(root / cls / "test", 1, 100 + 10 * k)
    (root / "dog" / "notes").mkdir()
    (root / "dog" / "loose.png").write_bytes((root / "dog" / "train" / "0.png").read_bytes())
    report = check_dataset(root)
    assert report.counts == {"train": {"cat": 3, "dog": 3}, "test": {"cat": 1, "dog": 1}}
    assert dict(report.skipped) == {"dog/loose.png": "not inside a split folder (train, val, test)"}
    assert any("dog/notes/ ignored" in w for w in report.warnings)
    ds = load_dataset(root, Preprocessing(1, 4, 4), cache_dir=tmp_path / "cache", val_fraction=0)
    assert ds.split("test").source.names == ["cat/test/0.png", "dog/test/0.png"]


def test_class_folders_that_are_links_into_the_set_or_to_one_folder_are_read_once(tmp_path):
    root = tmp_path / "set"
    _images(root / "cat", 2)
    _images(root / "dog", 2, 100)
    shared = tmp_path / "shared birds"
    _images(shared, 3, 200)
    (root / "kitten").symlink_to(root / "cat")  # cat's images again, as another class
    (root / "bird").symlink_to(shared)
    (root / "birdie").symlink_to(shared)  # two class links to one folder: the first is read
    _images(root / "all" / "inner", 1)
    (root / "dog" / "also").symlink_to(root / "all" / "inner")  # inside class all/
    report = check_dataset(root)
    assert report.counts["train"] == {"all": 1, "bird": 3, "birdie": 0, "cat": 2, "dog": 2,
                                      "kitten": 0}  # fmt: skip
    skipped = dict(report.skipped)
    assert "a link into class folder cat/" in skipped["kitten"]
    assert "bird/" in skipped["birdie"]
    assert "a link into class folder all/" in skipped["dog/also"]
