"""What every gradient-based meta-learner shares: a network adapted to each task by the inner loop
(:func:`hands_on_meta.inner_loop.adapt`) and one outer step (:func:`hands_on_meta.inner_loop.meta_gradients`).

A learner of this family supplies only what differs from MAML, through a few hooks:

- :meth:`~GradientBasedLearner.learning_rates` (Meta-SGD's learned rates),
  :meth:`~GradientBasedLearner.adapted_layers` (ANIL's head, CAML's context),
  :meth:`~GradientBasedLearner.initial_weights` (Proto-MAML's prototype head),
  :meth:`~GradientBasedLearner.inner_penalty` (iMAML's proximal term);
- :meth:`~GradientBasedLearner.task_objective`, a task's outer loss (ADML's crossed losses);
- :meth:`~GradientBasedLearner.task_gradient`, a task's meta-gradient when it is not the gradient of a
  loss (Reptile, iMAML);
- :attr:`~GradientBasedLearner.outer_variables`, what the outer optimizer trains.

``train_step`` is written once, here. How the meta-gradient is taken is a constructor argument:
``meta_gradients="per_task"`` (default: each task's meta-gradient on its own, ``parallel_tasks`` at a time,
so only their graphs are held; faster and less than half the memory on the Omniglot benchmark,
benchmarks/README.md) or ``"one_tape"`` (one tape over the meta-batch). Both give the same step.

``batch_norm`` (networks with batch-norm layers): ``"transductive"`` (default, as MAML's reference code)
normalises every forward pass with the statistics of the batch at hand, the support set while adapting
and the whole query set when predicting, so a query's prediction depends on the other queries and
the moving statistics are never used. ``"running"`` trains the same way but also moves the moving
statistics toward those of the adapted networks' query batches (mean over the meta-batch), and tests
the queries with them, each on its own. The support set always adapts with its own batch statistics,
at test as in training (adapting with the moving statistics diverged on Omniglot: 20.3%, chance).
A learner that differentiates through its inner loop refuses Keras' own ``BatchNormalization``, whose
second derivative is inexact (:class:`~hands_on_meta.layers.ExactBatchNormalization`).
"""
import keras
import tensorflow as tf

from hands_on_meta.episodes import interleave_classes
from hands_on_meta.inner_loop import STRATEGIES, adapt, forward, meta_gradients
from hands_on_meta.learners.base import TASK_KEYS, EpisodicLearner, batched, built_model
from hands_on_meta.objectives import task_loss, task_score
from hands_on_meta.validation import check_int

BATCH_NORM_MODES = ("transductive", "running")


class GradientBasedLearner(EpisodicLearner):
    """A network adapted per task by the shared inner loop and meta-trained by the shared outer step
    (see the module docstring; :class:`~hands_on_meta.learners.MAML` documents the arguments)."""

    # Is a task's meta-gradient the gradient of its outer loss? False for learners whose
    # task_gradient is a direction of their own (Reptile, iMAML): they cannot use meta_gradients="one_tape".
    gradient_of_a_loss = True

    def __init__(self, network, task="classification", inner_lr=0.01, inner_steps=1, eval_steps=None,
                 first_order=False, anil=False, agreement=False, batch_norm="transductive", clip_norm=None,
                 inner_batch=None, meta_gradients="per_task", parallel_tasks=2, **kwargs):
        super().__init__(task=task, **kwargs)
        network = built_model(network, "network")
        rates = inner_lr if isinstance(inner_lr, (list, tuple)) else [inner_lr]
        if not rates or not all(isinstance(r, (int, float)) and not isinstance(r, bool) and r > 0 for r in rates):
            raise ValueError(f"inner_lr must be a positive number or a list of them (one per step), got {inner_lr!r}")
        if batch_norm not in BATCH_NORM_MODES:
            raise ValueError(f"batch_norm must be one of {BATCH_NORM_MODES}, got {batch_norm!r}")
        if meta_gradients not in STRATEGIES:
            raise ValueError(f"meta_gradients must be one of {STRATEGIES}, got {meta_gradients!r}")
        if clip_norm is not None and not (isinstance(clip_norm, (int, float)) and clip_norm > 0):
            raise ValueError(f"clip_norm must be None or a positive number, got {clip_norm!r}")
        self.network = network
        self.inner_lr = [float(r) for r in rates] if isinstance(inner_lr, (list, tuple)) else float(inner_lr)
        self.batch_norm = batch_norm
        self.inner_steps = check_int("inner_steps", inner_steps, 0)
        self.eval_steps = check_int("eval_steps", eval_steps if eval_steps is not None else max(inner_steps, 1), 0)
        self.first_order = bool(first_order)
        self.anil = bool(anil)
        self.agreement = bool(agreement)
        self.clip_norm = None if clip_norm is None else float(clip_norm)
        self.inner_batch = check_int("inner_batch", inner_batch, 1, allow_none=True)
        self.meta_gradients = meta_gradients
        self.parallel_tasks = check_int("parallel_tasks", parallel_tasks, 1)
        if meta_gradients == "one_tape" and (self.agreement or not self.gradient_of_a_loss):
            raise ValueError(f"meta_gradients='one_tape' differentiates the meta-batch's mean loss, which "
                             f"{'agreement=True' if self.agreement else type(self).__name__} cannot use "
                             "(it needs each task's meta-gradient); use meta_gradients='per_task'")
        if self.second_order:
            refuse_inexact_batch_norm(network)
        self.built = True  # all weights live in the built network

    @property
    def second_order(self):
        """Does the meta-gradient differentiate through the inner loop's gradients?"""
        return not self.first_order

    # --- hooks: what a learner of the family may change -------------------------------------------

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

    def initial_weights(self, support_x, support_y, training):
        """Where adaptation starts for one task: None for the network's weights (Proto-MAML overrides)."""
        return

    def inner_penalty(self):
        """A function of the fast weights added to the inner loss, or None (iMAML's proximal term)."""
        return

    def task_objective(self, task):
        """``(loss, aux)`` of one task for meta-training: adapt on its support set, the loss on its
        queries; ``aux`` = (score, new batch-norm state) as :meth:`aux_signature` describes."""
        query_y = task[3]
        outputs, state = self.predict_tasks(one_task_batch(task), training=True, with_state=True)
        return self.query_loss(query_y, outputs[0]), self.aux(query_y, outputs[0], [s[0] for s in state])

    def task_gradient(self):
        """A function ``task -> (grads, loss, aux)`` if this learner takes a task's meta-gradient its own
        way, else None (the gradient of :meth:`task_objective`). Here: first-order MAML's gradient at the
        fast weights when :meth:`first_order_shortcut` applies, task by task."""
        if self.meta_gradients != "per_task" or not self.first_order_shortcut():
            return None

        def at_fast_weights(task):
            support_x, support_y, query_x, query_y = task
            fast = self.adapted_weights(support_x, support_y, self.inner_steps, training=True)
            with tf.GradientTape() as tape:
                tape.watch(fast)
                outputs, state = forward(self.network, fast, query_x, training=True, with_state=True)
                loss = tf.cast(self.query_loss(query_y, outputs), tf.float32)
            grads = tape.gradient(loss, fast, unconnected_gradients=tf.UnconnectedGradients.ZERO)
            return grads, loss, self.aux(query_y, outputs, state)

        return at_fast_weights

    # --- the shared machinery ----------------------------------------------------------------------

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

    def first_order_shortcut(self):
        """Can the first-order meta-gradient be taken at the fast weights? Yes for first-order MAML that
        adapts the network's own weights from themselves and trains only them: ``d fast / d weights``
        is then the identity, and the inner loop stays off the outer tape."""
        base = GradientBasedLearner
        return (self.first_order and type(self).initial_weights is base.initial_weights
                and type(self).task_objective is base.task_objective
                and [id(w) for w in self.outer_variables] == [id(w) for w in self.network.trainable_variables])

    def moves_statistics(self):
        """Does meta-training move the network's moving statistics (``batch_norm="running"``)?"""
        return self.batch_norm == "running" and bool(self.network.non_trainable_variables)

    def aux(self, query_y, outputs, state):
        """What a task reports besides its loss: its score, and its new batch-norm state if it moves."""
        score = tf.cast(task_score(self.task, query_y[None], outputs[None])[0], tf.float32)
        return score, (list(state) if self.moves_statistics() else [])

    def aux_signature(self):
        state = self.network.non_trainable_variables if self.moves_statistics() else []
        return tf.TensorSpec((), tf.float32), [tf.TensorSpec(v.shape, v.dtype) for v in state]

    def meta_batch_gradients(self, episodes):
        """:func:`~hands_on_meta.inner_loop.meta_gradients` of a meta-batch for :attr:`outer_variables`:
        ``(grads, losses, (scores, states), task_weights)``."""
        own = self.task_gradient()
        return meta_gradients(
            self.outer_variables, tuple(episodes[key] for key in TASK_KEYS),
            objective=None if own else self.task_objective, task_gradient=own, aux_signature=self.aux_signature(),
            strategy=self.meta_gradients, parallel_tasks=self.parallel_tasks, agreement=self.agreement)

    def task_weights(self, episodes):
        """The weight (T,) each task of the meta-batch ``episodes`` gets in a meta-update from the current
        weights: 1/T each, or with ``agreement`` its gradient-agreement weight. Nothing is updated."""
        return self.meta_batch_gradients(self.with_batch_axis(episodes))[3]

    def train_step(self, episodes):
        episodes = self.with_batch_axis(episodes)
        grads, losses, (scores, states), _ = self.meta_batch_gradients(episodes)
        self.apply_meta_gradients(grads, self.outer_variables)
        for variable, values in zip(self.network.non_trainable_variables if states else [], states):
            # floats (moving statistics): mean over the tasks; counters and the like: the last task's
            variable.assign(tf.reduce_mean(values, 0) if "float" in str(variable.dtype) else values[-1])
        return self.update_metrics(tf.reduce_mean(losses), scores)

    def predict_tasks(self, episodes, training=False, attack=None, adapted=None, with_state=False):
        """Adapt to each task of the meta-batch and predict its queries, (meta_batch, queries, outputs).
        ``attack(fast, query_x, query_y)``, if given, replaces the queries first (adversarial
        evaluation, :class:`hands_on_meta.adversarial.UnderAttack`); ``adapted(support_x, support_y,
        steps, training)`` replaces :meth:`adapted_weights` (ADML adapts on attacked support sets).
        ``with_state``: also return the new batch-norm state of each task (stacked; [] unless
        :meth:`moves_statistics`).

        Meta-training runs each task's objective through this loop too, on a meta-batch of one: written
        straight into the loop over tasks instead, second-order Meta-SGD's step graph was rejected by
        TensorFlow ("N nodes in a cycle") in 4 of 10 runs; nested like this, in none."""
        steps = self.inner_steps if training else self.eval_steps
        batch_stats = self.batch_statistics(training)
        adapted = adapted or self.adapted_weights
        moving = with_state and self.moves_statistics()

        def one_task(task):
            support_x, support_y, query_x, query_y = task
            fast = adapted(support_x, support_y, steps, training)
            if attack is not None:
                query_x = attack(fast, query_x, query_y)
            outputs, state = forward(self.network, fast, query_x, training=batch_stats, with_state=True)
            return (outputs, state) if moving else outputs

        signature = tf.TensorSpec(None, self.output_dtype)
        if moving:
            signature = (signature, [tf.TensorSpec(v.shape, v.dtype) for v in self.network.non_trainable_variables])
        result = tf.map_fn(one_task, tuple(episodes[key] for key in TASK_KEYS), parallel_iterations=self.parallel_tasks,
                           fn_output_signature=signature)
        if not with_state:
            return result
        return result if moving else (result, [])

    def episode_outputs(self, episodes, training=False):
        return self.predict_tasks(episodes, training)

    @property
    def output_dtype(self):
        return self.network.outputs[0].dtype if self.network.outputs else tf.float32

    def get_config(self):
        return {**super().get_config(), "network": keras.saving.serialize_keras_object(self.network),
                "inner_lr": self.inner_lr, "inner_steps": self.inner_steps, "eval_steps": self.eval_steps,
                "first_order": self.first_order, "anil": self.anil, "agreement": self.agreement,
                "batch_norm": self.batch_norm, "clip_norm": self.clip_norm, "inner_batch": self.inner_batch,
                "meta_gradients": self.meta_gradients, "parallel_tasks": self.parallel_tasks}


def one_task_batch(task):
    """The task ``(support_x, support_y, query_x, query_y)`` as an episode batch of one."""
    return batched(dict(zip(TASK_KEYS, task)))


def refuse_inexact_batch_norm(network):
    """ValueError if ``network`` holds Keras' own ``BatchNormalization`` (its second derivative through
    batch statistics is inexact on TensorFlow; hands_on_meta's batch-norm layers fix it)."""
    inexact = [layer.name for layer in all_layers(network) if type(layer) is keras.layers.BatchNormalization]
    if inexact:
        raise ValueError(f"network has keras.layers.BatchNormalization layers {inexact}, whose second derivative "
                         "is inexact, so a second-order meta-gradient through them is wrong; use "
                         "hands_on_meta.layers.FusedBatchNormalization or ExactBatchNormalization, or first_order=True")


def refuse_argument(learner, name, kwargs, why):
    """ValueError if ``kwargs`` holds ``name``, an argument of MAML that ``learner`` cannot honour."""
    if name in kwargs:
        raise ValueError(f"{learner} takes no {name} argument ({why}); got {name}={kwargs[name]!r}")


def all_layers(model):
    """Every layer of ``model``, nested models' layers included."""
    for layer in model.layers:
        yield layer
        if isinstance(layer, keras.Model):
            yield from all_layers(layer)
