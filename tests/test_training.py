"""training.train: saves a finished run and reuses it instead of training again."""
import json
import warnings

import keras
import numpy as np
import pytest
import tensorflow as tf

from hands_on_meta.learners import ProtoNet
from hands_on_meta.training import train


def tiny_protonet():
    encoder = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3)], name="tiny")
    protonet = ProtoNet(encoder)
    protonet.compile(optimizer=keras.optimizers.Adam(1e-2))
    return protonet


def random_episodes():
    rng = np.random.default_rng(0)
    episode = {"support_x": rng.normal(size=(6, 4)).astype("float32"), "support_y": np.repeat(np.arange(3), 2),
               "query_x": rng.normal(size=(3, 4)).astype("float32"), "query_y": np.arange(3)}
    return tf.data.Dataset.from_tensors(episode).repeat()


def test_train_saves_then_reuses_a_finished_run(tmp_path):
    keras.utils.set_random_seed(0)
    first = tiny_protonet()
    wall = train(first, random_episodes(), 4, tmp_path, "run", steps_per_epoch=2, verbose=0)
    assert json.loads((tmp_path / "run.done.json").read_text())["steps"] == 4
    assert (tmp_path / "run.log.csv").read_text().count("\n") == 3  # header + 2 epochs

    again = tiny_protonet()  # different random initial weights
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)  # e.g. Keras' "Skipping variable loading for optimizer"
        assert train(again, random_episodes(), 4, tmp_path, "run", steps_per_epoch=2, verbose=0) == pytest.approx(wall, abs=0.1)
    for a, b in zip(first.weights, again.weights):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    for a, b in zip(first.optimizer.variables, again.optimizer.variables):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    assert (tmp_path / "run.log.csv").read_text().count("\n") == 3  # not trained again


def test_train_rejects_steps_not_a_multiple_of_the_epoch(tmp_path):
    with pytest.raises(ValueError, match="must be a multiple of steps_per_epoch"):
        train(tiny_protonet(), random_episodes(), 5, tmp_path, "run", steps_per_epoch=2)
