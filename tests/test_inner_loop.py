"""The inner loop: exact second-order meta-gradients, first-order differs, the model is untouched."""
import keras
import numpy as np
import pytest
import tensorflow as tf
from conftest import classification_task, convbn64, meta_loss, mlp64, regression_task

from hands_on_meta.inner_loop import adapt, forward
from hands_on_meta.layers import ExactBatchNormalization, FusedBatchNormalization
from hands_on_meta.objectives import task_loss


def meta_gradient(model, task, steps, lr, first_order=False):
    weights = [tf.convert_to_tensor(w) for w in model.trainable_variables]
    with tf.GradientTape() as tape:
        tape.watch(weights)
        loss = meta_loss(model, weights, task, steps, lr, first_order)
    return np.concatenate([g.numpy().ravel() for g in tape.gradient(loss, weights)])


def finite_differences(model, task, steps, lr, eps=1e-6):
    base = [w.numpy() for w in model.trainable_variables]
    flat = np.concatenate([w.ravel() for w in base])
    sizes, shapes = [w.size for w in base], [w.shape for w in base]

    def loss_at(vector):
        parts = np.split(vector, np.cumsum(sizes)[:-1])
        weights = [tf.constant(p.reshape(s)) for p, s in zip(parts, shapes)]
        return float(meta_loss(model, weights, task, steps, lr))

    grad = np.zeros_like(flat)
    for i in range(flat.size):
        step = np.zeros_like(flat)
        step[i] = eps
        grad[i] = (loss_at(flat + step) - loss_at(flat - step)) / (2 * eps)
    return grad


@pytest.mark.parametrize("build,task,lr", [(mlp64, regression_task, 0.1), (convbn64, classification_task, 0.5)])
def test_second_order_meta_gradient_matches_finite_differences(build, task, lr):
    model, data = build(), task()
    exact = meta_gradient(model, data, steps=2, lr=lr)
    numeric = finite_differences(model, data, steps=2, lr=lr)
    error = np.linalg.norm(exact - numeric) / np.linalg.norm(numeric)
    assert error < 1e-3, f"norm-relative error {error:.2e}"
    first = meta_gradient(model, data, steps=2, lr=lr, first_order=True)
    gap = np.linalg.norm(first - exact) / np.linalg.norm(exact)
    assert gap > 1e-3, f"first-order should differ from second-order (relative gap {gap:.2e})"


def test_fused_batch_norm_gives_the_exact_second_order_meta_gradient():
    """float32 (the fused kernel's dtype): the same net with FusedBatchNormalization and with
    ExactBatchNormalization (checked against finite differences above) agree; Keras' own
    BatchNormalization misses by more than the tolerance, so the comparison can fail."""
    sx, sy, qx, qy, kind = classification_task()
    task = (sx.astype("float32"), sy, qx.astype("float32"), qy, kind)

    def gradient(norm):
        keras.utils.set_random_seed(1)
        model = keras.Sequential([keras.Input((6, 6, 1)), keras.layers.Conv2D(3, 3, padding="same"), norm(),
                                  keras.layers.Activation("tanh"), keras.layers.MaxPooling2D(2),
                                  keras.layers.Flatten(), keras.layers.Dense(3)])
        return meta_gradient(model, task, steps=2, lr=0.5)

    exact = gradient(ExactBatchNormalization)
    fused_error = np.linalg.norm(gradient(FusedBatchNormalization) - exact) / np.linalg.norm(exact)
    keras_error = np.linalg.norm(gradient(keras.layers.BatchNormalization) - exact) / np.linalg.norm(exact)
    assert fused_error < 1e-4 < keras_error, (fused_error, keras_error)


def test_adaptation_leaves_weights_and_batchnorm_statistics_untouched():
    model = convbn64()
    before = [v.numpy().copy() for v in model.variables]
    sx, sy, qx, _, kind = classification_task()
    fast = adapt(model, tf.constant(sx), tf.constant(sy), lambda y, p: task_loss(kind, y, p), steps=3,
                 learning_rate=0.5)
    forward(model, fast, tf.constant(qx), training=True)
    for old, new in zip(before, model.variables):
        np.testing.assert_array_equal(old, new.numpy())
    assert any(not np.allclose(f.numpy(), b) for f, b in zip(fast, before[:len(fast)])), "fast weights moved"


def test_adapt_mask_keeps_frozen_weights_and_learning_rate_per_weight():
    model = mlp64()
    sx, sy, _, _, kind = regression_task()
    n = len(model.trainable_variables)
    mask = [False] * (n - 2) + [True, True]  # ANIL: only the head adapts
    fast = adapt(model, tf.constant(sx), tf.constant(sy), lambda y, p: task_loss(kind, y, p), steps=2,
                 learning_rate=[0.1] * n, adapt_mask=mask)
    for w, f, on in zip(model.trainable_variables, fast, mask):
        assert np.array_equal(w.numpy(), f.numpy()) != on
    with pytest.raises(ValueError, match="one entry per trainable weight"):
        adapt(model, tf.constant(sx), tf.constant(sy), lambda y, p: task_loss(kind, y, p), adapt_mask=[True])


def test_clip_norm_bounds_each_step_and_leaves_small_gradients_alone():
    model = mlp64()
    sx, sy, _, _, kind = regression_task()
    x, y = tf.constant(sx), tf.constant(100.0 * sy)  # a sharp task: large gradients

    def loss(y, p):
        return task_loss(kind, y, p)

    start = [w.numpy() for w in model.trainable_variables]
    clipped = adapt(model, x, y, loss, steps=1, learning_rate=0.1, clip_norm=0.5)
    moved = np.sqrt(sum(np.sum((f.numpy() - s) ** 2) for f, s in zip(clipped, start)))
    assert moved == pytest.approx(0.1 * 0.5, rel=1e-6)
    plain, loose = (adapt(model, x, tf.constant(sy), loss, steps=2, learning_rate=0.1, clip_norm=c) for c in (None, 1e6))
    for a, b in zip(plain, loose):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
