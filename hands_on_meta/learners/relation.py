"""Relation networks (Sung et al. 2018): learn the comparison itself.

:class:`RelationNet` (one-/few-shot): an embedding module maps every image to a feature map; the
class feature is the *sum* of the class's K support feature maps; each query feature map is
concatenated with each class feature and a relation module scores the pair in [0, 1]. The loss is
the mean squared error between the scores and the one-hot query labels (the paper regresses the
score to 1 for matching pairs and 0 otherwise), and a query is given the class of highest score.

:class:`ZeroShotRelationNet`: the class side is no longer a few examples but class-level side
information (attributes, a description) of each class, embedded by its own network; the relation
module compares query embeddings with these class embeddings, so classes never seen in training
can be recognised from their description alone. Episodes come from
``episode_dataset(..., k_shot=0, side_info=...)``.

Both share the pairing, the relation module, the MSE loss and the episode checks.

>>> from hands_on_meta.layers import RelationModule, relation_embedding
>>> net = RelationNet(relation_embedding(), RelationModule(feature_shape=(7, 7, 64)))
>>> net.compile(optimizer="adam")
>>> # net.fit(episode_dataset(load_omniglot("train"), 5, 1, 19), steps_per_epoch=500, epochs=20)
"""
import keras
import tensorflow as tf

from hands_on_meta.layers.distances import class_prototypes
from hands_on_meta.layers.relation import RelationModule
from hands_on_meta.learners.base import built_model
from hands_on_meta.learners.metric import MetricLearner
from hands_on_meta.validation import check_int


def _relation(value, feature_shape):
    if isinstance(value, dict):
        value = keras.saving.deserialize_keras_object(value)
    if not isinstance(value, RelationModule):
        raise ValueError(f"relation must be a hands_on_meta.layers.RelationModule, got {value!r}")
    if value.feature_shape != tuple(feature_shape):
        raise ValueError(f"relation compares features of shape {value.feature_shape}, but the embedding "
                         f"outputs {tuple(feature_shape)}")
    return value


def _check(condition, message):
    """Raise ValueError(message) now when running eagerly; in a graph, add an assertion that fails
    the step with the same message (InvalidArgumentError)."""
    if tf.executing_eagerly():
        if not bool(condition):
            raise ValueError(message)
    else:
        tf.debugging.Assert(condition, [message])


def _check_shape(name, shape, expected):
    if tuple(shape) != tuple(expected):
        raise ValueError(f"{name} must have example shape {tuple(expected)} (the model's input), "
                         f"got {tuple(shape)}")


class RelationLearner(MetricLearner):
    """Shared by the relation networks: pairs -> relation module -> scores; MSE to one-hot labels."""

    def __init__(self, embedding, relation, n_way=None, **kwargs):
        super().__init__(**kwargs)
        self.embedding = built_model(embedding, "embedding")
        self.relation = _relation(relation, self.embedding.output_shape[1:])
        self.n_way = check_int("n_way", n_way, 2, allow_none=True)

    @property
    def encoder(self):
        """The example embedding (:class:`~hands_on_meta.learners.metric.MetricLearner` calls it the encoder)."""
        return self.embedding

    def query_loss(self, query_y, outputs):
        target = tf.one_hot(tf.cast(query_y, tf.int32), tf.shape(outputs)[-1], dtype=outputs.dtype)
        return tf.reduce_mean(tf.square(outputs - target))

    def _check_labels(self, query_y, n_way):
        _check(tf.reduce_all((query_y >= 0) & (query_y < n_way)),
               "query_y must lie in 0..N-1 (the episode's N side_info classes)")
        if self.n_way is not None:
            _check(tf.equal(n_way, self.n_way),
                   f"side_info must hold N = n_way = {self.n_way} classes (the episode has a different n_way "
                   "than the model)")

    def get_config(self):
        return {**super().get_config(), "embedding": keras.saving.serialize_keras_object(self.embedding),
                "relation": keras.saving.serialize_keras_object(self.relation), "n_way": self.n_way}


@keras.saving.register_keras_serializable(package="hands_on_meta")
class RelationNet(RelationLearner):
    """Few-shot relation network: an ``embedding`` (built keras.Model: example -> feature map or
    vector) and a :class:`~hands_on_meta.layers.RelationModule` for its output shape. ``n_way``: when
    set, episodes must have exactly that many classes (None: any; trained 5-way, it can test 20-way)."""

    def __init__(self, embedding, relation, n_way=None, **kwargs):
        super().__init__(embedding, relation, n_way=n_way, **kwargs)
        self.built = True

    def episode_outputs(self, episodes, training=False):
        n_way = self.check(episodes)
        support, query = self.embed(episodes, training=training)
        classes = class_prototypes(support, tf.cast(episodes["support_y"], tf.int32), n_way, reduce="sum")
        return self.relation(query, classes, training=training)


@keras.saving.register_keras_serializable(package="hands_on_meta")
class ZeroShotRelationNet(RelationLearner):
    """Zero-shot relation network: ``embedding`` maps a query example to a vector, ``side_embedding``
    maps a class's side information to a vector of the same size, and ``relation`` scores their
    concatenation. Episodes hold ``side_info`` (N classes) instead of a support set."""

    def __init__(self, embedding, side_embedding, relation, n_way=None, **kwargs):
        super().__init__(embedding, relation, n_way=n_way, **kwargs)
        self.side_embedding = built_model(side_embedding, "side_embedding")
        if self.side_embedding.output_shape[1:] != self.embedding.output_shape[1:]:
            raise ValueError("side_embedding must output the embedding's shape "
                             f"{self.embedding.output_shape[1:]}, "
                             f"got {self.side_embedding.output_shape[1:]}")
        self.built = True

    def episode_outputs(self, episodes, training=False):
        if "side_info" not in episodes:
            raise ValueError("episodes must hold side_info (see episode_dataset(..., side_info=...)), "
                             f"got keys {sorted(episodes)}")
        side, qx, qy = episodes["side_info"], episodes["query_x"], episodes["query_y"]
        _check_shape("side_info", side.shape[2:], self.side_embedding.input_shape[1:])
        _check_shape("query_x", qx.shape[2:], self.embedding.input_shape[1:])
        if qx.shape[1] != qy.shape[1]:
            raise ValueError("query_x and query_y must have one label per example, "
                             f"got {qx.shape[1]} and {qy.shape[1]}")
        self._check_labels(tf.cast(qy, tf.int32), tf.shape(side)[1])
        query, = self.embed(episodes, ("query_x",), training)
        classes, = self.embed(episodes, ("side_info",), training, encoder=self.side_embedding)
        return self.relation(query, classes, training=training)

    def get_config(self):
        return {**super().get_config(),
                "side_embedding": keras.saving.serialize_keras_object(self.side_embedding)}

