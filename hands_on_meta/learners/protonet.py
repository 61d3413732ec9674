"""Prototypical networks (Snell et al. 2017) and two variants from chapter 3 of the book.

* :class:`ProtoNet`: a query's logits are its negative squared Euclidean distances to the class
  means (prototypes) of the embedded support set.
* :class:`GaussianProtoNet` (Fort 2017): part of the encoder output is a precision (inverse
  covariance, radius or diagonal) per example; prototypes are precision-weighted means and
  distances are measured with the summed precision of each class.
* :class:`SemiProtoNet` (Ren et al. 2018): prototypes are refined by one soft k-means step over the
  episode's unlabelled examples (``unlabeled_x``, see ``episode_dataset(n_unlabeled=...)``),
  optionally with a distractor cluster that absorbs unlabelled examples of other classes.

>>> from hands_on_meta.layers import conv4
>>> protonet = ProtoNet(conv4())
>>> protonet.compile(optimizer="adam")
>>> # protonet.fit(episode_dataset(load_omniglot("train"), 60, 5, 5), steps_per_epoch=100, epochs=10)
"""
import keras
import tensorflow as tf
from keras import ops

from hands_on_meta.layers.distances import (
    DiagonalMahalanobis,
    GaussianEmbedding,
    SquaredEuclidean,
    class_prototypes,
    soft_kmeans_refine,
)
from hands_on_meta.learners.base import built_model
from hands_on_meta.learners.metric import MetricLearner
from hands_on_meta.validation import check_int


@keras.saving.register_keras_serializable(package="hands_on_meta")
class ProtoNet(MetricLearner):
    """Metric-based meta-learner around an ``encoder`` (any built Keras model: example -> vector).
    ``n_way``: when set, episodes must have exactly that many classes (None: any)."""

    def __init__(self, encoder, n_way=None, **kwargs):
        super().__init__(**kwargs)
        self.encoder = built_model(encoder, "encoder", vector_output=True)
        self.n_way = check_int("n_way", n_way, 2, allow_none=True)
        self.distance = SquaredEuclidean()
        self.built = True

    def support_labels(self, episodes):
        """``(support_y as int32, number of classes)`` after :meth:`~MetricLearner.check`."""
        n_way = self.check(episodes)
        return tf.cast(episodes["support_y"], tf.int32), n_way

    def episode_outputs(self, episodes, training=False):
        labels, n_way = self.support_labels(episodes)
        support, query = self.embed(episodes, ("support_x", "query_x"), training)
        return -self.distance(query, class_prototypes(support, labels, n_way))

    def explain(self, episode):
        """NumPy embeddings of one episode for plots: ``support``, ``query``, ``prototypes`` (and, for
        episodes with unlabelled examples, ``unlabeled``)."""
        keys = [key for key in ("support_x", "query_x", "unlabeled_x") if key in episode]
        batch = {key: tf.convert_to_tensor(episode[key])[None] for key in [*keys, "support_y"]}
        embedded = dict(zip((key[:-2] for key in keys), (z[0] for z in self.embed(batch, keys))))
        labels, n_way = self.support_labels(batch)
        embedded["prototypes"] = class_prototypes(embedded["support"], labels[0], n_way)
        return {key: ops.convert_to_numpy(value) for key, value in embedded.items()}

    def get_config(self):
        return {**super().get_config(), "encoder": keras.saving.serialize_keras_object(self.encoder),
                "n_way": self.n_way}


@keras.saving.register_keras_serializable(package="hands_on_meta")
class GaussianProtoNet(ProtoNet):
    """ProtoNet whose encoder output also carries a precision per example (``covariance`` =
    ``"radius"``: the last unit; ``"diagonal"``: the second half of the units); see the module docstring."""

    def __init__(self, encoder, covariance="radius", **kwargs):
        super().__init__(encoder, **kwargs)
        self.split = GaussianEmbedding(covariance)
        self.covariance = covariance
        self.mahalanobis = DiagonalMahalanobis()

    def episode_outputs(self, episodes, training=False):
        labels, n_way = self.support_labels(episodes)
        support, query = self.embed(episodes, ("support_x", "query_x"), training)
        support, precision = self.split(support)
        query, _ = self.split(query)
        means = class_prototypes(support, labels, n_way, weights=precision)
        one_hot = ops.one_hot(labels, n_way, dtype=precision.dtype)
        class_precision = ops.einsum("...sn,...sd->...nd", one_hot, precision)
        return -self.mahalanobis(query, means, class_precision)

    def get_config(self):
        return {**super().get_config(), "covariance": self.covariance}


@keras.saving.register_keras_serializable(package="hands_on_meta")
class SemiProtoNet(ProtoNet):
    """ProtoNet with prototypes refined by soft k-means over ``unlabeled_x`` (when the episode has
    it). ``distractor_cluster=True`` adds a cluster at the origin with a learned radius."""

    def __init__(self, encoder, distractor_cluster=False, **kwargs):
        super().__init__(encoder, **kwargs)
        self.distractor_cluster = bool(distractor_cluster)
        self.log_radius = self.add_weight(shape=(), initializer="zeros", name="log_distractor_radius",
                                          trainable=self.distractor_cluster)

    def episode_outputs(self, episodes, training=False):
        if "unlabeled_x" not in episodes:
            return super().episode_outputs(episodes, training)
        labels, n_way = self.support_labels(episodes)
        support, query, unlabeled = self.embed(episodes, ("support_x", "query_x", "unlabeled_x"), training)
        prototypes = class_prototypes(support, labels, n_way)
        return -self.distance(query, self.refine(prototypes, unlabeled, labels))

    def refine(self, prototypes, unlabeled, support_y):
        """One soft k-means step of ``prototypes`` over the ``unlabeled`` embeddings."""
        counts = ops.sum(ops.one_hot(support_y, ops.shape(prototypes)[-2], dtype=prototypes.dtype), axis=-2)
        radius = ops.exp(self.log_radius) if self.distractor_cluster else None
        return soft_kmeans_refine(prototypes, unlabeled, counts[..., None], distractor_radius=radius)

    def explain(self, episode):
        """As :meth:`ProtoNet.explain`, plus ``refined`` prototypes when the episode has unlabelled examples."""
        view = super().explain(episode)
        if "unlabeled" in view:
            view["refined"] = ops.convert_to_numpy(self.refine(view["prototypes"], view["unlabeled"],
                                                               episode["support_y"]))
        return view

    def get_config(self):
        return {**super().get_config(), "distractor_cluster": self.distractor_cluster}

