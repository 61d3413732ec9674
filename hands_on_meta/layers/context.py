"""Context parameters for CAML / CAVIA (Zintgraf et al. 2019): a vector that starts at zero for every
task, is the only thing adapted in the inner loop, and conditions the network by being concatenated to
its input features.

>>> import keras
>>> net = keras.Sequential([keras.Input((1,)), ContextConcat(4), keras.layers.Dense(40)])
>>> net.layers[0].output.shape
(None, 5)
"""
import keras
from keras import ops

from hands_on_meta.validation import check_int


@keras.saving.register_keras_serializable(package="hands_on_meta")
class ContextConcat(keras.layers.Layer):
    """Concatenates ``units`` context parameters (initialised at zero) to the last axis of its input."""

    def __init__(self, units, **kwargs):
        super().__init__(**kwargs)
        self.units = check_int("units", units, 1)

    def build(self, input_shape):
        self.context = self.add_weight(shape=(self.units,), initializer="zeros", name="context")

    def call(self, inputs):
        context = ops.broadcast_to(ops.cast(self.context, inputs.dtype), (*ops.shape(inputs)[:-1], self.units))
        return ops.concatenate([inputs, context], axis=-1)

    def compute_output_shape(self, input_shape):
        return (*input_shape[:-1], input_shape[-1] + self.units)

    def get_config(self):
        return {**super().get_config(), "units": self.units}
