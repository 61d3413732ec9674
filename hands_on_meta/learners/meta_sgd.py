"""Meta-SGD (Li et al. 2017): MAML that also learns the inner learning rate, one rate per parameter.

The inner step is ``w - alpha * grad`` with ``alpha`` a trainable tensor shaped like ``w`` (initialised
at ``inner_lr``, so positive). Both the initialisation and ``alpha`` get the exact second-order
meta-gradient through :func:`hands_on_meta.inner_loop.adapt`; with ``first_order=True`` the inner
gradients are constants, and ``alpha`` still learns (its meta-gradient is then ``-grad`` times the
query-loss gradient).

>>> import keras
>>> net = keras.Sequential([keras.Input((1,)), keras.layers.Dense(40, activation="relu"), keras.layers.Dense(1)])
>>> meta_sgd = MetaSGD(net, task="regression", inner_lr=0.01)
>>> [tuple(rate.shape) for rate in meta_sgd.inner_rates]
[(1, 40), (40,), (40, 1), (1,)]
"""
import keras

from hands_on_meta.learners.gradient_based import GradientBasedLearner


@keras.saving.register_keras_serializable(package="hands_on_meta")
class MetaSGD(GradientBasedLearner):
    """MAML with a learned per-parameter inner learning rate (see module docstring)."""

    def __init__(self, network, task="classification", inner_lr=0.01, inner_steps=1, eval_steps=None, **kwargs):
        super().__init__(network, task=task, inner_lr=inner_lr, inner_steps=inner_steps, eval_steps=eval_steps,
                         **kwargs)
        if isinstance(self.inner_lr, list):
            raise ValueError(f"inner_lr must be one number for Meta-SGD (the start of every learned rate), "
                             f"got {inner_lr!r}")
        self.inner_rates = [
            self.add_weight(shape=w.shape, initializer=keras.initializers.Constant(self.inner_lr),
                            name=f"inner_rate_{i}")
            for i, w in enumerate(self.network.trainable_variables)]

    def learning_rates(self):
        return list(self.inner_rates)
