"""Sine-wave regression tasks (Finn et al. 2017): y = A sin(x - phi), A ~ U[0.1, 5], phi ~ U[0, pi],
x ~ U[-5, 5]. Each task has ``k_shot`` support and ``n_query`` query points.

Elements are dicts like class episodes (``support_x``, ``support_y``, ``query_x``, ``query_y``, all
shaped (points, 1)) plus the task's ``amplitude`` and ``phase`` for plotting. Training and held-out
tasks differ only by ``seed``: use a seed for evaluation that training never used.

``corrupted``: the chance that a task's targets are shuffled across its points, so that its labels say
nothing about its inputs (label noise at the level of whole tasks, the case gradient agreement is meant
for); tasks then carry a boolean ``corrupted``. With 0 (the default) the stream is the plain one.

>>> tasks = sine_tasks(k_shot=10, n_query=10, meta_batch=25, seed=0)
>>> batch = next(iter(tasks))
>>> batch["support_x"].shape
TensorShape([25, 10, 1])
"""
import math

import tensorflow as tf

from hands_on_meta.datasets.base import indexed_dataset
from hands_on_meta.validation import check_int, check_number


def sine_tasks(k_shot=10, n_query=10, seed=0, episodes=None, meta_batch=None, amplitude=(0.1, 5.0),
               phase=(0.0, math.pi), x_range=(-5.0, 5.0), prefetch=True, start=0, corrupted=0.0):
    """Dataset of sine regression tasks (see the module docstring); ``start``: begin at that (meta-batch of) task(s)."""
    k_shot = check_int("k_shot", k_shot, 1)
    n_query = check_int("n_query", n_query, 1)
    corrupted = 0.0 if corrupted == 0 else check_number("corrupted", corrupted, 0.0, 1.0)
    for name, (low, high) in {"amplitude": amplitude, "phase": phase, "x_range": x_range}.items():
        if not low <= high:
            raise ValueError(f"{name} must be a (low, high) pair with low <= high, got {(low, high)}")

    @tf.autograph.experimental.do_not_convert  # plain tensor code: nothing for AutoGraph to convert
    def make_task(key):
        params = tf.random.stateless_uniform([2], key)
        amp = amplitude[0] + (amplitude[1] - amplitude[0]) * params[0]
        phi = phase[0] + (phase[1] - phase[0]) * params[1]
        point_key = tf.random.experimental.stateless_split(key, 1)[0]
        x = tf.random.stateless_uniform([k_shot + n_query, 1], point_key, x_range[0], x_range[1])
        y = amp * tf.sin(x - phi)
        task = {"amplitude": amp, "phase": phi}
        if corrupted:
            draws = tf.random.stateless_uniform([1 + k_shot + n_query], tf.random.experimental.stateless_fold_in(key, 1))
            task["corrupted"] = draws[0] < corrupted
            y = tf.where(task["corrupted"], tf.gather(y, tf.argsort(draws[1:])), y)
        return {"support_x": x[:k_shot], "support_y": y[:k_shot], "query_x": x[k_shot:], "query_y": y[k_shot:], **task}

    return indexed_dataset(make_task, seed, episodes, meta_batch, prefetch, start)
