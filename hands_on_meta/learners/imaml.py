"""iMAML, implicit MAML (Rajeswaran et al. 2019): the meta-gradient of the inner problem's solution,
from the implicit function theorem instead of backpropagation through the inner steps.

Inner problem of a task: ``phi = argmin L_support(phi) + reg/2 |phi - theta|^2``, solved
approximately by ``inner_steps`` SGD steps from ``theta`` (:func:`hands_on_meta.inner_loop.adapt`
with a proximal penalty; no gradient is recorded through them). At the solution
``d phi / d theta = (I + H / reg)^-1`` with ``H`` the Hessian of the support loss at ``phi``, so
the task's meta-gradient is ``v = (I + H / reg)^-1 g``, ``g`` the query-loss gradient at ``phi``.
:func:`conjugate_gradient` solves for ``v`` with ``cg_steps`` Hessian-vector products (double
backpropagation), stopping early where ``I + H / reg`` is not positive definite (a non-convex network's
Hessian can have eigenvalues below ``-reg``). Memory does not grow with ``inner_steps``. The identity
holds only where the inner problem is solved: take ``reg`` large enough and enough inner steps (or
``clip_norm`` to keep the steps stable) for that. Testing adapts with the same proximal
inner problem. Batch norm: transductive only.

>>> import keras
>>> net = keras.Sequential([keras.Input((1,)), keras.layers.Dense(40, activation="relu"), keras.layers.Dense(1)])
>>> imaml = IMAML(net, task="regression", inner_lr=0.01, inner_steps=10, reg=1.0, cg_steps=5)
>>> imaml.compile(optimizer=keras.optimizers.Adam(1e-3))
"""
import keras
import tensorflow as tf

from hands_on_meta.inner_loop import forward
from hands_on_meta.learners.gradient_based import GradientBasedLearner, refuse_argument
from hands_on_meta.objectives import task_loss
from hands_on_meta.validation import check_int


def _dot(a, b):
    return tf.add_n([tf.reduce_sum(x * y) for x, y in zip(a, b)])


def conjugate_gradient(matvec, b, steps):
    """Approximate ``x`` with ``matvec(x) == b`` by ``steps`` conjugate-gradient iterations from zero,
    for a symmetric operator on lists of tensors. If the operator is not positive definite along a
    search direction (``p . A p <= 0``, which happens for ``I + H / reg`` when the Hessian ``H`` has
    eigenvalues below ``-reg``), the iteration stops there and returns the last iterate (truncated CG,
    as in Steihaug's method; ``b`` itself if it stops at the first step), whose inner product with
    ``b`` stays positive, instead of a step along a direction of negative curvature.

    >>> A = tf.constant([[4.0, 1.0], [1.0, 3.0]])
    >>> x = conjugate_gradient(lambda v: [tf.linalg.matvec(A, v[0])], [tf.constant([1.0, 2.0])], 2)
    >>> [round(float(t), 4) for t in x[0]]
    [0.0909, 0.6364]
    """
    x = [tf.zeros_like(t) for t in b]
    r, p = list(b), list(b)
    rr = _dot(r, r)
    active = tf.constant(True)
    for step in range(steps):
        ap = matvec(p)
        curvature = _dot(p, ap)
        active = tf.logical_and(active, curvature > 0)
        alpha = tf.where(active, tf.math.divide_no_nan(rr, curvature), tf.zeros_like(rr))
        if step == 0:  # negative curvature along b itself: fall back to b (the first-order gradient)
            x = [tf.where(active, alpha * pi, pi) for pi in p]
        else:
            x = [xi + alpha * pi for xi, pi in zip(x, p)]
        r = [ri - alpha * api for ri, api in zip(r, ap)]
        rr_new = _dot(r, r)
        beta = tf.math.divide_no_nan(rr_new, rr)
        p = [ri + beta * pi for ri, pi in zip(r, p)]
        rr = rr_new
    return x


@keras.saving.register_keras_serializable(package="hands_on_meta")
class IMAML(GradientBasedLearner):
    """Implicit-gradient MAML (see module docstring); ``reg`` is the proximal strength lambda."""

    gradient_of_a_loss = False

    def __init__(self, network, task="classification", inner_lr=0.01, inner_steps=5, eval_steps=None, reg=1.0,
                 cg_steps=5, **kwargs):
        refuse_argument("IMAML", "first_order", kwargs, "its meta-gradient is implicit, never through the inner loop")
        super().__init__(network, task=task, inner_lr=inner_lr, inner_steps=inner_steps, eval_steps=eval_steps,
                         first_order=True, **kwargs)
        if not (isinstance(reg, (int, float)) and reg > 0):
            raise ValueError(f"reg must be a positive number, got {reg!r}")
        if self.batch_norm != "transductive" or self.anil or self.inner_batch is not None:
            raise ValueError(f"IMAML supports batch_norm='transductive', anil=False and inner_batch=None only, got "
                             f"batch_norm={self.batch_norm!r}, anil={self.anil}, inner_batch={self.inner_batch}")
        self.reg = float(reg)
        self.cg_steps = check_int("cg_steps", cg_steps, 1)

    def inner_penalty(self):
        anchor = [tf.stop_gradient(tf.convert_to_tensor(w)) for w in self.network.trainable_variables]
        return lambda fast: 0.5 * self.reg * _dot([f - a for f, a in zip(fast, anchor)],
                                                  [f - a for f, a in zip(fast, anchor)])

    def adapted_weights(self, support_x, support_y, steps, training=True):
        return [tf.stop_gradient(w) for w in super().adapted_weights(support_x, support_y, steps, training)]

    def task_meta_gradient(self, support_x, support_y, query_x, query_y):
        """``(v, query outputs, query loss)`` of one task: ``v`` the implicit meta-gradient, one tensor per weight."""
        fast = self.adapted_weights(support_x, support_y, self.inner_steps)
        with tf.GradientTape() as tape:
            tape.watch(fast)
            outputs = forward(self.network, fast, query_x, training=True)
            loss = self.query_loss(query_y, outputs)
        grad = tape.gradient(loss, fast)

        def matvec(vector):  # (I + H / reg) vector, H the support-loss Hessian at fast
            with tf.GradientTape() as outer:
                outer.watch(fast)
                with tf.GradientTape() as inner:
                    inner.watch(fast)
                    support_loss = task_loss(self.task, support_y, forward(self.network, fast, support_x))
                product = _dot(inner.gradient(support_loss, fast), vector)
            hessian_vector = outer.gradient(product, fast)
            return [v + h / self.reg for v, h in zip(vector, hessian_vector)]

        return conjugate_gradient(matvec, grad, self.cg_steps), outputs, tf.cast(loss, tf.float32)

    def task_gradient(self):
        def implicit(task):
            grads, outputs, loss = self.task_meta_gradient(*task)
            return grads, loss, self.aux(task[3], outputs, [])

        return implicit

    def get_config(self):
        config = super().get_config()
        config.pop("first_order")
        return {**config, "reg": self.reg, "cg_steps": self.cg_steps}
