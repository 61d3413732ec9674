"""Pair verification ("same class or not?") for Siamese networks (chapter 2): ROC curve, ROC-AUC with
its confidence interval, the accuracy-maximising threshold, and verification over test episodes.

>>> roc_auc([1, 0, 1, 0], [0.9, 0.8, 0.7, 0.1])
0.75
"""
import dataclasses
import time

import numpy as np

from hands_on_meta.evaluation import MIN_EPISODES, MetaTestResult


def roc_curve(labels, scores):
    """ROC curve of ``scores`` (higher = more likely positive) for boolean ``labels``: false-positive
    rates, true-positive rates and the thresholds (predict positive when ``score >= threshold``),
    from (0, 0) at threshold +inf to (1, 1), one point per distinct score.

    >>> fpr, tpr, thresholds = roc_curve([1, 0, 1, 0], [0.9, 0.8, 0.7, 0.1])
    >>> fpr.tolist(), tpr.tolist()
    ([0.0, 0.0, 0.5, 0.5, 1.0], [0.0, 0.5, 0.5, 1.0, 1.0])
    """
    labels, scores = _check_pairs(labels, scores)
    order = np.argsort(-scores, kind="mergesort")
    scores, labels = scores[order], labels[order]
    last = np.r_[np.flatnonzero(np.diff(scores)), scores.size - 1]  # last index of each run of equal scores
    true_pos = np.cumsum(labels)[last]
    false_pos = last + 1 - true_pos
    return (np.r_[0.0, false_pos / (labels.size - labels.sum())], np.r_[0.0, true_pos / labels.sum()],
            np.r_[np.inf, scores[last]])


def roc_auc(labels, scores):
    """Area under the ROC curve: the probability that a random positive scores above a random
    negative (ties count half).

    >>> roc_auc([1, 0, 1, 0], [0.9, 0.8, 0.7, 0.1])
    0.75
    """
    fpr, tpr, _ = roc_curve(labels, scores)
    return float(np.sum(np.diff(fpr) * (tpr[1:] + tpr[:-1]) / 2.0))


def auc_ci95(auc, n_positive, n_negative):
    """Half-width of a 95% confidence interval for an AUC (Hanley and McNeil 1982 standard error)."""
    q1, q2 = auc / (2.0 - auc), 2.0 * auc ** 2 / (1.0 + auc)
    variance = (auc * (1 - auc) + (n_positive - 1) * (q1 - auc ** 2) + (n_negative - 1) * (q2 - auc ** 2)) \
        / (n_positive * n_negative)
    return float(1.96 * np.sqrt(max(variance, 0.0)))


def best_threshold(labels, scores):
    """The threshold with the highest accuracy on these pairs (predict positive when ``score >=
    threshold``), halfway between two neighbouring scores. Choose it on training pairs.

    >>> best_threshold([1, 1, 0, 0], [3.0, 2.0, 1.0, 0.0])
    1.5
    """
    labels, scores = _check_pairs(labels, scores)
    fpr, tpr, thresholds = roc_curve(labels, scores)
    n_pos = labels.sum()
    correct = tpr * n_pos + (1.0 - fpr) * (labels.size - n_pos)
    best = int(np.argmax(correct))
    if best == 0:  # calling every pair "different" is best: a threshold above every score
        return float(thresholds[1] + 1.0)
    if best == thresholds.size - 1:  # calling every pair "same" is best
        return float(thresholds[best])
    return float((thresholds[best] + thresholds[best + 1]) / 2.0)


def _check_pairs(labels, scores):
    labels, scores = np.asarray(labels), np.asarray(scores, dtype=np.float64)
    if labels.ndim != 1 or labels.shape != scores.shape:
        raise ValueError(f"labels and scores must be 1-D arrays of the same length, got shapes "
                         f"{labels.shape} and {scores.shape}")
    if not np.isin(labels, (0, 1)).all():
        raise ValueError("labels must be 0/1 or booleans (1 = same class)")
    labels = labels.astype(bool)
    if labels.all() or not labels.any():
        raise ValueError(f"labels must contain both classes, got {int(labels.sum())} positives of {labels.size}")
    if not np.isfinite(scores).all():
        raise ValueError("scores must be finite")
    return labels, scores


@dataclasses.dataclass
class Estimate:
    """A single statistic with its 95% CI half-width, in the form :func:`record` takes (``n`` in
    ``episodes``: for verification, the number of pairs)."""

    metric: str
    mean: float
    ci95: float
    episodes: int
    wall_s: float

    def __str__(self):
        return f"{self.metric} {self.mean:.4f} ± {self.ci95:.4f} (95% CI, {self.episodes} pairs)"


@dataclasses.dataclass
class VerificationResult:
    """Pair verification: ``labels`` (True = same class), ``scores`` (similarities) and the
    ``threshold`` above which a pair is called "same" (chosen on other, training pairs)."""

    labels: np.ndarray
    scores: np.ndarray
    threshold: float
    wall_s: float

    @property
    def accuracy(self):
        """Per-pair correctness at the threshold, as a :class:`MetaTestResult` (values in %)."""
        correct = (self.scores >= self.threshold) == self.labels
        return MetaTestResult("accuracy", 100.0 * correct.astype(np.float64), self.wall_s)

    @property
    def auc(self):
        """ROC-AUC with its 95% CI, as an :class:`Estimate` (metric ``"roc_auc"``)."""
        auc = roc_auc(self.labels, self.scores)
        n_pos = int(self.labels.sum())
        return Estimate("roc_auc", auc, auc_ci95(auc, n_pos, self.labels.size - n_pos), self.labels.size, self.wall_s)

    def roc(self):
        """``(fpr, tpr, thresholds)``: see :func:`roc_curve`."""
        return roc_curve(self.labels, self.scores)

    def __str__(self):
        return (f"verification over {self.labels.size} pairs ({int(self.labels.sum())} same): "
                f"accuracy {self.accuracy.mean:.2f}% ± {self.accuracy.ci95:.2f}% at threshold {self.threshold:.3g}, "
                f"ROC-AUC {self.auc.mean:.4f} ± {self.auc.ci95:.4f}")


def verification_scores(learner, episodes, n_episodes):
    """Labels and similarities of every query x class pair in ``n_episodes`` episodes: ``learner``'s
    episode outputs (the similarity of each query to each class) and whether the query belongs to
    the class. With 2-way 1-shot 1-query episodes each episode gives 2 same and 2 different pairs."""
    import tensorflow as tf

    if isinstance(n_episodes, bool) or not isinstance(n_episodes, int) or n_episodes < 1:
        raise ValueError(f"n_episodes must be a positive integer, got {n_episodes!r}")
    outputs = tf.function(lambda batch: learner(batch, training=False), reduce_retracing=True)
    labels, scores, count = [], [], 0
    for batch in episodes:
        out = outputs(batch).numpy()  # (meta_batch, queries, classes)
        query_y = np.asarray(batch["query_y"]).reshape(out.shape[:2])
        take = min(len(out), n_episodes - count)
        labels.append(np.eye(out.shape[-1], dtype=bool)[query_y[:take]].ravel())
        scores.append(out[:take].ravel())
        count += take
        if count >= n_episodes:
            break
    if count < n_episodes:
        raise ValueError(f"episodes ran out after {count} of n_episodes={n_episodes} episodes")
    return np.concatenate(labels), np.concatenate(scores).astype(np.float64)


def verification_test(learner, episodes, threshold, n_episodes=MIN_EPISODES, allow_fewer=False):
    """Pair verification of ``learner`` on the pairs of ``n_episodes`` test episodes (see
    :func:`verification_scores`) at ``threshold`` (from :func:`best_threshold` on training pairs).
    Fewer than 600 episodes is refused unless ``allow_fewer=True``."""
    if isinstance(n_episodes, int) and not isinstance(n_episodes, bool) and n_episodes < MIN_EPISODES \
            and not allow_fewer:
        raise ValueError(f"n_episodes={n_episodes} is below the {MIN_EPISODES} episodes a reported result "
                         "needs; pass allow_fewer=True for a quick look")
    if isinstance(threshold, bool) or not isinstance(threshold, (int, float, np.floating)) \
            or not np.isfinite(threshold):
        raise ValueError(f"threshold must be a finite number (see best_threshold), got {threshold!r}")
    start = time.perf_counter()
    labels, scores = verification_scores(learner, episodes, n_episodes)
    return VerificationResult(labels, scores, float(threshold), time.perf_counter() - start)
