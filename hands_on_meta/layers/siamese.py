"""Siamese-network building blocks, written with ``keras.ops``: the distance between the two twin
embeddings and the contrastive loss (Hadsell, Chopra and LeCun 2006).

Label convention everywhere in this package: ``y = 1`` means *similar* (same class), ``y = 0``
*dissimilar*.

>>> import numpy as np
>>> a, b = np.array([[0., 0.], [1., 1.]]), np.array([[3., 4.], [1., 1.]])
>>> ops.convert_to_numpy(PairDistance("l2")(a, b)).round(4).tolist()
[5.0, 0.0]
>>> ops.convert_to_numpy(contrastive_loss(np.array([1., 0.]), np.array([0.5, 0.5]), margin=1.0)).tolist()
[0.25, 0.25]
"""
import keras
from keras import ops

from hands_on_meta.validation import check_choice, check_number

METRICS = ("l1", "l2")


@keras.saving.register_keras_serializable(package="hands_on_meta")
class PairDistance(keras.layers.Layer):
    """Distance between two embeddings ``a`` and ``b`` of shape (..., D) -> (...,).

    ``metric="l2"``: Euclidean distance ``sqrt(sum (a - b)^2)``; ``"l1"``: ``sum |a - b|``.
    ``elementwise=True`` skips the sum and returns the per-dimension terms (..., D): ``|a - b|`` or
    ``(a - b)^2``, the feature a learned head (e.g. ``Dense(1)`` + sigmoid, Koch et al. 2015) weighs.
    Inputs broadcast, so all query x support distances of an episode are
    ``PairDistance()(queries[..., :, None, :], support[..., None, :, :])`` (..., Q, S).
    The L2 square root is taken of ``max(sum, epsilon)``, so its gradient is finite at ``a == b``.

    >>> import numpy as np
    >>> q, s = np.zeros((1, 2)), np.array([[3., 4.], [1., 0.]])
    >>> ops.convert_to_numpy(PairDistance("l1")(q[:, None, :], s[None, :, :])).tolist()
    [[7.0, 1.0]]
    >>> ops.convert_to_numpy(PairDistance("l1", elementwise=True)(q[0], s[0])).tolist()
    [3.0, 4.0]
    """

    def __init__(self, metric="l2", elementwise=False, epsilon=1e-12, **kwargs):
        super().__init__(**kwargs)
        self.metric = check_choice("metric", metric, set(METRICS))
        if not isinstance(elementwise, bool):
            raise ValueError(f"elementwise must be True or False, got {elementwise!r}")
        self.elementwise = elementwise
        self.epsilon = check_number("epsilon", epsilon)

    def call(self, a, b):
        diff = a - b
        terms = ops.abs(diff) if self.metric == "l1" else ops.square(diff)
        if self.elementwise:
            return terms
        total = ops.sum(terms, axis=-1)
        return total if self.metric == "l1" else ops.sqrt(ops.maximum(total, self.epsilon))

    def compute_output_shape(self, a_shape, b_shape):
        rank = max(len(a_shape), len(b_shape))
        a_shape, b_shape = (1,) * (rank - len(a_shape)) + tuple(a_shape), (1,) * (rank - len(b_shape)) + tuple(b_shape)
        shape = tuple(b if a == 1 else a if b == 1 else a if a is not None else b for a, b in zip(a_shape, b_shape))
        return shape if self.elementwise else shape[:-1]

    def get_config(self):
        return {**super().get_config(), "metric": self.metric, "elementwise": self.elementwise,
                "epsilon": self.epsilon}


def contrastive_loss(y, distance, margin=1.0):
    """Per-pair contrastive loss ``y * d^2 + (1 - y) * max(margin - d, 0)^2``.

    ``y = 1`` for a similar pair, whose loss grows with its distance ``d`` (pulled together);
    ``y = 0`` for a dissimilar pair, whose loss is zero once ``d >= margin`` (pushed beyond the
    margin, then left alone). Same shape as ``distance``; no reduction.

    >>> ops.convert_to_numpy(contrastive_loss(ops.array([0., 0.]), ops.array([0.5, 1.5]), margin=1.0)).tolist()
    [0.25, 0.0]
    """
    y = ops.cast(y, distance.dtype)
    return y * ops.square(distance) + (1.0 - y) * ops.square(ops.relu(margin - distance))


@keras.saving.register_keras_serializable(package="hands_on_meta")
class ContrastiveLoss(keras.losses.Loss):
    """:func:`contrastive_loss` as a Keras loss, for a plain pair model compiled with
    ``loss=ContrastiveLoss(margin)``: ``y_true`` is 1 (similar) or 0 (dissimilar), ``y_pred`` the
    distance of the pair.

    >>> float(ContrastiveLoss(margin=2.0)(ops.array([1., 0.]), ops.array([1., 1.])))
    1.0
    """

    def __init__(self, margin=1.0, name="contrastive_loss", **kwargs):
        super().__init__(name=name, **kwargs)
        self.margin = check_number("margin", margin)

    def call(self, y_true, y_pred):
        return contrastive_loss(y_true, y_pred, self.margin)

    def get_config(self):
        return {**super().get_config(), "margin": self.margin}
