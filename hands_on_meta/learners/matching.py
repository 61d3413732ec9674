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
import tensorflow as tf

from hands_on_meta.layers.distances import CosineSimilarity
from hands_on_meta.layers.matching import (
    AttentionLSTM,
    FullContextSupport,
    attention_readout,
)
from hands_on_meta.learners.base import built_model
from hands_on_meta.learners.metric import MetricLearner
from hands_on_meta.validation import check_int

LOG_EPSILON = 1e-8


@keras.saving.register_keras_serializable(package="hands_on_meta")
class MatchingNet(MetricLearner):
    """Matching network around an ``encoder`` (a built Keras model: example -> vector); see the module
    docstring. ``n_way``: if given, episodes must have exactly that many classes. ``learned_scale``:
    if given, the cosines are multiplied by a trainable scalar starting at that value (the paper
    uses plain cosines: ``None``)."""

    def __init__(self, encoder, fce=False, processing_steps=5, n_way=None, learned_scale=None, **kwargs):
        super().__init__(**kwargs)
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

    def contextual_embeddings(self, episodes, training=False):
        """Support and query embeddings g(S) (B, S, D) and f(Q) (B, Q, D) (full-context if ``fce``)."""
        support, queries = self.embed(episodes, training=training)
        if self.fce:
            support = self.support_context(support)
            queries = self.query_context(queries, support)
        return support, queries

    def attend(self, episodes, training=False):
        """Class probabilities (B, Q, N) and the attention over the support set (B, Q, S)."""
        episodes = self.with_batch_axis(episodes)
        n_way = self.check(episodes)
        support, queries = self.contextual_embeddings(episodes, training=training)
        return attention_readout(self.similarity(queries, support), episodes["support_y"], n_way)

    def episode_outputs(self, episodes, training=False):
        probabilities, _ = self.attend(episodes, training=training)
        return tf.math.log(tf.maximum(probabilities, LOG_EPSILON))

    def get_config(self):
        return {**super().get_config(), "encoder": keras.saving.serialize_keras_object(self.encoder), "fce": self.fce,
                "processing_steps": self.processing_steps, "n_way": self.n_way,
                "learned_scale": self.similarity.learned_scale}
