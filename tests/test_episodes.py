"""Episode sampling: shapes, label remapping, no overlap, determinism, validation."""
import numpy as np
import pytest
import tensorflow as tf

from hands_on_meta.datasets import ClassDataset
from hands_on_meta.episodes import episode_dataset


def coded_dataset(n_classes=12, n_per_class=8):
    """Every example encodes (class, index) so episodes can be decoded exactly."""
    x = np.zeros((n_classes, n_per_class, 2), np.float32)
    x[..., 0] = np.arange(n_classes)[:, None]
    x[..., 1] = np.arange(n_per_class)[None, :]
    return ClassDataset(x, [f"c{i}" for i in range(n_classes)], "coded", "train")


def take(dataset, n):
    return [{k: v.numpy() for k, v in e.items()} for e in dataset.take(n)]


def test_shapes_labels_and_remapping():
    for e in take(episode_dataset(coded_dataset(), n_way=5, k_shot=3, n_query=4, seed=1), 20):
        assert e["support_x"].shape == (15, 2) and e["query_x"].shape == (20, 2)
        assert e["support_y"].tolist() == np.repeat(np.arange(5), 3).tolist()
        assert e["query_y"].tolist() == np.repeat(np.arange(5), 4).tolist()
        # the same label always means the same original class, in support and query
        for label in range(5):
            original = set(e["support_x"][e["support_y"] == label, 0]) | set(e["query_x"][e["query_y"] == label, 0])
            assert len(original) == 1
        classes = [e["support_x"][e["support_y"] == c, 0][0] for c in range(5)]
        assert len(set(classes)) == 5, "classes are drawn without replacement"


def test_support_and_query_never_share_an_example():
    for e in take(episode_dataset(coded_dataset(), 4, 5, 3, seed=2), 30):
        support = {tuple(row) for row in e["support_x"]}
        query = {tuple(row) for row in e["query_x"]}
        assert len(support) == 20 and len(query) == 12 and not support & query


def test_classes_and_labels_are_spread_uniformly():
    counts = np.zeros(12)
    for e in take(episode_dataset(coded_dataset(), 3, 1, 1, seed=3), 2000):
        counts[e["support_x"][:, 0].astype(int)] += 1
    assert counts.min() > 0.8 * counts.mean() and counts.max() < 1.2 * counts.mean()


def test_same_seed_same_episodes_different_seed_different():
    a = take(episode_dataset(coded_dataset(), 5, 1, 2, seed=7), 5)
    b = take(episode_dataset(coded_dataset(), 5, 1, 2, seed=7), 5)
    c = take(episode_dataset(coded_dataset(), 5, 1, 2, seed=8), 5)
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x["support_x"], y["support_x"])
    assert any(not np.array_equal(x["support_x"], z["support_x"]) for x, z in zip(a, c))


def test_meta_batch_stacks_the_same_episodes():
    single = take(episode_dataset(coded_dataset(), 5, 1, 2, seed=4), 6)
    batched = take(episode_dataset(coded_dataset(), 5, 1, 2, seed=4, meta_batch=3), 2)
    assert batched[0]["support_x"].shape == (3, 5, 2) and batched[0]["query_y"].shape == (3, 10)
    np.testing.assert_array_equal(np.concatenate([b["query_x"] for b in batched]),
                                  np.stack([s["query_x"] for s in single]))


def test_finite_number_of_episodes():
    assert len(take(episode_dataset(coded_dataset(), 2, 1, 1, episodes=7), 100)) == 7


def test_real_omniglot_episode(omniglot_test):
    e = next(iter(episode_dataset(omniglot_test, 20, 5, 15, seed=0)))
    assert e["support_x"].shape == (100, 28, 28, 1) and e["query_x"].shape == (300, 28, 28, 1)
    assert e["support_x"].dtype == tf.float32 and 0 <= float(tf.reduce_min(e["support_x"]))


@pytest.mark.parametrize("kwargs,match", [
    ({"n_way": 13, "k_shot": 1, "n_query": 1}, "n_way must be between 1 and 12"),
    ({"n_way": 5, "k_shot": 5, "n_query": 4}, "k_shot \\+ n_query must be at most the 8"),
    ({"n_way": 5, "k_shot": 0, "n_query": 1}, "k_shot must be >= 1"),
    ({"n_way": 5, "k_shot": 1, "n_query": 1.5}, "n_query must be an integer"),
    ({"n_way": 5, "k_shot": 1, "n_query": 1, "seed": -1}, "seed must be between 0 and"),
    ({"n_way": 5, "k_shot": 1, "n_query": 1, "meta_batch": 0}, "meta_batch must be >= 1"),
])
def test_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        episode_dataset(coded_dataset(), **kwargs)


def test_bad_data_shapes_and_dtypes():
    with pytest.raises(ValueError, match="shape"):
        episode_dataset(np.zeros((5, 4), np.float32), 2, 1, 1)
    with pytest.raises(ValueError, match="dtype uint8"):
        episode_dataset(np.zeros((5, 4, 3), np.uint8), 2, 1, 1)


def test_unlabeled_examples_and_distractor_classes():
    data = coded_dataset(n_classes=12, n_per_class=8)
    for e in take(episode_dataset(data, 4, 1, 2, seed=5, n_unlabeled=3, n_distractors=2), 30):
        assert e["unlabeled_x"].shape == ((4 + 2) * 3, 2)
        labelled = {tuple(row) for row in np.concatenate([e["support_x"], e["query_x"]])}
        unlabeled = {tuple(row) for row in e["unlabeled_x"]}
        assert len(unlabeled) == 18 and not labelled & unlabeled, "unlabelled examples are new examples"
        episode_classes = set(e["support_x"][:, 0])
        unlabeled_classes = e["unlabeled_x"][:, 0].reshape(6, 3)
        assert {row[0] for row in unlabeled_classes[:4]} == episode_classes, "3 unlabelled per episode class"
        assert all(len(set(row)) == 1 for row in unlabeled_classes)
        distractors = set(unlabeled_classes[4:, 0])
        assert len(distractors) == 2 and not distractors & episode_classes


def test_unlabeled_draws_leave_the_labelled_episode_unchanged():
    plain = take(episode_dataset(coded_dataset(), 5, 1, 2, seed=6), 5)
    semi = take(episode_dataset(coded_dataset(), 5, 1, 2, seed=6, n_unlabeled=2), 5)
    for a, b in zip(plain, semi):
        np.testing.assert_array_equal(a["support_x"], b["support_x"])
        np.testing.assert_array_equal(a["query_x"], b["query_x"])


@pytest.mark.parametrize("kwargs,match", [
    ({"n_unlabeled": 4}, "k_shot \\+ n_query \\+ n_unlabeled must be at most the 8 .* n_unlabeled=4"),
    ({"n_unlabeled": 1, "n_distractors": 8}, "n_distractors must be between 0 and 7"),
    ({"n_distractors": 2}, "n_distractors=2 needs n_unlabeled >= 1"),
])
def test_bad_unlabeled_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        episode_dataset(coded_dataset(), 5, 2, 3, **kwargs)
