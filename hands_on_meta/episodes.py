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

from hands_on_meta.datasets.base import ClassDataset, indexed_dataset
from hands_on_meta.validation import check_int


def episode_dataset(data, n_way, k_shot, n_query, seed=0, episodes=None, meta_batch=None, prefetch=True,
                    side_info=None, n_unlabeled=0, n_distractors=0, start=0):
    """Episodes of ``n_way`` classes, ``k_shot`` support and ``n_query`` query examples per class.

    ``data``: a :class:`~hands_on_meta.datasets.ClassDataset` or a float array shaped
    ``(n_classes, n_per_class, *example_shape)``. ``episodes``: how many (None = endless).
    ``meta_batch``: stack that many episodes along a new leading axis. ``side_info``: optional
    class-level information, a float array ``(n_classes, *info_shape)`` (attributes, word vectors);
    each episode then also holds ``side_info`` (n_way, *info_shape), row ``i`` for label ``i``, and
    ``k_shot`` may be 0 (zero-shot episodes, whose support set is empty). ``n_unlabeled``: also
    draw that many further examples of each episode class, and of each of ``n_distractors`` other
    classes, into ``unlabeled_x`` ((n_way + n_distractors) * n_unlabeled, ...) without labels
    (semi-supervised episodes, Ren et al. 2018). ``start``: begin at that (meta-batch of) episode(s).
    """
    x = data.x if isinstance(data, ClassDataset) else np.asarray(data)
    if x.ndim < 3:
        raise ValueError(f"data must have shape (n_classes, n_per_class, *example_shape), got {x.shape}")
    if not np.issubdtype(x.dtype, np.floating):
        raise ValueError(f"data must hold floating-point examples (e.g. images scaled to [0, 1]), "
                         f"got dtype {x.dtype}")
    if not np.all(np.isfinite(x)):
        bad = np.argwhere((~np.isfinite(x.reshape(*x.shape[:2], -1))).any(-1))[0]
        raise ValueError(f"data holds NaN or infinite values (first in class {bad[0]}, example {bad[1]})")
    n_classes, n_per_class = x.shape[:2]
    n_way = check_int("n_way", n_way, 1, n_classes)
    if side_info is not None:
        side_info = np.asarray(side_info, dtype=np.float32)
        if side_info.ndim < 2 or side_info.shape[0] != n_classes:
            raise ValueError(f"side_info must have shape (n_classes={n_classes}, *info_shape), "
                             f"got {side_info.shape}")
    k_shot = check_int("k_shot", k_shot, 1 if side_info is None else 0)
    n_query = check_int("n_query", n_query, 1)
    n_unlabeled = check_int("n_unlabeled", n_unlabeled, 0)
    n_distractors = check_int("n_distractors", n_distractors, 0, n_classes - n_way)
    if n_distractors and not n_unlabeled:
        raise ValueError(f"n_distractors={n_distractors} needs n_unlabeled >= 1: distractor classes only "
                         "contribute unlabelled examples")
    if k_shot + n_query + n_unlabeled > n_per_class:
        extra = (" + n_unlabeled", f" + n_unlabeled={n_unlabeled}") if n_unlabeled else ("", "")
        raise ValueError(f"k_shot + n_query{extra[0]} must be at most the {n_per_class} examples of each class, "
                         f"got k_shot={k_shot} + n_query={n_query}{extra[1]}")
    per_class = k_shot + n_query
    drawn = n_way + n_distractors
    examples = tf.constant(x.astype(np.float32, copy=False))
    example_shape = x.shape[2:]

    @tf.autograph.experimental.do_not_convert  # plain tensor code: nothing for AutoGraph to convert
    def make_episode(key):
        class_key, example_key = tf.unstack(tf.random.experimental.stateless_split(key, 2))
        classes = tf.argsort(tf.random.stateless_uniform([n_classes], class_key))[:drawn]
        picks = tf.argsort(tf.random.stateless_uniform([drawn, n_per_class], example_key), axis=-1)
        picks = picks[:, :per_class + n_unlabeled]
        index = tf.stack([tf.broadcast_to(classes[:, None], picks.shape), picks], axis=-1)
        chosen = tf.gather_nd(examples, index)  # (drawn, k_shot + n_query + n_unlabeled, *example_shape)
        labels = tf.range(n_way, dtype=tf.int32)
        episode = {
            "support_x": tf.reshape(chosen[:n_way, :k_shot], (n_way * k_shot, *example_shape)),
            "support_y": tf.repeat(labels, k_shot),
            "query_x": tf.reshape(chosen[:n_way, k_shot:per_class], (n_way * n_query, *example_shape)),
            "query_y": tf.repeat(labels, n_query),
        }
        if n_unlabeled:
            unlabeled = tf.concat([chosen[:n_way, per_class:], chosen[n_way:, :n_unlabeled]], axis=0)
            episode["unlabeled_x"] = tf.reshape(unlabeled, (drawn * n_unlabeled, *example_shape))
        classes = classes[:n_way]
        if side_info is not None:
            episode["side_info"] = tf.gather(side_info, classes)
        return episode

    return indexed_dataset(make_episode, seed, episodes, meta_batch, prefetch, start)


def check_episodes(episodes, n_way=None, example_shape=None):
    """Check a (meta-batch of) episode(s) and return its number of classes (a tensor).

    Shapes (checked while tracing, ValueError): support_x and query_x hold examples of one shape
    (``example_shape``, the model's input, when given), support_y / query_y have one label per example. Labels (checked on values): support labels are
    0..N-1 with every class present, query labels lie in 0..N-1, and N equals ``n_way`` when given.
    Eagerly a bad value raises ValueError; inside a ``tf.function`` (``fit``) it raises
    ``tf.errors.InvalidArgumentError`` with the same message.
    """
    sx, sy, qx = episodes["support_x"], episodes["support_y"], episodes["query_x"]
    qy = episodes.get("query_y")
    rank = len(sy.shape)
    for name, x, y in (("support", sx, sy), ("query", qx, qy)):
        if y is None:
            continue
        if len(y.shape) != rank:
            raise ValueError(f"support_y and query_y must have the same rank, got shapes {sy.shape} and "
                             f"{y.shape}")
        if len(x.shape) <= rank or not _compatible(x.shape[:rank], y.shape):
            raise ValueError(f"{name}_x must have shape {tuple(y.shape)} + example shape (one example per "
                             f"label), got {tuple(x.shape)}")
    if not _compatible(sx.shape[rank:], qx.shape[rank:]):
        raise ValueError("support_x and query_x must hold examples of one shape, got "
                         f"{tuple(sx.shape[rank:])} and {tuple(qx.shape[rank:])}")
    if example_shape is not None and not _compatible(sx.shape[rank:], tuple(example_shape)):
        raise ValueError(f"support_x and query_x must have example shape {tuple(example_shape)} (the model's input), "
                         f"got {tuple(sx.shape[rank:])}")
    sy = tf.cast(sy, tf.int32)
    n_found = tf.reduce_max(sy) + 1
    if tf.executing_eagerly():
        labels = sy.numpy().reshape(-1, sy.shape[-1])
        found = int(labels.max()) + 1
        wanted = f" with N = n_way = {n_way} (the model's)" if n_way is not None else ""
        if labels.min() < 0 or (n_way is not None and found != n_way) or \
                any(np.unique(row).size != found for row in labels):
            raise ValueError(f"support_y of every episode must hold every label 0..N-1{wanted}, got labels "
                             f"{np.unique(labels).tolist()}")
        if qy is not None:
            query = np.asarray(qy)
            if query.min() < 0 or query.max() >= found:
                raise ValueError(f"query_y must lie in 0..{found - 1} (the support labels), got labels "
                                 f"{np.unique(query).tolist()}")
        return n_found
    checks = [tf.debugging.assert_non_negative(sy, message="support_y must hold labels >= 0")]
    if n_way is not None:
        checks.append(tf.debugging.assert_equal(
            n_found, n_way, message=f"support_y must hold every label 0..N-1 with N = n_way = {n_way} "
                                    "(the episode has a different n_way than the model)"))
    if qy is not None:
        qy = tf.cast(qy, tf.int32)
        checks += [tf.debugging.assert_non_negative(qy, message="query_y must hold labels >= 0"),
                   tf.debugging.assert_less(qy, n_found,
                                            message="query_y must lie in 0..N-1 (the support labels)")]
    with tf.control_dependencies(checks):
        return tf.identity(n_found)


def interleave_classes(x, y):
    """One episode's ``x`` and ``y`` (laid out class by class, as :func:`episode_dataset` makes them)
    reordered so the classes alternate: rows ``(class 0, shot 0), (class 1, shot 0), ..., (class 0,
    shot 1), ...``. Then any ``N * m`` consecutive rows hold ``m`` examples of every class (balanced
    mini-batches for Reptile's inner loop).

    >>> x, y = interleave_classes(tf.range(6), tf.constant([0, 0, 0, 1, 1, 1]))
    >>> x.numpy().tolist(), y.numpy().tolist()
    ([0, 3, 1, 4, 2, 5], [0, 1, 0, 1, 0, 1])
    """
    n_way = tf.reduce_max(tf.cast(y, tf.int32)) + 1
    order = tf.reshape(tf.transpose(tf.reshape(tf.range(tf.shape(y)[0]), [n_way, -1])), [-1])
    return tf.gather(x, order), tf.gather(y, order)


def _compatible(a, b):
    return len(a) == len(b) and all(x is None or y is None or x == y for x, y in zip(a, b))
