"""CAML: only the context adapts, always from zero; the outer loop trains everything else."""

import keras
import numpy as np
import pytest
from conftest import reloaded

from hands_on_meta.datasets.sine import sine_tasks
from hands_on_meta.evaluation import meta_test
from hands_on_meta.layers import ContextConcat
from hands_on_meta.learners import CAML


def context_mlp(units=4):
    keras.utils.set_random_seed(0)
    return keras.Sequential([keras.Input((1,)), ContextConcat(units), keras.layers.Dense(40, activation="relu"),
                             keras.layers.Dense(40, activation="relu"), keras.layers.Dense(1)])


def test_context_layer_concatenates_its_parameters_and_round_trips():
    layer = ContextConcat(3)
    x = np.ones((2, 5, 4), "float32")
    y = layer(x)
    assert y.shape == (2, 5, 7) and np.all(np.asarray(y)[..., 4:] == 0)
    layer.context.assign([1.0, 2.0, 3.0])
    np.testing.assert_array_equal(np.asarray(layer(x))[0, 0], [1, 1, 1, 1, 1, 2, 3])
    assert ContextConcat.from_config(layer.get_config()).units == 3
    with pytest.raises(ValueError, match="units must be >= 1"):
        ContextConcat(0)


def test_only_the_context_adapts_and_the_outer_loop_never_moves_its_start(tmp_path):
    caml = CAML(context_mlp(), task="regression", inner_lr=1.0, inner_steps=2, eval_steps=2)
    batch = next(iter(sine_tasks(5, 5, seed=0)))
    fast = caml.adapted_weights(batch["support_x"], batch["support_y"], steps=2)
    moved = [not np.array_equal(f.numpy(), w.numpy()) for f, w in zip(fast, caml.network.trainable_variables)]
    assert moved == [True] + [False] * 6  # the context (first weight) only
    caml.compile(optimizer=keras.optimizers.Adam(1e-3))
    before = [w.numpy().copy() for w in caml.network.trainable_variables]
    caml.fit(sine_tasks(10, 10, seed=1, meta_batch=25), steps_per_epoch=400, epochs=1, verbose=0)
    after = caml.network.trainable_variables
    assert np.all(after[0].numpy() == 0), "the context's starting point must stay at zero"
    assert all(not np.array_equal(b, a.numpy()) for b, a in zip(before[1:], after[1:]))
    held_out = sine_tasks(10, 10, seed=999, episodes=4, meta_batch=25)
    adapted = meta_test(caml, held_out, 100, allow_fewer=True).mean
    caml.eval_steps = 0
    unadapted = meta_test(caml, held_out, 100, allow_fewer=True).mean
    assert adapted < 0.8 * unadapted, f"adapting the context should help: {adapted:.2f} vs {unadapted:.2f}"
    caml.eval_steps = 2
    loaded = reloaded(caml, tmp_path / "caml.keras")  # no "Skipping variable loading for optimizer"
    batch = next(iter(held_out))
    np.testing.assert_allclose(caml.episode_scores(batch).numpy(), loaded.episode_scores(batch).numpy(), rtol=1e-5)


def test_caml_needs_a_context_layer():
    from hands_on_meta.models import sine_mlp

    with pytest.raises(ValueError, match="must contain a hands_on_meta.layers.ContextConcat"):
        CAML(sine_mlp(), task="regression")
    caml = CAML(context_mlp(), task="regression", inner_lr=0.5)
    assert caml.adapt_mask() == [True] + [False] * 6  # the context only
    assert [w.name for w in caml.outer_variables] == [w.name for w in caml.network.trainable_variables[1:]]
    loaded = CAML.from_config(caml.get_config())
    assert loaded.inner_lr == 0.5 and loaded.adapt_mask() == caml.adapt_mask()
