"""AT&T faces, FSDD and ESC-10 loaders on the real data mirror (``HANDS_ON_META_DATA``).

Without the mirror these tests skip, except under CI (``CI`` set), where they fail (see conftest.py).
"""
import io
import os
import zipfile

import numpy as np
import pytest

from hands_on_meta.datasets import (
    audio,
    audio_features,
    faces,
    fsdd_metadata,
    load_esc10,
    load_faces,
    load_fsdd,
)
from hands_on_meta.datasets.audio import ESC10_CLASSES

FILES = ("faces/att_faces.zip", "audio/fsdd_recordings.zip", "audio/esc10_fold4_subset.zip")


@pytest.fixture(scope="module", autouse=True)
def cache(tmp_path_factory):
    """Every test writes its caches to a temporary folder, never the checkout's data/."""
    path = tmp_path_factory.mktemp("cache")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("HANDS_ON_META_CACHE", str(path))
        yield path


@pytest.fixture(scope="module")
def mirror(mirror):
    """conftest's mirror (skips locally without it, fails under CI), checked to hold our archives."""
    missing = [f for f in FILES if not (mirror / f).is_file()]
    if missing:
        reason = f"data mirror {mirror} lacks {', '.join(missing)} (see shared/data/README.md)"
        if os.environ.get("CI"):
            pytest.fail(reason, pytrace=False)
        pytest.skip(reason)
    return mirror


def tmp_mirror(tmp_path, monkeypatch, relpath, data):
    """A mirror folder holding only ``relpath`` with ``data``; caches go to tmp_path too."""
    target = tmp_path / "mirror" / relpath
    target.parent.mkdir(parents=True)
    target.write_bytes(data)
    monkeypatch.setenv("HANDS_ON_META_DATA", str(tmp_path / "mirror"))
    monkeypatch.setenv("HANDS_ON_META_CACHE", str(tmp_path / "cache"))


def zip_bytes(members):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()


# ---------------------------------------------------------------- faces

def test_faces_all_counts_shapes_and_range(mirror):
    faces = load_faces()
    assert faces.x.shape == (40, 10, 112, 92, 1) and faces.x.dtype == np.float32
    assert faces.class_names == tuple(f"s{k}" for k in range(1, 41))
    assert 0.0 <= faces.x.min() < 0.1 and 0.9 < faces.x.max() <= 1.0
    assert len({faces.x[s, 0].tobytes() for s in range(40)}) == 40  # 40 different people


def test_faces_split_by_subject(mirror):
    everyone = load_faces("all", image_size=(56, 46))
    train = load_faces("train", image_size=(56, 46), n_train_subjects=25)
    test = load_faces("test", image_size=(56, 46), n_train_subjects=25)
    assert train.x.shape == (25, 10, 56, 46, 1) and test.x.shape == (15, 10, 56, 46, 1)
    assert not set(train.class_names) & set(test.class_names)
    assert train.class_names + test.class_names == everyone.class_names
    np.testing.assert_array_equal(np.concatenate([train.x, test.x]), everyone.x)
    assert load_faces("test").class_names[0] == "s31"  # default: 30 train subjects


@pytest.mark.parametrize("kwargs, argument", [
    ({"split": "val"}, "split"),
    ({"image_size": (0, 10)}, "image_size"),
    ({"image_size": 28}, "image_size"),
    ({"image_size": (28.0, 28)}, "image_size"),
    ({"n_train_subjects": 0}, "n_train_subjects"),
    ({"n_train_subjects": 40}, "n_train_subjects"),
    ({"n_train_subjects": True}, "n_train_subjects"),
])
def test_faces_bad_arguments(kwargs, argument):
    with pytest.raises(ValueError, match=argument):
        load_faces(**kwargs)


def test_faces_truncated_zip(mirror, tmp_path, monkeypatch):
    data = (mirror / "faces/att_faces.zip").read_bytes()
    tmp_mirror(tmp_path, monkeypatch, "faces/att_faces.zip", data[: len(data) // 2])
    with pytest.raises(ValueError, match="att_faces.zip"):
        load_faces(download=False)


def test_faces_zip_slip(tmp_path, monkeypatch):
    tmp_mirror(tmp_path, monkeypatch, "faces/att_faces.zip", zip_bytes({"../evil.pgm": b"P5"}))
    with pytest.raises(ValueError, match="outside"):
        load_faces(download=False)


def test_faces_missing_subject(mirror, tmp_path, monkeypatch):
    with zipfile.ZipFile(mirror / "faces/att_faces.zip") as source:
        members = {n: source.read(n) for n in source.namelist() if "/s40/" not in n}
    tmp_mirror(tmp_path, monkeypatch, "faces/att_faces.zip", zip_bytes(members))
    with pytest.raises(ValueError, match="390 images of 39 subjects.*40 subjects"):
        load_faces(download=False)


# ---------------------------------------------------------------- audio_features

def sine(seconds, sr=8000, hz=440.0):
    return np.sin(2 * np.pi * hz * np.arange(int(seconds * sr)) / sr).astype(np.float32)


def test_audio_features_pad_and_crop_waveform():
    short, long = sine(0.5), sine(2.0)
    padded = audio_features(short, 8000, "waveform", duration=1.0)
    assert padded.shape == (8000, 1) and padded.dtype == np.float32
    np.testing.assert_array_equal(padded[:4000, 0], short)
    assert not padded[4000:].any()
    cropped = audio_features(long, 8000, "waveform", duration=1.0)
    np.testing.assert_array_equal(cropped[:, 0], long[4000:12000])  # the centre second


def test_audio_features_logmel_and_mfcc():
    logmel = audio_features(sine(0.5), 8000, "logmel", duration=1.0)
    assert logmel.shape == (101, 40, 1) and logmel.dtype == np.float32  # 1 + 8000 // 80 frames
    assert logmel.max() == 0.0 and logmel.min() >= -80.0
    assert logmel[1:45].max(axis=1).min() > -1.0  # the tone is loud while it lasts (frame 0 is half
    # zero-padded by the centred STFT)
    assert np.all(logmel[60:] == -80.0)  # the zero padding is silent (floor)
    np.testing.assert_array_equal(logmel, audio_features(sine(0.5), 8000, duration=1.0))
    mfcc = audio_features(sine(0.5), 8000, "mfcc", duration=1.0, n_mfcc=13)
    assert mfcc.shape == (101, 13, 1) and mfcc.dtype == np.float32
    batch = audio_features(np.stack([sine(1.2), 0.01 * sine(1.2, hz=1000)]), 8000, "logmel", duration=1.0)
    assert batch.shape == (2, 101, 40, 1)
    np.testing.assert_allclose(batch[1], audio_features(0.01 * sine(1.2, hz=1000), 8000), atol=1e-4)


@pytest.mark.parametrize("kwargs, argument", [
    ({"kind": "stft"}, "kind"),
    ({"duration": 0}, "duration"),
    ({"sr": -8000}, "sr"),
    ({"n_mels": 0}, "n_mels"),
    ({"kind": "mfcc", "n_mfcc": 41}, "n_mfcc"),
    ({"waveform": np.zeros((2, 2, 100))}, "waveform"),
])
def test_audio_features_bad_arguments(kwargs, argument):
    args = {"waveform": sine(0.1), "sr": 8000, **kwargs}
    with pytest.raises(ValueError, match=argument):
        audio_features(**args)


# ---------------------------------------------------------------- FSDD

def test_fsdd_logmel_by_digit_and_cache(mirror, cache, capsys, monkeypatch):
    train = load_fsdd("digit", "train")
    assert "Computing FSDD logmel features" in capsys.readouterr().out
    assert (cache / "audio" / "fsdd_logmel_sr8000_1s_mels40_fft256_hop80_v1.npz").is_file()
    assert train.x.shape == (10, 270, 101, 40, 1) and train.x.dtype == np.float32
    assert train.class_names == tuple("0123456789")
    assert train.x.max() == 0.0 and train.x.min() == -80.0
    monkeypatch.setattr("hands_on_meta.datasets.audio.open_zip", lambda path: pytest.fail(f"the cached load opened {path}"))
    test = load_fsdd("digit", "test")
    assert capsys.readouterr().out == ""  # read from the cache, no recomputation
    assert test.x.shape == (10, 30, 101, 40, 1)
    assert load_fsdd("digit", "all").x.shape == (10, 300, 101, 40, 1)


def test_fsdd_by_speaker_matches_by_digit(mirror):
    speakers = ("george", "jackson", "lucas", "nicolas", "theo", "yweweler")
    shapes = {split: load_fsdd("speaker", split).x.shape[:2] for split in ("train", "test", "all")}
    assert shapes == {"train": (6, 450), "test": (6, 50), "all": (6, 500)}
    by_speaker, by_digit = load_fsdd("speaker", "test"), load_fsdd("digit", "all")
    assert by_speaker.class_names == speakers
    meta_s, meta_d = fsdd_metadata("speaker", "test"), fsdd_metadata("digit", "all")
    for s, j in [(0, 0), (2, 17), (5, 49)]:
        digit, speaker, index = (meta_s[key][s, j] for key in ("digit", "speaker", "index"))
        assert speaker == speakers[s]
        (k,) = np.flatnonzero((meta_d["speaker"][digit] == speaker) & (meta_d["index"][digit] == index))
        np.testing.assert_array_equal(by_speaker.x[s, j], by_digit.x[digit, k])


def test_fsdd_official_split_is_disjoint(mirror):
    train, test = fsdd_metadata("digit", "train"), fsdd_metadata("digit", "test")
    assert train["index"].shape == (10, 270) and test["index"].shape == (10, 30)
    assert train["index"].min() == 5 and test["index"].max() == 4
    keys = {split: set(zip(m["digit"].ravel(), m["speaker"].ravel(), m["index"].ravel()))
            for split, m in (("train", train), ("test", test))}
    assert len(keys["train"]) == 2700 and len(keys["test"]) == 300 and not keys["train"] & keys["test"]
    assert (train["digit"] == np.arange(10)[:, None]).all()
    # within a class: sorted by speaker, then index
    assert list(train["speaker"][3, 44:47]) == ["george", "jackson", "jackson"]
    assert list(train["index"][3, :3]) == [5, 6, 7]


def test_fsdd_waveform_is_the_recording(mirror):
    import soundfile

    test = load_fsdd("digit", "test", features="waveform", duration=0.5)
    assert test.x.shape == (10, 30, 4000, 1) and np.abs(test.x).max() <= 1.0
    with zipfile.ZipFile(mirror / "audio/fsdd_recordings.zip") as archive:
        samples, sr = soundfile.read(io.BytesIO(archive.read("recordings/7_george_3.wav")), dtype="float32")
    expected = audio_features(samples, sr, "waveform", duration=0.5)
    np.testing.assert_array_equal(test.x[7, 3], expected)  # george is the first speaker


@pytest.mark.parametrize("kwargs, argument", [
    ({"by": "gender"}, "by"), ({"split": "val"}, "split"), ({"features": "stft"}, "features"),
    ({"duration": -1.0}, "duration"), ({"n_mels": 2.5}, "n_mels"),
])
def test_fsdd_bad_arguments(kwargs, argument):
    with pytest.raises(ValueError, match=argument):
        load_fsdd(**kwargs)


def test_fsdd_incomplete_archive(mirror, tmp_path, monkeypatch):
    with zipfile.ZipFile(mirror / "audio/fsdd_recordings.zip") as source:
        members = {n: source.read(n) for n in source.namelist()[:20]}
    tmp_mirror(tmp_path, monkeypatch, "audio/fsdd_recordings.zip", zip_bytes(members))
    with pytest.raises(ValueError, match="has 20 recordings.*3000"):
        load_fsdd(download=False, verbose=False)


# ---------------------------------------------------------------- ESC-10

def test_esc10_classes_counts_and_features(mirror):
    logmel = load_esc10(verbose=False)
    assert logmel.class_names == ESC10_CLASSES == ("dog", "rooster", "rain", "sea_waves", "crackling_fire",
                                                   "crying_baby", "sneezing", "clock_tick", "helicopter",
                                                   "chainsaw")
    assert logmel.x.shape == (10, 8, 502, 40, 1) and logmel.x.dtype == np.float32  # 5 s, 10 ms hop
    assert logmel.x.max() == 0.0 and logmel.x.min() >= -80.0
    mfcc = load_esc10("mfcc", sr=16000, duration=2.0, verbose=False)
    assert mfcc.x.shape == (10, 8, 201, 20, 1)
    waveform = load_esc10("waveform", sr=8000, duration=1.0, verbose=False)
    assert waveform.x.shape == (10, 8, 8000, 1) and 0 < np.abs(waveform.x).max() <= 1.0


@pytest.mark.parametrize("kwargs, argument", [
    ({"features": "spectrogram"}, "features"), ({"sr": 0}, "sr"), ({"duration": "5"}, "duration"),
])
def test_esc10_bad_arguments(kwargs, argument):
    with pytest.raises(ValueError, match=argument):
        load_esc10(**kwargs)


def test_esc10_unequal_classes(mirror, tmp_path, monkeypatch):
    with zipfile.ZipFile(mirror / "audio/esc10_fold4_subset.zip") as source:
        table = source.read("ESC-10_fold4/meta/esc10_fold4.csv").decode()
    lines = table.splitlines()
    dropped = [line for line in lines if ",dog," not in line] + [lines[1]]  # one dog clip left
    tmp_mirror(tmp_path, monkeypatch, "audio/esc10_fold4_subset.zip",
               zip_bytes({"ESC-50-master/meta/esc50.csv": "\n".join(dropped)}))
    with pytest.raises(ValueError, match="same number of clips.*'dog': 1, 'rooster': 8"):
        load_esc10(download=False, verbose=False)


# ---------------------------------------------------------------- verify (for ``hands-on-meta data verify``)

def test_verify_summaries(mirror):
    assert "40 subjects x 10 images" in faces.verify()["att_faces"]
    assert "3000 recordings = 10 digits x 6 speakers" in audio.verify_fsdd()["fsdd"]
    assert "10 classes x 8 clips, [44100] Hz" in audio.verify_esc10()["esc10"]
