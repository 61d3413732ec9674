"""Shared fixtures. Tests run on real data from the mirror named by HANDS_ON_META_DATA (CI sets it to
../shared/data). Without the mirror they skip, except under CI, where they fail."""
import os
import warnings
from pathlib import Path

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")  # as hands_on_meta sets it, before any test imports TensorFlow
# Notebook kernels start in their own folder: make a relative mirror path absolute before any starts.
if os.environ.get("HANDS_ON_META_DATA"):
    os.environ["HANDS_ON_META_DATA"] = str(Path(os.environ["HANDS_ON_META_DATA"]).expanduser().resolve())
DEFAULT_MIRROR = Path(__file__).resolve().parents[2] / "shared" / "data"

import keras
import numpy as np
import tensorflow as tf

from hands_on_meta.inner_loop import adapt, forward
from hands_on_meta.layers import ExactBatchNormalization, RelationModule, relation_embedding
from hands_on_meta.learners import RelationNet
from hands_on_meta.objectives import task_loss


def _mirror():
    value = os.environ.get("HANDS_ON_META_DATA")
    if value and Path(value).is_dir():
        return Path(value)
    if not value and DEFAULT_MIRROR.is_dir():
        os.environ["HANDS_ON_META_DATA"] = str(DEFAULT_MIRROR)
        return DEFAULT_MIRROR
    message = f"the data mirror is missing (HANDS_ON_META_DATA={value!r}; expected e.g. {DEFAULT_MIRROR})"
    if os.environ.get("CI"):
        pytest.fail(message + "; CI must have it", pytrace=False)
    pytest.skip(message)


@pytest.fixture(scope="session")
def mirror():
    """Path of the real-data mirror (skips locally without it, fails under CI)."""
    return _mirror()


@pytest.fixture(scope="session")
def omniglot_test(mirror):
    from hands_on_meta.datasets import load_omniglot

    return load_omniglot("test", verbose=False)


# --- Small models and tasks shared by several test modules (``from conftest import ...``) ---


def mlp64():
    keras.utils.set_random_seed(0)
    return keras.Sequential([keras.Input((1,)), keras.layers.Dense(8, activation="tanh", dtype="float64"),
                             keras.layers.Dense(1, dtype="float64")])


def convbn64():
    """Conv + BatchNorm (batch statistics) + max-pool; Keras' own BatchNormalization fails this test
    (see ExactBatchNormalization)."""
    keras.utils.set_random_seed(1)
    return keras.Sequential([
        keras.Input((6, 6, 1)), keras.layers.Conv2D(3, 3, padding="same", dtype="float64"),
        ExactBatchNormalization(dtype="float64"), keras.layers.Activation("tanh", dtype="float64"),
        keras.layers.MaxPooling2D(2, dtype="float64"), keras.layers.Flatten(dtype="float64"),
        keras.layers.Dense(3, dtype="float64")])


def regression_task():
    rng = np.random.default_rng(0)
    x = rng.uniform(-2, 2, (20, 1))
    return x[:10], np.sin(x[:10]), x[10:], np.sin(x[10:]), "regression"


def classification_task():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(12, 6, 6, 1))
    y = np.tile(np.arange(3), 4)
    return x[:6], y[:6], x[6:], y[6:], "classification"


def meta_loss(model, weights, task, steps, lr, first_order=False):
    sx, sy, qx, qy, kind = task
    fast = adapt(model, tf.constant(sx), tf.constant(sy), lambda y, p: task_loss(kind, y, p), steps=steps,
                 learning_rate=lr, first_order=first_order, weights=weights)
    return task_loss(kind, tf.constant(qy), forward(model, fast, tf.constant(qx)))


def small_relation_net(n_way=None):
    embedding = relation_embedding(filters=8)
    return RelationNet(embedding, RelationModule(embedding.output_shape[1:], filters=8), n_way=n_way)


def toy_episode(n_way=5, k_shot=2, n_query=3, seed=0):
    rng = np.random.default_rng(seed)
    return {"support_x": rng.random((1, n_way * k_shot, 28, 28, 1), dtype=np.float32),
            "support_y": np.repeat(np.arange(n_way), k_shot)[None].astype(np.int32),
            "query_x": rng.random((1, n_way * n_query, 28, 28, 1), dtype=np.float32),
            "query_y": np.repeat(np.arange(n_way), n_query)[None].astype(np.int32)}


def reloaded(learner, path):
    """``learner`` saved to ``path`` (a .keras file) and loaded back; a UserWarning on the way (Keras'
    report of weights it skipped or a config it could not rebuild) fails the test."""
    learner.save(path)
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        return keras.models.load_model(path)
