"""CAML / CAVIA (Zintgraf et al. 2019): fast context adaptation.

The network holds :class:`~hands_on_meta.layers.ContextConcat` layers. In the inner loop only their
context parameters adapt, always from zero; the outer loop trains every other weight (second-order
through the inner loop, as MAML) and never the context's starting point. Few parameters adapt, so the
inner learning rate is typically large (1.0 on sine regression).

>>> import keras
>>> from hands_on_meta.layers import ContextConcat
>>> net = keras.Sequential([keras.Input((1,)), ContextConcat(4), keras.layers.Dense(40, activation="relu"),
...                         keras.layers.Dense(1)])
>>> caml = CAML(net, task="regression", inner_lr=1.0)
>>> len(caml.trainable_variables), len(caml.outer_variables)  # the context is not an outer variable
(5, 4)
"""
import keras

from hands_on_meta.layers.context import ContextConcat
from hands_on_meta.learners.gradient_based import GradientBasedLearner, all_layers, refuse_argument


@keras.saving.register_keras_serializable(package="hands_on_meta")
class CAML(GradientBasedLearner):
    """MAML that adapts only the context parameters of the network (see module docstring)."""

    def __init__(self, network, task="classification", inner_lr=1.0, inner_steps=1, eval_steps=None, **kwargs):
        refuse_argument("CAML", "anil", kwargs, "it adapts the context parameters, never the head")
        super().__init__(network, task=task, inner_lr=inner_lr, inner_steps=inner_steps, eval_steps=eval_steps,
                         **kwargs)
        if not self.adapted_layers():
            raise ValueError("network must contain a hands_on_meta.layers.ContextConcat layer (the parameters "
                             "CAML adapts)")

    def adapted_layers(self):
        return [layer for layer in all_layers(self.network) if isinstance(layer, ContextConcat)]

    @property
    def outer_variables(self):
        context = {id(w) for layer in self.adapted_layers() for w in layer.trainable_weights}
        return [w for w in self.trainable_variables if id(w) not in context]

    def get_config(self):
        config = super().get_config()
        config.pop("anil")
        return config

