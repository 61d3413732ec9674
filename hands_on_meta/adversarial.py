"""Adversarial examples for meta-learners (chapter 6, ADML): the fast gradient sign method (FGSM,
Goodfellow et al. 2015) and adversarial meta-testing.

:func:`fgsm` perturbs inputs by ``epsilon * sign(d loss / d x)`` for a network run with given weights
(the meta-parameters, or a task's fast weights). :class:`UnderAttack` wraps a gradient-based learner
(MAML, Meta-SGD, Reptile, ADML, ...) for :func:`hands_on_meta.evaluation.meta_test`: it adapts on the
clean support set as usual, then attacks each query set against the *adapted* network (white box,
true labels) and scores the predictions on the perturbed queries.

>>> # meta_test(UnderAttack(maml, epsilon=0.1, clip=(0, 1)), test_episodes, 600)
"""
import tensorflow as tf

from hands_on_meta.inner_loop import forward


def fgsm(model, weights, x, y, loss_fn, epsilon, clip=None, training=True):
    """``x + epsilon * sign(grad_x loss_fn(y, model(x)))`` with ``model`` run on ``weights`` (None: its
    own), clipped to the ``(low, high)`` input range if given; no gradient flows back through it.

    >>> import keras
    >>> net = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    >>> x = tf.zeros((1, 2)); mse = lambda y, p: tf.reduce_mean((y - p) ** 2)
    >>> bool(mse(1.0, net(fgsm(net, None, x, 1.0, mse, 0.5))) >= mse(1.0, net(x)))
    True
    """
    if not epsilon >= 0:
        raise ValueError(f"epsilon must be >= 0, got {epsilon!r}")
    weights = model.trainable_variables if weights is None else weights
    x = tf.convert_to_tensor(x)
    with tf.GradientTape() as tape:
        tape.watch(x)
        loss = loss_fn(y, forward(model, weights, x, training))
    adversarial = x + tf.cast(epsilon, x.dtype) * tf.sign(tape.gradient(loss, x))
    if clip is not None:
        adversarial = tf.clip_by_value(adversarial, *clip)
    return tf.stop_gradient(adversarial)


class UnderAttack:
    """``learner`` meta-tested on FGSM-perturbed query sets (see module docstring); use it wherever
    :func:`~hands_on_meta.evaluation.meta_test` takes a learner."""

    def __init__(self, learner, epsilon, clip=None):
        if not hasattr(learner, "predict_tasks"):
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
        from hands_on_meta.learners.base import task_score  # the learners import this module

        episodes = self.learner._with_batch_axis(episodes)
        outputs = self.learner.predict_tasks(episodes, training=False, attack=self.attack)
        return task_score(self.task, episodes["query_y"], outputs)
