"""Learning to learn gradient descent by gradient descent (Andrychowicz et al. 2016), book section 1.3.

A classical optimizer is a fixed rule that maps a gradient to a parameter update: ``-lr * g`` for
SGD, a running-moment formula for Adam or RMSprop. Here that rule is itself a small network, an LSTM
with parameters phi, and phi is trained so that the parameters it produces reach a low objective
quickly. The objective of the *meta*-learner is the sum of the objective values along the trajectory
it generates, so a rule that is fast early on and stable later is what gets rewarded.

The LSTM is *coordinate-wise*: one pair of 20-unit LSTM layers is shared by every coordinate of
theta, each coordinate being an independent batch row with its own hidden state. The network is
therefore tiny and works for any number of parameters. Its input is the coordinate's gradient
(by default preprocessed into ``(log|g| / p, sign g)``, or ``(-1, e^p g)`` for tiny gradients, with
p = 10, so that gradients of very different magnitudes are on one scale); its output, a Dense(1)
times ``output_scale`` = 0.1, is added to the coordinate.

Meta-training uses truncated back-propagation through time, as in the paper: every batch of random
quadratics ``f(theta) = ||W theta - y||^2`` (W 10x10, y in R^10, all entries standard normal,
theta_0 = 0) is optimised for ``horizon`` = 100 steps, cut into segments of ``unroll`` = 20 steps;
each ``train_step`` runs one segment, takes the mean loss over its 20 steps as the meta-loss and
makes one Adam step on phi. Theta and the LSTM state carry over to the next segment; after the last
segment a fresh batch of quadratics is drawn (from ``seed`` and a step counter, so the data passed
to ``fit`` is only a clock). Second derivatives are dropped: the gradient fed to the LSTM is a
constant with respect to phi (``tf.stop_gradient``), yet phi still gets gradients through theta.

>>> import keras
>>> opt = LSTMOptimizer(batch=128, unroll=20, horizon=100, seed=0)
>>> opt.compile(optimizer=keras.optimizers.Adam(5e-3, clipnorm=1.0))
>>> # opt.fit(dummy_dataset(), steps_per_epoch=200, epochs=5)   # ~1 min on 2 CPU cores
>>> W, y = quadratic_tasks(100, seed=1)            # held-out quadratics: another seed
>>> learned, theta = opt.optimize(W, y, steps=100)  # losses (101, 100), theta (100, 10)
>>> sgd = baseline_trajectory(W, y, 100, "sgd", learning_rate=0.01)
"""
import math

import keras
import tensorflow as tf

from hands_on_meta.validation import check_int, check_number

BASELINES = ("sgd", "adam", "rmsprop")


def _tasks_from_key(batch, dim, key):
    """(W, y) of ``batch`` quadratics from a stateless key of shape (2,)."""
    key_w, key_y = tf.unstack(tf.random.experimental.stateless_split(tf.cast(key, tf.int64), 2))
    return (tf.random.stateless_normal((batch, dim, dim), seed=key_w),
            tf.random.stateless_normal((batch, dim), seed=key_y))


def quadratic_tasks(batch, dim=10, seed=0):
    """``batch`` random quadratics ``||W theta - y||^2``: W (batch, dim, dim) and y (batch, dim), all
    entries i.i.d. standard normal, a pure function of the non-negative int ``seed`` (stateless
    random ops). Meta-training draws its tasks from other keys, so any seed gives held-out tasks."""
    batch = check_int("batch", batch, 1)
    dim = check_int("dim", dim, 1)
    return _tasks_from_key(batch, dim, tf.constant([check_int("seed", seed, 0), 0], tf.int64))


def quadratic_loss(theta, W, y):
    """Per-task loss ``||W theta - y||^2`` of theta (batch, dim): shape (batch,)."""
    residual = tf.linalg.matvec(W, theta) - y
    return tf.reduce_sum(tf.square(residual), axis=-1)


def _check_quadratics(W, y, theta0):
    W = tf.convert_to_tensor(W, tf.float32)
    y = tf.convert_to_tensor(y, tf.float32)
    if W.shape.rank != 3 or y.shape.rank != 2 or W.shape[0] != y.shape[0] or W.shape[1] != y.shape[1]:
        raise ValueError(f"W must have shape (batch, m, dim) and y (batch, m), got W {tuple(W.shape)} "
                         f"and y {tuple(y.shape)}")
    if theta0 is None:
        theta0 = tf.zeros((W.shape[0], W.shape[2]), tf.float32)
    theta0 = tf.convert_to_tensor(theta0, tf.float32)
    if tuple(theta0.shape) != (W.shape[0], W.shape[2]):
        raise ValueError(f"theta0 must have shape {(W.shape[0], W.shape[2])}, got {tuple(theta0.shape)}")
    return W, y, theta0


def baseline_trajectory(W, y, steps, optimizer="sgd", learning_rate=0.01, theta0=None):
    """Loss trajectory, shape (steps + 1, batch), of a classical optimizer with a fixed learning rate
    on the quadratics (W, y) from ``theta0`` (default 0). ``optimizer`` is "sgd", "adam" (beta1 0.9,
    beta2 0.999, eps 1e-8, bias-corrected) or "rmsprop" (rho 0.9, eps 1e-8); plain TF math on the
    exact gradient ``2 W^T (W theta - y)``."""
    steps = check_int("steps", steps, 1)
    if optimizer not in BASELINES:
        raise ValueError(f"optimizer must be one of {BASELINES}, got {optimizer!r}")
    lr = check_number("learning_rate", learning_rate)
    W, y, theta = _check_quadratics(W, y, theta0)
    m = tf.zeros_like(theta)
    v = tf.zeros_like(theta)
    losses = [quadratic_loss(theta, W, y)]
    for t in range(1, steps + 1):
        grad = 2.0 * tf.linalg.matvec(W, tf.linalg.matvec(W, theta) - y, transpose_a=True)
        if optimizer == "sgd":
            theta = theta - lr * grad
        elif optimizer == "rmsprop":
            v = 0.9 * v + 0.1 * tf.square(grad)
            theta = theta - lr * grad / (tf.sqrt(v) + 1e-8)
        else:
            m = 0.9 * m + 0.1 * grad
            v = 0.999 * v + 0.001 * tf.square(grad)
            m_hat, v_hat = m / (1.0 - 0.9 ** t), v / (1.0 - 0.999 ** t)
            theta = theta - lr * m_hat / (tf.sqrt(v_hat) + 1e-8)
        losses.append(quadratic_loss(theta, W, y))
    return tf.stack(losses)


def preprocess_gradient(grad, p=10.0):
    """The paper's preprocessing of a gradient column (n, 1) into (n, 2): ``(log|g| / p, sign g)``
    where ``|g| >= e^-p``, else ``(-1, e^p g)``."""
    magnitude = tf.abs(grad)
    big = magnitude >= math.exp(-p)
    log_part = tf.where(big, tf.math.log(tf.maximum(magnitude, math.exp(-p))) / p, -tf.ones_like(grad))
    sign_part = tf.where(big, tf.sign(grad), math.exp(p) * grad)
    return tf.concat([log_part, sign_part], axis=-1)


def dummy_dataset():
    """An endless dataset of zeros to drive ``LSTMOptimizer.fit`` (the learner samples its own tasks)."""
    return tf.data.Dataset.from_tensors(tf.zeros((1,))).repeat()


@keras.saving.register_keras_serializable(package="hands_on_meta")
class LSTMOptimizer(keras.Model):
    """Coordinate-wise 2-layer LSTM optimizer, meta-trained on random quadratics (see module docstring).

    ``hidden_units`` / ``num_layers``: LSTM size (20 and 2 in the paper); ``preprocess`` / ``p``: the
    log/sign gradient preprocessing; ``output_scale``: factor on the Dense(1) output; ``unroll``: steps
    per truncated-BPTT segment (one ``train_step``); ``horizon``: steps each training batch of
    quadratics is optimised for (a multiple of ``unroll``); ``batch`` / ``dim``: number and size of the
    training quadratics; ``seed``: the training task stream.
    """

    def __init__(self, hidden_units=20, num_layers=2, preprocess=True, p=10.0, output_scale=0.1, unroll=20,
                 horizon=100, batch=128, dim=10, seed=0, **kwargs):
        super().__init__(**kwargs)
        self.hidden_units = check_int("hidden_units", hidden_units, 1)
        self.num_layers = check_int("num_layers", num_layers, 1)
        self.preprocess = bool(preprocess)
        self.p = check_number("p", p)
        self.output_scale = check_number("output_scale", output_scale)
        self.unroll = check_int("unroll", unroll, 1)
        self.horizon = check_int("horizon", horizon, 1)
        if self.horizon % self.unroll:
            raise ValueError(f"horizon must be a multiple of unroll={self.unroll}, got {horizon}")
        self.batch = check_int("batch", batch, 1)
        self.dim = check_int("dim", dim, 1)
        self.seed = check_int("seed", seed, 0)

        features = 2 if self.preprocess else 1
        self.cells = []
        for i in range(self.num_layers):
            cell = keras.layers.LSTMCell(self.hidden_units, name=f"lstm_{i}")
            cell.build((None, features if i == 0 else self.hidden_units))
            self.cells.append(cell)
        self.head = keras.layers.Dense(1, name="update")
        self.head.build((None, self.hidden_units))

        # Truncated-BPTT state carried between train_steps: current quadratics, theta, LSTM states.
        rows = self.batch * self.dim
        self.meta_step = self.add_weight(shape=(), dtype="int64", initializer="zeros", trainable=False,
                                         name="meta_step")
        self.task_W = self.add_weight(shape=(self.batch, self.dim, self.dim), initializer="zeros",
                                      trainable=False, name="task_W")
        self.task_y = self.add_weight(shape=(self.batch, self.dim), initializer="zeros", trainable=False,
                                      name="task_y")
        self.task_theta = self.add_weight(shape=(self.batch, self.dim), initializer="zeros",
                                          trainable=False, name="task_theta")
        self.task_state = [self.add_weight(shape=(rows, self.hidden_units), initializer="zeros",
                                           trainable=False, name=f"task_state_{i}")
                           for i in range(2 * self.num_layers)]
        self.loss_tracker = keras.metrics.Mean(name="loss")
        self.built = True

    @property
    def metrics(self):
        return [self.loss_tracker]

    def initial_state(self, rows):
        """Zero LSTM state for ``rows`` coordinates: [[h, c] per layer]."""
        zeros = tf.zeros((rows, self.hidden_units))
        return [[zeros, zeros] for _ in range(self.num_layers)]

    def step(self, grad, state, training=False):
        """One application of the learned rule: gradient (n,) of n coordinates -> update (n,), state."""
        x = tf.stop_gradient(grad)[:, None]
        x = preprocess_gradient(x, self.p) if self.preprocess else x
        new_state = []
        for cell, cell_state in zip(self.cells, state):
            x, cell_state = cell(x, cell_state, training=training)
            new_state.append(cell_state)
        return self.output_scale * self.head(x)[:, 0], new_state

    def _unroll(self, W, y, theta, state, steps, training=False):
        """Losses f(theta_0..theta_steps) (steps + 1, batch), final theta and LSTM state."""
        losses = []
        for _ in range(steps):
            with tf.GradientTape() as tape:
                tape.watch(theta)
                loss = quadratic_loss(theta, W, y)
            grad = tf.stop_gradient(tape.gradient(loss, theta))  # no second derivatives, as in the paper
            update, state = self.step(tf.reshape(grad, [-1]), state, training=training)
            theta = theta + tf.reshape(update, tf.shape(theta))
            losses.append(loss)
        losses.append(quadratic_loss(theta, W, y))
        return tf.stack(losses), theta, state

    def optimize(self, W, y, steps, theta0=None):
        """Run the learned optimizer for ``steps`` steps on quadratics (W, y) from ``theta0`` (default 0).
        Returns (losses of shape (steps + 1, batch), final theta (batch, dim))."""
        steps = check_int("steps", steps, 1)
        W, y, theta = _check_quadratics(W, y, theta0)
        state = self.initial_state(theta.shape[0] * theta.shape[1])
        losses, theta, _ = self._unroll(W, y, theta, state, steps)
        return losses, theta

    def train_step(self, data):
        segments = self.horizon // self.unroll
        task_index = self.meta_step // segments
        fresh = tf.equal(self.meta_step % segments, 0)
        new_W, new_y = _tasks_from_key(self.batch, self.dim, tf.stack([tf.constant(self.seed, tf.int64),
                                                                       task_index + 1]))
        W = tf.where(fresh, new_W, self.task_W)
        y = tf.where(fresh, new_y, self.task_y)
        theta = tf.where(fresh, tf.zeros_like(self.task_theta), self.task_theta)
        flat = [tf.where(fresh, tf.zeros_like(s), s) for s in self.task_state]
        state = [flat[2 * i:2 * i + 2] for i in range(self.num_layers)]
        with tf.GradientTape() as tape:
            losses, theta, state = self._unroll(W, y, theta, state, self.unroll, training=True)
            loss = tf.reduce_mean(losses[1:])
        grads = tape.gradient(loss, self.trainable_variables)
        self.optimizer.apply_gradients(zip(grads, self.trainable_variables))
        self.task_W.assign(W)
        self.task_y.assign(y)
        self.task_theta.assign(tf.stop_gradient(theta))
        for variable, value in zip(self.task_state, [s for cell_state in state for s in cell_state]):
            variable.assign(tf.stop_gradient(value))
        self.meta_step.assign_add(1)
        self.loss_tracker.update_state(loss)
        return {"loss": self.loss_tracker.result()}

    def fit(self, x=None, *args, shuffle=False, **kwargs):
        """``keras.Model.fit``; ``x`` defaults to :func:`dummy_dataset` (tasks are sampled internally)."""
        return super().fit(dummy_dataset() if x is None else x, *args, shuffle=shuffle, **kwargs)

    def get_config(self):
        return {**super().get_config(), "hidden_units": self.hidden_units, "num_layers": self.num_layers,
                "preprocess": self.preprocess, "p": self.p, "output_scale": self.output_scale,
                "unroll": self.unroll, "horizon": self.horizon, "batch": self.batch, "dim": self.dim,
                "seed": self.seed}
