"""Meta-SGD's learning-rate gradient, Reptile's update and gradient-agreement weights, checked exactly."""
import keras
import numpy as np
import pytest
import tensorflow as tf
from conftest import meta_loss, mlp64, regression_task, reloaded

from hands_on_meta.datasets.sine import sine_tasks
from hands_on_meta.evaluation import meta_test
from hands_on_meta.gradient_agreement import agreement_weights, combine
from hands_on_meta.inner_loop import adapt
from hands_on_meta.learners import MAML, MetaSGD, Reptile
from hands_on_meta.models import sine_mlp
from hands_on_meta.objectives import task_loss


def test_meta_sgd_learning_rate_gradient_matches_finite_differences():
    model, task = mlp64(), regression_task()
    weights = [tf.convert_to_tensor(w) for w in model.trainable_variables]
    rng = np.random.default_rng(0)
    rates = [rng.uniform(0.05, 0.15, w.shape) for w in weights]

    def loss_at(rate_arrays):
        return meta_loss(model, weights, task, steps=2, lr=[tf.constant(r) for r in rate_arrays])

    tensors = [tf.constant(r) for r in rates]
    with tf.GradientTape() as tape:
        tape.watch(tensors)
        loss = meta_loss(model, weights, task, steps=2, lr=tensors)
    exact = np.concatenate([g.numpy().ravel() for g in tape.gradient(loss, tensors)])
    numeric, eps = [], 1e-6
    for i, r in enumerate(rates):
        for j in range(r.size):
            plus, minus = [a.copy() for a in rates], [a.copy() for a in rates]
            plus[i].flat[j] += eps
            minus[i].flat[j] -= eps
            numeric.append((float(loss_at(plus)) - float(loss_at(minus))) / (2 * eps))
    numeric = np.array(numeric)
    error = np.linalg.norm(exact - numeric) / np.linalg.norm(numeric)
    assert error < 1e-4, f"norm-relative error {error:.2e}"


def test_meta_sgd_trains_its_rates_and_round_trips(tmp_path):
    keras.utils.set_random_seed(0)
    meta_sgd = MetaSGD(sine_mlp(), task="regression", inner_lr=0.01, eval_steps=1)
    assert all(np.allclose(r.numpy(), 0.01) for r in meta_sgd.inner_rates)
    assert len(meta_sgd.trainable_variables) == 2 * len(meta_sgd.network.trainable_variables)
    meta_sgd.compile(optimizer=keras.optimizers.Adam(1e-3))
    meta_sgd.fit(sine_tasks(10, 10, seed=1, meta_batch=25), steps_per_epoch=300, epochs=1, verbose=0)
    assert not all(np.allclose(r.numpy(), 0.01) for r in meta_sgd.inner_rates), "the rates did not move"
    held_out = sine_tasks(10, 10, seed=999, episodes=4, meta_batch=25)
    assert meta_test(meta_sgd, held_out, 100, allow_fewer=True).mean < 3.0  # not adapting: about 3 (test_maml)
    loaded = reloaded(meta_sgd, tmp_path / "meta_sgd.keras")
    batch = next(iter(held_out))
    np.testing.assert_allclose(meta_sgd.episode_scores(batch).numpy(), loaded.episode_scores(batch).numpy(), rtol=1e-6)


def one_meta_step(learner, episodes):
    """fit() on one float64 meta-batch (train_on_batch would cast NumPy float64 inputs to float32)."""
    learner.fit(tf.data.Dataset.from_tensors(episodes), epochs=1, verbose=0)


def linear_net():
    return keras.Sequential([keras.Input((2,), dtype="float64"), keras.layers.Dense(1, use_bias=False, dtype="float64")])


@pytest.mark.parametrize("batch", [None, 4])
def test_reptile_update_matches_the_analytic_update_on_quadratic_tasks(batch):
    """Task i: least squares ||X_i w - y_i||^2 / n, whose SGD steps are affine in w: the k-step
    adapted weights and the Reptile update have a closed form. With ``inner_batch`` step j uses rows
    j*batch, j*batch + 1, ... (mod n)."""
    rng = np.random.default_rng(0)
    n_tasks, n, k, alpha, epsilon = 3, 6, 4, 0.1, 0.5
    x, w_true = rng.normal(size=(n_tasks, n, 2)), rng.normal(size=(n_tasks, 2, 1))
    y = x @ w_true
    net = linear_net()
    reptile = Reptile(net, task="regression", inner_lr=alpha, inner_steps=k, inner_batch=batch)
    reptile.compile(optimizer=keras.optimizers.SGD(epsilon))
    w0 = net.trainable_variables[0].numpy().copy()
    episodes = {"support_x": x, "support_y": y, "query_x": x, "query_y": y}
    one_meta_step(reptile, episodes)  # one meta-step, meta-batch of 3 tasks

    adapted = []
    for i in range(n_tasks):
        w = w0.copy()
        for j in range(k):
            rows = np.arange(n) if batch is None else (j * batch + np.arange(batch)) % n
            w = w - alpha * 2 / len(rows) * x[i][rows].T @ (x[i][rows] @ w - y[i][rows])
        adapted.append(w)
    expected = w0 + epsilon * (np.mean(adapted, axis=0) - w0)
    np.testing.assert_allclose(net.trainable_variables[0].numpy(), expected, rtol=1e-10)


def test_inner_batches_of_a_classification_episode_hold_every_class():
    """``inner_batch=2`` on a 2-way 3-shot episode: the inner steps see the support rows (0, 3), (1, 4),
    (2, 5), one drawing of each class, while meta-training; testing adapts on all six."""
    net = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    x, y = tf.random.normal((6, 3), seed=1), tf.constant([0, 0, 0, 1, 1, 1])
    maml = MAML(net, inner_lr=0.5, inner_steps=3, inner_batch=2)
    loss = lambda labels, logits: task_loss("classification", labels, logits)
    fast = net.trainable_variables
    for rows in ([0, 3], [1, 4], [2, 5]):
        fast = adapt(net, tf.gather(x, rows), tf.gather(y, rows), loss, steps=1, learning_rate=0.5, weights=fast)
    for got, want in zip(maml.adapted_weights(x, y, 3, training=True), fast):
        np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=1e-5, atol=1e-6)
    whole = adapt(net, x, y, loss, steps=3, learning_rate=0.5)
    for got, want in zip(maml.adapted_weights(x, y, 3, training=False), whole):
        np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=1e-5, atol=1e-6)
    assert MAML.from_config(maml.get_config()).inner_batch == 2
    with pytest.raises(ValueError, match="inner_batch must be >= 1"):
        MAML(net, inner_batch=0)


def test_gradient_agreement_weights_match_a_hand_computed_example():
    g = np.array([[1.0, 2.0], [2.0, 0.0], [-1.0, 1.0]])
    # G = (2, 3); g_i . G = 8, 4, 1; sum of |.| = 13
    np.testing.assert_allclose(agreement_weights(tf.constant(g)).numpy(), [8 / 13, 4 / 13, 1 / 13])
    combined, weights = combine([tf.constant(g)], agreement=True)
    combined = combined[0].numpy()
    np.testing.assert_allclose(weights.numpy(), [8 / 13, 4 / 13, 1 / 13], rtol=1e-6)
    np.testing.assert_allclose(combined, (8 * g[0] + 4 * g[1] + 1 * g[2]) / 13)
    np.testing.assert_allclose(combine([tf.constant(g)])[0][0].numpy(), g.mean(0))
    np.testing.assert_allclose(combine([tf.constant(g)])[1].numpy(), [1 / 3] * 3)
    # identical updates: agreement equals the mean
    same = np.tile([[0.5, -1.0]], (4, 1))
    np.testing.assert_allclose(combine([tf.constant(same)], agreement=True)[0][0].numpy(), same[0])


def test_reptile_with_agreement_weights_the_tasks():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(3, 6, 2))
    y = x @ rng.normal(size=(3, 2, 1))
    results = {}
    for agreement in (False, True):
        net = linear_net()
        net.set_weights([np.zeros((2, 1))])
        reptile = Reptile(net, task="regression", inner_lr=0.1, inner_steps=1, agreement=agreement)
        reptile.compile(optimizer=keras.optimizers.SGD(1.0))
        one_meta_step(reptile, {"support_x": x, "support_y": y, "query_x": x, "query_y": y})
        results[agreement] = net.get_weights()[0]
    # one SGD step from 0: phi_i - phi = alpha * 2/n X_i^T y_i
    steps = np.stack([0.1 * 2 / 6 * x[i].T @ y[i] for i in range(3)])[..., 0]
    np.testing.assert_allclose(results[False][:, 0], steps.mean(0), rtol=1e-10)
    weights = agreement_weights(tf.constant(-steps)).numpy()
    np.testing.assert_allclose(results[True][:, 0], weights @ steps, rtol=1e-10)


def test_reptile_and_meta_sgd_bad_arguments():
    with pytest.raises(ValueError, match="inner_steps must be >= 1 for Reptile"):
        Reptile(sine_mlp(), task="regression", inner_steps=0)
    with pytest.raises(ValueError, match="inner_lr must be a positive"):
        MetaSGD(sine_mlp(), task="regression", inner_lr=-0.1)
    with pytest.raises(ValueError, match="inner_lr must be one number for Meta-SGD"):
        MetaSGD(sine_mlp(), task="regression", inner_lr=[0.1, 0.05])


def test_maml_with_agreement_applies_the_agreement_weighted_sum_of_task_meta_gradients():
    rng = np.random.default_rng(2)
    x = rng.uniform(-2, 2, (3, 10, 1))
    y = np.sin(x * rng.uniform(0.5, 2, (3, 1, 1)))
    model = mlp64()
    maml = MAML(model, task="regression", inner_lr=0.1, inner_steps=1, agreement=True)
    maml.compile(optimizer=keras.optimizers.SGD(0.5))
    before = [w.numpy().copy() for w in model.trainable_variables]
    per_task = []
    for i in range(3):
        weights = [tf.convert_to_tensor(w) for w in before]
        with tf.GradientTape() as tape:
            tape.watch(weights)
            loss = meta_loss(model, weights, (x[i, :5], y[i, :5], x[i, 5:], y[i, 5:], "regression"), 1, 0.1)
        per_task.append(np.concatenate([g.numpy().ravel() for g in tape.gradient(loss, weights)]))
    g = np.stack(per_task)
    inner = g @ g.sum(0)
    expected = np.concatenate([w.ravel() for w in before]) - 0.5 * (inner / np.abs(inner).sum()) @ g
    episodes = {"support_x": x[:, :5], "support_y": y[:, :5], "query_x": x[:, 5:], "query_y": y[:, 5:]}
    np.testing.assert_allclose(maml.task_weights(episodes).numpy(), inner / np.abs(inner).sum(), rtol=1e-4)
    one_meta_step(maml, episodes)
    after = np.concatenate([w.numpy().ravel() for w in model.trainable_variables])
    np.testing.assert_allclose(after, expected, rtol=1e-5, atol=1e-7)
    assert not np.allclose(inner / np.abs(inner).sum(), 1 / 3), "the tasks should not agree equally here"


def test_reptile_on_sine_takes_each_inner_step_on_different_points():
    """The sine recipes give Reptile tasks of 50 points and a meta-step the same number of points as
    MAML's (25 tasks x 2K); its 5 inner steps use rows 0-9, 10-19, ..., 40-49 of a task, never the same
    point twice, while testing adapts on all K support points."""
    from hands_on_meta.recipes import get

    recipe = get("sine-comparison")
    cfg = recipe.config(quick=True, k_shots=[10], algorithms=["maml", "reptile"])
    runs = {run.name: run for run in recipe.runs(cfg)}
    reptile, reptile_tasks = runs["reptile-k10"].build(), next(iter(runs["reptile-k10"].episodes(0)))
    maml_tasks = next(iter(runs["maml-k10"].episodes(0)))
    x, y = reptile_tasks["support_x"][0], reptile_tasks["support_y"][0]
    assert x.shape[0] == reptile.inner_steps * reptile.inner_batch == 50
    assert len(np.unique(x.numpy())) == 50
    points = {name: tasks["support_x"].shape[0] * tasks["support_x"].shape[1] + (
        0 if name == "reptile" else tasks["query_x"].shape[0] * tasks["query_x"].shape[1])
        for name, tasks in {"reptile": reptile_tasks, "maml": maml_tasks}.items()}
    assert points["reptile"] == points["maml"] == 25 * 20
    assert recipe.budget(cfg, "reptile-k10") == f"{cfg['steps']} meta-steps x 10 tasks of 50 points"
    assert [run.name for run in recipe.runs(recipe.select(cfg, ["reptile-k10"]))] == ["reptile-k10"]
    with pytest.raises(ValueError, match="has no models \\['maml-k5'\\]"):
        recipe.select(cfg, ["maml-k5"])

    mse = lambda labels, outputs: task_loss("regression", labels, outputs)
    fast = reptile.network.trainable_variables
    for step in range(reptile.inner_steps):
        rows = slice(10 * step, 10 * step + 10)
        fast = adapt(reptile.network, x[rows], y[rows], mse, steps=1, learning_rate=reptile.inner_lr, weights=fast)
    for got, want in zip(reptile.adapted_weights(x, y, reptile.inner_steps), fast):
        np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=1e-5, atol=1e-7)
    whole = adapt(reptile.network, x[:10], y[:10], mse, steps=5, learning_rate=reptile.inner_lr)
    for got, want in zip(reptile.adapted_weights(x[:10], y[:10], 5, training=False), whole):
        np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=1e-5, atol=1e-7)


def test_corrupted_sine_tasks_have_their_targets_shuffled_and_are_flagged():
    clean = next(iter(sine_tasks(5, 5, seed=3, meta_batch=200)))
    assert "corrupted" not in clean
    same = next(iter(sine_tasks(5, 5, seed=3, meta_batch=200, corrupted=0.0)))
    np.testing.assert_array_equal(same["query_y"].numpy(), clean["query_y"].numpy())
    noisy = next(iter(sine_tasks(5, 5, seed=3, meta_batch=200, corrupted=0.3)))
    flags = noisy["corrupted"].numpy()
    assert 0.2 < flags.mean() < 0.4
    ys = {name: np.concatenate([batch["support_y"].numpy(), batch["query_y"].numpy()], 1)[..., 0]
          for name, batch in {"clean": clean, "noisy": noisy}.items()}
    np.testing.assert_array_equal(noisy["support_x"].numpy(), clean["support_x"].numpy())
    np.testing.assert_array_equal(ys["noisy"][~flags], ys["clean"][~flags])
    np.testing.assert_allclose(np.sort(ys["noisy"][flags], 1), np.sort(ys["clean"][flags], 1))
    assert not np.allclose(ys["noisy"][flags], ys["clean"][flags])
    with pytest.raises(ValueError, match="corrupted must be a number greater than 0 and at most 1"):
        sine_tasks(5, 5, corrupted=1.5)


def test_sine_corrupted_logs_the_weights_of_corrupted_and_clean_tasks(tmp_path):
    """Plain averaging gives every task 1/T (weights 1.0 in units of 1/T); gradient agreement does not."""
    import csv

    from hands_on_meta.recipes import get

    recipe = get("sine-corrupted")
    cfg = recipe.config(quick=True, steps=20, steps_per_epoch=10, k_shots=[10], algorithms=["maml", "maml-ga"])
    recipe.train(cfg, tmp_path)
    logs = {name: list(csv.DictReader((tmp_path / f"{name}-k10.log.csv").read_text().splitlines()))
            for name in ("maml", "maml-ga")}
    plain = [float(row[key]) for row in logs["maml"] for key in ("weight_corrupted", "weight_clean")]
    assert len(plain) == 4 and plain == pytest.approx([1.0] * 4)
    assert any(abs(float(row["weight_clean"]) - 1.0) > 1e-3 for row in logs["maml-ga"])
    import matplotlib

    matplotlib.use("Agg")
    from hands_on_meta.plotting import plot_task_weights

    fig = plot_task_weights({"MAML + agreement": [tmp_path / "maml-ga-k10.log.csv"]})
    lines = fig.axes[0].get_lines()
    assert [line.get_label() for line in lines[:2]] == ["clean tasks", "corrupted tasks"]
    np.testing.assert_allclose(lines[1].get_ydata(), [float(row["weight_corrupted"]) for row in logs["maml-ga"]])
    assert recipe.budget(cfg, "maml-k10") == "20 meta-steps x 25 tasks, 30% of them corrupted"
