"""What the data layer shares: the container every loader returns (examples grouped by class), and
the keyed stream every sampler of episodes or generated tasks is built on."""
import dataclasses

import numpy as np

from hands_on_meta.validation import check_int


@dataclasses.dataclass
class ClassDataset:
    """Examples grouped by class: ``x[c, i]`` is example ``i`` of class ``c``.

    Every class has the same number of examples, so ``x`` is one dense array of shape
    ``(n_classes, n_per_class, *example_shape)``.

    >>> data = ClassDataset(np.zeros((3, 4, 2), "float32"), ("a", "b", "c"), "toy", "train")
    >>> data.n_classes, data.n_per_class, data.example_shape
    (3, 4, (2,))
    """

    x: np.ndarray
    class_names: tuple
    name: str
    split: str

    def __post_init__(self):
        self.x = np.asarray(self.x)
        if self.x.ndim < 3:
            raise ValueError(f"x must have shape (n_classes, n_per_class, *example_shape), got {self.x.shape}")
        self.class_names = tuple(self.class_names)
        if len(self.class_names) != self.x.shape[0]:
            raise ValueError(f"class_names has {len(self.class_names)} entries for {self.x.shape[0]} classes")
        repeated = sorted({name for name in self.class_names if self.class_names.count(name) > 1})
        if repeated:
            raise ValueError(f"class_names must be distinct; repeated: {repeated[:5]}")

    @property
    def n_classes(self):
        return self.x.shape[0]

    @property
    def n_per_class(self):
        return self.x.shape[1]

    @property
    def example_shape(self):
        return tuple(self.x.shape[2:])

    def subset(self, classes, split=None):
        """A ClassDataset with only the given class indices (in that order)."""
        classes = np.asarray(classes, dtype=int)
        return ClassDataset(self.x[classes], tuple(self.class_names[c] for c in classes), self.name,
                            split or self.split)

    def __repr__(self):
        return (f"ClassDataset(name={self.name!r}, split={self.split!r}, classes={self.n_classes}, "
                f"per_class={self.n_per_class}, example_shape={self.example_shape}, dtype={self.x.dtype})")


def indexed_dataset(make_element, seed=0, episodes=None, meta_batch=None, prefetch=True, start=0):
    """Dataset of ``make_element(key)`` for episode keys ``(seed, 0), (seed, 1), ...``.

    ``make_element`` maps an int64 key of shape (2,) to a structure of tensors using stateless random
    ops only. The one mechanism behind class episodes and generated task families (sine waves ...).
    ``start``: begin at that element (a meta-batch when ``meta_batch`` is set), as if the first
    ``start`` had been drawn; a resumed training goes on with the episodes it had not seen.
    """
    import tensorflow as tf  # here, so that importing the loaders does not load TensorFlow
    seed = check_int("seed", seed, 0, np.iinfo(np.int64).max)
    episodes = check_int("episodes", episodes, 1, allow_none=True)
    meta_batch = check_int("meta_batch", meta_batch, 1, allow_none=True)
    start = check_int("start", start, 0, None if episodes is None else episodes - 1)
    count = np.iinfo(np.int64).max if episodes is None else episodes * (meta_batch or 1)
    keys = tf.data.Dataset.range(start * (meta_batch or 1), count)
    keys = keys.map(lambda i: tf.stack([tf.constant(seed, tf.int64), i]))
    data = keys.map(make_element, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    if meta_batch is not None:
        data = data.batch(meta_batch, drop_remainder=True)
    return data.prefetch(tf.data.AUTOTUNE) if prefetch else data
