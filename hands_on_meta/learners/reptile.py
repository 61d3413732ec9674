"""Reptile (Nichol et al. 2018): move the initialisation toward the weights each task adapts to.

For each task of a meta-batch, :func:`hands_on_meta.inner_loop.adapt` runs ``inner_steps`` SGD steps
on the support set from the current weights ``phi`` (first-order: no gradient through them), giving
``phi_i``. The update direction of task ``i`` is ``phi - phi_i``; their mean (or, with
``agreement=True``, their gradient-agreement weighted sum, see
:mod:`hands_on_meta.gradient_agreement`) is handed to the compiled optimizer as the gradient. With
``keras.optimizers.SGD(epsilon)`` this is exactly ``phi <- phi + epsilon * mean_i(phi_i - phi)``;
``meta_batch=1`` episodes give serial Reptile, larger ones batched Reptile. Reptile is first-order by
definition, so it takes no ``first_order`` argument. Testing adapts on the support set with
``eval_steps`` and predicts the queries, as MAML does.

>>> import keras
>>> net = keras.Sequential([keras.Input((1,)), keras.layers.Dense(40, activation="relu"), keras.layers.Dense(1)])
>>> reptile = Reptile(net, task="regression", inner_lr=0.02, inner_steps=5)
>>> reptile.compile(optimizer=keras.optimizers.SGD(1.0))
>>> # reptile.fit(sine_tasks(meta_batch=5), steps_per_epoch=1000, epochs=10)
"""
import keras
import tensorflow as tf

from hands_on_meta.inner_loop import forward
from hands_on_meta.learners.gradient_based import GradientBasedLearner, refuse_argument


@keras.saving.register_keras_serializable(package="hands_on_meta")
class Reptile(GradientBasedLearner):
    """Reptile around any built Keras ``network`` (see module docstring)."""

    gradient_of_a_loss = False

    def __init__(self, network, task="classification", inner_lr=0.01, inner_steps=5, eval_steps=None, **kwargs):
        refuse_argument("Reptile", "first_order", kwargs, "it is first-order by definition")
        super().__init__(network, task=task, inner_lr=inner_lr, inner_steps=inner_steps,
                         eval_steps=eval_steps, first_order=True, **kwargs)
        if self.inner_steps < 1:
            raise ValueError(f"inner_steps must be >= 1 for Reptile, got {inner_steps}")

    def task_gradient(self):
        def toward_adapted(task):
            support_x, support_y, query_x, query_y = task
            fast = [tf.stop_gradient(f) for f in self.adapted_weights(support_x, support_y, self.inner_steps)]
            outputs, state = forward(self.network, fast, query_x, training=True, with_state=True)
            directions = [w - f for w, f in zip(self.network.trainable_variables, fast)]
            return directions, self.query_loss(query_y, outputs), self.aux(query_y, outputs, state)

        return toward_adapted

    def get_config(self):
        config = super().get_config()
        config.pop("first_order")
        return config

