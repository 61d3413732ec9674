"""Matching-network layers (Vinyals et al. 2016), written with ``keras.ops``.

- :func:`attention_readout`: softmax attention over the support set turned into class probabilities;
- :class:`FullContextSupport`: the full-context embedding of the support set (bidirectional LSTM over
  the support sequence plus a skip connection);
- :class:`AttentionLSTM`: the full-context embedding of a query (an LSTM that reads the embedded
  support set for ``processing_steps`` steps).

Shapes: embeddings are ``(..., S, D)`` for a support set of ``S`` examples and ``(..., Q, D)`` for
``Q`` queries; the two LSTM layers take a leading episode axis, ``(B, S, D)`` and ``(B, Q, D)``. The
attention's similarity is :class:`~hands_on_meta.layers.CosineSimilarity`.
"""
import keras
from keras import ops

from hands_on_meta.validation import check_int


def attention_readout(scores, labels, n_way):
    """Class probabilities of each query: softmax over the support axis of ``scores`` (..., Q, S),
    then the attention-weighted sum of the one-hot support ``labels`` (..., S) -> (..., Q, n_way).
    Returns ``(probabilities, attention)``.

    >>> probs, attention = attention_readout(ops.array([[0., 0., 100.]]), ops.array([1, 1, 0]), 2)
    >>> ops.convert_to_numpy(probs).round(3).tolist(), ops.convert_to_numpy(attention).round(3).tolist()
    ([[1.0, 0.0]], [[0.0, 0.0, 1.0]])
    """
    attention = ops.softmax(scores, axis=-1)
    one_hot = ops.one_hot(labels, n_way, dtype=attention.dtype)  # (..., S, N)
    return ops.einsum("...qs,...sn->...qn", attention, one_hot), attention


@keras.saving.register_keras_serializable(package="hands_on_meta")
class FullContextSupport(keras.layers.Layer):
    """g(x_i, S) = g'(x_i) + forward LSTM output + backward LSTM output, the LSTMs running over the
    support sequence (B, S, D) -> (B, S, D). Each LSTM has D units, so the three terms add up.

    The result depends on the order of the sequence: episodes from
    :func:`hands_on_meta.episodes.episode_dataset` list the support set class by class.

    >>> layer = FullContextSupport()
    >>> tuple(layer(ops.ones((2, 5, 8))).shape)
    (2, 5, 8)
    """

    def build(self, support_shape):
        units = support_shape[-1]
        if units is None:
            raise ValueError(f"support embeddings need a known last dimension, got shape {support_shape}")
        self.bilstm = keras.layers.Bidirectional(keras.layers.LSTM(units, return_sequences=True),
                                                 merge_mode="sum", name="bilstm")
        self.bilstm.build(tuple(support_shape))

    def call(self, support):
        return support + self.bilstm(support)


@keras.saving.register_keras_serializable(package="hands_on_meta")
class AttentionLSTM(keras.layers.Layer):
    """f(x, S): the query embedding refined by an LSTM that attends over the (full-context) support
    embeddings for ``processing_steps`` steps: (B, Q, D), (B, S, D) -> (B, Q, D).

    Step k (k = 1..K), starting from h_0 = f'(x) and c_0 = 0:
    read-out r = sum_i softmax_i(h_{k-1} . g_i) g_i; (h', c_k) = LSTM(input f'(x), state [h_{k-1}, r],
    c_{k-1}); h_k = h' + f'(x). Output h_K. The concatenated state [h, r] is implemented by feeding
    r as an extra LSTM input (identical gates: W [x; r] + U h = W x + U [h; r] with U's r-columns in W).
    ``return_attention=True`` in ``call`` also returns the attention of every step, (B, K, Q, S).

    >>> layer = AttentionLSTM(processing_steps=3)
    >>> tuple(layer(ops.ones((2, 4, 8)), ops.ones((2, 5, 8))).shape)
    (2, 4, 8)
    """

    def __init__(self, processing_steps=5, **kwargs):
        super().__init__(**kwargs)
        self.processing_steps = check_int("processing_steps", processing_steps, 1)

    def build(self, queries_shape, support_shape):
        units = queries_shape[-1]
        if units is None or support_shape[-1] != units:
            raise ValueError("queries and support need the same known embedding size, got shapes "
                             f"{queries_shape} and {support_shape}")
        self.cell = keras.layers.LSTMCell(units, name="cell")
        self.cell.build((None, 2 * units))

    def call(self, queries, support, return_attention=False):
        batch, n_query, dim = ops.shape(queries)[0], ops.shape(queries)[1], queries.shape[-1]
        flat_queries = ops.reshape(queries, (-1, dim))
        h, c = queries, ops.zeros_like(flat_queries)
        steps = []
        for _ in range(self.processing_steps):
            attention = ops.softmax(ops.einsum("bqd,bsd->bqs", h, support), axis=-1)
            read = ops.einsum("bqs,bsd->bqd", attention, support)
            inputs = ops.concatenate([flat_queries, ops.reshape(read, (-1, dim))], axis=-1)
            out, (_, c) = self.cell(inputs, [ops.reshape(h, (-1, dim)), c])
            h = ops.reshape(out, (batch, n_query, dim)) + queries
            steps.append(attention)
        return (h, ops.stack(steps, axis=1)) if return_attention else h

    def get_config(self):
        return {**super().get_config(), "processing_steps": self.processing_steps}
