"""N-way K-shot episodes as a ``tf.data.Dataset``.

Each element is a dict with ``support_x`` (N*K, ...), ``support_y`` (N*K,), ``query_x`` (N*Q, ...)
and ``query_y`` (N*Q,): ``N`` classes drawn without replacement from the split, ``K + Q`` distinct
examples drawn without replacement from each, labels remapped to 0..N-1 in the random order the
classes were drawn. Support and query are laid out class by class (label ``i`` at rows
``i*K .. i*K+K-1``). With ``meta_batch=B`` every tensor gets a leading axis of size B.

Sampling runs inside the TF graph with stateless random ops keyed by ``(seed, episode index)``, so
episode ``i`` is the same whatever the batching, parallelism or machine, and the pipeline runs in
parallel with training (prefetched).

>>> import numpy as np
>>> from hands_on_meta.datasets import ClassDataset
>>> toy = ClassDataset(np.random.rand(10, 6, 4).astype("float32"), list("abcdefghij"), "toy", "train")
>>> episode = next(iter(episode_dataset(toy, n_way=3, k_shot=2, n_query=1, seed=0)))
>>> episode["support_x"].shape, episode["query_y"].numpy().tolist()
(TensorShape([6, 4]), [0, 1, 2])
"""
import numpy as np
import tensorflow as tf

from hands_on_meta.datasets.base import ClassDataset
from hands_on_meta.validation import check_int


def indexed_dataset(make_element, seed=0, episodes=None, meta_batch=None, prefetch=True):
    """Dataset of ``make_element(key)`` for episode keys ``(seed, 0), (seed, 1), ...``.

    ``make_element`` maps an int64 key of shape (2,) to a structure of tensors using stateless random
    ops only. The one mechanism behind class episodes and generated task families (sine waves ...).
    """
    seed = check_int("seed", seed, 0)
    episodes = check_int("episodes", episodes, 1, allow_none=True)
    meta_batch = check_int("meta_batch", meta_batch, 1, allow_none=True)
    count = -1 if episodes is None else episodes * (meta_batch or 1)
    keys = tf.data.Dataset.range(count if count > 0 else np.iinfo(np.int64).max)
    keys = keys.map(lambda i: tf.stack([tf.constant(seed, tf.int64), i]))
    data = keys.map(make_element, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    if meta_batch is not None:
        data = data.batch(meta_batch, drop_remainder=True)
    return data.prefetch(tf.data.AUTOTUNE) if prefetch else data


def episode_dataset(data, n_way, k_shot, n_query, seed=0, episodes=None, meta_batch=None, prefetch=True):
    """Episodes of ``n_way`` classes, ``k_shot`` support and ``n_query`` query examples per class.

    ``data``: a :class:`~hands_on_meta.datasets.ClassDataset` or a float array shaped
    ``(n_classes, n_per_class, *example_shape)``. ``episodes``: how many (None = endless).
    ``meta_batch``: stack that many episodes along a new leading axis.
    """
    x = data.x if isinstance(data, ClassDataset) else np.asarray(data)
    if x.ndim < 3:
        raise ValueError(f"data must have shape (n_classes, n_per_class, *example_shape), got {x.shape}")
    if not np.issubdtype(x.dtype, np.floating):
        raise ValueError(f"data must hold floating-point examples (e.g. images scaled to [0, 1]), "
                         f"got dtype {x.dtype}")
    n_classes, n_per_class = x.shape[:2]
    n_way = check_int("n_way", n_way, 1, n_classes)
    k_shot = check_int("k_shot", k_shot, 1)
    n_query = check_int("n_query", n_query, 1)
    if k_shot + n_query > n_per_class:
        raise ValueError(f"k_shot + n_query must be at most the {n_per_class} examples of each class, "
                         f"got k_shot={k_shot} + n_query={n_query}")
    per_class = k_shot + n_query
    examples = tf.constant(x.astype(np.float32, copy=False))
    example_shape = x.shape[2:]

    @tf.autograph.experimental.do_not_convert  # plain tensor code: nothing for AutoGraph to convert
    def make_episode(key):
        class_key, example_key = tf.unstack(tf.random.experimental.stateless_split(key, 2))
        classes = tf.argsort(tf.random.stateless_uniform([n_classes], class_key))[:n_way]
        picks = tf.argsort(tf.random.stateless_uniform([n_way, n_per_class], example_key), axis=-1)
        picks = picks[:, :per_class]
        index = tf.stack([tf.broadcast_to(classes[:, None], picks.shape), picks], axis=-1)
        chosen = tf.gather_nd(examples, index)  # (n_way, k_shot + n_query, *example_shape)
        labels = tf.range(n_way, dtype=tf.int32)
        return {
            "support_x": tf.reshape(chosen[:, :k_shot], (n_way * k_shot, *example_shape)),
            "support_y": tf.repeat(labels, k_shot),
            "query_x": tf.reshape(chosen[:, k_shot:], (n_way * n_query, *example_shape)),
            "query_y": tf.repeat(labels, n_query),
        }

    return indexed_dataset(make_episode, seed, episodes, meta_batch, prefetch)
