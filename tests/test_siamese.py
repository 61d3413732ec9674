"""Siamese networks (chapter 2): distances and losses against NumPy, the contrastive-loss convention,
ROC/AUC against brute force, the faces recipe's folds and their mean, serialization, bad inputs, and
learning on held-out real faces."""
import warnings

import keras
import numpy as np
import pytest
import tensorflow as tf

from hands_on_meta.episodes import episode_dataset
from hands_on_meta.evaluation import MetaTestResult, meta_test
from hands_on_meta.layers import (
    ContrastiveLoss,
    PairDistance,
    contrastive_loss,
    softmax_distance_loss,
    triplet_loss,
)
from hands_on_meta.learners import SiameseNetwork
from hands_on_meta.plotting import pca_2d
from hands_on_meta.verification import (
    best_threshold,
    roc_auc,
    roc_curve,
    verification_scores,
    verification_test,
)

# Real-data learning test: 10-way 1-shot 4-query episodes of the 30 training people, then held-out people.
STEPS = 60
MIN_IDENTIFICATION = 60.0  # % on held-out 5-way 1-shot (chance 20%)
MIN_AUC = 0.85             # held-out pair verification (chance 0.5)
MIN_VERIFICATION = 70.0    # % on balanced held-out pairs (chance 50%)


def _face_encoder():
    from hands_on_meta.models import siamese_encoder
    from hands_on_meta.recipes import get

    cfg = get("siamese-faces").config()  # the recipe's encoder (and augmentation)
    return siamese_encoder((56, 46, 1), cfg["embedding"], cfg["filters"], **{key: cfg[key] for key in ("flip", "shift")})


def _flatten_encoder(shape=(4,)):
    return keras.Sequential([keras.Input(shape), keras.layers.Flatten()])


@pytest.mark.parametrize("metric", ["l1", "l2"])
def test_pair_distance_matches_numpy(metric):
    rng = np.random.default_rng(0)
    q, s = rng.normal(size=(3, 7, 16)).astype("float32"), rng.normal(size=(3, 5, 16)).astype("float32")
    diff = q[:, :, None, :] - s[:, None, :, :]
    terms = np.abs(diff) if metric == "l1" else diff ** 2
    expected = terms.sum(-1) if metric == "l1" else np.sqrt(terms.sum(-1))
    layer = PairDistance(metric)
    np.testing.assert_allclose(np.asarray(layer(q, s)), expected, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(np.asarray(PairDistance(metric, elementwise=True)(q, s)), terms, rtol=1e-5, atol=1e-6)
    assert layer.compute_output_shape((None, 7, 16), (None, 5, 16)) == (None, 7, 5)
    assert PairDistance(metric, elementwise=True).compute_output_shape((None, 7, 16), (None, 5, 16)) == (None, 7, 5, 16)
    restored = PairDistance.from_config(layer.get_config())
    assert (restored.metric, restored.elementwise) == (metric, False)
    np.testing.assert_allclose(np.asarray(restored(q[0], q[0] + 1.0)), np.asarray(layer(q[0], q[0] + 1.0)))


def test_l2_distance_has_a_finite_gradient_at_zero():
    a = tf.Variable(np.ones((2, 3), "float32"))
    with tf.GradientTape() as tape:
        d = PairDistance("l2")(a[:, None], tf.ones((2, 1, 3)))[:, 0, 0]  # matched pairs
    grad = tape.gradient(d, a)
    assert np.isfinite(grad.numpy()).all() and np.allclose(d.numpy(), 1e-6)


def test_contrastive_loss_convention_y1_similar_pulled_together_y0_pushed_beyond_margin():
    margin = 1.5
    d = tf.constant(np.linspace(0.0, 3.0, 31), tf.float32)
    with tf.GradientTape(persistent=True) as tape:
        tape.watch(d)
        similar = contrastive_loss(tf.ones_like(d), d, margin)
        dissimilar = contrastive_loss(tf.zeros_like(d), d, margin)
    grad_similar, grad_dissimilar = tape.gradient(similar, d).numpy(), tape.gradient(dissimilar, d).numpy()
    similar, dissimilar = similar.numpy(), dissimilar.numpy()
    np.testing.assert_allclose(similar, d.numpy() ** 2, rtol=1e-6)
    np.testing.assert_allclose(dissimilar, np.maximum(margin - d.numpy(), 0) ** 2, rtol=1e-5, atol=1e-6)
    # similar pairs: the loss grows with the distance, so gradient descent pulls them together
    assert np.all(np.diff(similar) > 0) and np.all(grad_similar[1:] > 0)
    # dissimilar pairs: pushed apart while closer than the margin, no loss (no gradient) beyond it
    inside, beyond = d.numpy() < margin - 1e-6, d.numpy() >= margin
    assert np.all(grad_dissimilar[inside] < 0)
    assert np.all(dissimilar[beyond] == 0) and np.all(grad_dissimilar[beyond] == 0)
    loss = ContrastiveLoss(margin=margin)
    assert ContrastiveLoss.from_config(loss.get_config()).margin == margin
    y = np.array([1.0, 0.0, 0.0])
    np.testing.assert_allclose(float(loss(y, np.array([0.5, 0.5, 2.0]))), (0.25 + 1.0 + 0.0) / 3, rtol=1e-6)


def test_episode_outputs_are_similarity_to_the_nearest_support_example_and_loss_balances_pairs():
    rng = np.random.default_rng(1)
    support, queries = rng.normal(size=(6, 4)).astype("float32"), rng.normal(size=(3, 4)).astype("float32")
    episode = {"support_x": support, "support_y": np.array([0, 0, 1, 1, 2, 2], "int32"),
               "query_x": queries, "query_y": np.array([0, 1, 2], "int32")}
    siamese = SiameseNetwork(_flatten_encoder(), distance="l2", head="contrastive", margin=2.0)
    out = np.asarray(siamese(episode))[0]
    dist = np.sqrt(((queries[:, None] - support[None]) ** 2).sum(-1)).reshape(3, 3, 2)
    np.testing.assert_allclose(out, -dist.min(-1), rtol=1e-5)
    d = dist.min(-1)
    same = np.eye(3)
    pair_loss = same * d ** 2 + (1 - same) * np.maximum(2.0 - d, 0) ** 2
    expected = 0.5 * (pair_loss[same == 1].mean() + pair_loss[same == 0].mean())
    np.testing.assert_allclose(float(siamese.query_loss(episode["query_y"], out)), expected, rtol=1e-5)
    bce = SiameseNetwork(_flatten_encoder(), distance="l1", head="bce")
    logits = np.asarray(bce(episode))[0]
    w, b = (np.asarray(v) for v in bce.logit.weights)
    pair_logits = (np.abs(queries[:, None] - support[None]) @ w[:, 0] + b[0]).reshape(3, 3, 2)
    np.testing.assert_allclose(logits, pair_logits.max(-1), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(np.asarray(bce.pair_scores(queries, support[::2])), np.diag(pair_logits[..., 0]),
                               rtol=1e-5, atol=1e-6)


def test_triplet_and_softmax_heads_against_numpy():
    rng = np.random.default_rng(3)
    d = rng.uniform(0.0, 2.0, size=(2, 6, 4)).astype("float32")  # 2 episodes, 6 queries, 4 classes
    labels = rng.integers(0, 4, size=(2, 6))
    same = np.eye(4, dtype="float32")[labels]
    positive = np.take_along_axis(d, labels[..., None], -1)[..., 0]
    hardest = np.where(same > 0, np.inf, d).min(-1)
    np.testing.assert_allclose(np.asarray(triplet_loss(same, d, 0.3)), np.maximum(positive - hardest + 0.3, 0),
                               rtol=1e-5, atol=1e-6)
    logits = -2.5 * d ** 2
    log_p = logits - np.log(np.exp(logits).sum(-1, keepdims=True))
    np.testing.assert_allclose(np.asarray(softmax_distance_loss(same, d, 2.5)),
                               -np.take_along_axis(log_p, labels[..., None], -1)[..., 0], rtol=1e-5, atol=1e-6)
    # the learner's loss of one episode is the mean over its queries, on the distance to each class
    support, queries = rng.normal(size=(4, 5)).astype("float32"), rng.normal(size=(6, 5)).astype("float32")
    episode = {"support_x": support, "support_y": np.arange(4, dtype="int32"), "query_x": queries,
               "query_y": labels[0].astype("int32")}
    dist = np.sqrt(((queries[:, None] - support[None]) ** 2).sum(-1))
    for head, expected in [("triplet", triplet_loss(same[0], dist, 0.3)), ("softmax", softmax_distance_loss(same[0], dist, 2.5))]:
        siamese = SiameseNetwork(_flatten_encoder((5,)), head=head, margin=0.3, scale=2.5)
        out = siamese(episode)[0]
        np.testing.assert_allclose(float(siamese.query_loss(episode["query_y"], out)), float(np.mean(expected)),
                                   rtol=1e-5)


def test_faces_folds_are_disjoint_cover_every_subject_and_bad_folds_are_named(mirror):
    from hands_on_meta.recipes import get
    from hands_on_meta.recipes.siamese import check_folds

    recipe = get("siamese-faces")
    cfg = recipe.config()
    subjects = [s for fold in cfg["folds"] for s in fold]
    assert len(cfg["folds"]) == 4 and sorted(subjects) == list(range(1, 41))  # disjoint, every subject once
    for k in range(4):
        train, test, held_out = recipe.task_data(cfg, "identity", k)[:3]
        assert set(train.class_names).isdisjoint(test.class_names) and len(train.class_names) == 30
        assert sorted(test.class_names) == sorted(f"s{s}" for s in cfg["folds"][k]), held_out
    names = [run.name for run in recipe.runs(cfg)]
    assert len(names) == len(set(names)) == 4 * len(cfg["models"]) and "softmax-fold4" in names
    assert len({run.seed for run in recipe.runs(cfg)}) == len(names)  # each fold's models start differently
    for bad, message in [([[1, 2], [2, 3]], r"disjoint .*folds\[1\] repeats \[2\]"),
                         ([[0, 1]], r"folds\[0\] must be a non-empty list of subject numbers from 1 to 40"),
                         ([list(range(1, 40))], "leaving fewer than 2 to train on"), ([], "non-empty list")]:
        with pytest.raises(ValueError, match=message):
            check_folds(bad, 40)
    with pytest.raises(ValueError, match="folds must be disjoint"):
        recipe.task_data(recipe.config(folds=[[1, 2], [2]]), "identity", 0)


def test_mean_over_folds_pools_episodes_and_compares_with_raw_pixels_on_the_same_episodes():
    from hands_on_meta.recipes.siamese import mean_over_folds, pooled
    from hands_on_meta.verification import Estimate

    rng = np.random.default_rng(4)
    model = [MetaTestResult("accuracy", rng.uniform(80, 100, 600), 1.0) for _ in range(4)]
    raw = [MetaTestResult("accuracy", m.values - rng.uniform(0, 10, 600), 0.5) for m in model]
    fields = [{"model": f"softmax-fold{k + 1}", "split": f"fold {k + 1}", "budget": "b", "fold": k + 1} for k in range(4)]
    mean, record = mean_over_folds(list(zip(model, fields)), list(zip(raw, fields)))
    assert mean.episodes == 2400 and mean.mean == pytest.approx(np.mean([m.mean for m in model]))
    assert record["model"] == ("softmax-fold1", "softmax-fold2", "softmax-fold3", "softmax-fold4")
    assert record["fold_means"] == [round(m.mean, 4) for m in model] and "fold" not in record
    assert record["vs_raw"]["difference"] == pytest.approx(mean.mean - np.mean([r.mean for r in raw]), abs=1e-4)
    assert 0 < record["vs_raw"]["ci95"] < 1 and record["vs_raw"]["p_value"] < 1e-6
    auc = pooled([Estimate("roc_auc", value, 0.01, 2400, 0.0) for value in (0.9, 0.95, 0.97, 0.98)])
    assert auc.mean == pytest.approx(0.95) and auc.ci95 == pytest.approx(0.005) and auc.episodes == 9600


def test_roc_and_auc_against_brute_force_with_ties():
    rng = np.random.default_rng(2)
    labels = rng.random(300) < 0.4
    scores = np.round(rng.normal(size=300) + labels, 1)  # rounded: many ties
    pos, neg = scores[labels], scores[~labels]
    brute = ((pos[:, None] > neg[None]).sum() + 0.5 * (pos[:, None] == neg[None]).sum()) / (pos.size * neg.size)
    assert roc_auc(labels, scores) == pytest.approx(brute, abs=1e-12)
    fpr, tpr, thresholds = roc_curve(labels, scores)
    for f, t, th in zip(fpr[1:], tpr[1:], thresholds[1:]):
        assert t == pytest.approx((pos >= th).mean()) and f == pytest.approx((neg >= th).mean())
    threshold = best_threshold(labels, scores)
    accuracy = ((scores >= threshold) == labels).mean()
    assert accuracy == pytest.approx(max(((scores >= th) == labels).mean() for th in np.r_[thresholds, -np.inf]))


def test_bad_inputs_raise_clear_errors():
    encoder = _flatten_encoder()
    with pytest.raises(ValueError, match="distance must be one of \\['l1', 'l2'\\], got 'cosine'"):
        SiameseNetwork(encoder, distance="cosine")
    with pytest.raises(ValueError, match="head must be one of \\['bce', 'contrastive', 'softmax', 'triplet'\\], "
                                         "got 'hinge'"):
        SiameseNetwork(encoder, head="hinge")
    with pytest.raises(ValueError, match="scale must be a number greater than 0, got -1"):
        SiameseNetwork(encoder, head="softmax", scale=-1)
    with pytest.raises(ValueError, match="same and distances must both have shape"):
        triplet_loss(np.ones(3, "float32"), np.ones(3, "float32"))
    with pytest.raises(ValueError, match="margin must be a number greater than 0, got 0"):
        SiameseNetwork(encoder, margin=0)
    with pytest.raises(ValueError, match="encoder must be a built keras.Model"):
        SiameseNetwork(keras.Sequential([keras.layers.Flatten()]))
    with pytest.raises(ValueError, match="metric must be one of"):
        PairDistance("l3")
    with pytest.raises(ValueError, match="labels must contain both classes"):
        roc_auc([1, 1, 1], [0.1, 0.2, 0.3])
    with pytest.raises(ValueError, match="same length"):
        roc_curve([1, 0], [0.1, 0.2, 0.3])
    with pytest.raises(ValueError, match="threshold must be a finite number"):
        verification_test(SiameseNetwork(encoder), [], float("nan"), 10, allow_fewer=True)
    with pytest.raises(ValueError, match="below the 600 episodes"):
        verification_test(SiameseNetwork(encoder), [], 0.0, 10)
    with pytest.raises(ValueError, match="points must have shape"):
        pca_2d(np.zeros(5))


def test_siamese_learns_faces_of_held_out_subjects_and_round_trips(mirror, tmp_path):
    from hands_on_meta.datasets import load_faces

    train, test = load_faces("train", (56, 46)), load_faces("test", (56, 46))
    keras.utils.set_random_seed(0)
    siamese = SiameseNetwork(_face_encoder(), distance="l2", head="contrastive", margin=1.0)
    siamese.compile(optimizer=keras.optimizers.Adam(1e-3))
    train_pairs, test_pairs = (episode_dataset(data, 2, 1, 1, seed=seed, meta_batch=50) for data, seed in
                               [(train, 2), (test, 3)])
    untrained = verification_test(siamese, test_pairs, 0.0, 200, allow_fewer=True).auc.mean
    siamese.fit(episode_dataset(train, 10, 1, 4, seed=0), steps_per_epoch=STEPS, epochs=1, verbose=0)
    identification = meta_test(siamese, episode_dataset(test, 5, 1, 5, seed=1, meta_batch=20), 200,
                               allow_fewer=True)
    threshold = best_threshold(*verification_scores(siamese, train_pairs, 200))
    verification = verification_test(siamese, test_pairs, threshold, 200, allow_fewer=True)
    # Held-out subjects only. Chance: 20% (5-way 1-shot), AUC 0.5, accuracy 50% on balanced pairs.
    assert identification.mean > MIN_IDENTIFICATION, f"held-out 5-way 1-shot: {identification}"
    assert verification.auc.mean > MIN_AUC and verification.accuracy.mean > MIN_VERIFICATION, str(verification)
    # and the training itself helped: the held-out AUC beats that of the same network untrained
    assert verification.auc.mean > untrained, f"AUC untrained {untrained:.4f}, trained {verification.auc.mean:.4f}"
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        siamese.save(tmp_path / "siamese.keras")
        loaded = keras.models.load_model(tmp_path / "siamese.keras")
    # Keras reports serialization problems (skipped variables, configs it cannot rebuild) as UserWarnings;
    # numpy 2's DeprecationWarning about __array__(copy=...) inside TF/Keras internals is not about this model.
    problems = [str(w.message) for w in caught if "keras" in str(w.filename)
                and not issubclass(w.category, DeprecationWarning)]
    assert not problems, problems
    assert (loaded.distance, loaded.head, loaded.margin, loaded.scale) == ("l2", "contrastive", 1.0, 10.0)
    batch = next(iter(episode_dataset(test, 5, 1, 5, seed=1, meta_batch=4)))
    np.testing.assert_allclose(np.asarray(siamese(batch)), np.asarray(loaded(batch)), rtol=1e-5, atol=1e-5)
