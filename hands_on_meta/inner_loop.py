"""The one adaptation mechanism (a few gradient steps on a support set, as *fast weights*) and the
one outer step of every gradient-based meta-learner (the meta-gradient of a meta-batch of tasks).

``adapt`` never changes the model: it runs the network functionally with
``model.stateless_call(trainable, non_trainable, x, training=...)`` and returns new tensors for the
trainable weights. Inside an outer ``tf.GradientTape`` the inner gradients are themselves recorded,
so the meta-gradient is exact second-order MAML; ``first_order=True`` stops gradients through the
inner gradients (FOMAML).

BatchNorm: ``training=True`` (the default) normalises with the statistics of the batch at hand, for
the support set while adapting and for the query set when predicting (the transductive setting of
MAML's reference code); updated moving statistics are dropped, so the model's state is untouched.

:func:`meta_gradients` takes what a learner computes for one task (its outer loss, or its own
meta-gradient direction as Reptile and iMAML have) and returns the meta-gradient of a meta-batch:
task by task (``"per_task"``, each task's graph released before the next, ``parallel_tasks`` at a
time) or through one tape over the whole meta-batch (``"one_tape"``). Both give the same step (tested).

>>> import keras
>>> net = keras.Sequential([keras.Input((1,)), keras.layers.Dense(40, activation="relu"),
...                         keras.layers.Dense(1)])
>>> x = tf.random.normal((10, 1)); y = tf.sin(x)
>>> fast = adapt(net, x, y, lambda y, p: tf.reduce_mean((y - p) ** 2), steps=1, learning_rate=0.01)
>>> len(fast) == len(net.trainable_variables)
True
"""
import tensorflow as tf

from hands_on_meta.gradient_agreement import combine

STRATEGIES = ("per_task", "one_tape")


def forward(model, weights, x, training=True, with_state=False):
    """Run ``model`` on ``x`` with ``weights`` (a list matching ``model.trainable_variables``); with
    ``with_state`` also return the non-trainable state (batch-norm moving statistics) the call would
    leave, as a list of tensors (the model's own variables are never changed)."""
    outputs, state = model.stateless_call(list(weights), model.non_trainable_variables, x, training=training)
    return (outputs, list(state)) if with_state else outputs


def adapt(model, x, y, loss_fn, steps=1, learning_rate=0.01, first_order=False, weights=None,
          adapt_mask=None, training=True, penalty=None, clip_norm=None, batch_size=None):
    """Fast weights after ``steps`` SGD steps of ``loss_fn(y, model(x))`` from ``weights``.

    ``weights``: start point (default: the model's trainable variables). ``learning_rate``: a float,
    one value (float or tensor, e.g. a learned per-parameter rate as in Meta-SGD) per trainable
    weight, or a function of the step index (0, 1, ...) returning either (per-step rates).
    ``adapt_mask``: one bool per weight, False keeps that weight fixed (ANIL adapts only the head).
    ``penalty``: optional function of the fast weights added to the loss (iMAML's proximal term).
    ``clip_norm``: if given, each step's gradients are rescaled to at most this global norm (a step can
    then move the weights by at most ``learning_rate * clip_norm``, so a task whose loss is too sharp
    for the learning rate cannot blow up).
    ``batch_size``: if given, step ``j`` uses only rows ``j*batch_size ...`` of ``x`` and ``y`` (the next
    mini-batch, wrapping around; Reptile's inner loop), so arrange the rows as the batches should be.
    Returns a list of tensors in the order of ``model.trainable_variables``.
    """
    # Reading each variable into a tensor keeps the link to it for an outer tape (the meta-gradient).
    fast = [tf.convert_to_tensor(w) for w in (model.trainable_variables if weights is None else weights)]
    n = len(fast)
    mask = [True] * n if adapt_mask is None else list(adapt_mask)
    if len(mask) != n:
        raise ValueError(f"adapt_mask needs one entry per trainable weight ({n}), got {len(mask)}")
    for step in range(steps):
        rate = learning_rate(step) if callable(learning_rate) else learning_rate
        rates = list(rate) if isinstance(rate, (list, tuple)) else [rate] * n
        if len(rates) != n:
            raise ValueError(f"learning_rate needs one entry per trainable weight ({n}), got {len(rates)}")
        batch_x, batch_y = (x, y) if batch_size is None else _rows(step, batch_size, x, y)
        with tf.GradientTape() as tape:
            tape.watch(fast)
            loss = loss_fn(batch_y, forward(model, fast, batch_x, training))
            if penalty is not None:
                loss = loss + penalty(fast)
        grads = tape.gradient(loss, fast)
        if clip_norm is not None:
            grads = tf.clip_by_global_norm(grads, clip_norm)[0]
        new = []
        for w, g, rate, on in zip(fast, grads, rates, mask):
            if not on or g is None:
                new.append(w)
                continue
            if first_order:
                g = tf.stop_gradient(g)
            new.append(w - rate * g)
        fast = new
    return fast


def _rows(step, batch_size, *arrays):
    """The ``step``-th mini-batch of ``batch_size`` rows of each of ``arrays`` (cycling through them)."""
    n = tf.shape(arrays[0])[0]
    rows = (step * batch_size + tf.range(batch_size)) % n
    return [tf.gather(a, rows) for a in arrays]


def meta_gradients(weights, tasks, objective=None, task_gradient=None, aux_signature=(), strategy="per_task",
                   parallel_tasks=2, agreement=False):
    """The meta-gradient of a meta-batch for ``weights``, with each task's loss and auxiliary outputs.

    ``tasks``: a nest of tensors whose first axis indexes the tasks. A learner supplies either
    ``objective(task) -> (loss, aux)``, a task's outer loss differentiable in ``weights`` (MAML and
    the learners built on it), or ``task_gradient(task) -> (grads, loss, aux)``, a task's meta-gradient
    computed its own way (Reptile's ``phi - phi_i``, iMAML's implicit gradient, first-order MAML's
    gradient at the fast weights). ``aux`` is a nest of tensors described by ``aux_signature``
    (``tf.TensorSpec``s), e.g. the task's score; it is returned stacked over tasks.
    ``strategy``: ``"per_task"`` takes each task's gradient on its own, ``parallel_tasks`` tasks at a
    time, and combines them (their mean, or with ``agreement`` the weighting of
    :mod:`hands_on_meta.gradient_agreement`); ``"one_tape"`` differentiates the mean loss of the whole
    meta-batch at once (``objective`` only, no agreement). Returns ``(grads, losses (T,), aux, task_weights
    (T,))``, the last the weight each task's gradient got (1/T, or its agreement weight).
    """
    if strategy not in STRATEGIES:
        raise ValueError(f"strategy must be one of {STRATEGIES}, got {strategy!r}")
    if (objective is None) == (task_gradient is None):
        raise ValueError("give exactly one of objective (a task's loss) and task_gradient (its meta-gradient)")
    if strategy == "one_tape" and (task_gradient is not None or agreement):
        raise ValueError("strategy='one_tape' needs a differentiable objective and no gradient agreement "
                         "(it never holds the tasks' gradients apart); use strategy='per_task'")
    weights = list(weights)
    signature = (tf.float32, aux_signature)
    if strategy == "one_tape":
        with tf.GradientTape() as tape:
            losses, aux = tf.map_fn(lambda task: _float_loss(*objective(task)), tasks, fn_output_signature=signature,
                                    parallel_iterations=parallel_tasks)
            loss = tf.reduce_mean(losses)
        grads = tape.gradient(loss, weights, unconnected_gradients=tf.UnconnectedGradients.ZERO)
        return grads, losses, aux, tf.fill(tf.shape(losses), 1.0 / tf.cast(tf.size(losses), tf.float32))

    def one_task(task):
        if task_gradient is not None:
            grads, loss, aux = task_gradient(task)
            return list(grads), tf.cast(loss, tf.float32), aux
        with tf.GradientTape() as tape:
            loss, aux = _float_loss(*objective(task))
        return tape.gradient(loss, weights, unconnected_gradients=tf.UnconnectedGradients.ZERO), loss, aux

    grads, losses, aux = tf.map_fn(
        one_task, tasks, parallel_iterations=parallel_tasks,
        fn_output_signature=([tf.TensorSpec(w.shape, w.dtype) for w in weights], *signature))
    combined, task_weights = combine(grads, agreement=agreement)
    return combined, losses, aux, task_weights


def _float_loss(loss, aux):
    return tf.cast(loss, tf.float32), aux
