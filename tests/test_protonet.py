"""ProtoNet and its layers: distances against NumPy, learning on real Omniglot, .keras round-trip."""
import keras
import numpy as np
import pytest
from conftest import reloaded

from hands_on_meta.episodes import episode_dataset
from hands_on_meta.evaluation import meta_test
from hands_on_meta.layers import FusedBatchNormalization, SquaredEuclidean, class_prototypes, conv4
from hands_on_meta.learners import ProtoNet


def test_squared_euclidean_and_prototypes_match_numpy():
    rng = np.random.default_rng(0)
    q, p = rng.normal(size=(3, 7, 16)).astype("float32"), rng.normal(size=(3, 5, 16)).astype("float32")
    expected = ((q[:, :, None, :] - p[:, None, :, :]) ** 2).sum(-1)
    np.testing.assert_allclose(np.asarray(SquaredEuclidean()(q, p)), expected, rtol=1e-4, atol=1e-4)
    z, labels = rng.normal(size=(10, 4)).astype("float32"), np.repeat(np.arange(5), 2)
    np.testing.assert_allclose(np.asarray(class_prototypes(z, labels, 5)), z.reshape(5, 2, 4).mean(1), rtol=1e-6)


def test_protonet_learns_on_training_classes_and_generalises_to_test_classes(mirror, omniglot_test, tmp_path):
    from hands_on_meta.datasets import load_omniglot

    keras.utils.set_random_seed(0)
    protonet = ProtoNet(conv4(batch_norm="fused"))  # as the recipes train it
    protonet.compile(optimizer=keras.optimizers.Adam(1e-3))
    protonet.fit(episode_dataset(load_omniglot("train", verbose=False), 20, 5, 5, seed=0), steps_per_epoch=60,
                 epochs=1, verbose=0)
    test = episode_dataset(omniglot_test, 5, 1, 15, seed=1, meta_batch=25)
    result = meta_test(protonet, test, 200, allow_fewer=True)
    # Chance is 20%; comparing raw pixels scores 44% (notebook 1.1). 60 training episodes reach ~85%.
    assert result.mean > 70.0, f"ProtoNet after 60 episodes, held-out 5-way 1-shot: {result}"
    loaded = reloaded(protonet, tmp_path / "protonet.keras")
    batch = next(iter(test))
    np.testing.assert_allclose(np.asarray(protonet(batch)), np.asarray(loaded(batch)), rtol=1e-5, atol=1e-4)


def test_encoder_must_be_built():
    with pytest.raises(ValueError, match="encoder must be a built keras.Model"):
        ProtoNet(keras.Sequential([keras.layers.Flatten()]))


def test_fused_batch_normalization_matches_keras():
    """Outputs, input and parameter gradients, moving statistics and inference agree with Keras."""
    import tensorflow as tf

    x = tf.constant(np.random.default_rng(0).normal(1.0, 3.0, size=(12, 5, 5, 3)).astype("float32"))
    fused, plain = FusedBatchNormalization(momentum=0.9), keras.layers.BatchNormalization(momentum=0.9)
    for layer in (fused, plain):
        layer.build(x.shape)
        layer.gamma.assign([1.5, 0.5, 2.0])
        layer.beta.assign([0.1, -0.2, 0.3])
    results = []
    for layer in (fused, plain):
        with tf.GradientTape() as tape:
            tape.watch(x)
            y = layer(x, training=True)
            loss = tf.reduce_sum(y * tf.sin(x))
        results.append([y, *tape.gradient(loss, [x, layer.gamma, layer.beta]), layer.moving_mean,
                        layer.moving_variance, layer(x, training=False)])
    for got, want in zip(*results):
        np.testing.assert_allclose(np.asarray(got), np.asarray(want), rtol=1e-5, atol=1e-5)
    assert not np.allclose(np.asarray(fused.moving_variance), 1.0)  # the statistics did move


def test_conv4_rejects_unknown_batch_norm():
    with pytest.raises(ValueError, match="batch_norm must be one of"):
        conv4(batch_norm="instance")


def test_conv4_without_final_relu_has_signed_embeddings():
    x = np.random.default_rng(0).normal(size=(8, 28, 28, 1)).astype("float32")
    with_relu, without = conv4(), conv4(final_relu=False)
    assert np.asarray(with_relu(x, training=True)).min() >= 0
    assert np.asarray(without(x, training=True)).min() < 0
    assert len(with_relu.layers[-2].layers) == 4 and len(without.layers[-2].layers) == 3  # conv, norm, (relu), pool
    assert all(len(block.layers) == 4 for block in without.layers[:-2])  # the other blocks keep theirs


def test_bad_episodes_raise_clear_errors():
    import tensorflow as tf

    rng = np.random.default_rng(0)
    good = {"support_x": rng.random((5, 28, 28, 1), "float32"), "support_y": np.arange(5),  # int64 labels work
            "query_x": rng.random((10, 28, 28, 1), "float32"), "query_y": np.repeat(np.arange(5), 2)}
    protonet = ProtoNet(conv4(), n_way=5)
    assert protonet(good).shape == (1, 10, 5)
    with pytest.raises(ValueError, match="support_x and query_x must hold examples of one shape"):
        protonet({**good, "query_x": good["query_x"][:, :14]})
    with pytest.raises(ValueError, match=r"example shape \(28, 28, 1\) \(the model's input\)"):
        protonet({**good, "query_x": good["query_x"][:, :14], "support_x": good["support_x"][:, :14]})
    with pytest.raises(ValueError, match="support_x must have shape"):
        protonet({**good, "support_y": good["support_y"][:4]})
    with pytest.raises(ValueError, match=r"query_y must lie in 0..4"):
        protonet({**good, "query_y": good["query_y"] + 1})
    with pytest.raises(ValueError, match="support_y of every episode must hold every label 0..N-1"):
        protonet({**good, "support_y": np.array([0, 1, 2, 3, 7])})
    with pytest.raises(ValueError, match="n_way = 5"):
        protonet({**good, "support_y": np.array([0, 1, 2, 3, 3]), "query_y": np.zeros(10, int)})
    protonet.compile(optimizer="adam")
    bad = tf.data.Dataset.from_tensors({**good, "query_y": good["query_y"] + 1}).repeat()
    with pytest.raises(tf.errors.InvalidArgumentError, match="query_y must lie in 0..N-1"):
        protonet.fit(bad, steps_per_epoch=1, epochs=1, verbose=0)
    with pytest.raises(ValueError, match="n_way must be"):
        ProtoNet(conv4(), n_way=1)
