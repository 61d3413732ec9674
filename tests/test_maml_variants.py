"""MAML options and variants: per-step inner rates, batch-norm modes, ADML and FGSM, Proto-MAML, iMAML."""
import keras
import numpy as np
import pytest
import tensorflow as tf
from conftest import reloaded

from hands_on_meta.adversarial import UnderAttack, fgsm
from hands_on_meta.inner_loop import adapt, forward
from hands_on_meta.layers import ExactBatchNormalization
from hands_on_meta.learners import ADML, IMAML, MAML, ProtoMAML, ProtoNet
from hands_on_meta.learners.imaml import conjugate_gradient
from hands_on_meta.models import sine_mlp
from hands_on_meta.objectives import task_loss


def classification_episodes(meta_batch=2, way=3, shot=2, query=3, dim=4, seed=0):
    rng = np.random.default_rng(seed)
    return {"support_x": tf.constant(rng.normal(size=(meta_batch, way * shot, dim)), tf.float32),
            "support_y": tf.constant(np.tile(np.arange(way), (meta_batch, shot))),
            "query_x": tf.constant(rng.normal(size=(meta_batch, way * query, dim)), tf.float32),
            "query_y": tf.constant(np.tile(np.arange(way), (meta_batch, query)))}


def bn_net(dim=4, way=3):
    keras.utils.set_random_seed(0)
    return keras.Sequential([keras.Input((dim,)), ExactBatchNormalization(), keras.layers.Dense(8, activation="tanh"),
                             keras.layers.Dense(way)])


def sgd_step(learner, episodes):
    learner.compile(optimizer=keras.optimizers.SGD(1.0))
    before = [w.numpy().copy() for w in learner.outer_variables]
    learner.train_on_batch(episodes)
    return [w.numpy() - b for w, b in zip(learner.outer_variables, before)]


def test_per_step_learning_rates_equal_chained_single_steps():
    net = sine_mlp()
    x = tf.random.stateless_normal((10, 1), (1, 2))
    y = tf.sin(x)

    def mse(y, p):
        return tf.reduce_mean((y - p) ** 2)

    two = adapt(net, x, y, mse, steps=2, learning_rate=lambda step: (0.1, 0.03)[step])
    one = adapt(net, x, y, mse, steps=1, learning_rate=0.03, weights=adapt(net, x, y, mse, steps=1, learning_rate=0.1))
    for a, b in zip(two, one):
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-6)
    maml = MAML(net, task="regression", inner_lr=[0.1, 0.03], inner_steps=2, eval_steps=3)
    three = adapt(net, x, y, mse, steps=1, learning_rate=0.03, weights=two)  # the last rate repeats
    for a, b in zip(maml.adapted_weights(x, y, 3), three):
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-6)
    assert MAML.from_config(maml.get_config()).inner_lr == [0.1, 0.03]
    for bad in ([], [0.1, -1.0], "0.1", True):
        with pytest.raises(ValueError, match="inner_lr must be a positive number or a list"):
            MAML(net, task="regression", inner_lr=bad)


def test_running_batch_norm_updates_moving_statistics_and_tests_queries_one_by_one():
    episodes = classification_episodes()
    running = MAML(bn_net(), inner_lr=0.1, batch_norm="running")
    bn = running.network.layers[0]
    sgd_step(running, episodes)
    # BN is the first layer, so each adapted network's query batch mean is the query inputs' mean.
    expected = (1 - bn.momentum) * np.mean(episodes["query_x"].numpy().mean(axis=1), axis=0)
    np.testing.assert_allclose(bn.moving_mean.numpy(), expected, rtol=1e-5, atol=1e-7)
    assert not np.allclose(bn.moving_variance.numpy(), 1.0)
    first = {**episodes, "query_x": episodes["query_x"][:, :2], "query_y": episodes["query_y"][:, :2]}
    np.testing.assert_allclose(running.episode_outputs(first).numpy(),
                               running.episode_outputs(episodes).numpy()[:, :2], rtol=1e-5, atol=1e-6)
    # The support set adapts with its own batch statistics at test too (with the moving ones it diverged).
    support_x, support_y = episodes["support_x"][0], episodes["support_y"][0]
    loss = lambda y, p: task_loss("classification", y, p)
    own = adapt(running.network, support_x, support_y, loss, steps=1, learning_rate=0.1, training=True)
    moving = adapt(running.network, support_x, support_y, loss, steps=1, learning_rate=0.1, training=False)
    for got, want in zip(running.adapted_weights(support_x, support_y, 1, training=False), own):
        np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=1e-6)
    assert any(not np.allclose(a.numpy(), b.numpy()) for a, b in zip(own, moving))

    transductive = MAML(bn_net(), inner_lr=0.1)
    bn = transductive.network.layers[0]
    sgd_step(transductive, episodes)
    np.testing.assert_array_equal(bn.moving_mean.numpy(), 0.0)
    assert not np.allclose(transductive.episode_outputs(first).numpy(),
                           transductive.episode_outputs(episodes).numpy()[:, :2], atol=1e-4)
    assert MAML.from_config(running.get_config()).batch_norm == "running"
    with pytest.raises(ValueError, match="batch_norm must be one of"):
        MAML(bn_net(), batch_norm="frozen")


def test_fgsm_moves_inputs_by_epsilon_within_the_clip_range_and_raises_the_loss():
    net = bn_net()
    episodes = classification_episodes(meta_batch=1)
    x, y = episodes["query_x"][0], episodes["query_y"][0]

    def loss(y, p):
        return task_loss("classification", y, p)

    adversarial = fgsm(net, None, x, y, loss, 0.05)
    np.testing.assert_allclose(np.abs((adversarial - x).numpy()), 0.05, rtol=1e-5)
    weights = net.trainable_variables
    assert float(loss(y, forward(net, weights, adversarial))) > float(loss(y, forward(net, weights, x)))
    clipped = fgsm(net, None, x, y, loss, 10.0, clip=(-1.0, 1.0))
    assert float(tf.reduce_max(tf.abs(clipped))) == 1.0
    with pytest.raises(ValueError, match="epsilon must be >= 0"):
        fgsm(net, None, x, y, loss, -0.1)


def test_adml_crosses_clean_and_adversarial_adaptation():
    episodes = classification_episodes()
    adml = ADML(bn_net(), inner_lr=0.1, epsilon=0.1)
    maml = MAML(bn_net(), inner_lr=0.1)  # same initial weights; the same inner loop

    def loss_fn(y, p):
        return task_loss("classification", y, p)

    with tf.GradientTape() as tape:
        losses = []
        for b in range(2):
            sx, sy, qx, qy = (episodes[k][b] for k in ("support_x", "support_y", "query_x", "query_y"))
            sx_adv = fgsm(maml.network, None, sx, sy, loss_fn, 0.1)
            qx_adv = fgsm(maml.network, None, qx, qy, loss_fn, 0.1)
            adv_fast, clean_fast = maml.adapted_weights(sx_adv, sy, 1), maml.adapted_weights(sx, sy, 1)
            losses.append(0.5 * (loss_fn(qy, forward(maml.network, adv_fast, qx)) +
                                 loss_fn(qy, forward(maml.network, clean_fast, qx_adv))))
        loss = tf.reduce_mean(losses)
    expected = tape.gradient(loss, maml.network.trainable_variables)
    for step, grad in zip(sgd_step(adml, episodes), expected):
        np.testing.assert_allclose(step, -grad.numpy(), rtol=1e-4, atol=1e-6)
    assert sgd_step(maml, episodes)[0].tolist() != sgd_step(ADML(bn_net(), inner_lr=0.1, epsilon=0.1),
                                                            episodes)[0].tolist()
    assert ADML.from_config(adml.get_config()).epsilon == 0.1
    with pytest.raises(ValueError, match="epsilon must be a positive"):
        ADML(bn_net(), epsilon=0)


def test_under_attack_scores_no_better_than_clean_and_equal_at_epsilon_zero():
    keras.utils.set_random_seed(3)
    maml = MAML(keras.Sequential([keras.Input((4,)), keras.layers.Dense(3)]), inner_lr=0.5, inner_steps=3)
    episodes = classification_episodes(meta_batch=8, query=10)
    clean = maml.episode_scores(episodes).numpy()
    np.testing.assert_array_equal(UnderAttack(maml, 0.0).episode_scores(episodes).numpy(), clean)
    attacked = UnderAttack(maml, 0.5).episode_scores(episodes).numpy()
    assert attacked.mean() < clean.mean() - 10, (attacked.mean(), clean.mean())
    with pytest.raises(ValueError, match="gradient-based learner"):
        UnderAttack(ProtoNet(keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])), 0.1)


def encoder(dim=4):
    keras.utils.set_random_seed(1)
    return keras.Sequential([keras.Input((dim,)), keras.layers.Dense(6, activation="tanh")])


def test_proto_maml_starts_from_the_protonet_classifier(tmp_path):
    episodes = classification_episodes()
    proto_maml = ProtoMAML(encoder(), n_way=3, inner_steps=0, eval_steps=0)
    protonet = ProtoNet(proto_maml.encoder)
    # Before adaptation the logits are ProtoNet's up to a per-query constant: same softmax.
    np.testing.assert_allclose(tf.nn.softmax(proto_maml.episode_outputs(episodes)).numpy(),
                               tf.nn.softmax(protonet.episode_outputs(episodes)).numpy(), rtol=1e-4, atol=1e-6)
    adapting = ProtoMAML(encoder(), n_way=3, inner_lr=0.1, inner_steps=2)
    head = adapting.network.layers[-1]
    assert all(id(w) not in {id(v) for v in head.trainable_weights} for w in adapting.outer_variables)
    steps = sgd_step(adapting, episodes)
    assert len(steps) == 2 and all(np.abs(s).max() > 0 for s in steps)  # the encoder learns
    loaded = reloaded(adapting, tmp_path / "proto_maml.keras")
    np.testing.assert_allclose(loaded.episode_outputs(episodes).numpy(), adapting.episode_outputs(episodes).numpy(),
                               rtol=1e-5)
    with pytest.raises(ValueError, match="number of classes|n_way"):
        ProtoMAML(encoder(), n_way=4).episode_outputs(episodes)


def test_conjugate_gradient_solves_a_spd_system():
    rng = np.random.default_rng(0)
    m = rng.normal(size=(5, 5))
    a = tf.constant(m @ m.T + 5 * np.eye(5))
    b = tf.constant(rng.normal(size=5))
    x = conjugate_gradient(lambda v: [tf.linalg.matvec(a, v[0])], [b], 5)[0]
    np.testing.assert_allclose(x.numpy(), np.linalg.solve(a.numpy(), b.numpy()), rtol=1e-8)


def test_imaml_meta_gradient_matches_the_implicit_gradient_of_a_quadratic_inner_problem():
    rng = np.random.default_rng(4)
    d, reg = 3, 2.0
    keras.utils.set_random_seed(4)
    net = keras.Sequential([keras.Input((d,)), keras.layers.Dense(1, use_bias=False, dtype="float64")])
    imaml = IMAML(net, task="regression", inner_lr=0.1, inner_steps=300, reg=reg, cg_steps=d)
    theta = net.trainable_variables[0].numpy()
    tasks, expected = [], []
    for _ in range(2):
        sx, qx = rng.normal(size=(8, d)), rng.normal(size=(6, d))
        sy, qy = rng.normal(size=(8, 1)), rng.normal(size=(6, 1))
        hessian = 2 * sx.T @ sx / len(sx)
        phi = np.linalg.solve(hessian + reg * np.eye(d), 2 * sx.T @ sy / len(sx) + reg * theta)  # proximal solution
        grad = 2 * qx.T @ (qx @ phi - qy) / len(qx)
        expected.append(reg * np.linalg.solve(hessian + reg * np.eye(d), grad))  # d phi / d theta applied to grad
        tasks.append((sx, sy, qx, qy))
        v = imaml.task_meta_gradient(*map(tf.constant, tasks[-1]))[0][0].numpy()
        assert np.linalg.norm(v - expected[-1]) < 1e-6 * np.linalg.norm(expected[-1])
        assert np.linalg.norm(v - grad) > 1e-2 * np.linalg.norm(grad)  # not the first-order gradient
    episodes = {key: tf.constant(np.stack([t[i] for t in tasks]))
                for i, key in enumerate(("support_x", "support_y", "query_x", "query_y"))}
    step = sgd_step(imaml, episodes)[0]
    assert np.linalg.norm(step + np.mean(expected, axis=0)) < 1e-6 * np.linalg.norm(step)
    config = IMAML.from_config(imaml.get_config())
    assert (config.reg, config.cg_steps) == (reg, d)
    with pytest.raises(ValueError, match="reg must be a positive"):
        IMAML(net, task="regression", reg=0)


def test_conjugate_gradient_stops_at_negative_curvature():
    a = tf.constant(np.diag([2.0, -1.0, 3.0]))
    b = tf.constant([1.0, 1.0, 1.0], tf.float64)
    x = conjugate_gradient(lambda v: [tf.linalg.matvec(a, v[0])], [b], 3)[0].numpy()
    assert np.isfinite(x).all() and x @ b.numpy() > 0  # still a descent direction for b
    negative_first = tf.constant(np.diag([-1.0, -2.0]))
    x = conjugate_gradient(lambda v: [tf.linalg.matvec(negative_first, v[0])], [tf.constant([1.0, 2.0], tf.float64)], 2)
    np.testing.assert_array_equal(x[0].numpy(), [1.0, 2.0])  # falls back to b itself


def test_imaml_meta_gradient_matches_finite_differences_on_a_nonlinear_network():
    """With the proximal inner problem solved, the implicit gradient is d query_loss(phi*(theta)) / d theta."""
    keras.utils.set_random_seed(1)
    net = keras.Sequential([keras.Input((1,), dtype="float64"), keras.layers.Dense(8, activation="tanh", dtype="float64"),
                            keras.layers.Dense(8, activation="tanh", dtype="float64"), keras.layers.Dense(1, dtype="float64")])
    imaml = IMAML(net, task="regression", inner_lr=0.05, inner_steps=80, reg=10.0, cg_steps=40)
    rng = np.random.default_rng(2)
    sx, qx = rng.uniform(-2, 2, (10, 1)), rng.uniform(-2, 2, (10, 1))
    sx, sy, qx, qy = map(tf.constant, (sx, np.sin(2 * sx), qx, np.sin(2 * qx)))
    v = imaml.task_meta_gradient(sx, sy, qx, qy)[0]

    def query_loss(weights):
        net.set_weights(weights)
        fast = imaml.adapted_weights(sx, sy, imaml.inner_steps)
        return float(task_loss("regression", qy, net.stateless_call(fast, [], qx)[0]))

    start, eps = net.get_weights(), 1e-5
    for _ in range(2):
        d = [rng.normal(size=w.shape) for w in start]
        fd = (query_loss([w + eps * e for w, e in zip(start, d)]) - query_loss([w - eps * e for w, e in zip(start, d)]))
        fd /= 2 * eps
        implicit = sum(float(tf.reduce_sum(a * e)) for a, e in zip(v, d))
        assert implicit == pytest.approx(fd, rel=1e-4)
    net.set_weights(start)
    fast = imaml.adapted_weights(sx, sy, imaml.inner_steps)
    with tf.GradientTape() as tape:
        tape.watch(fast)
        loss = task_loss("regression", qy, net.stateless_call(fast, [], qx)[0])
    first_order = sum(float(tf.reduce_sum(g * e)) for g, e in zip(tape.gradient(loss, fast), d))
    assert abs(first_order - implicit) > 0.01 * abs(implicit)  # the Hessian term matters here
