"""Transductive meta-testing of metric learners: batch norm with each test episode's own statistics.

A network with batch normalisation tests, by default, with the moving statistics gathered during
training, so every query is classified on its own. Many published few-shot numbers were measured
otherwise: the test code of the relation network (Sung et al. 2018) and of MAML runs the network in
training mode, so each batch norm layer normalises with the mean and variance of the episode at
hand. Each query's prediction then depends on the other queries of its episode, a mild form of
transductive inference. :class:`Transductive` wraps a trained ProtoNet, relation or matching network
for :func:`hands_on_meta.evaluation.meta_test` to measure that protocol: each episode of a meta-batch
is run on its own (support and query examples embedded together, as in training), with the moving
statistics left untouched. Gradient-based learners choose this with their own ``batch_norm``
argument instead (:class:`~hands_on_meta.learners.MAML`).

>>> # meta_test(Transductive(relation_net), test_episodes, 600)
"""
import tensorflow as tf

from hands_on_meta.inner_loop import forward
from hands_on_meta.learners.base import batched
from hands_on_meta.learners.metric import MetricLearner
from hands_on_meta.objectives import task_score


class Transductive:
    """``learner`` meta-tested with the batch statistics of each episode (see module docstring); use it
    wherever :func:`~hands_on_meta.evaluation.meta_test` takes a learner."""

    def __init__(self, learner):
        if not isinstance(learner, MetricLearner):
            raise ValueError("Transductive wraps a metric learner (ProtoNet, RelationNet, MatchingNet, ...); "
                             "gradient-based learners take batch_norm='transductive'; got "
                             f"{type(learner).__name__}")
        self.learner = learner
        self.task = learner.task

    def episode_outputs(self, episodes):
        """Query predictions (meta_batch, n_query, n_way), each episode normalised with its own statistics."""
        learner = self.learner
        episodes = learner.with_batch_axis(episodes)
        weights = learner.trainable_variables

        def one_episode(episode):
            return tf.cast(forward(learner, weights, batched(episode), training=True)[0], tf.float32)

        return tf.map_fn(one_episode, episodes, fn_output_signature=tf.TensorSpec(None, tf.float32))

    def episode_scores(self, episodes):
        """Per-episode accuracy (%) on the query sets."""
        episodes = self.learner.with_batch_axis(episodes)
        return task_score(self.task, episodes["query_y"], self.episode_outputs(episodes))
