"""Meta-SGD (Li et al. 2017): MAML that also learns the inner learning rate, one rate per parameter.

The inner step is ``w - alpha * grad`` with ``alpha`` a trainable tensor shaped like ``w`` (initialised
at ``inner_lr``, so positive). Both the initialisation and ``alpha`` get the exact second-order
meta-gradient through :func:`hands_on_meta.inner_loop.adapt`.

>>> import keras
>>> net = keras.Sequential([keras.Input((1,)), keras.layers.Dense(40, activation="relu"), keras.layers.Dense(1)])
>>> meta_sgd = MetaSGD(net, task="regression", inner_lr=0.01)
>>> [tuple(rate.shape) for rate in meta_sgd.inner_rates]
[(1, 40), (40,), (40, 1), (1,)]
"""
import keras

from hands_on_meta.learners.maml import MAML


@keras.saving.register_keras_serializable(package="hands_on_meta")
class MetaSGD(MAML):
    """MAML with a learned per-parameter inner learning rate (see module docstring)."""

    def __init__(self, network, task="classification", inner_lr=0.01, inner_steps=1, eval_steps=None, **kwargs):
        kwargs.pop("first_order", None)
        super().__init__(network, task=task, inner_lr=inner_lr, inner_steps=inner_steps, eval_steps=eval_steps,
                         **kwargs)
        self.inner_rates = [
            self.add_weight(shape=w.shape, initializer=keras.initializers.Constant(self.inner_lr),
                            name=f"inner_rate_{i}")
            for i, w in enumerate(self.network.trainable_variables)]

    def learning_rates(self):
        return list(self.inner_rates)

    def get_config(self):
        config = super().get_config()
        config.pop("first_order")
        return config
