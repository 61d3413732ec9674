"""The losses of Siamese networks, written with ``keras.ops``: the contrastive loss of pairs (Hadsell,
Chopra and LeCun 2006), and two losses that compare each query with several references at once, the
triplet loss with the hardest negative (Schroff et al. 2015; Hermans et al. 2017) and the softmax over
distances (the multi-class N-pair loss of Sohn 2016, on unit vectors with a scale). The distance of two
twin embeddings is :class:`~hands_on_meta.layers.PairDistance`.

Why the last two: a pair loss sees one pair at a time, and once a dissimilar pair is beyond the margin
it stops learning from it, however close the *other* people still are. Ranking the correct reference
above the closest wrong one is what one-shot identification asks, and on AT&T faces of held-out people
it is what beat raw pixels (results/choices.md, siamese-faces).

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


def _check_table(same, distances):
    same = ops.cast(same, distances.dtype)
    if len(same.shape) != len(distances.shape) or len(distances.shape) < 2:
        raise ValueError(f"same and distances must both have shape (..., queries, references), got "
                         f"{tuple(same.shape)} and {tuple(distances.shape)}")
    return same


def triplet_loss(same, distances, margin=0.5):
    """Per-query triplet loss with the hardest negative, ``max(d_pos - min d_neg + margin, 0)``.

    ``distances`` (..., Q, N) of every query to every reference; ``same`` (..., Q, N) is 1 where the
    reference is of the query's class (exactly one per row, e.g. the class's nearest support example)
    and 0 elsewhere. The loss asks the query to sit ``margin`` closer to its own reference than to the
    *closest* other one (the hardest negative of the episode), and is zero once it does. Shape (..., Q).

    >>> same = ops.array([[1., 0., 0.]])
    >>> round(float(ops.convert_to_numpy(triplet_loss(same, ops.array([[0.4, 0.6, 1.5]]), margin=0.5))[0]), 4)
    0.3
    """
    same = _check_table(same, distances)
    positive = ops.sum(same * distances, axis=-1)
    hardest_negative = ops.min(ops.where(same > 0, ops.max(distances) + margin, distances), axis=-1)
    return ops.relu(positive - hardest_negative + margin)


def softmax_distance_loss(same, distances, scale=10.0):
    """Per-query cross-entropy of a softmax over ``-scale * distances**2``: the probability that the query
    belongs to each reference's class falls with the squared distance, and the loss is minus the log
    probability of the right one. Every wrong reference pushes, the closest ones hardest. On unit vectors
    ``d**2 = 2 - 2 cos``, so this is a softmax over cosines at temperature ``1 / (2 * scale)``; ``scale``
    sets how sharp it is (a softmax over values in [0, 4] is never sharp without one). Arguments as in
    :func:`triplet_loss`; shape (..., Q).

    >>> loss = softmax_distance_loss(ops.array([[1., 0.]]), ops.array([[0., 0.]]), 1.0)  # two equally close: log 2
    >>> round(float(ops.convert_to_numpy(loss)[0]), 4)
    0.6931
    """
    same = _check_table(same, distances)
    logits = -scale * ops.square(distances)
    return -ops.sum(same * ops.log_softmax(logits, axis=-1), axis=-1)
