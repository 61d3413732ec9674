"""Gaussian and semi-supervised prototypical networks: layers against NumPy, learning on real
Omniglot, .keras round-trips, bad input."""
import keras
import numpy as np
import pytest
from conftest import reloaded

from hands_on_meta.episodes import episode_dataset
from hands_on_meta.evaluation import meta_test
from hands_on_meta.layers import (
    DiagonalMahalanobis,
    GaussianEmbedding,
    class_prototypes,
    conv4,
    soft_kmeans_refine,
)
from hands_on_meta.learners import GaussianProtoNet, ProtoNet, SemiProtoNet

rng = np.random.default_rng(0)


def test_weighted_prototypes_and_mahalanobis_match_numpy():
    z, w = rng.normal(size=(2, 6, 4)).astype("float32"), rng.uniform(1, 3, size=(2, 6, 4)).astype("float32")
    labels = np.tile(np.array([0, 1, 2, 0, 1, 2]), (2, 1))
    protos = np.asarray(class_prototypes(z, labels, 3, weights=w))
    for b in range(2):
        for c in range(3):
            rows = labels[b] == c
            np.testing.assert_allclose(protos[b, c], (w[b, rows] * z[b, rows]).sum(0) / w[b, rows].sum(0), rtol=1e-5)
    q, m, s = (rng.normal(size=(5, 4)), rng.normal(size=(3, 4)), rng.uniform(1, 2, size=(3, 4)))
    expected = ((q[:, None] - m[None]) ** 2 * s[None]).sum(-1)
    got = np.asarray(DiagonalMahalanobis()(q.astype("float32"), m.astype("float32"), s.astype("float32")))
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-4)


def test_gaussian_embedding_splits_and_checks_its_argument():
    out = rng.normal(size=(3, 8)).astype("float32")
    emb, prec = GaussianEmbedding("diagonal")(out)
    np.testing.assert_allclose(np.asarray(emb), out[:, :4])
    np.testing.assert_allclose(np.asarray(prec), 1 + np.log1p(np.exp(out[:, 4:])), rtol=1e-5)
    emb, prec = GaussianEmbedding("radius")(out)
    assert emb.shape == (3, 7) and np.allclose(np.asarray(prec), np.asarray(prec)[:, :1])
    with pytest.raises(ValueError, match="covariance must be one of"):
        GaussianEmbedding("full")


def soft_kmeans_numpy(protos, unlabeled, counts, radius=None):
    d = ((unlabeled[:, None] - protos[None]) ** 2).sum(-1)
    if radius is not None:
        d = np.concatenate([d, (unlabeled ** 2).sum(-1, keepdims=True) / radius ** 2 + np.log(radius)], -1)
    a = np.exp(-(d - d.min(-1, keepdims=True)))
    a = (a / a.sum(-1, keepdims=True))[:, : len(protos)]
    return (protos * counts + a.T @ unlabeled) / (counts + a.sum(0)[:, None])


@pytest.mark.parametrize("radius", [None, 2.0])
def test_soft_kmeans_refinement_matches_numpy(radius):
    protos, unlabeled = rng.normal(size=(3, 4)), rng.normal(size=(7, 4))
    counts = np.array([[1.0], [2.0], [1.0]])
    got = soft_kmeans_refine(protos.astype("float32"), unlabeled.astype("float32"), counts.astype("float32"),
                             distractor_radius=radius)
    np.testing.assert_allclose(np.asarray(got), soft_kmeans_numpy(protos, unlabeled, counts, radius), rtol=1e-4)


def test_distractor_cluster_keeps_far_outliers_away_from_prototypes():
    protos = np.array([[10.0, 0.0], [0.0, 10.0]], "float32")
    outlier = np.array([[0.1, 0.1]], "float32")  # near the origin: a distractor, not a class
    counts = np.ones((2, 1), "float32")
    moved = np.asarray(soft_kmeans_refine(protos, outlier, counts))
    kept = np.asarray(soft_kmeans_refine(protos, outlier, counts, distractor_radius=1.0))
    assert np.abs(kept - protos).max() < 1e-3 < np.abs(moved - protos).max()


@pytest.mark.parametrize("make", [lambda: GaussianProtoNet(conv4(), covariance="radius"),
                                  lambda: GaussianProtoNet(conv4(), covariance="diagonal"),
                                  lambda: SemiProtoNet(conv4(), distractor_cluster=True)])
def test_variants_learn_on_omniglot_and_round_trip(make, mirror, omniglot_test, tmp_path):
    from hands_on_meta.datasets import load_omniglot

    keras.utils.set_random_seed(0)
    learner = make()
    learner.compile(optimizer=keras.optimizers.Adam(1e-3))
    semi = isinstance(learner, SemiProtoNet)
    extra = {"n_unlabeled": 2, "n_distractors": 2} if semi else {}
    learner.fit(episode_dataset(load_omniglot("train", verbose=False), 20, 1 if semi else 5, 5, seed=0, **extra),
                steps_per_epoch=60, epochs=1, verbose=0)
    test = episode_dataset(omniglot_test, 5, 1, 10, seed=1, meta_batch=25, **extra)
    result = meta_test(learner, test, 100, allow_fewer=True)
    # chance is 20%, raw pixels 44% (notebook 1.1); 60 short episodes take a conv4 ProtoNet to ~85%.
    assert result.mean > 65.0, f"{learner.__class__.__name__} after 60 episodes: {result}"
    loaded = reloaded(learner, tmp_path / "model.keras")
    batch = next(iter(test))
    np.testing.assert_allclose(np.asarray(learner(batch)), np.asarray(loaded(batch)), rtol=1e-5, atol=1e-3)
    strip = lambda config: {k: v for k, v in config.items() if k != "encoder"}
    assert strip(loaded.get_config()) == strip(learner.get_config())


def test_semi_protonet_without_unlabeled_data_is_a_protonet():
    encoder = conv4()
    episode = next(iter(episode_dataset(rng.random((8, 6, 28, 28, 1)).astype("float32"), 3, 2, 2, seed=0)))
    np.testing.assert_allclose(np.asarray(SemiProtoNet(encoder)(episode)), np.asarray(ProtoNet(encoder)(episode)),
                               rtol=1e-5, atol=1e-4)
