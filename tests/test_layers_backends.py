"""The layers keep the promise of the design guide: written in ``keras.ops``, they work in a Keras model on
the JAX backend too (forward pass, a training step, ``.keras`` save and load). Runs in a subprocess with
``KERAS_BACKEND=jax``; skipped when JAX is not installed (``pip install -e ".[jax]"``)."""
import importlib.util
import os
import subprocess
import sys
import textwrap

import pytest

SCRIPT = textwrap.dedent('''
    import sys, tempfile
    import numpy as np
    import keras
    from keras import ops
    assert keras.backend.backend() == "jax", keras.backend.backend()
    import hands_on_meta.layers as L

    rng = np.random.default_rng(0)

    def data(shape):
        return rng.normal(size=shape).astype("float32")

    def two(layer, a, b):
        x, y = keras.Input(a), keras.Input(b)
        return keras.Model([x, y], layer(x, y)), [data((4, *a)), data((4, *b))]

    def one(layer, shape):
        x = keras.Input(shape)
        return keras.Model(x, layer(x)), data((4, *shape))

    def sequential(model, shape):
        return model, data((4, *shape))

    @keras.saving.register_keras_serializable(package="test")
    class GaussianHead(keras.layers.Layer):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.split = L.GaussianEmbedding("diagonal")

        def build(self, shape):
            self.split.build(shape)

        def call(self, z):  # GaussianEmbedding returns two tensors; a model output takes one
            embedding, precision = self.split(z)
            return embedding * precision

    cases = {
        "ExactBatchNormalization": lambda: one(L.ExactBatchNormalization(), (5,)),
        "FusedBatchNormalization": lambda: one(L.FusedBatchNormalization(), (6, 6, 3)),
        "conv_block": lambda: sequential(keras.Sequential([keras.Input((8, 8, 1)), L.conv_block(4)]), (8, 8, 1)),
        "conv4": lambda: sequential(L.conv4((16, 16, 1), filters=4, outputs=3), (16, 16, 1)),
        "relation_embedding": lambda: sequential(L.relation_embedding((16, 16, 1), filters=4), (16, 16, 1)),
        "ContextConcat": lambda: one(L.ContextConcat(3), (5,)),
        "SquaredEuclidean": lambda: two(L.SquaredEuclidean(), (3, 5), (2, 5)),
        "DiagonalMahalanobis": lambda: (lambda q, m, p: (keras.Model([q, m, p], L.DiagonalMahalanobis()(q, m, p)),
                                                         [data((4, 3, 5)), data((4, 2, 5)), np.abs(data((4, 2, 5)))]))(
            keras.Input((3, 5)), keras.Input((2, 5)), keras.Input((2, 5))),
        "GaussianEmbedding": lambda: one(GaussianHead(), (6,)),
        "CosineSimilarity": lambda: two(L.CosineSimilarity(learned_scale=5.0), (3, 5), (2, 5)),
        "FullContextSupport": lambda: one(L.FullContextSupport(), (3, 5)),
        "AttentionLSTM": lambda: two(L.AttentionLSTM(2), (3, 5), (2, 5)),
        "PairDistance": lambda: two(L.PairDistance("l2"), (3, 5), (2, 5)),
        "RelationPairs": lambda: two(L.RelationPairs(feature_rank=1), (3, 5), (2, 5)),
        "RelationModule": lambda: two(L.RelationModule((5,), hidden=4), (3, 5), (2, 5)),
    }

    failures = []
    for name, build in cases.items():
        try:
            model, x = build()
            y = model(x)
            target = np.ones(y.shape, "float32")  # zero would leave ContextConcat's zero context at a minimum
            model.compile(optimizer=keras.optimizers.SGD(0.01), loss="mse")
            before = [w.copy() for w in model.get_weights()]
            model.fit(x, target, epochs=1, verbose=0)
            moved = any(not np.allclose(a, b) for a, b in zip(before, model.get_weights()))
            assert moved or not model.trainable_weights, "a training step changed no weight"
            path = tempfile.mkdtemp() + "/model.keras"
            model.save(path)
            loaded = keras.models.load_model(path)
            np.testing.assert_allclose(np.asarray(loaded(x)), np.asarray(model(x)), rtol=1e-5, atol=1e-6)
            print("OK", name)
        except Exception as error:  # report every layer, not just the first failure
            failures.append(f"{name}: {type(error).__name__}: {error}")
    # functions of keras.ops
    z, labels = data((2, 6, 5)), np.tile(np.arange(3), (2, 2))
    assert np.asarray(L.class_prototypes(z, labels, 3)).shape == (2, 3, 5)
    assert np.asarray(L.class_prototypes(data((2, 6, 2, 2, 3)), labels, 3, reduce="sum")).shape == (2, 3, 2, 2, 3)
    assert np.asarray(L.soft_kmeans_refine(data((3, 5)), data((4, 5)), np.ones((3, 1), "float32"))).shape == (3, 5)
    assert np.asarray(L.attention_readout(data((2, 4, 6)), labels, 3)[0]).shape == (2, 4, 3)
    assert np.asarray(L.contrastive_loss(np.ones(3, "float32"), data((3,)))).shape == (3,)
    same = np.eye(3, 4, dtype="float32")[None].repeat(2, 0)  # (2, 3, 4): one reference of the query's class
    assert np.asarray(L.triplet_loss(same, np.abs(data((2, 3, 4))))).shape == (2, 3)
    assert np.asarray(L.softmax_distance_loss(same, np.abs(data((2, 3, 4))))).shape == (2, 3)
    assert float(L.ContrastiveLoss()(np.ones(3, "float32"), np.abs(data((3,))))) >= 0
    print("FAILURES", failures)
    sys.exit(1 if failures else 0)
''')


@pytest.mark.skipif(importlib.util.find_spec("jax") is None, reason='JAX is not installed (pip install -e ".[jax]")')
def test_every_public_layer_trains_saves_and_loads_on_the_jax_backend():
    env = {**os.environ, "KERAS_BACKEND": "jax", "JAX_PLATFORMS": "cpu"}
    run = subprocess.run([sys.executable, "-c", SCRIPT], check=False, env=env, capture_output=True, text=True,
                         timeout=600)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    assert run.stdout.count("OK ") == 15, run.stdout


def test_the_backend_check_covers_every_public_layer():
    import hands_on_meta.layers

    missing = [name for name in hands_on_meta.layers.__all__ if f"L.{name}(" not in SCRIPT]
    assert not missing, f"add these public layers to the JAX check: {missing}"
