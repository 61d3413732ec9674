"""What every meta-learner shares: a ``keras.Model`` that trains and tests on (meta-batches of)
episodes, so ``fit()``, ``evaluate()``, callbacks and progress bars just work.

A learner implements :meth:`EpisodicLearner.episode_outputs`, returning per-episode predictions for
the query set (it may override :meth:`EpisodicLearner.query_loss`), and gets from this class

- ``train_step``: loss = mean over episodes of ``task_loss(query_y, predictions)``, gradient by
  ``tf.GradientTape``, one optimizer step (gradient-based learners replace it with the shared outer
  step: :class:`~hands_on_meta.learners.gradient_based.GradientBasedLearner`);
- ``test_step`` / :meth:`episode_scores`: per-episode accuracy (%) or MSE, used by
  :func:`hands_on_meta.evaluation.meta_test`;
- :meth:`with_batch_axis`: a single episode as a meta-batch of one, for wrappers and plots.

``task`` is ``"classification"`` or ``"regression"`` (:mod:`hands_on_meta.objectives`).
"""
import keras
import tensorflow as tf

from hands_on_meta.objectives import check_task, task_loss, task_score

TASK_KEYS = ("support_x", "support_y", "query_x", "query_y")  # what one task of an episode batch holds


def built_model(value, name, vector_output=False):
    """``value`` (a Keras model, or its serialized config when a saved learner is loaded) after checking
    it is a built ``keras.Model``, mapping examples to vectors if ``vector_output``; raises ValueError
    naming the argument ``name`` otherwise.

    >>> built_model(keras.Sequential([keras.layers.Dense(2)], name="net"), "encoder")
    Traceback (most recent call last):
    ValueError: encoder must be a built keras.Model (give it a keras.Input), got <Sequential name=net, built=False>
    """
    if isinstance(value, dict):
        value = keras.saving.deserialize_keras_object(value)
    if not isinstance(value, keras.Model) or not value.built:
        raise ValueError(f"{name} must be a built keras.Model (give it a keras.Input), got {value!r}")
    if vector_output and len(value.output_shape) != 2:
        raise ValueError(f"{name} must map a batch of examples to vectors (batch, dim), but it outputs "
                         f"{value.output_shape}")
    return value


def batched(episode):
    """Add a meta-batch axis of 1 to a single episode (support_y has rank 1 for classification)."""
    return {key: value[None] for key, value in episode.items()}


class EpisodicLearner(keras.Model):
    """Base class; see the module docstring. Subclasses set ``self.task`` and implement
    ``episode_outputs(episodes, training)``."""

    def __init__(self, task="classification", **kwargs):
        super().__init__(**kwargs)
        self.task = check_task(task)
        self.loss_tracker = keras.metrics.Mean(name="loss")
        self.score_tracker = keras.metrics.Mean(name="accuracy" if task == "classification" else "mse")

    @property
    def metrics(self):
        return [self.loss_tracker, self.score_tracker]

    @property
    def outer_variables(self):
        """The variables the outer (meta) optimizer updates: all trainable ones, unless a learner says otherwise."""
        return self.trainable_variables

    def compile_from_config(self, config):
        """As Keras (when a saved learner is loaded), but the optimizer is built for :attr:`outer_variables`."""
        self.compile(**keras.saving.deserialize_keras_object(config))
        if self.optimizer is not None and self.built:
            self.optimizer.build(self.outer_variables)

    def episode_outputs(self, episodes, training=False):
        """Query predictions, shape (meta_batch, n_query_points, outputs)."""
        raise NotImplementedError

    def query_loss(self, query_y, outputs):
        """Loss of one episode's query predictions (override for other losses, e.g. MSE on scores)."""
        return task_loss(self.task, query_y, outputs)

    def query_losses(self, query_y, outputs):
        """Per-episode query losses (meta_batch,) in float32."""
        return tf.map_fn(lambda args: tf.cast(self.query_loss(args[0], args[1]), tf.float32), (query_y, outputs),
                         fn_output_signature=tf.float32)

    def update_metrics(self, loss, scores):
        """Track the meta-batch's mean ``loss`` and its per-episode ``scores``; the logs of a step."""
        self.loss_tracker.update_state(loss)
        self.score_tracker.update_state(scores)
        return {m.name: m.result() for m in self.metrics}

    def apply_meta_gradients(self, grads, variables=None):
        """One optimizer step with ``grads``, this replica's mean over its episodes, for ``variables``
        (default :attr:`outer_variables`). Under a ``tf.distribute`` strategy every replica meta-trains on
        its share of the meta-batch and the optimizer *sums* the replicas' gradients, so each is divided
        by the number of replicas: the step is the one of the whole meta-batch on one device."""
        variables = self.outer_variables if variables is None else variables
        replicas = tf.distribute.get_replica_context().num_replicas_in_sync if tf.distribute.has_strategy() else 1
        if replicas > 1:
            grads = [None if g is None else g / replicas for g in grads]
        self.optimizer.apply_gradients(zip(grads, variables))

    def train_step(self, episodes):
        episodes = self.with_batch_axis(episodes)
        with tf.GradientTape() as tape:
            outputs = self.episode_outputs(episodes, training=True)
            loss = tf.reduce_mean(self.query_losses(episodes["query_y"], outputs))
        self.apply_meta_gradients(tape.gradient(loss, self.outer_variables))
        return self.update_metrics(loss, task_score(self.task, episodes["query_y"], outputs))

    def test_step(self, episodes):
        episodes = self.with_batch_axis(episodes)
        outputs = self.episode_outputs(episodes, training=False)
        return self.update_metrics(tf.reduce_mean(self.query_losses(episodes["query_y"], outputs)),
                                   task_score(self.task, episodes["query_y"], outputs))

    def episode_scores(self, episodes):
        """Per-episode accuracy (%) or MSE on the query set, shape (meta_batch,)."""
        episodes = self.with_batch_axis(episodes)
        return task_score(self.task, episodes["query_y"], self.episode_outputs(episodes, training=False))

    def call(self, episodes, training=False):
        return self.episode_outputs(self.with_batch_axis(episodes), training=training)

    def with_batch_axis(self, episodes):
        """``episodes`` as a meta-batch: a single episode gets a leading axis of 1; the ``(x, y,
        sample_weight)`` tuple ``train_on_batch`` packs is unpacked."""
        if isinstance(episodes, tuple):
            episodes = episodes[0]
        single = len(episodes["query_y"].shape) == (1 if self.task == "classification" else 2)
        return batched(episodes) if single else episodes

    def fit(self, *args, shuffle=False, **kwargs):
        """``keras.Model.fit``; episodes are random already, so ``shuffle`` defaults to False."""
        return super().fit(*args, shuffle=shuffle, **kwargs)

    def get_config(self):
        return {**super().get_config(), "task": self.task}
