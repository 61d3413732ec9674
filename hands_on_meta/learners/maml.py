"""MAML (Finn et al. 2017): learn an initialisation from which a few gradient steps on a task's
support set fit that task.

Inner loop: :func:`hands_on_meta.inner_loop.adapt`. Outer loss: the query loss of the adapted
weights, averaged over the meta-batch; its gradient flows through the inner steps (second-order) or
treats the inner gradients as constants (``first_order=True``, FOMAML). ``anil=True`` adapts only the
network's last layer with weights, the head (ANIL, Raghu et al. 2020); the body still learns in the outer loop.
``agreement=True`` weights each task's meta-gradient by its agreement with the others
(:mod:`hands_on_meta.gradient_agreement`) instead of averaging them (under a ``tf.distribute``
strategy, within each replica's share of the meta-batch). ``inner_steps=0`` trains the
network on query points directly: the "pretrained" baseline, fine-tuned with ``eval_steps`` at test.
Meta-training takes each task's meta-gradient on its own, ``parallel_tasks`` tasks at a time
(:meth:`MAML.task_meta_gradients`), so only their graphs are held; first-order MAML leaves its inner
loop off the meta-gradient's tape altogether.

``inner_lr`` is one rate, or a list of per-step rates (``[0.4, 0.2]``: 0.4 for the first step, 0.2 for
the second and any later one, e.g. the extra ``eval_steps`` at test time). ``clip_norm`` rescales each
inner step's gradients to at most that global norm (default None: plain SGD steps). ``inner_batch``: if
given, each inner step of meta-training uses the next ``inner_batch`` support examples instead of all of
them (classes interleaved, so a batch is balanced), as Reptile does; testing adapts on the whole support set.

``batch_norm`` (networks with BatchNorm layers): ``"transductive"`` (default, as MAML's reference
code) normalises every forward pass with the statistics of the batch at hand, the support set while
adapting and the whole query set when predicting, so a query's prediction depends on the other
queries, and the moving statistics are never used. ``"running"`` trains the same way but also
updates the moving statistics from the adapted networks' query batches (mean over the meta-batch),
and tests the queries with them: every query is classified on its own. The support set is normalised
with its own statistics in both modes, at test as in training (it is one batch either way): adapting
with the moving statistics diverged on Omniglot (a model trained 6,000 meta-steps tested at 20.3%,
chance, each inner step multiplying the logits by about 30).

>>> import keras
>>> net = keras.Sequential([keras.Input((1,)), keras.layers.Dense(40, activation="relu"),
...                         keras.layers.Dense(40, activation="relu"), keras.layers.Dense(1)])
>>> maml = MAML(net, task="regression", inner_lr=0.01, inner_steps=1, eval_steps=10)
>>> maml.compile(optimizer=keras.optimizers.Adam(1e-3))
>>> # maml.fit(sine_tasks(meta_batch=25), steps_per_epoch=1000, epochs=10)
"""
import keras
import tensorflow as tf

from hands_on_meta.episodes import interleave_classes
from hands_on_meta.gradient_agreement import combine
from hands_on_meta.inner_loop import adapt
from hands_on_meta.learners.base import EpisodicLearner, built_model, task_loss
from hands_on_meta.validation import check_int

BATCH_NORM_MODES = ("transductive", "running")


@keras.saving.register_keras_serializable(package="hands_on_meta")
class MAML(EpisodicLearner):
    """Model-agnostic meta-learning around any built Keras ``network`` (see module docstring)."""

    # Tasks of a meta-batch processed at once (tf.map_fn's parallel_iterations). With one tape over the
    # meta-batch, 2 ran as fast as TensorFlow's default 10 and 1 was 5-10% slower, while the peak memory
    # of the benchmark fell from 3.7 to 3.0 GB (benchmarks/README.md).
    parallel_tasks = 2

    def __init__(self, network, task="classification", inner_lr=0.01, inner_steps=1, eval_steps=None,
                 first_order=False, anil=False, agreement=False, batch_norm="transductive", clip_norm=None,
                 inner_batch=None, **kwargs):
        super().__init__(task=task, **kwargs)
        network = built_model(network, "network")
        rates = inner_lr if isinstance(inner_lr, (list, tuple)) else [inner_lr]
        if not rates or not all(isinstance(r, (int, float)) and not isinstance(r, bool) and r > 0 for r in rates):
            raise ValueError(f"inner_lr must be a positive number or a list of them (one per step), got {inner_lr!r}")
        if batch_norm not in BATCH_NORM_MODES:
            raise ValueError(f"batch_norm must be one of {BATCH_NORM_MODES}, got {batch_norm!r}")
        self.network = network
        self.inner_lr = [float(r) for r in rates] if isinstance(inner_lr, (list, tuple)) else float(inner_lr)
        self.batch_norm = batch_norm
        self.inner_steps = check_int("inner_steps", inner_steps, 0)
        self.eval_steps = check_int("eval_steps", eval_steps if eval_steps is not None else max(inner_steps, 1), 0)
        self.first_order = bool(first_order)
        self.anil = bool(anil)
        self.agreement = bool(agreement)
        if clip_norm is not None and not (isinstance(clip_norm, (int, float)) and clip_norm > 0):
            raise ValueError(f"clip_norm must be None or a positive number, got {clip_norm!r}")
        self.clip_norm = None if clip_norm is None else float(clip_norm)
        self.inner_batch = check_int("inner_batch", inner_batch, 1, allow_none=True)
        self.built = True  # all weights live in the built network

    def learning_rates(self):
        """The inner learning rate: a float, one per trainable weight (Meta-SGD learns them), or a
        function of the step returning either (per-step rates)."""
        if isinstance(self.inner_lr, list):
            return lambda step: self.inner_lr[min(step, len(self.inner_lr) - 1)]
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

    def batch_statistics(self, training):
        """Normalise the queries with batch statistics? Always when transductive, else only while
        meta-training (a support set always is: :meth:`adapted_weights`)."""
        return training or self.batch_norm == "transductive"

    def initial_weights(self, support_x, support_y, training):
        """Where adaptation starts for one task: None for the network's weights (Proto-MAML overrides)."""
        return

    def inner_penalty(self):
        """A function of the fast weights added to the inner loss, or None (iMAML's proximal term)."""
        return

    def adapted_weights(self, support_x, support_y, steps, training=True):
        """Fast weights for one task (used by the learner and by plots of the adaptation)."""
        batch = self.inner_batch if training else None
        if batch is not None and self.task == "classification":
            support_x, support_y = interleave_classes(support_x, support_y)
        return adapt(self.network, support_x, support_y, lambda y, p: task_loss(self.task, y, p),
                     steps=steps, learning_rate=self.learning_rates(), first_order=self.first_order,
                     weights=self.initial_weights(support_x, support_y, training), adapt_mask=self.adapt_mask(),
                     training=True, penalty=self.inner_penalty(), clip_norm=self.clip_norm,
                     batch_size=batch)

    def predict_tasks(self, episodes, training, adapted=None, attack=None):
        """Adapt to each task of the meta-batch and predict its queries.

        ``adapted(support_x, support_y, steps, training)`` gives the fast weights (default
        :meth:`adapted_weights`); ``attack(fast, query_x, query_y)``, if given, replaces the queries
        first (adversarial evaluation, :mod:`hands_on_meta.adversarial`). In ``"running"`` batch-norm
        mode, meta-training also moves the network's moving statistics toward those of the adapted
        networks' query batches.
        """
        adapted = adapted or self.adapted_weights
        steps = self.inner_steps if training else self.eval_steps
        batch_stats = self.batch_statistics(training)
        state = self.network.non_trainable_variables
        update = training and self.batch_norm == "running" and bool(state)

        def one_task(task):
            support_x, support_y, query_x, query_y = task
            fast = adapted(support_x, support_y, steps, training)
            if attack is not None:
                query_x = attack(fast, query_x, query_y)
            outputs, new_state = self.network.stateless_call(fast, state, query_x, training=batch_stats)
            return (outputs, new_state) if update else outputs

        signature = tf.TensorSpec(None, self.output_dtype)
        if update:
            signature = (signature, [tf.TensorSpec(v.shape, v.dtype) for v in state])
        keys = ("support_x", "support_y", "query_x", "query_y")
        result = tf.map_fn(one_task, tuple(episodes[key] for key in keys), fn_output_signature=signature,
                           parallel_iterations=self.parallel_tasks)
        if not update:
            return result
        outputs, new_state = result
        for variable, values in zip(state, new_state):  # floats: mean over tasks; counters etc.: last task
            variable.assign(tf.reduce_mean(values, 0) if "float" in str(variable.dtype) else values[-1])
        return outputs

    def train_step(self, episodes):
        if not (self.agreement or self.per_task_gradients()):
            return super().train_step(episodes)
        episodes = self._with_batch_axis(episodes)
        weights = self.outer_variables
        grads, outputs, losses = self.task_meta_gradients(episodes, weights)
        self.apply_meta_gradients(combine(grads, agreement=self.agreement), weights)
        return self._update(episodes, outputs, tf.reduce_mean(losses))

    def per_task_gradients(self):
        """Meta-train task by task (:meth:`task_meta_gradients`) instead of through one tape over the
        meta-batch? Yes, unless ``batch_norm="running"`` moves the network's statistics: on the Omniglot
        benchmark it is faster and holds less than half the memory, second- and first-order alike
        (benchmarks/README.md); for small MLPs it is as fast."""
        return not (self.batch_norm == "running" and self.network.non_trainable_variables)

    def first_order_shortcut(self):
        """Can the first-order meta-gradient be taken at the fast weights? Yes for first-order MAML that
        adapts the network's own weights from themselves and trains only them, without moving batch-norm
        statistics: ``d fast / d weights`` is then the identity."""
        return (self.first_order and type(self).initial_weights is MAML.initial_weights
                and [id(w) for w in self.outer_variables] == [id(w) for w in self.network.trainable_variables]
                and not (self.batch_norm == "running" and self.network.non_trainable_variables))

    def task_meta_gradients(self, episodes, weights):
        """Each task's meta-gradient (one tensor (T, *shape) per weight of ``weights``), query outputs
        and loss, the tasks taken ``parallel_tasks`` at a time, so only their graphs are held at once.

        With :meth:`first_order_shortcut` a task adapts outside any outer tape and takes the query loss's
        gradient at the fast weights: the same first-order meta-gradient, without recording the inner loop."""
        shortcut = self.first_order_shortcut()
        state = self.network.non_trainable_variables

        def one_task(task):
            support_x, support_y, query_x, query_y = task
            if shortcut:
                fast = self.adapted_weights(support_x, support_y, self.inner_steps, training=True)
                with tf.GradientTape() as tape:
                    tape.watch(fast)
                    outputs, _ = self.network.stateless_call(fast, state, query_x, training=True)
                    loss = tf.cast(self.query_loss(query_y, outputs), tf.float32)
                grads = tape.gradient(loss, fast, unconnected_gradients=tf.UnconnectedGradients.ZERO)
            else:
                with tf.GradientTape() as tape:
                    task_batch = {"support_x": support_x[None], "support_y": support_y[None],
                                  "query_x": query_x[None], "query_y": query_y[None]}
                    outputs = self.episode_outputs(task_batch, training=True)[0]
                    loss = tf.cast(self.query_loss(query_y, outputs), tf.float32)
                grads = tape.gradient(loss, weights, unconnected_gradients=tf.UnconnectedGradients.ZERO)
            return grads, outputs, loss

        keys = ("support_x", "support_y", "query_x", "query_y")
        return tf.map_fn(one_task, tuple(episodes[key] for key in keys), parallel_iterations=self.parallel_tasks,
                         fn_output_signature=([tf.TensorSpec(w.shape, w.dtype) for w in weights],
                                              tf.TensorSpec(None, self.output_dtype), tf.float32))

    def episode_outputs(self, episodes, training=False):
        return self.predict_tasks(episodes, training)

    @property
    def output_dtype(self):
        return self.network.outputs[0].dtype if self.network.outputs else tf.float32

    def get_config(self):
        return {**super().get_config(), "network": keras.saving.serialize_keras_object(self.network),
                "inner_lr": self.inner_lr, "inner_steps": self.inner_steps, "eval_steps": self.eval_steps,
                "first_order": self.first_order, "anil": self.anil, "agreement": self.agreement,
                "batch_norm": self.batch_norm, "clip_norm": self.clip_norm, "inner_batch": self.inner_batch}
