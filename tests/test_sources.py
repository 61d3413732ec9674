"""Where files come from: mirror first, then cache, then a hash-checked download (network faked)."""
import hashlib

import pytest

from hands_on_meta.datasets import sources
from hands_on_meta.datasets.sources import Resource, locate, open_zip

PAYLOAD = b"omniglot split file\n"
GOOD = Resource("omniglot/splits/vinyals/x.txt", "https://example.invalid/x.txt", hashlib.sha256(PAYLOAD).hexdigest())


@pytest.fixture
def offline(tmp_path, monkeypatch):
    """Empty mirror and cache; 'downloads' write the bytes in ``served`` instead of using the network."""
    (tmp_path / "mirror").mkdir()
    monkeypatch.setenv("HANDS_ON_META_DATA", str(tmp_path / "mirror"))
    monkeypatch.setenv("HANDS_ON_META_CACHE", str(tmp_path / "cache"))
    served = {"bytes": PAYLOAD, "calls": 0}

    def fake_urlretrieve(url, target, reporthook=None):
        served["calls"] += 1
        with open(target, "wb") as handle:
            handle.write(served["bytes"])

    monkeypatch.setattr("keras.src.utils.file_utils.urlretrieve", fake_urlretrieve)
    return tmp_path, served


def test_download_lands_in_the_cache_and_is_reused(offline):
    tmp_path, served = offline
    path = locate(GOOD)
    assert path == tmp_path / "cache" / GOOD.relpath and path.read_bytes() == PAYLOAD
    assert locate(GOOD) == path and served["calls"] == 1, "a verified cached file is not downloaded again"


def test_download_with_the_wrong_hash_is_refused_and_not_kept(offline):
    tmp_path, served = offline
    served["bytes"] = b"tampered"
    with pytest.raises(ValueError, match="does not match the upstream hash"):
        locate(GOOD)
    assert not (tmp_path / "cache" / GOOD.relpath).exists()


def test_mirror_wins_over_cache_and_download(offline):
    tmp_path, served = offline
    mirrored = tmp_path / "mirror" / GOOD.relpath
    mirrored.parent.mkdir(parents=True)
    mirrored.write_bytes(PAYLOAD)
    assert locate(GOOD) == mirrored and served["calls"] == 0


def test_no_download_allowed_names_every_place_looked(offline):
    with pytest.raises(FileNotFoundError, match="x.txt not found .*mirror.*cache"):
        locate(GOOD, download=False)


def test_open_zip_refuses_non_zip_and_missing_files(tmp_path):
    (tmp_path / "fake.zip").write_bytes(b"not a zip at all")
    with pytest.raises(ValueError, match="not a readable zip file"):
        open_zip(tmp_path / "fake.zip")
    with pytest.raises(FileNotFoundError, match="does not exist"):
        open_zip(tmp_path / "missing.zip")


def test_cache_write_is_atomic_and_unreadable_cache_is_a_miss(tmp_path):
    import numpy as np

    path = tmp_path / "a.npz"
    sources.save_arrays(path, x=np.arange(3))
    assert sources.load_arrays(path, ["x"])["x"].tolist() == [0, 1, 2]
    assert sources.load_arrays(path, ["y"]) is None
    path.write_bytes(b"garbage")
    assert sources.load_arrays(path, ["x"]) is None
    assert not list(tmp_path.glob(".partial-*"))


def test_content_digest_is_the_same_for_a_repacked_copy_and_names_a_changed_file(tmp_path):
    import zipfile

    from hands_on_meta.datasets.sources import check_content, content_digest

    files = {"a.wav": b"first recording", "b.wav": b"second recording"}

    def pack(name, top, method, changed=None):
        with zipfile.ZipFile(tmp_path / name, "w", method) as archive:
            for member, data in files.items():
                archive.writestr(f"{top}{member}", data + (b"!" if member == changed else b""))
        archive = zipfile.ZipFile(tmp_path / name)
        return archive, [info.filename for info in archive.infolist()]

    upstream, names = pack("up.zip", "dataset-1.0/recordings/", zipfile.ZIP_DEFLATED)
    mirror, mirror_names = pack("mirror.zip", "recordings/", zipfile.ZIP_STORED)
    digest = content_digest(upstream, names)
    assert content_digest(mirror, mirror_names) == digest
    resource = Resource("audio/x.zip", "https://example.invalid/x.zip", content_hash=digest)
    check_content(mirror, mirror_names, resource, tmp_path / "mirror.zip")
    changed, changed_names = pack("changed.zip", "recordings/", zipfile.ZIP_STORED, changed="b.wav")
    with pytest.raises(ValueError, match=r"changed.zip' does not hold the expected files of audio/x.zip"):
        check_content(changed, changed_names, resource, tmp_path / "changed.zip")
