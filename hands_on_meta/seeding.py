"""One seed for Python, NumPy, TensorFlow and Keras."""
import os
import random

import numpy as np

from hands_on_meta.validation import check_int


def set_seed(seed, deterministic=False):
    """Seed Python, NumPy, TensorFlow and Keras; with ``deterministic=True`` also turn on TF op
    determinism, which makes a CPU run repeatable bit for bit (at some cost in speed).

    >>> set_seed(0, deterministic=True)
    """
    seed = check_int("seed", seed, 0, 2**63 - 1)
    import keras
    import tensorflow as tf

    os.environ["PYTHONHASHSEED"] = str(int(seed))
    random.seed(int(seed))
    np.random.seed(int(seed) % 2**32)
    keras.utils.set_random_seed(int(seed))
    if deterministic:
        tf.config.experimental.enable_op_determinism()
