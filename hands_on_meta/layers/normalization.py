"""Batch normalisation whose batch statistics can be differentiated twice exactly."""
import keras
from keras import ops


@keras.saving.register_keras_serializable(package="hands_on_meta")
class ExactBatchNormalization(keras.layers.BatchNormalization):
    """``keras.layers.BatchNormalization`` for second-order meta-learning (MAML through BatchNorm).

    On the TensorFlow backend Keras takes batch moments from ``tf.nn.moments``, which computes the
    variance as ``mean((x - stop_gradient(mean))**2)``. The first derivative is unaffected (the
    dropped term is zero), but the term's own derivative is not, so a meta-gradient through an inner
    step is off (0.1-0.4% relative error on a small conv net, measured against finite differences).
    This layer computes ``mean((x - mean)**2)`` and is otherwise identical.

    >>> layer = ExactBatchNormalization()
    >>> y = layer(keras.ops.ones((4, 3)), training=True)
    """

    def _moments(self, inputs, mask):
        if mask is not None or self.synchronized:
            return super()._moments(inputs, mask)
        mean = ops.mean(inputs, axis=self._reduction_axes, keepdims=True)
        variance = ops.mean(ops.square(inputs - mean), axis=self._reduction_axes, keepdims=True)
        return ops.squeeze(mean, axis=self._reduction_axes), ops.squeeze(variance, axis=self._reduction_axes)
