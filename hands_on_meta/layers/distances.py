"""Class prototypes and every distance or similarity of the metric learners, written with ``keras.ops``.

One convention for all of them: every query against every reference, (..., Q, D) and (..., N, D) ->
(..., Q, N), with any leading (episode) axes: :class:`SquaredEuclidean` (ProtoNet),
:class:`DiagonalMahalanobis` (Gaussian ProtoNet), :class:`CosineSimilarity` (matching networks),
:class:`PairDistance` (Siamese networks).
"""
import math

import keras
from keras import ops

from hands_on_meta.validation import check_choice, check_number


def class_prototypes(embeddings, labels, n_way, weights=None, reduce="mean"):
    """Each class's pooled support embedding: ``embeddings`` (..., S, *F) with integer ``labels``
    (..., S) -> (..., N, *F), for vectors (F = (D,)) or feature maps (F = (H, W, C)).

    ``reduce="mean"``: the class mean, ProtoNet's prototype; ``weights`` (..., S, *F) or (..., S, 1),
    optional, make it a weighted mean per dimension (Gaussian prototypical networks weight each example
    by its precision). ``reduce="sum"``: the class sum, the relation network's K-shot class feature.

    >>> z = ops.array([[0., 0.], [2., 2.], [5., 5.]])
    >>> ops.convert_to_numpy(class_prototypes(z, ops.array([0, 0, 1]), 2)).tolist()
    [[1.0, 1.0], [5.0, 5.0]]
    >>> ops.convert_to_numpy(class_prototypes(z, ops.array([0, 0, 1]), 2, ops.array([[3.], [1.], [1.]]))).tolist()
    [[0.5, 0.5], [5.0, 5.0]]
    >>> maps = ops.reshape(ops.arange(12, dtype="float32"), (3, 2, 2))       # 3 examples of shape (2, 2)
    >>> ops.convert_to_numpy(class_prototypes(maps, ops.array([1, 0, 1]), 2, reduce="sum")).tolist()
    [[[4.0, 5.0], [6.0, 7.0]], [[8.0, 10.0], [12.0, 14.0]]]
    """
    if reduce not in ("mean", "sum"):
        raise ValueError(f"reduce must be 'mean' or 'sum', got {reduce!r}")
    if reduce == "sum" and weights is not None:
        raise ValueError("weights apply to reduce='mean' only")
    rank = len(labels.shape)
    feature_shape = tuple(embeddings.shape[rank:])
    lead = ops.shape(embeddings)[:rank]
    flat = ops.reshape(embeddings, (*lead, math.prod(feature_shape)))  # (..., S, D)
    one_hot = ops.one_hot(labels, n_way, dtype=embeddings.dtype)  # (..., S, N)
    if reduce == "sum":
        pooled = ops.einsum("...sn,...sd->...nd", one_hot, flat)
    else:
        weights = ops.ones_like(flat[..., :1]) if weights is None else ops.reshape(
            ops.broadcast_to(weights, ops.shape(embeddings)), ops.shape(flat))
        sums = ops.einsum("...sn,...sd->...nd", one_hot, flat * weights)
        totals = ops.einsum("...sn,...sd->...nd", one_hot, ops.broadcast_to(weights, ops.shape(flat)))
        pooled = sums / ops.maximum(totals, 1e-12)
    return ops.reshape(pooled, (*lead[:-1], n_way, *feature_shape))


def soft_kmeans_refine(prototypes, unlabeled, support_counts, distractor_radius=None):
    """One soft k-means step (Ren et al. 2018): prototypes (..., N, D) computed from
    ``support_counts`` (..., N, 1) labelled examples each are moved toward the ``unlabeled`` embeddings
    (..., U, D), each assigned softly by a softmax over negative squared distances.

    With ``distractor_radius`` (a positive scalar), an extra cluster centred at the origin with that
    radius absorbs unlabelled examples of no episode class; the prototypes keep their own unit radius.

    >>> p = soft_kmeans_refine(ops.array([[0., 0.], [10., 10.]]), ops.array([[1., 1.]]), ops.array([[1.], [1.]]))
    >>> [round(float(v), 3) for v in ops.convert_to_numpy(p)[0]]
    [0.5, 0.5]
    """
    distances = SquaredEuclidean()(unlabeled, prototypes)  # (..., U, N)
    if distractor_radius is not None:
        origin = ops.sum(ops.square(unlabeled), axis=-1, keepdims=True)
        # log-density of a cluster of radius r, up to a shared constant: -d^2 / r^2 - log r (r = 1 for prototypes)
        distances = ops.concatenate([distances, origin / distractor_radius ** 2 + ops.log(distractor_radius)], -1)
    assign = ops.softmax(-distances, axis=-1)[..., : ops.shape(prototypes)[-2]]  # (..., U, N)
    sums = prototypes * support_counts + ops.einsum("...un,...ud->...nd", assign, unlabeled)
    return sums / (support_counts + ops.sum(assign, axis=-2)[..., None])


@keras.saving.register_keras_serializable(package="hands_on_meta")
class SquaredEuclidean(keras.layers.Layer):
    """Squared Euclidean distance of every query to every prototype: (..., Q, D), (..., N, D) -> (..., Q, N).

    >>> ops.convert_to_numpy(SquaredEuclidean()(ops.array([[0., 0.]]), ops.array([[3., 4.], [0., 1.]]))).tolist()
    [[25.0, 1.0]]
    """

    def call(self, queries, prototypes):
        q2 = ops.sum(ops.square(queries), axis=-1)[..., :, None]
        p2 = ops.sum(ops.square(prototypes), axis=-1)[..., None, :]
        cross = ops.einsum("...qd,...nd->...qn", queries, prototypes)
        return ops.maximum(q2 + p2 - 2.0 * cross, 0.0)


@keras.saving.register_keras_serializable(package="hands_on_meta")
class DiagonalMahalanobis(keras.layers.Layer):
    """Squared distance of every query to every class mean under a diagonal precision:
    queries (..., Q, D), means (..., N, D), precisions (..., N, D) -> (..., Q, N) with
    ``sum_d precision[n, d] * (query[q, d] - mean[n, d])**2``.

    >>> d = DiagonalMahalanobis()(ops.array([[1., 1.]]), ops.array([[0., 0.]]), ops.array([[4., 1.]]))
    >>> ops.convert_to_numpy(d).tolist()
    [[5.0]]
    """

    def call(self, queries, means, precisions):
        q2 = ops.einsum("...qd,...nd->...qn", ops.square(queries), precisions)
        cross = ops.einsum("...qd,...nd->...qn", queries, precisions * means)
        m2 = ops.sum(precisions * ops.square(means), axis=-1)[..., None, :]
        return ops.maximum(q2 - 2.0 * cross + m2, 0.0)


@keras.saving.register_keras_serializable(package="hands_on_meta")
class GaussianEmbedding(keras.layers.Layer):
    """Split an encoder output into an embedding and a diagonal precision (inverse covariance),
    as in Gaussian prototypical networks (Fort 2017): ``covariance="radius"`` reads the last unit
    as one raw value shared by all dimensions, ``"diagonal"`` reads the second half of the units as
    one raw value per dimension. Precision = 1 + softplus(raw), so it is at least 1.

    >>> embedding, precision = GaussianEmbedding("radius")(ops.zeros((2, 64)))
    >>> tuple(embedding.shape), tuple(precision.shape), round(float(ops.convert_to_numpy(precision)[0, 0]), 3)
    ((2, 63), (2, 63), 1.693)
    """

    COVARIANCES = ("radius", "diagonal")

    def __init__(self, covariance="radius", **kwargs):
        super().__init__(**kwargs)
        if covariance not in self.COVARIANCES:
            raise ValueError(f"covariance must be one of {self.COVARIANCES}, got {covariance!r}")
        self.covariance = covariance

    def call(self, outputs):
        if self.covariance == "radius":
            embedding, raw = outputs[..., :-1], outputs[..., -1:]
            raw = ops.broadcast_to(raw, ops.shape(embedding))
        else:
            half = ops.shape(outputs)[-1] // 2
            embedding, raw = outputs[..., :half], outputs[..., half: 2 * half]
        return embedding, 1.0 + ops.softplus(raw)

    def get_config(self):
        return {**super().get_config(), "covariance": self.covariance}


@keras.saving.register_keras_serializable(package="hands_on_meta")
class CosineSimilarity(keras.layers.Layer):
    """Cosine similarity of every query to every support example: (..., Q, D), (..., S, D) -> (..., Q, S).

    Norms are clipped below at ``epsilon`` so a zero vector gives similarity 0, not NaN. With
    ``learned_scale=s`` the cosines are multiplied by a trainable scalar initialised at ``s`` (metric
    scaling: a softmax over plain cosines in [-1, 1] can never be sharp).

    >>> sims = CosineSimilarity()(ops.array([[1., 0.]]), ops.array([[2., 0.], [0., 3.], [-1., 0.]]))
    >>> ops.convert_to_numpy(sims).round(3).tolist()
    [[1.0, 0.0, -1.0]]
    """

    def __init__(self, epsilon=1e-8, learned_scale=None, **kwargs):
        super().__init__(**kwargs)
        self.epsilon = check_number("epsilon", epsilon)
        self.learned_scale = None if learned_scale is None else check_number("learned_scale", learned_scale)

    def build(self, queries_shape=None, support_shape=None):
        if self.learned_scale is not None:
            self.scale = self.add_weight(shape=(), initializer=keras.initializers.Constant(self.learned_scale),
                                         name="scale")

    def call(self, queries, support):
        queries = queries / ops.maximum(ops.norm(queries, axis=-1, keepdims=True), self.epsilon)
        support = support / ops.maximum(ops.norm(support, axis=-1, keepdims=True), self.epsilon)
        cosines = ops.einsum("...qd,...sd->...qs", queries, support)
        return cosines if self.learned_scale is None else self.scale * cosines

    def get_config(self):
        return {**super().get_config(), "epsilon": self.epsilon, "learned_scale": self.learned_scale}


METRICS = ("l1", "l2")


@keras.saving.register_keras_serializable(package="hands_on_meta")
class PairDistance(keras.layers.Layer):
    """L2 or L1 distance of every query to every reference, the twin embeddings of a Siamese network:
    (..., Q, D), (..., N, D) -> (..., Q, N).

    ``metric="l2"``: Euclidean distance ``sqrt(sum (a - b)^2)``; ``"l1"``: ``sum |a - b|``.
    ``elementwise=True`` skips the sum and returns the per-dimension terms (..., Q, N, D): ``|a - b|``
    or ``(a - b)^2``, the feature a learned head (e.g. ``Dense(1)`` + sigmoid, Koch et al. 2015) weighs.
    Matched pairs ``(a[i], b[i])`` are ``PairDistance()(a[:, None], b[:, None])[:, 0, 0]``.
    The L2 square root is taken of ``max(sum, epsilon)``, so its gradient is finite at ``a == b``.

    >>> import numpy as np
    >>> q, s = np.zeros((1, 2)), np.array([[3., 4.], [1., 0.]])
    >>> ops.convert_to_numpy(PairDistance("l1")(q, s)).tolist()
    [[7.0, 1.0]]
    >>> ops.convert_to_numpy(PairDistance("l1", elementwise=True)(q, s)).tolist()
    [[[3.0, 4.0], [1.0, 0.0]]]
    """

    def __init__(self, metric="l2", elementwise=False, epsilon=1e-12, **kwargs):
        super().__init__(**kwargs)
        self.metric = check_choice("metric", metric, set(METRICS))
        if not isinstance(elementwise, bool):
            raise ValueError(f"elementwise must be True or False, got {elementwise!r}")
        self.elementwise = elementwise
        self.epsilon = check_number("epsilon", epsilon)

    def call(self, queries, references):
        diff = queries[..., :, None, :] - references[..., None, :, :]
        terms = ops.abs(diff) if self.metric == "l1" else ops.square(diff)
        if self.elementwise:
            return terms
        total = ops.sum(terms, axis=-1)
        return total if self.metric == "l1" else ops.sqrt(ops.maximum(total, self.epsilon))

    def compute_output_shape(self, queries_shape, references_shape):
        shape = (*queries_shape[:-1], references_shape[-2])
        return (*shape, queries_shape[-1]) if self.elementwise else shape

    def get_config(self):
        return {**super().get_config(), "metric": self.metric, "elementwise": self.elementwise,
                "epsilon": self.epsilon}
