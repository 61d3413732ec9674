"""The one adaptation mechanism: a few gradient steps on a support set, as *fast weights*.

``adapt`` never changes the model: it runs the network functionally with
``model.stateless_call(trainable, non_trainable, x, training=...)`` and returns new tensors for the
trainable weights. Inside an outer ``tf.GradientTape`` the inner gradients are themselves recorded,
so the meta-gradient is exact second-order MAML; ``first_order=True`` stops gradients through the
inner gradients (FOMAML).

BatchNorm: ``training=True`` (the default) normalises with the statistics of the batch at hand, for
the support set while adapting and for the query set when predicting (the transductive setting of
MAML's reference code); updated moving statistics are dropped, so the model's state is untouched.

>>> import keras
>>> net = keras.Sequential([keras.Input((1,)), keras.layers.Dense(40, activation="relu"),
...                         keras.layers.Dense(1)])
>>> x = tf.random.normal((10, 1)); y = tf.sin(x)
>>> fast = adapt(net, x, y, lambda y, p: tf.reduce_mean((y - p) ** 2), steps=1, learning_rate=0.01)
>>> len(fast) == len(net.trainable_variables)
True
"""
import tensorflow as tf


def forward(model, weights, x, training=True):
    """Run ``model`` on ``x`` with ``weights`` (a list matching ``model.trainable_variables``)."""
    outputs, _ = model.stateless_call(list(weights), model.non_trainable_variables, x, training=training)
    return outputs


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
