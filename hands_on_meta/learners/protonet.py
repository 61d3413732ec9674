"""Prototypical networks (Snell et al. 2017): classify a query by the nearest class mean (prototype)
of the embedded support set; logits are negative squared Euclidean distances.

>>> from hands_on_meta.layers import conv4
>>> protonet = ProtoNet(conv4())
>>> protonet.compile(optimizer="adam")
>>> # protonet.fit(episode_dataset(load_omniglot("train"), 60, 5, 5), steps_per_epoch=100, epochs=10)
"""
import keras
import tensorflow as tf

from hands_on_meta.layers.distances import SquaredEuclidean, class_prototypes
from hands_on_meta.learners.base import EpisodicLearner


@keras.saving.register_keras_serializable(package="hands_on_meta")
class ProtoNet(EpisodicLearner):
    """Metric-based meta-learner around an ``encoder`` (any built Keras model: example -> vector)."""

    def __init__(self, encoder, **kwargs):
        kwargs.pop("task", None)
        super().__init__(task="classification", **kwargs)
        if isinstance(encoder, dict):
            encoder = keras.saving.deserialize_keras_object(encoder)
        if not isinstance(encoder, keras.Model) or not encoder.built:
            raise ValueError(f"encoder must be a built keras.Model (give it a keras.Input), got {encoder!r}")
        self.encoder = encoder
        self.distance = SquaredEuclidean()
        self.built = True

    def episode_outputs(self, episodes, training=False):
        sx, qx = episodes["support_x"], episodes["query_x"]
        batch, n_support, n_query = tf.shape(sx)[0], tf.shape(sx)[1], tf.shape(qx)[1]
        # one encoder call for the whole meta-batch, support and query together
        flat = tf.concat([tf.reshape(sx, (-1, *sx.shape[2:])), tf.reshape(qx, (-1, *qx.shape[2:]))], axis=0)
        z = self.encoder(flat, training=training)
        dim = tf.shape(z)[-1]
        zs = tf.reshape(z[: batch * n_support], (batch, n_support, dim))
        zq = tf.reshape(z[batch * n_support:], (batch, n_query, dim))
        n_way = tf.reduce_max(episodes["support_y"]) + 1
        prototypes = class_prototypes(zs, episodes["support_y"], n_way)
        return -self.distance(zq, prototypes)

    def get_config(self):
        config = super().get_config()
        config.pop("task", None)
        return {**config, "encoder": keras.saving.serialize_keras_object(self.encoder)}
