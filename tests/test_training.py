"""training.train: saves a finished run and reuses it instead of training again."""
import json
import math
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


def test_an_interrupted_run_resumes_and_counts_the_time_of_its_finished_epochs(tmp_path):
    import time

    episode = next(iter(random_episodes()))

    def slow_then_broken():
        for i in range(3):  # epoch 1 (2 steps) finishes, epoch 2 fails on its second step
            time.sleep(0.5)
            yield {key: value.numpy() for key, value in episode.items()}
        raise RuntimeError("interrupted")

    signature = {key: tf.TensorSpec(value.shape, value.dtype) for key, value in episode.items()}
    with pytest.raises(Exception, match="interrupted"):
        train(tiny_protonet(), tf.data.Dataset.from_generator(slow_then_broken, output_signature=signature), 4,
              tmp_path, "run", steps_per_epoch=2, verbose=0)
    state = json.loads((tmp_path / "run.backup" / "state.json").read_text())
    assert state["wall_s"] >= 1.0 and state["steps"] == 2 and not (tmp_path / "run.done.json").exists()
    wall = train(tiny_protonet(), random_episodes(), 4, tmp_path, "run", steps_per_epoch=2, verbose=0)
    assert wall >= 1.0, "the finished epoch of the interrupted run is part of the wall time"
    assert (tmp_path / "run.log.csv").read_text().count("epoch") == 1  # resumed: one header...
    assert len((tmp_path / "run.log.csv").read_text().strip().splitlines()) == 3  # ...and epochs 1 and 2 once
    assert not (tmp_path / "run.backup").exists()
    assert not list(tmp_path.rglob(".partial-*")), "every file is written whole or not at all"


def test_a_finished_run_extended_to_more_steps_equals_one_longer_run(tmp_path):
    keras.utils.set_random_seed(0)
    straight = tiny_protonet()
    initial = [np.asarray(w) for w in straight.weights]
    train(straight, random_episodes(), 8, tmp_path / "straight", "run", steps_per_epoch=2, verbose=0)

    short = tiny_protonet()
    for variable, value in zip(short.weights, initial):
        variable.assign(value)
    first_wall = train(short, random_episodes(), 4, tmp_path, "run", steps_per_epoch=2, verbose=0)
    longer = tiny_protonet()  # fresh weights: the extension starts from the saved ones
    wall = train(longer, random_episodes(), 8, tmp_path, "run", steps_per_epoch=2, verbose=0)
    assert wall >= first_wall
    assert int(longer.optimizer.iterations) == 8
    assert json.loads((tmp_path / "run.done.json").read_text())["steps"] == 8
    assert len((tmp_path / "run.log.csv").read_text().strip().splitlines()) == 5  # header + epochs 1-4 once
    for a, b in zip(straight.weights, longer.weights):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-5, atol=1e-6)
    with pytest.raises(AssertionError):  # and it did train further
        np.testing.assert_allclose(np.asarray(short.weights[0]), np.asarray(longer.weights[0]), atol=1e-6)


def test_a_resumed_run_draws_the_episodes_the_interrupted_one_had_not_reached(tmp_path):
    episode = next(iter(random_episodes()))
    signature = {key: tf.TensorSpec(value.shape, value.dtype) for key, value in episode.items()}
    starts = []

    def interrupted_after_three(start):
        starts.append(start)

        def elements():
            for _ in range(3):  # epoch 1 (2 steps) finishes, epoch 2 fails on its second step
                yield {key: value.numpy() for key, value in episode.items()}
            raise RuntimeError("interrupted")
        return tf.data.Dataset.from_generator(elements, output_signature=signature)

    def endless(start):
        starts.append(start)
        return random_episodes()

    with pytest.raises(Exception, match="interrupted"):
        train(tiny_protonet(), interrupted_after_three, 6, tmp_path, "run", steps_per_epoch=2, verbose=0)
    train(tiny_protonet(), endless, 6, tmp_path, "run", steps_per_epoch=2, verbose=0)
    assert starts == [0, 2]


@pytest.mark.parametrize("bad", [math.nan, math.inf])
def test_a_loss_that_is_not_finite_stops_the_run_and_nothing_is_marked_finished(tmp_path, bad):
    learner = tiny_protonet()
    original = learner.train_step

    def train_step(data):
        logs = original(data)
        step = tf.cast(learner.optimizer.iterations, tf.float32)
        return {**logs, "loss": tf.where(step >= 3.0, tf.constant(bad, tf.float32), logs["loss"])}

    learner.train_step = train_step
    with pytest.raises(FloatingPointError, match=rf"loss became {bad} at meta-step 3; .*run.log.csv"):
        train(learner, random_episodes(), 6, tmp_path, "run", steps_per_epoch=2, verbose=0)
    assert not (tmp_path / "run.done.json").exists() and not (tmp_path / "run.keras").exists()
    assert json.loads((tmp_path / "run.backup" / "state.json").read_text())["steps"] == 2  # the last good epoch


def test_unreadable_state_files_and_models_are_named(tmp_path):
    train(tiny_protonet(), random_episodes(), 2, tmp_path, "run", steps_per_epoch=2, verbose=0)
    done = tmp_path / "run.done.json"
    text = done.read_text()
    done.write_text(text[:5])
    with pytest.raises(ValueError, match=r"run.done.json cannot be read .*delete it"):
        train(tiny_protonet(), random_episodes(), 2, tmp_path, "run", steps_per_epoch=2, verbose=0)
    done.write_text(text)
    saved = tmp_path / "run.keras"
    saved.write_bytes(saved.read_bytes()[:100])
    with pytest.raises(ValueError, match=r"run.keras cannot be loaded .*delete it"):
        train(tiny_protonet(), random_episodes(), 2, tmp_path, "run", steps_per_epoch=2, verbose=0)
    saved.unlink()
    with pytest.raises(FileNotFoundError, match=r"says the run is finished but .*run.keras is missing"):
        train(tiny_protonet(), random_episodes(), 2, tmp_path, "run", steps_per_epoch=2, verbose=0)
