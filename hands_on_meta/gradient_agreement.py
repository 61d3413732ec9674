"""Gradient agreement (Eshratifar et al. 2018): weight each task's update by how much it agrees with
the sum of all tasks' updates.

For per-task updates ``g_i`` (flattened) and their sum ``G``, task ``i`` gets
``w_i = (g_i . G) / sum_k |g_k . G|``; the meta-update is ``sum_i w_i g_i``. A task whose update
points against the others gets a negative weight. With identical updates every ``w_i`` is ``1/T``,
so the meta-update equals their mean.

>>> [round(float(w), 3) for w in agreement_weights(tf.constant([[1.0, 0.0], [1.0, 0.0], [-1.0, 0.0]]))]
[0.333, 0.333, -0.333]
"""
import tensorflow as tf


def agreement_weights(updates):
    """Weights (T,) of the per-task ``updates`` (T, P): see the module docstring."""
    updates = tf.convert_to_tensor(updates)
    inner = tf.linalg.matvec(updates, tf.reduce_sum(updates, axis=0))  # g_i . G
    return inner / tf.maximum(tf.reduce_sum(tf.abs(inner)), 1e-12)


def combine(updates_per_weight, agreement=False):
    """Combine per-task updates given as one tensor (T, *shape) per weight: their mean, or their
    agreement-weighted sum. Returns one tensor per weight, and the weight (T,) each task got."""
    if not agreement:
        tasks = tf.shape(updates_per_weight[0])[0]
        return [tf.reduce_mean(u, axis=0) for u in updates_per_weight], tf.fill([tasks], 1.0 / tf.cast(tasks, tf.float32))
    flat = tf.concat([tf.reshape(u, (tf.shape(u)[0], -1)) for u in updates_per_weight], axis=1)
    w = agreement_weights(flat)
    return [tf.tensordot(w, u, axes=1) for u in updates_per_weight], tf.cast(w, tf.float32)
