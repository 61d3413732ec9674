"""The standard few-shot convolutional backbone (Vinyals et al. 2016; used by ProtoNet and MAML)."""
import keras

from hands_on_meta.layers.normalization import ExactBatchNormalization, FusedBatchNormalization

BATCH_NORMS = {"exact": ExactBatchNormalization, "fused": FusedBatchNormalization}


def conv_block(filters=64, name=None, pool=True, batch_norm="fused", relu=True):
    """3x3 convolution, batch normalisation, ReLU (unless ``relu=False``), 2x2 max-pooling (unless
    ``pool=False``).

    ``batch_norm``: ``"fused"`` (:class:`FusedBatchNormalization`, TensorFlow's fused kernel) or
    ``"exact"`` (:class:`ExactBatchNormalization`, separate ops). Both give exact first and second
    derivatives (MAML through batch statistics); the fused kernel is faster."""
    if batch_norm not in BATCH_NORMS:
        raise ValueError(f"batch_norm must be one of {sorted(BATCH_NORMS)}, got {batch_norm!r}")
    return keras.Sequential([
        keras.layers.Conv2D(filters, 3, padding="same"),
        BATCH_NORMS[batch_norm](momentum=0.9),  # = PyTorch momentum 0.1: test statistics settle quickly
    ] + ([keras.layers.ReLU()] if relu else []) + ([keras.layers.MaxPooling2D(2)] if pool else []), name=name)


def conv4(input_shape=(28, 28, 1), filters=64, blocks=4, outputs=None, name="conv4", batch_norm="fused",
          final_relu=True):
    """``blocks`` conv blocks then Flatten (64-d for 28x28 inputs); with ``outputs`` a final Dense
    layer of that many logits (the MAML classifier). ``batch_norm``: see :func:`conv_block`.
    ``final_relu=False`` drops the last block's ReLU, so the embedding can have negative entries
    (for cosine similarities, which a non-negative embedding confines to [0, 1]: matching networks).

    >>> encoder = conv4()
    >>> encoder.output_shape
    (None, 64)
    """
    layers = [keras.Input(input_shape)] + [conv_block(filters, name=f"block{i}", batch_norm=batch_norm,
                                                      relu=final_relu or i < blocks - 1) for i in range(blocks)]
    layers.append(keras.layers.Flatten())
    if outputs:
        layers.append(keras.layers.Dense(outputs))
    return keras.Sequential(layers, name=name)
