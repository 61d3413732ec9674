"""Omniglot: counts, split sizes, disjointness, scaling, cache speed and refusal of bad archives."""
import shutil
import zipfile

import numpy as np
import pytest

from hands_on_meta.datasets import load_omniglot, omniglot


def test_characters_and_drawings_match_the_release(mirror):
    names, parts, images = omniglot.load_characters(28, verbose=False)
    assert images.shape == (1623, 20, 28, 28) and images.dtype == np.uint8
    assert parts.count("background") == 964 and parts.count("evaluation") == 659
    alphabets = {part: {n.split("/")[0] for n, p in zip(names, parts) if p == part} for part in set(parts)}
    assert len(alphabets["background"]) == 30 and len(alphabets["evaluation"]) == 20


@pytest.mark.parametrize("split,size", sorted(omniglot.SPLIT_SIZES.items()))
def test_vinyals_split_sizes(mirror, split, size):
    data = load_omniglot(split, verbose=False)
    assert data.x.shape == (size, 20, 28, 28, 1) and data.x.dtype == np.float32
    assert len(set(data.class_names)) == size


def test_splits_share_no_character(mirror):
    chars = {s: {c.rsplit("/", 1)[0] for c in omniglot.read_split(s)} for s in ("train", "val", "test")}
    assert not chars["train"] & chars["test"] and not chars["train"] & chars["val"] and not chars["val"] & chars["test"]
    assert len(chars["train"]) == 1028 and len(chars["val"]) == 172 and len(chars["test"]) == 423


def test_images_are_scaled_with_bright_strokes_and_rotations_are_classes(omniglot_test):
    x = omniglot_test.x
    assert 0.0 <= x.min() and x.max() <= 1.0
    assert 0.02 < x.mean() < 0.3, "strokes are bright on a dark background, so most pixels are near 0"
    names = list(omniglot_test.class_names)
    base = names.index(names[0].rsplit("/", 1)[0] + "/rot000")
    rot90 = names.index(names[0].rsplit("/", 1)[0] + "/rot090")
    np.testing.assert_array_equal(np.rot90(x[base], 1, axes=(1, 2)), x[rot90])


def test_a_second_load_reads_the_cache_not_the_archives(mirror, monkeypatch):
    first = load_omniglot("train", verbose=False)  # makes sure the cache exists

    def no_archive(path):
        raise AssertionError(f"the cached load opened {path}")

    monkeypatch.setattr("hands_on_meta.datasets.omniglot.open_zip", no_archive)
    second = load_omniglot("train", verbose=False)
    np.testing.assert_array_equal(first.x, second.x)


def test_bad_arguments_name_the_argument(mirror):
    with pytest.raises(ValueError, match="split must be one of"):
        load_omniglot("training")
    with pytest.raises(ValueError, match="image_size"):
        load_omniglot("train", image_size=200)
    with pytest.raises(ValueError, match="image_size"):
        load_omniglot("train", image_size="28")


@pytest.fixture
def fake_mirror(tmp_path, monkeypatch, mirror):
    """A writable mirror copy and an empty cache, so archives can be damaged."""
    root = tmp_path / "mirror"
    shutil.copytree(mirror / "omniglot" / "splits", root / "omniglot" / "splits")
    for name in ("images_background.zip", "images_evaluation.zip"):
        shutil.copy(mirror / "omniglot" / name, root / "omniglot" / name)
    monkeypatch.setenv("HANDS_ON_META_DATA", str(root))
    monkeypatch.setenv("HANDS_ON_META_CACHE", str(tmp_path / "cache"))
    return root


def test_truncated_archive_is_refused_and_nothing_is_cached(fake_mirror, tmp_path):
    archive = fake_mirror / "omniglot" / "images_evaluation.zip"
    data = archive.read_bytes()
    archive.write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match="images_evaluation.zip"):
        omniglot.load_characters(14, download=False, verbose=False)
    assert not list((tmp_path / "cache").rglob("*.npz")), "a failed parse must not leave a cache file"


def test_archive_with_an_escaping_member_is_refused(fake_mirror):
    archive = fake_mirror / "omniglot" / "images_background.zip"
    with zipfile.ZipFile(archive, "a") as handle:
        handle.writestr("../../evil.png", b"x")
    with pytest.raises(ValueError, match="outside the target folder"):
        omniglot.verify()


def test_archive_with_missing_characters_is_refused(fake_mirror):
    archive = fake_mirror / "omniglot" / "images_evaluation.zip"
    smaller = archive.with_name("small.zip")
    with zipfile.ZipFile(archive) as src, zipfile.ZipFile(smaller, "w") as dst:
        for item in src.infolist():
            if "/Angelic/" not in item.filename:
                dst.writestr(item, src.read(item))
    smaller.replace(archive)
    with pytest.raises(ValueError, match="19 alphabets"):
        omniglot.verify()


def test_altered_split_file_fails_its_checksum(fake_mirror):
    path = fake_mirror / "omniglot" / "splits" / "vinyals" / "test.txt"
    path.write_text(path.read_text().replace("rot090", "rot180", 1))
    with pytest.raises(ValueError, match="sha256"):
        omniglot.read_split("test")


def test_missing_archive_without_download_names_the_file(fake_mirror):
    (fake_mirror / "omniglot" / "images_background.zip").unlink()
    with pytest.raises(FileNotFoundError, match="images_background.zip"):
        omniglot.load_characters(14, download=False, verbose=False)


def test_mirror_variable_pointing_nowhere_is_an_error(monkeypatch, tmp_path):
    monkeypatch.setenv("HANDS_ON_META_DATA", str(tmp_path / "nowhere"))
    with pytest.raises(FileNotFoundError, match="HANDS_ON_META_DATA"):
        omniglot.read_split("test")
