"""The contrastive loss of Siamese networks (Hadsell, Chopra and LeCun 2006), written with ``keras.ops``;
the distance of two twin embeddings is :class:`~hands_on_meta.layers.PairDistance`.

Label convention everywhere in this package: ``y = 1`` means *similar* (same class), ``y = 0``
*dissimilar*.

>>> import numpy as np
>>> ops.convert_to_numpy(contrastive_loss(np.array([1., 0.]), np.array([0.5, 0.5]), margin=1.0)).tolist()
[0.25, 0.25]
"""
import keras
from keras import ops

from hands_on_meta.validation import check_number


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
