"""Reusable Keras layers written with ``keras.ops`` (serializable)."""
from hands_on_meta.layers.conv import conv4, conv_block
from hands_on_meta.layers.distances import SquaredEuclidean, class_prototypes
from hands_on_meta.layers.normalization import ExactBatchNormalization

__all__ = ["ExactBatchNormalization", "SquaredEuclidean", "class_prototypes", "conv4", "conv_block"]
