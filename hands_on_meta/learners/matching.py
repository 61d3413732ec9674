"""Matching networks (Vinyals et al. 2016): label a query by attention over the labelled support set.

With embeddings f (query) and g (support) and cosine similarity c,

    P(y = n | x, S) = sum_i a(x, x_i) [y_i = n],   a(x, x_i) = softmax_i c(f(x), g(x_i)).

``fce=False`` (simple embeddings): f = g = the ``encoder``. ``fce=True`` (full-context embeddings):
g is :class:`~hands_on_meta.layers.FullContextSupport` (bidirectional LSTM over the embedded support
set, with a skip connection) and f is :class:`~hands_on_meta.layers.AttentionLSTM`, which attends
over g(S) for ``processing_steps`` steps.

Outputs are log-probabilities ``log(max(P, 1e-8))``: their argmax is the prediction, and the base
class' softmax cross-entropy on them is the negative log-likelihood -log P(y | x, S) (the P sum to one).

>>> from hands_on_meta.layers import conv4
>>> matching = MatchingNet(conv4(), fce=True, processing_steps=5)
>>> matching.compile(optimizer="adam")
>>> # matching.fit(episode_dataset(load_omniglot("train"), 5, 1, 15), steps_per_epoch=500, epochs=10)
"""
import keras
import numpy as np
import tensorflow as tf

from hands_on_meta.layers.matching import (AttentionLSTM, CosineSimilarity, FullContextSupport,
                                           attention_readout)
from hands_on_meta.learners.base import EpisodicLearner, built_model
from hands_on_meta.validation import check_int

LOG_EPSILON = 1e-8


def check_episodes(episodes, n_way=None):
    """Check a (meta-batch of) episode(s) and return its number of classes (a tensor).

    Shapes (checked while tracing, ValueError): support_x and query_x hold examples of one shape,
    support_y / query_y have one label per example. Labels (checked on values): support labels are
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


def _compatible(a, b):
    return len(a) == len(b) and all(x is None or y is None or x == y for x, y in zip(a, b))


@keras.saving.register_keras_serializable(package="hands_on_meta")
class MatchingNet(EpisodicLearner):
    """Matching network around an ``encoder`` (a built Keras model: example -> vector); see the module
    docstring. ``n_way``: if given, episodes must have exactly that many classes. ``learned_scale``:
    if given, the cosines are multiplied by a trainable scalar starting at that value (the paper
    uses plain cosines: ``None``)."""

    def __init__(self, encoder, fce=False, processing_steps=5, n_way=None, learned_scale=None, **kwargs):
        kwargs.pop("task", None)
        super().__init__(task="classification", **kwargs)
        self.encoder = built_model(encoder, "encoder", vector_output=True)
        if not isinstance(fce, bool):
            raise ValueError(f"fce must be True or False, got {fce!r}")
        self.fce = fce
        self.processing_steps = check_int("processing_steps", processing_steps, 1)
        self.n_way = check_int("n_way", n_way, 2, allow_none=True)
        self.similarity = CosineSimilarity(learned_scale=learned_scale, name="similarity")
        self.similarity.build((None, None, None), (None, None, None))
        if fce:
            dim = self.encoder.output_shape[-1]
            self.support_context = FullContextSupport(name="support_context")
            self.support_context.build((None, None, dim))
            self.query_context = AttentionLSTM(self.processing_steps, name="query_context")
            self.query_context.build((None, None, dim), (None, None, dim))
        self.built = True

    def embed(self, episodes, training=False):
        """Support and query embeddings g(S) (B, S, D) and f(Q) (B, Q, D) (full-context if ``fce``)."""
        sx, qx = episodes["support_x"], episodes["query_x"]
        batch, n_support, n_query = tf.shape(sx)[0], tf.shape(sx)[1], tf.shape(qx)[1]
        # one encoder call for the whole meta-batch, support and query together
        flat = tf.concat([tf.reshape(sx, (-1, *sx.shape[2:])), tf.reshape(qx, (-1, *qx.shape[2:]))], axis=0)
        z = self.encoder(flat, training=training)
        dim = z.shape[-1]
        support = tf.reshape(z[: batch * n_support], (batch, n_support, dim))
        queries = tf.reshape(z[batch * n_support:], (batch, n_query, dim))
        if self.fce:
            support = self.support_context(support)
            queries = self.query_context(queries, support)
        return support, queries

    def attend(self, episodes, training=False):
        """Class probabilities (B, Q, N) and the attention over the support set (B, Q, S)."""
        episodes = self._with_batch_axis(episodes)
        n_way = check_episodes(episodes, self.n_way)
        support, queries = self.embed(episodes, training=training)
        return attention_readout(self.similarity(queries, support), episodes["support_y"], n_way)

    def episode_outputs(self, episodes, training=False):
        probabilities, _ = self.attend(episodes, training=training)
        return tf.math.log(tf.maximum(probabilities, LOG_EPSILON))

    def get_config(self):
        config = super().get_config()
        config.pop("task", None)
        return {**config, "encoder": keras.saving.serialize_keras_object(self.encoder), "fce": self.fce,
                "processing_steps": self.processing_steps, "n_way": self.n_way,
                "learned_scale": self.similarity.learned_scale}
