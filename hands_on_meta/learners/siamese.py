"""Siamese networks (Bromley et al. 1993; Hadsell et al. 2006; Koch et al. 2015): one encoder with
shared weights embeds both inputs of a pair, and a similarity of the two embeddings says whether
they show the same class.

The ``head`` says how pairs are scored and trained:

* ``head="contrastive"``: similarity = minus the L2 (or L1) distance of the embeddings, trained with
  the contrastive loss (similar pairs pulled together, dissimilar ones pushed beyond ``margin``);
* ``head="triplet"``: the same similarity, trained so that each query is ``margin`` closer to its own
  class than to the closest other class of the episode (the hardest negative);
* ``head="softmax"``: the same similarity, trained with a softmax over ``-scale * distance**2`` to
  every class of the episode (cross-entropy of the query's own class);
* ``head="bce"``: similarity = a logit ``w . |a - b| + c`` (L1; ``(a - b)^2`` for L2) from a learned
  ``Dense(1)``, trained with binary cross-entropy on "same class?".

The triplet and softmax heads rank each query's references against each other, which is what one-shot
identification asks (:mod:`hands_on_meta.layers.siamese` says why and where it was measured).

Pairs come from episodes of the project's one sampler: every query against every support example.
With ``N``-way 1-shot episodes that is ``N*Q`` similar and ``N*Q*(N-1)`` dissimilar pairs; the two
groups get equal total weight in the pair losses (contrastive, BCE). With ``K > 1`` shots a query is paired with the nearest
(most similar) support example of each class. The episode outputs, the similarity of each query to
each class, are also what one-shot identification needs, so :func:`~hands_on_meta.evaluation.meta_test`
scores N-way K-shot identification (nearest neighbour) and
:func:`~hands_on_meta.verification.verification_test` scores pair verification.

>>> from hands_on_meta.layers import conv4
>>> siamese = SiameseNetwork(conv4((56, 46, 1)), distance="l2", head="contrastive", margin=1.0)
>>> siamese.compile(optimizer="adam")
>>> # siamese.fit(episode_dataset(load_faces("train", (56, 46)), 10, 1, 4), steps_per_epoch=100, epochs=10)
"""
import keras
import tensorflow as tf

from hands_on_meta.layers.distances import METRICS, PairDistance
from hands_on_meta.layers.siamese import contrastive_loss, softmax_distance_loss, triplet_loss
from hands_on_meta.learners.base import built_model
from hands_on_meta.learners.metric import MetricLearner
from hands_on_meta.validation import check_choice, check_number

HEADS = ("contrastive", "triplet", "softmax", "bce")


@keras.saving.register_keras_serializable(package="hands_on_meta")
class SiameseNetwork(MetricLearner):
    """Twin ``encoder`` (a built Keras model: example -> vector) with a pair similarity; see the
    module docstring. ``distance``: ``"l2"`` or ``"l1"``; ``head``: one of :data:`HEADS`; ``margin``:
    the contrastive or triplet margin; ``scale``: the softmax head's scale (the others ignore it)."""

    def __init__(self, encoder, distance="l2", head="contrastive", margin=1.0, scale=10.0, **kwargs):
        super().__init__(**kwargs)
        self.encoder = encoder = built_model(encoder, "encoder", vector_output=True)
        self.distance = check_choice("distance", distance, set(METRICS))
        self.head = check_choice("head", head, set(HEADS))
        self.margin = check_number("margin", margin)
        self.scale = check_number("scale", scale)
        self.pair_distance = PairDistance(distance, elementwise=head == "bce")
        if head == "bce":
            self.logit = keras.layers.Dense(1, name="same_logit")
            self.logit.build((None, encoder.output_shape[-1]))
        self.built = True

    def similarity(self, queries, references):
        """Similarity of every query embedding to every reference embedding, (..., Q, D), (..., N, D) ->
        (..., Q, N): minus the distance (contrastive head) or the logit of "same class" (BCE head)."""
        if self.head == "bce":
            return self.logit(self.pair_distance(queries, references))[..., 0]
        return -self.pair_distance(queries, references)

    def pair_scores(self, x1, x2, training=False):
        """Similarity of each pair ``(x1[i], x2[i])`` of examples, shape (pairs,)."""
        z = self.encoder(tf.concat([x1, x2], axis=0), training=training)
        return self.similarity(z[: tf.shape(x1)[0], None], z[tf.shape(x1)[0]:, None])[:, 0, 0]

    def episode_outputs(self, episodes, training=False):
        """Similarity of each query to each class (its nearest support example), (batch, Q, N)."""
        n_way = self.check(episodes)
        support, queries = self.embed(episodes, training=training)
        scores = self.similarity(queries, support)  # (batch, Q, S)
        sy = tf.cast(episodes["support_y"], tf.int32)
        in_class = tf.one_hot(sy, n_way, on_value=True, off_value=False, dtype=tf.bool)[:, None]  # (batch, 1, S, N)
        lowest = tf.fill(tf.shape(in_class), tf.constant(scores.dtype.min, scores.dtype))
        return tf.reduce_max(tf.where(in_class, scores[..., None], lowest), axis=2)

    def query_loss(self, query_y, outputs):
        """Loss of one episode: mean over queries (triplet, softmax heads) or over pairs, similar and
        dissimilar pairs weighing half each (contrastive, BCE heads)."""
        same = tf.one_hot(query_y, tf.shape(outputs)[-1], dtype=outputs.dtype)
        if self.head == "triplet":
            return tf.reduce_mean(triplet_loss(same, -outputs, self.margin))
        if self.head == "softmax":
            return tf.reduce_mean(softmax_distance_loss(same, -outputs, self.scale))
        if self.head == "bce":
            losses = tf.nn.sigmoid_cross_entropy_with_logits(labels=same, logits=outputs)
        else:
            losses = contrastive_loss(same, -outputs, self.margin)
        positive = tf.reduce_sum(same * losses) / tf.maximum(tf.reduce_sum(same), 1.0)
        negative = tf.reduce_sum((1.0 - same) * losses) / tf.maximum(tf.reduce_sum(1.0 - same), 1.0)
        return 0.5 * (positive + negative)

    def get_config(self):
        return {**super().get_config(), "encoder": keras.saving.serialize_keras_object(self.encoder), "distance": self.distance,
                "head": self.head, "margin": self.margin, "scale": self.scale}
