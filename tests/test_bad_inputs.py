"""Bad inputs a user can give, each met by an error of a stated type whose message names the argument
(or file) and what is allowed, from the Python API and from the command line (one line, exit code 2)."""
import re

import numpy as np
import pytest

from hands_on_meta.cli import main
from hands_on_meta.datasets.audio import audio_features
from hands_on_meta.datasets.base import ClassDataset
from hands_on_meta.datasets.sine import sine_tasks
from hands_on_meta.episodes import episode_dataset
from hands_on_meta.layers import conv4
from hands_on_meta.objectives import task_score
from hands_on_meta.recipes import get
from hands_on_meta.seeding import set_seed

X = np.random.default_rng(0).random((6, 8, 4, 4, 1)).astype("float32")
NAN = X.copy()
NAN[2, 3, 0, 0, 0] = np.nan

API = {  # case: (call, error type, message pattern)
    "data of 2 axes": (lambda: episode_dataset(X[:, :, 0, 0, 0], 2, 1, 1), ValueError, "data must have shape"),
    "integer data": (lambda: episode_dataset(X.astype(int), 2, 1, 1), ValueError, "floating-point"),
    "NaN pixels": (lambda: episode_dataset(NAN, 2, 1, 1), ValueError, r"NaN or infinite values \(first in class 2, example 3\)"),
    "more ways than classes": (lambda: episode_dataset(X, 7, 1, 1), ValueError, "n_way must be between 1 and 6"),
    "no support examples": (lambda: episode_dataset(X, 2, 0, 1), ValueError, "k_shot must be >= 1"),
    "no queries": (lambda: episode_dataset(X, 2, 1, 0), ValueError, "n_query must be >= 1"),
    "too few examples per class": (lambda: episode_dataset(X, 2, 5, 4), ValueError, "at most the 8 examples"),
    "side information of the wrong shape": (lambda: episode_dataset(X, 2, 0, 1, side_info=np.ones((5, 3))),
                                            ValueError, r"side_info must have shape \(n_classes=6"),
    "distractors without unlabelled examples": (lambda: episode_dataset(X, 2, 1, 1, n_distractors=2), ValueError,
                                                "needs n_unlabeled >= 1"),
    "negative seed": (lambda: episode_dataset(X, 2, 1, 1, seed=-1), ValueError, "seed must be"),
    "seed beyond int64": (lambda: episode_dataset(X, 2, 1, 1, seed=2**63), ValueError, "seed must be between 0 and"),
    "float seed": (lambda: episode_dataset(X, 2, 1, 1, seed=1.5), ValueError, "seed must be an integer"),
    "empty meta-batch": (lambda: episode_dataset(X, 2, 1, 1, meta_batch=0), ValueError, "meta_batch must be >= 1"),
    "start past the episodes": (lambda: episode_dataset(X, 2, 1, 1, episodes=3, start=3), ValueError,
                                "start must be between 0 and 2"),
    "global seed beyond int64": (lambda: set_seed(2**63), ValueError, "seed must be between 0 and"),
    "repeated class names": (lambda: ClassDataset(X, ("a", "b", "a", "c", "d", "b"), "toy", "train"), ValueError,
                             r"class_names must be distinct; repeated: \['a', 'b'\]"),
    "class names of another length": (lambda: ClassDataset(X, ("a",), "toy", "train"), ValueError,
                                      "class_names has 1 entries for 6 classes"),
    "sine tasks without support points": (lambda: sine_tasks(0), ValueError, "k_shot must be >= 1"),
    "reversed amplitude range": (lambda: sine_tasks(amplitude=(5.0, 0.1)), ValueError, "amplitude must be a"),
    "stereo waveform": (lambda: audio_features(np.zeros((8000, 2), "float32"), 8000), ValueError,
                        "mixed to mono first"),
    "NaN waveform": (lambda: audio_features(np.full(8000, np.nan, "float32"), 8000), ValueError,
                     "NaN or infinite samples"),
    "empty waveform": (lambda: audio_features(np.zeros(0, "float32"), 8000), ValueError, "non-empty mono signal"),
    "unknown batch norm": (lambda: conv4(batch_norm="keras"), ValueError, "batch_norm must be one of"),
    "float labels": (lambda: task_score("classification", np.array([0.0, 1.0]), np.zeros((2, 2), "float32")),
                     ValueError, "labels must be integers .*got float64"),
    "a setting of another kind": (lambda: get("sine-maml").config(k_shots=5), ValueError,
                                  "'k_shots' of recipe 'sine-maml' takes a non-empty list like its default"),
    "an empty list setting": (lambda: get("sine-maml").config(eval_steps=[]), ValueError, "takes a non-empty list"),
    "a float for an integer setting": (lambda: get("sine-maml").config(steps=1e3), ValueError, "takes an integer"),
    "a positional model row": (lambda: get("protonet-omniglot").config(train={"1shot": [20, 1, 5]}), ValueError,
                               "must give the fields of ModelTraining by name"),
    "an unknown test variant": (lambda: get("protonet-omniglot").evaluate(
        {}, get("protonet-omniglot").config(eval=[{"way": 5, "shot": 1, "model": "1shot", "variant": "tta"}])),
        ValueError, r"has no test variant 'tta'; it has \['transductive'\]"),
    "an Omniglot model without its learner": (lambda: get("maml-omniglot").build(
        {}, "mine", get("maml-omniglot").config(train={"mine": {"way": 5, "shot": 1, "query": 1}})["train"]["mine"]),
        ValueError, "model 'mine' of recipe 'maml-omniglot' needs a learner"),
}


@pytest.mark.parametrize("case", API)
def test_the_api_names_what_is_wrong(case):
    call, error, pattern = API[case]
    with pytest.raises(error, match=pattern):
        call()


def test_archive_members_that_cannot_be_read_are_named(tmp_path):
    import io
    import zipfile

    import soundfile

    from hands_on_meta.datasets.audio import _read_wav
    from hands_on_meta.datasets.sources import read_image, read_member

    path = tmp_path / "a.zip"
    silence = io.BytesIO()
    soundfile.write(silence, np.zeros(0, "float32"), 8000, format="WAV")
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("big.txt", bytes(range(256)) * 400)
        archive.writestr("images/x.png", b"this is no png")
        archive.writestr("empty.wav", silence.getvalue())
    data = bytearray(path.read_bytes())
    start = data.index(b"big.txt") + len("big.txt") + 50  # inside its compressed stream
    data[start:start + 40] = bytes(40)
    path.write_bytes(bytes(data))
    with zipfile.ZipFile(path) as archive:
        with pytest.raises(ValueError, match=r"a.zip': member 'big.txt' cannot be read"):
            read_member(archive, "big.txt", path)
        with pytest.raises(ValueError, match=r"member 'images/x.png' is not a readable image"):
            read_image(archive, "images/x.png", path)
        with pytest.raises(ValueError, match=r"empty.wav holds no samples"):
            _read_wav(archive, "empty.wav", path)


def test_labels_outside_the_network_outputs_are_refused():
    import keras
    import tensorflow as tf

    from hands_on_meta.learners import MAML

    learner = MAML(conv4((4, 4, 1), filters=2, blocks=1, outputs=3), inner_lr=0.1)
    learner.compile(optimizer=keras.optimizers.Adam())
    with pytest.raises(tf.errors.InvalidArgumentError, match=r"labels must be in \[0, 3\): the network has 3 outputs"):
        learner.fit(episode_dataset(X, 5, 1, 2, meta_batch=2), steps_per_epoch=1, epochs=1, verbose=0)


CLI = {  # case: (arguments, message pattern)
    "unknown recipe": (["train", "nope"], "recipe must be one of"),
    "unknown setting": (["train", "sine-maml", "--set", "colour=blue"], r"no settings \['colour'\]"),
    "--set without a value": (["train", "sine-maml", "--set", "steps"], "--set takes KEY=VALUE"),
    "a misspelt list setting": (["train", "sine-maml", "--set", "k_shots=5"], "takes a non-empty list"),
    "an empty list": (["train", "sine-maml", "--set", "eval_steps=[]"], "takes a non-empty list"),
    "a field no model has": (["train", "relation-omniglot", "--set", "train.1shot.shots=2"],
                             "ModelTraining has no field 'shots'"),
    "a model the recipe lacks": (["train", "relation-omniglot", "--set", "train.2shot.way=5"], "no entry '2shot'"),
    "a field out of range": (["train", "relation-omniglot", "--set", "train.1shot.way=0"], "way must be >= 1"),
    "--only a model the recipe lacks": (["train", "protonet-omniglot", "--only", "2shot"], r"has no models \['2shot'\]"),
    "--only on a recipe that trains together": (["train", "siamese-fsdd", "--only", "speaker"], "--only is not available"),
    "steps not a multiple of the epoch": (["train", "sine-maml", "--steps", "15", "--set", "steps_per_epoch=10",
                                          "--set", "algorithms=[\"maml\"]"], "must be a multiple of steps_per_epoch"),
    "evaluate before training": (["evaluate", "sine-maml", "--out", "{tmp}/nothing"], "no trained models"),
    "an out folder under a file": (["train", "sine-maml", "--steps", "10", "--set", "steps_per_epoch=10", "--out",
                                    "{tmp}/a-file/run"], "(NotADirectoryError|FileExistsError)"),
    "a model of another architecture": (["evaluate", "sine-maml", "--out", "{tmp}/foreign"],
                                        r"maml-k10.keras holds a Sequential .* not the MAML that recipe 'sine-maml'"),
    "an unreadable model": (["evaluate", "sine-maml", "--out", "{tmp}/broken"], r"maml-k10.keras cannot be loaded"),
    "a broken results line": (["results", "--results", "{tmp}/results", "--table", "{tmp}/R.md"],
                              r"x.jsonl:1 is not a JSON record"),
    "an unknown dataset": (["data", "verify", "mnist"], "name must be one of"),
}


@pytest.mark.parametrize("case", CLI)
def test_the_cli_says_what_is_wrong_in_one_line(case, tmp_path, capsys):
    import keras

    (tmp_path / "a-file").write_text("not a folder")
    for folder in ("foreign", "broken"):
        (tmp_path / folder).mkdir()
        for name in ("maml-k10", "pretrained-k10"):
            keras.Sequential([keras.Input((1,)), keras.layers.Dense(1)]).save(tmp_path / folder / f"{name}.keras")
    (tmp_path / "broken" / "maml-k10.keras").write_bytes(b"PK\x03\x04 cut short")
    (tmp_path / "results").mkdir()
    (tmp_path / "results" / "x.jsonl").write_text('{"algorithm": "X", "dat')
    args, pattern = CLI[case]
    assert main([arg.format(tmp=tmp_path) for arg in args]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("hands-on-meta: error: ") and len(err.splitlines()) == 1, err
    assert re.search(pattern, err), err


def test_every_case_counts():
    """The README's Reliability section states how many bad inputs are tested; keep it true."""
    from pathlib import Path

    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    cases = len(API) + len(CLI) + 4
    assert f"{cases} bad inputs" in readme, f"README should say {cases} bad inputs"
