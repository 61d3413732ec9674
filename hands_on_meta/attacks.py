"""The fast gradient sign method (FGSM, Goodfellow et al. 2015): adversarial examples for a network
run with given weights (the meta-parameters, or a task's fast weights). ADML trains with it;
:class:`hands_on_meta.adversarial.UnderAttack` meta-tests with it.

>>> import keras
>>> net = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
>>> x = tf.zeros((1, 2)); mse = lambda y, p: tf.reduce_mean((y - p) ** 2)
>>> bool(mse(1.0, net(fgsm(net, None, x, 1.0, mse, 0.5))) >= mse(1.0, net(x)))
True
"""
import tensorflow as tf

from hands_on_meta.inner_loop import forward


def fgsm(model, weights, x, y, loss_fn, epsilon, clip=None, training=True):
    """``x + epsilon * sign(grad_x loss_fn(y, model(x)))`` with ``model`` run on ``weights`` (None: its
    own), clipped to the ``(low, high)`` input range if given; no gradient flows back through it."""
    if not epsilon >= 0:
        raise ValueError(f"epsilon must be >= 0, got {epsilon!r}")
    weights = model.trainable_variables if weights is None else weights
    x = tf.convert_to_tensor(x)
    with tf.GradientTape() as tape:
        tape.watch(x)
        loss = loss_fn(y, forward(model, weights, x, training))
    adversarial = x + tf.cast(epsilon, x.dtype) * tf.sign(tape.gradient(loss, x))
    if clip is not None:
        adversarial = tf.clip_by_value(adversarial, *clip)
    return tf.stop_gradient(adversarial)
