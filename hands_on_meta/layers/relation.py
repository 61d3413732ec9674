"""Building blocks of relation networks (Sung et al. 2018), written with ``keras.ops``.

A relation network does not fix a distance: it *learns* one. An embedding module turns every
example into a feature map; the features of each class's support examples are summed; every query
feature map is concatenated (along channels) with every class feature map; a relation module turns
each such pair into a score in [0, 1].

* :func:`relation_embedding`: the 4-block convolutional embedding of the paper (pooling after the
  first two blocks only, so 28x28 images become 7x7x64 feature maps);
* the class feature, the sum of a class's support features, is
  :func:`~hands_on_meta.layers.class_prototypes` with ``reduce="sum"``;
* :class:`RelationPairs`: all (query, class) pairs, concatenated along the last axis;
* :class:`RelationModule`: every (query, class) pair -> a score in [0, 1]: two conv blocks for
  feature maps, then FC 8 (ReLU) -> FC 1 (sigmoid); FC -> FC for vectors (the zero-shot model).

The relation module's first layer is linear in the concatenated pair, so
``W [c; q] + b = (W_c c + b) + W_q q``: :class:`RelationModule` applies it to the N class maps and
the Q query maps separately and adds the results for all Q x N pairs, instead of convolving Q x N
concatenated maps. The result is the same (``RelationModule.from_pairs`` computes it the explicit
way, on :class:`RelationPairs`), at about a fifth of the cost of a 5-way episode.

>>> embed = relation_embedding()
>>> embed.output_shape
(None, 7, 7, 64)
>>> relate = RelationModule(feature_shape=(7, 7, 64))
>>> queries, classes = embed(ops.zeros((6, 28, 28, 1))), embed(ops.ones((5, 28, 28, 1)))
>>> tuple(relate(queries, classes).shape)                 # a score for every (query, class) pair
(6, 5)
"""
import keras
from keras import ops

from hands_on_meta.layers.conv import BATCH_NORMS, conv_block
from hands_on_meta.validation import check_int


def relation_embedding(input_shape=(28, 28, 1), filters=64, blocks=4, pooled_blocks=2,
                       name="relation_embedding", batch_norm="fused"):
    """``blocks`` conv blocks (3x3 conv, batch norm, ReLU), the first ``pooled_blocks`` of them
    followed by 2x2 max-pooling; the output is a feature map, not a vector. ``batch_norm``: see
    :func:`~hands_on_meta.layers.conv_block`."""
    blocks = check_int("blocks", blocks, 1)
    pooled_blocks = check_int("pooled_blocks", pooled_blocks, 0, blocks)
    layers = [keras.Input(input_shape)]
    layers += [conv_block(filters, name=f"block{i}", pool=i < pooled_blocks, batch_norm=batch_norm)
               for i in range(blocks)]
    return keras.Sequential(layers, name=name)


@keras.saving.register_keras_serializable(package="hands_on_meta")
class RelationPairs(keras.layers.Layer):
    """Every (class, query) pair, concatenated along the last (channel) axis:
    queries (..., Q, *F), classes (..., N, *F) -> (..., Q, N, *F[:-1], 2 * F[-1]), the class
    features first. ``feature_rank`` is the rank of F: 3 for feature maps, 1 for vectors.

    >>> queries, classes = ops.array([[1., 1.], [2., 2.], [3., 3.]]), ops.array([[0., 0.], [9., 9.]])
    >>> pairs = RelationPairs(feature_rank=1)(queries, classes)
    >>> tuple(pairs.shape), ops.convert_to_numpy(pairs[2, 1]).tolist()
    ((3, 2, 4), [9.0, 9.0, 3.0, 3.0])
    """

    def __init__(self, feature_rank=3, **kwargs):
        super().__init__(**kwargs)
        self.feature_rank = check_int("feature_rank", feature_rank, 1)

    def call(self, queries, classes):
        if len(queries.shape) != len(classes.shape) or queries.shape[-self.feature_rank:] != \
                classes.shape[-self.feature_rank:]:
            raise ValueError(f"queries {tuple(queries.shape)} and classes {tuple(classes.shape)} must share "
                             "their "
                             f"leading axes' rank and their last {self.feature_rank} (feature) axes")
        c = ops.expand_dims(classes, len(classes.shape) - self.feature_rank - 1)  # (..., 1, N, *F)
        q = ops.expand_dims(queries, len(queries.shape) - self.feature_rank)      # (..., Q, 1, *F)
        # broadcast both to (..., Q, N, *F) by adding zeros: backend-neutral, and cheap next to the convs
        return ops.concatenate([c + ops.zeros_like(q), q + ops.zeros_like(c)], axis=-1)

    def compute_output_shape(self, queries_shape, classes_shape):
        rank = self.feature_rank
        lead = queries_shape[:-rank - 1]
        return (*lead, queries_shape[-rank - 1], classes_shape[-rank - 1], *queries_shape[-rank:-1],
                2 * queries_shape[-1])

    def get_config(self):
        return {**super().get_config(), "feature_rank": self.feature_rank}


@keras.saving.register_keras_serializable(package="hands_on_meta")
class RelationModule(keras.layers.Layer):
    """Relation scores of every (query, class) pair: queries (..., Q, *F), classes (..., N, *F) ->
    (..., Q, N) in [0, 1], for features of shape ``feature_shape`` (a (h, w, c) map or a (c,) vector).

    Feature maps: ``blocks`` conv blocks (3x3 conv with ``filters``, batch norm, ReLU, 2x2 max-pool),
    the first on the channel-concatenated pair, then Flatten, Dense(``hidden``, ReLU), Dense(1,
    sigmoid), as in Sung et al. 2018 (``batch_norm``: see :func:`~hands_on_meta.layers.conv_block`). Vectors: Dense(``hidden``, ReLU) on the concatenated pair, then
    Dense(1, sigmoid). The first layer is applied to classes and queries separately (see the module
    docstring); :meth:`from_pairs` is the same function on explicitly concatenated pairs.

    >>> relate = RelationModule(feature_shape=(4,), hidden=3)
    >>> queries, classes = ops.ones((2, 7, 4)), ops.zeros((2, 5, 4))     # 2 episodes, 7 queries, 5 classes
    >>> scores = relate(queries, classes)
    >>> tuple(scores.shape)
    (2, 7, 5)
    >>> pairs = RelationPairs(feature_rank=1)(queries, classes)         # (2, 7, 5, 8), classes first
    >>> bool(ops.all(ops.abs(relate.from_pairs(pairs) - scores) < 1e-6))
    True
    """

    def __init__(self, feature_shape, filters=64, blocks=2, hidden=8, batch_norm="fused", **kwargs):
        super().__init__(**kwargs)
        self.feature_shape = tuple(int(size) for size in feature_shape)
        if len(self.feature_shape) not in (1, 3):
            raise ValueError("feature_shape must be (height, width, channels) or (features,), "
                             f"got {feature_shape!r}")
        self.filters = check_int("filters", filters, 1)
        self.blocks = check_int("blocks", blocks, 1)
        self.hidden = check_int("hidden", hidden, 1)
        if batch_norm not in BATCH_NORMS:
            raise ValueError(f"batch_norm must be one of {sorted(BATCH_NORMS)}, got {batch_norm!r}")
        self.batch_norm = batch_norm
        channels = self.feature_shape[-1]
        head = [keras.layers.ReLU()]
        if len(self.feature_shape) == 3:
            width = self.filters
            self.kernel = self.add_weight(shape=(3, 3, 2 * channels, width), initializer="glorot_uniform",
                                          name="kernel")
            head = [BATCH_NORMS[batch_norm](momentum=0.9), keras.layers.ReLU(), keras.layers.MaxPooling2D(2)]
            head += [conv_block(self.filters, name=f"block{i}", batch_norm=batch_norm) for i in range(1, self.blocks)]
            head += [keras.layers.Flatten(), keras.layers.Dense(self.hidden, activation="relu")]
            head_input = (*self.feature_shape[:2], width)
        else:
            width = self.hidden
            self.kernel = self.add_weight(shape=(2 * channels, width), initializer="glorot_uniform",
                                          name="kernel")
            head_input = (width,)
        self.bias = self.add_weight(shape=(width,), initializer="zeros", name="bias")
        head.append(keras.layers.Dense(1, activation="sigmoid"))
        self.head = keras.Sequential([keras.Input(head_input), *head], name="head")
        self.built = True

    def _linear(self, x, kernel):
        if len(self.feature_shape) == 3:
            return ops.conv(x, kernel, padding="same")
        return ops.matmul(x, kernel)

    def _check(self, name, x):
        if tuple(x.shape[-len(self.feature_shape):]) != self.feature_shape:
            raise ValueError(f"{name} must end in the feature shape {self.feature_shape}, "
                             f"got shape {tuple(x.shape)}")

    def _scores(self, first, lead, training):
        """Head on the first layer's outputs (..., Q, N, *spatial, width) -> (..., Q, N)."""
        flat = ops.reshape(first, (-1, *first.shape[len(lead):]))
        scores = self.head(flat, training=training)
        return ops.reshape(scores, lead)

    def call(self, queries, classes, training=False):
        self._check("queries", queries), self._check("classes", classes)
        rank = len(self.feature_shape)
        channels = self.feature_shape[-1]
        q_lead, c_lead = ops.shape(queries)[:-rank], ops.shape(classes)[:-rank]
        q = self._linear(ops.reshape(queries, (-1, *self.feature_shape)), self.kernel[..., channels:, :])
        c = self._linear(ops.reshape(classes, (-1, *self.feature_shape)), self.kernel[..., :channels, :])
        c = c + self.bias
        q = ops.expand_dims(ops.reshape(q, (*q_lead, *q.shape[1:])), len(q_lead))      # (..., Q, 1, ...)
        c = ops.expand_dims(ops.reshape(c, (*c_lead, *c.shape[1:])), len(c_lead) - 1)  # (..., 1, N, ...)
        return self._scores(q + c, (*q_lead, c_lead[-1]), training)

    def from_pairs(self, pairs, training=False):
        """The same scores from explicit pairs (..., Q, N, *F[:-1], 2c) (:class:`RelationPairs`)."""
        rank = len(self.feature_shape)
        lead = ops.shape(pairs)[:-rank]
        flat = ops.reshape(pairs, (-1, *pairs.shape[-rank:]))
        first = self._linear(flat, self.kernel) + self.bias
        return self._scores(ops.reshape(first, (*lead, *first.shape[1:])), lead, training)

    def compute_output_shape(self, queries_shape, classes_shape):
        rank = len(self.feature_shape)
        return (*queries_shape[:-rank], classes_shape[-rank - 1])

    def get_config(self):
        return {**super().get_config(), "feature_shape": self.feature_shape, "filters": self.filters,
                "blocks": self.blocks, "hidden": self.hidden, "batch_norm": self.batch_norm}
