"""ADML, adversarial meta-learning (Yin et al. 2018): MAML trained on clean and FGSM-perturbed data
so the initialisation adapts well and resists attacks.

For each task, FGSM examples (:func:`hands_on_meta.attacks.fgsm`, step ``epsilon``) are made from
its support and query sets against the *current* meta-parameters. Two adaptations run from the
same initialisation, one on the clean support set and one on the adversarial one; the meta-loss
crosses them: the weights adapted on adversarial data are scored on the clean queries, the weights
adapted on clean data on the adversarial queries (mean of the two, averaged over the meta-batch).
Testing is MAML's; :class:`hands_on_meta.adversarial.UnderAttack` measures accuracy under attack.

>>> import keras
>>> from hands_on_meta.layers import conv4
>>> adml = ADML(conv4(outputs=5), inner_lr=0.4, epsilon=0.1, clip=(0.0, 1.0))
>>> adml.compile(optimizer=keras.optimizers.Adam(1e-3))
>>> # adml.fit(episode_dataset(load_omniglot("trainval"), 5, 1, 15, meta_batch=32), ...)
"""
import keras

from hands_on_meta.attacks import fgsm
from hands_on_meta.learners.gradient_based import GradientBasedLearner, one_task_batch


@keras.saving.register_keras_serializable(package="hands_on_meta")
class ADML(GradientBasedLearner):
    """MAML with adversarial inner and outer updates (see module docstring)."""

    def __init__(self, network, task="classification", epsilon=0.1, clip=None, **kwargs):
        super().__init__(network, task=task, **kwargs)
        if not (isinstance(epsilon, (int, float)) and epsilon > 0):
            raise ValueError(f"epsilon must be a positive number, got {epsilon!r}")
        if clip is not None and not (len(clip) == 2 and clip[0] < clip[1]):
            raise ValueError(f"clip must be an input range (low, high) with low < high, got {clip!r}")
        self.epsilon = float(epsilon)
        self.clip = None if clip is None else (float(clip[0]), float(clip[1]))

    def perturb(self, x, y):
        """FGSM examples of ``(x, y)`` against the current meta-parameters."""
        return fgsm(self.network, None, x, y, self.query_loss, self.epsilon, self.clip,
                    training=self.batch_statistics(True))

    def task_objective(self, task):
        """The crossed loss: adapted on adversarial support, scored on clean queries, and the reverse.
        The score logged is the mean of the two; the new running statistics, those of the clean queries."""
        query_y, batch = task[3], one_task_batch(task)

        def adapted_on_adversarial(support_x, support_y, steps, training):
            return self.adapted_weights(self.perturb(support_x, support_y), support_y, steps, training)

        on_clean, state = self.predict_tasks(batch, True, adapted=adapted_on_adversarial, with_state=True)
        on_adversarial = self.predict_tasks(batch, True, attack=lambda fast, x, y: self.perturb(x, y))
        loss = 0.5 * (self.query_loss(query_y, on_clean[0]) + self.query_loss(query_y, on_adversarial[0]))
        score, state = self.aux(query_y, on_clean[0], [s[0] for s in state])
        return loss, (0.5 * (score + self.aux(query_y, on_adversarial[0], [])[0]), state)

    def get_config(self):
        return {**super().get_config(), "epsilon": self.epsilon, "clip": self.clip}
