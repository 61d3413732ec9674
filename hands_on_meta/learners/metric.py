"""What every metric-based meta-learner shares: it embeds an episode's examples and compares queries
with the support set, with no inner loop (ProtoNet, matching, relation and Siamese networks).

:meth:`MetricLearner.embed` is the one embedding path: the support and query examples (and any other
example sets of the episode) of the whole meta-batch go through the encoder in *one* call, which is
faster, and lets batch normalisation see the whole episode, as in training.
:class:`~hands_on_meta.transductive.Transductive` tests any of these learners with each episode's
own batch statistics.
"""
import tensorflow as tf

from hands_on_meta.episodes import check_episodes
from hands_on_meta.learners.base import EpisodicLearner


class MetricLearner(EpisodicLearner):
    """Base class of the metric learners; they classify, so ``task`` can only be ``"classification"``.
    Subclasses set :attr:`encoder` (the model that embeds examples) and may set ``n_way``."""

    n_way = None

    def __init__(self, task="classification", **kwargs):
        if task != "classification":
            raise ValueError(f"{type(self).__name__} classifies (task='classification'), got task={task!r}")
        super().__init__(task=task, **kwargs)

    def check(self, episodes):
        """The number of classes of ``episodes`` (a tensor), after checking them against the encoder's
        input shape and ``n_way`` (:func:`~hands_on_meta.episodes.check_episodes`)."""
        return check_episodes(episodes, self.n_way, self.encoder.input_shape[1:])

    def embed(self, episodes, keys=("support_x", "query_x"), training=False, encoder=None):
        """Embeddings (meta_batch, examples, *feature shape) of ``episodes[key]`` for each of ``keys``,
        from one call of ``encoder`` (default :attr:`encoder`) on all of them together."""
        encoder = self.encoder if encoder is None else encoder
        parts = [episodes[key] for key in keys]
        batch = tf.shape(parts[0])[0]
        sizes = [tf.shape(part)[1] for part in parts]
        flat = tf.concat([tf.reshape(part, (-1, *part.shape[2:])) for part in parts], axis=0)
        z = encoder(flat, training=training)
        chunks = tf.split(z, [batch * size for size in sizes], axis=0)
        return [tf.reshape(chunk, (batch, size, *z.shape[1:])) for chunk, size in zip(chunks, sizes)]

    def get_config(self):
        config = super().get_config()
        config.pop("task", None)  # always classification
        return config
