"""MAML (Finn et al. 2017): learn an initialisation from which a few gradient steps on a task's
support set fit that task.

Inner loop: :func:`hands_on_meta.inner_loop.adapt`. Outer loss: the query loss of the adapted
weights, averaged over the meta-batch; its gradient flows through the inner steps (second-order) or
treats the inner gradients as constants (``first_order=True``, FOMAML). ``anil=True`` adapts only the
network's last layer with weights, the head (ANIL, Raghu et al. 2020); the body still learns in the outer loop.
``agreement=True`` weights each task's meta-gradient by its agreement with the others
(:mod:`hands_on_meta.gradient_agreement`) instead of averaging them. ``inner_steps=0`` trains the
network on query points directly: the "pretrained" baseline, fine-tuned with ``eval_steps`` at test.

>>> import keras
>>> net = keras.Sequential([keras.Input((1,)), keras.layers.Dense(40, activation="relu"),
...                         keras.layers.Dense(40, activation="relu"), keras.layers.Dense(1)])
>>> maml = MAML(net, task="regression", inner_lr=0.01, inner_steps=1, eval_steps=10)
>>> maml.compile(optimizer=keras.optimizers.Adam(1e-3))
>>> # maml.fit(sine_tasks(meta_batch=25), steps_per_epoch=1000, epochs=10)
"""
import keras
import tensorflow as tf

from hands_on_meta.gradient_agreement import combine
from hands_on_meta.inner_loop import adapt, forward
from hands_on_meta.learners.base import EpisodicLearner, built_model, task_loss
from hands_on_meta.validation import check_int


@keras.saving.register_keras_serializable(package="hands_on_meta")
class MAML(EpisodicLearner):
    """Model-agnostic meta-learning around any built Keras ``network`` (see module docstring)."""

    def __init__(self, network, task="classification", inner_lr=0.01, inner_steps=1, eval_steps=None,
                 first_order=False, anil=False, agreement=False, **kwargs):
        super().__init__(task=task, **kwargs)
        network = built_model(network, "network")
        if not (isinstance(inner_lr, (int, float)) and inner_lr > 0):
            raise ValueError(f"inner_lr must be a positive number, got {inner_lr!r}")
        self.network = network
        self.inner_lr = float(inner_lr)
        self.inner_steps = check_int("inner_steps", inner_steps, 0)
        self.eval_steps = check_int("eval_steps", eval_steps if eval_steps is not None else max(inner_steps, 1), 0)
        self.first_order = bool(first_order)
        self.anil = bool(anil)
        self.agreement = bool(agreement)
        self.built = True  # all weights live in the built network

    def learning_rates(self):
        """The inner learning rate: a float, or one per trainable weight (Meta-SGD learns them)."""
        return self.inner_lr

    def adapted_layers(self):
        """The layers whose weights adapt in the inner loop: None for all, with ``anil`` the last layer with weights."""
        if not self.anil:
            return None
        return [next(layer for layer in reversed(self.network.layers) if layer.trainable_weights)]

    def adapt_mask(self):
        """One bool per trainable network weight: does it adapt in the inner loop (None: all do)."""
        layers = self.adapted_layers()
        if layers is None:
            return None
        ids = {id(w) for layer in layers for w in layer.trainable_weights}
        return [id(w) in ids for w in self.network.trainable_variables]

    def adapted_weights(self, support_x, support_y, steps, training=True):
        """Fast weights for one task (used by the learner and by plots of the adaptation)."""
        return adapt(self.network, support_x, support_y, lambda y, p: task_loss(self.task, y, p),
                     steps=steps, learning_rate=self.learning_rates(), first_order=self.first_order,
                     adapt_mask=self.adapt_mask(), training=training)

    def train_step(self, episodes):
        if not self.agreement:
            return super().train_step(episodes)
        episodes = self._with_batch_axis(episodes)
        weights = self.outer_variables

        def one_task(task):
            with tf.GradientTape() as tape:
                outputs = self.episode_outputs({key: value[None] for key, value in task.items()}, training=True)
                loss = self.query_losses(task["query_y"][None], outputs)[0]
            return tape.gradient(loss, weights), outputs[0], loss

        keys = ("support_x", "support_y", "query_x", "query_y")
        grads, outputs, losses = tf.map_fn(
            one_task, {key: episodes[key] for key in keys},
            fn_output_signature=([tf.TensorSpec(w.shape, w.dtype) for w in weights],
                                 tf.TensorSpec(None, self.output_dtype), tf.float32))
        self.optimizer.apply_gradients(zip(combine(grads, agreement=True), weights))
        return self._update(episodes, outputs, tf.reduce_mean(losses))

    def episode_outputs(self, episodes, training=False):
        steps = self.inner_steps if training else self.eval_steps

        def one_task(task):
            support_x, support_y, query_x = task
            fast = self.adapted_weights(support_x, support_y, steps)
            return forward(self.network, fast, query_x)

        return tf.map_fn(one_task, (episodes["support_x"], episodes["support_y"], episodes["query_x"]),
                         fn_output_signature=self.output_dtype)

    @property
    def output_dtype(self):
        return self.network.outputs[0].dtype if self.network.outputs else tf.float32

    def get_config(self):
        return {**super().get_config(), "network": keras.saving.serialize_keras_object(self.network),
                "inner_lr": self.inner_lr, "inner_steps": self.inner_steps, "eval_steps": self.eval_steps,
                "first_order": self.first_order, "anil": self.anil, "agreement": self.agreement}
