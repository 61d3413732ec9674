"""MAML as a keras.Model: learns sine regression, round-trips through .keras, refuses bad input."""
import keras
import numpy as np
import pytest
from conftest import convbn64, reloaded

from hands_on_meta.datasets.sine import sine_tasks
from hands_on_meta.evaluation import meta_test
from hands_on_meta.learners import MAML
from hands_on_meta.models import sine_mlp


def test_sine_tasks_follow_the_task_family():
    batch = next(iter(sine_tasks(k_shot=5, n_query=7, seed=3, meta_batch=50)))
    amp, phase = batch["amplitude"].numpy(), batch["phase"].numpy()
    assert batch["support_x"].shape == (50, 5, 1) and batch["query_y"].shape == (50, 7, 1)
    assert (0.1 <= amp).all() and (amp <= 5).all() and (0 <= phase).all() and (phase <= np.pi).all()
    x, y = batch["support_x"].numpy(), batch["support_y"].numpy()
    np.testing.assert_allclose(y, amp[:, None, None] * np.sin(x - phase[:, None, None]), atol=1e-5)
    assert np.abs(x).max() <= 5
    with pytest.raises(ValueError, match="amplitude"):
        sine_tasks(amplitude=(5, 1))


def test_maml_learns_to_adapt_on_held_out_sine_tasks(tmp_path):
    keras.utils.set_random_seed(0)
    maml = MAML(sine_mlp(), task="regression", inner_lr=0.01, inner_steps=1, eval_steps=10)
    maml.compile(optimizer=keras.optimizers.Adam(1e-3))
    maml.fit(sine_tasks(10, 10, seed=1, meta_batch=25), steps_per_epoch=1500, epochs=1, verbose=0)
    held_out = sine_tasks(10, 10, seed=999, episodes=8, meta_batch=25)
    result = meta_test(maml, held_out, 200, allow_fewer=True)
    # Predicting 0 scores E[A^2]/2 = 4.1 on average; a network that cannot adapt scores about 3.
    assert result.mean < 1.5, f"MAML after 1500 meta-steps: held-out MSE {result}"
    loaded = reloaded(maml, tmp_path / "maml.keras")
    batch = next(iter(held_out))
    np.testing.assert_allclose(maml.episode_scores(batch).numpy(), loaded.episode_scores(batch).numpy(), rtol=1e-6)
    assert loaded.eval_steps == 10 and loaded.inner_lr == 0.01


def test_fit_and_evaluate_report_metrics_and_single_episodes_work():
    maml = MAML(sine_mlp(), task="regression", inner_steps=1)
    maml.compile(optimizer="adam")
    history = maml.fit(sine_tasks(5, 5, meta_batch=4), steps_per_epoch=3, epochs=1, verbose=0)
    assert set(history.history) == {"loss", "mse"}
    single = next(iter(sine_tasks(5, 5, seed=2)))
    assert maml.episode_scores(single).shape == (1,)


def test_bad_arguments():
    with pytest.raises(ValueError, match="built keras.Model"):
        MAML(keras.Sequential([keras.layers.Dense(1)]), task="regression")
    with pytest.raises(ValueError, match="inner_lr must be a positive"):
        MAML(sine_mlp(), task="regression", inner_lr=0)
    with pytest.raises(ValueError, match="task must be one of"):
        MAML(sine_mlp(), task="ranking")
    with pytest.raises(ValueError, match="inner_steps must be >= 0"):
        MAML(sine_mlp(), task="regression", inner_steps=-1)


def test_anil_adapts_only_the_head_and_the_body_still_gets_a_meta_gradient():
    import tensorflow as tf

    maml = MAML(sine_mlp(), task="regression", inner_lr=0.1, inner_steps=2, anil=True)
    batch = next(iter(sine_tasks(5, 5, seed=0)))
    fast = maml.adapted_weights(batch["support_x"], batch["support_y"], steps=2)
    moved = [not np.array_equal(f.numpy(), w.numpy()) for f, w in zip(fast, maml.network.trainable_variables)]
    assert moved == [False, False, False, False, True, True]  # two hidden Dense layers fixed, head adapts
    with tf.GradientTape() as tape:
        loss = tf.reduce_mean(maml.query_losses(batch["query_y"][None], maml.call(batch, training=True)))
    grads = tape.gradient(loss, maml.network.trainable_variables)
    assert all(g is not None and float(tf.norm(g)) > 0 for g in grads)
    assert MAML.from_config(maml.get_config()).anil


def meta_step_delta(strategy, **maml_kwargs):
    """The weight change of one SGD(1.0) meta-step of MAML on a float64 conv+BN net, over 4 tasks (so the
    one-tape step's float32 mean weight 1/4 is exact), with meta-gradients taken by ``strategy``."""
    import tensorflow as tf

    rng = np.random.default_rng(0)
    batch = {"support_x": rng.normal(size=(4, 6, 6, 6, 1)), "support_y": np.tile(np.arange(3), (4, 2)),
             "query_x": rng.normal(size=(4, 9, 6, 6, 1)), "query_y": np.tile(np.arange(3), (4, 3))}
    maml = MAML(convbn64(), inner_lr=0.5, meta_gradients=strategy, **maml_kwargs)
    maml.compile(optimizer=keras.optimizers.SGD(1.0))
    before = [w.numpy().copy() for w in maml.network.trainable_variables]
    maml.train_on_batch({k: tf.constant(v) for k, v in batch.items()})
    return np.concatenate([(w.numpy() - b).ravel() for w, b in zip(maml.network.trainable_variables, before)])


@pytest.mark.parametrize("kwargs", [{"first_order": True, "inner_steps": 2}, {"first_order": True, "anil": True},
                                    {"first_order": False}, {"first_order": True, "batch_norm": "running"}])
def test_task_by_task_meta_step_equals_the_one_tape_step(kwargs):
    """Task by task (first order: with the inner loop off the outer tape), the meta-step must be that of
    one tape over the whole meta-batch."""
    per_task, one_tape = meta_step_delta("per_task", **kwargs), meta_step_delta("one_tape", **kwargs)
    assert np.linalg.norm(one_tape) > 1e-3
    np.testing.assert_allclose(per_task, one_tape, rtol=1e-9, atol=1e-12)
    if not kwargs["first_order"]:  # second order did not take the first-order shortcut
        first = meta_step_delta("per_task", first_order=True)
        assert np.linalg.norm(per_task - first) > 1e-4 * np.linalg.norm(per_task)


def test_the_meta_gradient_strategy_is_a_saved_constructor_argument():
    maml = MAML(convbn64(), first_order=True, meta_gradients="one_tape", parallel_tasks=3)
    assert maml.task_gradient() is None  # one tape over the meta-batch: no per-task shortcut
    loaded = MAML.from_config(maml.get_config())
    assert (loaded.meta_gradients, loaded.parallel_tasks) == ("one_tape", 3)
    assert MAML(convbn64(), first_order=True).task_gradient() is not None
    assert MAML(convbn64()).task_gradient() is None  # second order: the gradient of task_objective
    with pytest.raises(ValueError, match="meta_gradients must be one of"):
        MAML(convbn64(), meta_gradients="vectorized")
    with pytest.raises(ValueError, match="needs each task's meta-gradient"):
        MAML(convbn64(), agreement=True, meta_gradients="one_tape")
    with pytest.raises(ValueError, match="parallel_tasks must be >= 1"):
        MAML(convbn64(), parallel_tasks=0)
