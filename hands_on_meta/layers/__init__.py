"""Reusable Keras layers written with ``keras.ops`` (serializable)."""
from hands_on_meta.layers.normalization import ExactBatchNormalization

__all__ = ["ExactBatchNormalization"]
