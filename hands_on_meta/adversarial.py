"""Adversarial meta-testing (chapter 6, ADML): a gradient-based learner scored on attacked queries.

:class:`UnderAttack` wraps a gradient-based learner (MAML, Meta-SGD, Reptile, ADML, ...) for
:func:`hands_on_meta.evaluation.meta_test`: it adapts on the clean support set as usual, then attacks
each query set against the *adapted* network (white box, true labels) with
:func:`hands_on_meta.attacks.fgsm` and scores the predictions on the perturbed queries.

>>> # meta_test(UnderAttack(maml, epsilon=0.1, clip=(0, 1)), test_episodes, 600)
"""
from hands_on_meta.attacks import fgsm
from hands_on_meta.learners.gradient_based import GradientBasedLearner
from hands_on_meta.objectives import task_score

__all__ = ["UnderAttack", "fgsm"]


class UnderAttack:
    """``learner`` meta-tested on FGSM-perturbed query sets (see module docstring); use it wherever
    :func:`~hands_on_meta.evaluation.meta_test` takes a learner."""

    def __init__(self, learner, epsilon, clip=None):
        if not isinstance(learner, GradientBasedLearner):
            raise ValueError(f"UnderAttack needs a gradient-based learner (MAML and its variants), got "
                             f"{type(learner).__name__}")
        if not epsilon >= 0:
            raise ValueError(f"epsilon must be >= 0, got {epsilon!r}")
        self.learner, self.epsilon, self.clip = learner, float(epsilon), clip
        self.task = learner.task

    def attack(self, fast, query_x, query_y):
        """The query set perturbed against the network with ``fast`` weights."""
        learner = self.learner
        return fgsm(learner.network, fast, query_x, query_y, learner.query_loss, self.epsilon, self.clip,
                    training=learner.batch_statistics(False))

    def episode_scores(self, episodes):
        """Per-episode accuracy (%) or MSE on the attacked query sets."""
        episodes = self.learner.with_batch_axis(episodes)
        outputs = self.learner.predict_tasks(episodes, training=False, attack=self.attack)
        return task_score(self.task, episodes["query_y"], outputs)
