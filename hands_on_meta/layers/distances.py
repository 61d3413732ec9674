"""Distances and class prototypes, written with ``keras.ops``."""
import keras
from keras import ops


def class_prototypes(embeddings, labels, n_way):
    """Mean embedding of each class: ``embeddings`` (..., S, D), integer ``labels`` (..., S) -> (..., N, D).

    >>> ops.convert_to_numpy(class_prototypes(ops.array([[0., 0.], [2., 2.], [5., 5.]]), ops.array([0, 0, 1]), 2)).tolist()
    [[1.0, 1.0], [5.0, 5.0]]
    """
    one_hot = ops.one_hot(labels, n_way, dtype=embeddings.dtype)  # (..., S, N)
    sums = ops.einsum("...sn,...sd->...nd", one_hot, embeddings)
    counts = ops.sum(one_hot, axis=-2)[..., None]
    return sums / ops.maximum(counts, 1.0)


@keras.saving.register_keras_serializable(package="hands_on_meta")
class SquaredEuclidean(keras.layers.Layer):
    """Squared Euclidean distance of every query to every prototype: (..., Q, D), (..., N, D) -> (..., Q, N).

    >>> ops.convert_to_numpy(SquaredEuclidean()(ops.array([[0., 0.]]), ops.array([[3., 4.], [0., 1.]]))).tolist()
    [[25.0, 1.0]]
    """

    def call(self, queries, prototypes):
        q2 = ops.sum(ops.square(queries), axis=-1)[..., :, None]
        p2 = ops.sum(ops.square(prototypes), axis=-1)[..., None, :]
        cross = ops.einsum("...qd,...nd->...qn", queries, prototypes)
        return ops.maximum(q2 + p2 - 2.0 * cross, 0.0)
