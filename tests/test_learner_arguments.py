"""Every learner honours each argument it accepts or refuses it by name: nothing is dropped silently."""
import keras
import numpy as np
import pytest
import tensorflow as tf
from conftest import mlp64

from hands_on_meta.inner_loop import forward
from hands_on_meta.layers import ContextConcat, FusedBatchNormalization
from hands_on_meta.learners import (
    ADML,
    CAML,
    IMAML,
    MAML,
    GradientBasedLearner,
    MatchingNet,
    MetaSGD,
    MetricLearner,
    ProtoMAML,
    ProtoNet,
    Reptile,
    SiameseNetwork,
)
from hands_on_meta.objectives import task_loss


def regression_batch(tasks=1, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.uniform(-2, 2, (tasks, 10, 1))
    y = np.sin(x)
    return {"support_x": x[:, :5], "support_y": y[:, :5], "query_x": x[:, 5:], "query_y": y[:, 5:]}


def test_first_order_meta_sgd_takes_the_first_order_meta_gradient():
    """fast = w - alpha * g with g constant: d loss / d w is the query gradient at the fast weights and
    d loss / d alpha = -g times it; one SGD(1.0) step moves each by minus that."""
    batch = regression_batch()
    learner = MetaSGD(mlp64(), task="regression", inner_lr=0.1, first_order=True)
    learner.compile(optimizer=keras.optimizers.SGD(1.0))
    net = learner.network
    weights = [w.numpy().copy() for w in net.trainable_variables]
    sx, sy, qx, qy = (tf.constant(batch[k][0]) for k in ("support_x", "support_y", "query_x", "query_y"))
    with tf.GradientTape() as tape:
        inner = task_loss("regression", sy, forward(net, net.trainable_variables, sx))
    g = [t.numpy() for t in tape.gradient(inner, net.trainable_variables)]
    fast = [tf.constant(w - 0.1 * gi) for w, gi in zip(weights, g)]
    with tf.GradientTape() as tape:
        tape.watch(fast)
        outer = task_loss("regression", qy, forward(net, fast, qx))
    at_fast = [t.numpy() for t in tape.gradient(outer, fast)]
    learner.fit(tf.data.Dataset.from_tensors(batch), verbose=0)
    for w, before, grad in zip(net.trainable_variables, weights, at_fast):
        np.testing.assert_allclose(w.numpy(), before - grad, rtol=1e-6, atol=1e-8)  # the rates are float32
    for rate, gi, grad in zip(learner.inner_rates, g, at_fast):
        np.testing.assert_allclose(rate.numpy(), 0.1 + gi * grad, rtol=1e-5, atol=1e-7)
    assert MetaSGD.from_config(learner.get_config()).first_order


def test_second_order_meta_sgd_differs_from_first_order():
    steps = {}
    for first_order in (False, True):
        learner = MetaSGD(mlp64(), task="regression", inner_lr=0.1, first_order=first_order)
        learner.compile(optimizer=keras.optimizers.SGD(1.0))
        learner.fit(tf.data.Dataset.from_tensors(regression_batch()), verbose=0)
        steps[first_order] = np.concatenate([w.numpy().ravel() for w in learner.network.trainable_variables])
    assert np.linalg.norm(steps[True] - steps[False]) > 1e-6


@pytest.mark.parametrize("build, message", [
    (lambda: Reptile(mlp64(), task="regression", first_order=False), "Reptile takes no first_order"),
    (lambda: Reptile(mlp64(), task="regression", meta_gradients="one_tape"), "Reptile cannot use"),
    (lambda: IMAML(mlp64(), task="regression", first_order=True), "IMAML takes no first_order"),
    (lambda: IMAML(mlp64(), task="regression", inner_batch=2), "inner_batch=None only"),
    (lambda: IMAML(mlp64(), task="regression", meta_gradients="one_tape"), "IMAML cannot use"),
    (lambda: CAML(keras.Sequential([keras.Input((1,)), ContextConcat(2), keras.layers.Dense(1)]),
                  task="regression", anil=True), "CAML takes no anil"),
    (lambda: ProtoMAML(keras.Sequential([keras.Input((2,)), keras.layers.Dense(3)]), n_way=2, network=mlp64()),
     "ProtoMAML takes no network"),
    (lambda: ProtoNet(keras.Sequential([keras.Input((2,)), keras.layers.Dense(3)]), task="regression"),
     "ProtoNet classifies"),
    (lambda: MatchingNet(keras.Sequential([keras.Input((2,)), keras.layers.Dense(3)]), task="regression"),
     "MatchingNet classifies"),
])
def test_arguments_a_learner_cannot_honour_are_refused_by_name(build, message):
    with pytest.raises(ValueError, match=message):
        build()


def keras_bn_net():
    return keras.Sequential([keras.Input((4,)), keras.layers.BatchNormalization(), keras.layers.Dense(3)])


@pytest.mark.parametrize("learner", [MAML, MetaSGD, ADML])
def test_second_order_learners_refuse_keras_batch_normalization(learner):
    with pytest.raises(ValueError, match="FusedBatchNormalization or ExactBatchNormalization"):
        learner(keras_bn_net())
    learner(keras_bn_net(), first_order=True)  # first order never differentiates the inner gradients
    learner(keras.Sequential([keras.Input((4,)), FusedBatchNormalization(), keras.layers.Dense(3)]))


def test_first_order_learners_accept_keras_batch_normalization():
    Reptile(keras_bn_net())
    IMAML(keras_bn_net())


def test_learner_families_are_declared():
    encoder = keras.Sequential([keras.Input((2,)), keras.layers.Dense(3)])
    for learner in (MAML(mlp64(), task="regression"), Reptile(mlp64(), task="regression"),
                    ProtoMAML(encoder, n_way=2)):
        assert isinstance(learner, GradientBasedLearner) and not isinstance(learner, MetricLearner)
    for learner in (ProtoNet(encoder), MatchingNet(encoder), SiameseNetwork(encoder)):
        assert isinstance(learner, MetricLearner) and not isinstance(learner, GradientBasedLearner)


def test_siamese_network_validates_its_episodes():
    siamese = SiameseNetwork(keras.Sequential([keras.Input((2,)), keras.layers.Dense(3)]))
    episode = {"support_x": np.zeros((1, 3, 2), "float32"), "support_y": np.array([[0, 2, 2]]),
               "query_x": np.zeros((1, 2, 2), "float32"), "query_y": np.array([[0, 2]])}
    with pytest.raises(ValueError, match="every label 0..N-1"):  # class 1 is missing
        siamese.episode_outputs(episode)
    with pytest.raises(ValueError, match="example shape"):
        siamese.episode_outputs({**episode, "support_x": np.zeros((1, 3, 5), "float32"),
                                 "query_x": np.zeros((1, 2, 5), "float32")})
