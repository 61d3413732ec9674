"""The standard few-shot convolutional backbone (Vinyals et al. 2016; used by ProtoNet and MAML)."""
import keras

from hands_on_meta.layers.normalization import ExactBatchNormalization


def conv_block(filters=64, name=None, pool=True):
    """3x3 convolution, batch normalisation, ReLU, 2x2 max-pooling (unless ``pool=False``)."""
    return keras.Sequential([
        keras.layers.Conv2D(filters, 3, padding="same"),
        ExactBatchNormalization(momentum=0.9),  # = PyTorch momentum 0.1: test statistics settle quickly
        keras.layers.ReLU(),
    ] + ([keras.layers.MaxPooling2D(2)] if pool else []), name=name)


def conv4(input_shape=(28, 28, 1), filters=64, blocks=4, outputs=None, name="conv4"):
    """``blocks`` conv blocks then Flatten (64-d for 28x28 inputs); with ``outputs`` a final Dense
    layer of that many logits (the MAML classifier).

    >>> encoder = conv4()
    >>> encoder.output_shape
    (None, 64)
    """
    layers = [keras.Input(input_shape)] + [conv_block(filters, name=f"block{i}") for i in range(blocks)]
    layers.append(keras.layers.Flatten())
    if outputs:
        layers.append(keras.layers.Dense(outputs))
    return keras.Sequential(layers, name=name)
