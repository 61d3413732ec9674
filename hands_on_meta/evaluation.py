"""Meta-test: mean score and 95% confidence interval over held-out episodes.

>>> values = [100.0, 80.0, 90.0, 90.0]
>>> mean, ci95 = mean_ci95(values)
>>> round(mean, 1), round(ci95, 2)
(90.0, 8.0)

``meta_test(learner, episodes)`` runs any :class:`~hands_on_meta.learners.EpisodicLearner` (or a
wrapper with ``episode_scores``) on a dataset of test episodes and returns a :class:`MetaTestResult`;
:func:`hands_on_meta.records.record` stores it. :func:`episode_cost` times the same calls, one
episode at a time (adaptation plus prediction). Pair verification (Siamese networks) is in
:mod:`hands_on_meta.verification`.
"""
import dataclasses
import time

import numpy as np

MIN_EPISODES = 600


def mean_ci95(values):
    """Mean and half-width of the 95% normal confidence interval: 1.96 * std / sqrt(n)."""
    values = np.asarray(values, dtype=np.float64)
    if values.ndim != 1 or values.size < 2:
        raise ValueError(f"values must be a 1-D sequence of at least 2 scores, got shape {values.shape}")
    return float(values.mean()), float(1.96 * values.std(ddof=1) / np.sqrt(values.size))


@dataclasses.dataclass
class MetaTestResult:
    """Per-episode scores and their summary. ``metric`` is ``"accuracy"`` (%) or ``"mse"``;
    ``diverged_above``: an error above it means the adaptation blew up (e.g. worse than predicting 0
    on every task of the family), counted as diverged like a non-finite score."""

    metric: str
    values: np.ndarray
    wall_s: float
    diverged_above: float | None = None

    @property
    def episodes(self):
        return int(self.values.size)

    @property
    def mean(self):
        return mean_ci95(self.values)[0]

    @property
    def diverged(self):
        """Number of episodes whose adaptation blew up: a non-finite score, or an error above
        ``diverged_above``; with any, the mean and CI say nothing and the median is reported instead."""
        fine = np.isfinite(self.values)
        if self.diverged_above is not None:
            fine &= self.values <= self.diverged_above
        return int(np.sum(~fine))

    @property
    def median(self):
        """Median score, counting non-finite scores as +inf (robust to a few diverged episodes)."""
        return float(np.median(np.where(np.isfinite(self.values), self.values, np.inf)))

    @property
    def ci95(self):
        return mean_ci95(self.values)[1]

    def __str__(self):
        unit = "%" if self.metric == "accuracy" else ""
        if self.diverged:
            above = "" if self.diverged_above is None else f" or above {self.diverged_above:g}"
            return (f"{self.metric}: diverged (non-finite{above}) on {self.diverged} of {self.episodes} episodes, "
                    f"median {self.median:.2f}{unit}")
        return f"{self.metric} {self.mean:.2f}{unit} ± {self.ci95:.2f}{unit} (95% CI, {self.episodes} episodes)"


def meta_test(learner, episodes, n_episodes=MIN_EPISODES, allow_fewer=False, verbose=0, diverged_above=None):
    """Score ``learner`` on ``n_episodes`` episodes taken from the dataset ``episodes`` (single
    episodes or meta-batches). Fewer than 600 episodes is refused unless ``allow_fewer=True`` (quick
    runs and tests); results meant for RESULTS.md use the default. ``diverged_above``: see
    :class:`MetaTestResult`."""
    import keras

    if isinstance(n_episodes, bool) or not isinstance(n_episodes, int) or n_episodes < 2:
        raise ValueError(f"n_episodes must be an integer >= 2, got {n_episodes!r}")
    if n_episodes < MIN_EPISODES and not allow_fewer:
        raise ValueError(f"n_episodes={n_episodes} is below the {MIN_EPISODES} episodes a reported result "
                         "needs; pass allow_fewer=True for a quick look")
    score = scorer(learner)
    progress = keras.utils.Progbar(n_episodes, unit_name="episode") if verbose else None
    values, start = [], time.perf_counter()
    for batch in episodes:
        scores = np.atleast_1d(score(batch).numpy())
        values.extend(scores.tolist())
        if progress is not None:
            progress.update(min(len(values), n_episodes))
        if len(values) >= n_episodes:
            break
    if len(values) < n_episodes:
        raise ValueError(f"episodes ran out after {len(values)} of n_episodes={n_episodes} episodes")
    metric = "accuracy" if learner.task == "classification" else "mse"
    return MetaTestResult(metric, np.asarray(values[:n_episodes]), time.perf_counter() - start, diverged_above)


def scorer(learner):
    """``learner.episode_scores`` as the compiled function :func:`meta_test` (and :func:`episode_cost`) call."""
    import tensorflow as tf

    return tf.function(learner.episode_scores, reduce_retracing=True)


def episode_cost(learner, episodes, n_episodes=20, warmup=2):
    """Test-time cost of ``learner``: the wall time in seconds of each of ``n_episodes`` episodes of the
    dataset ``episodes``, scored one call at a time as :func:`meta_test` scores them: adaptation to the
    support set (inner steps, prototypes, ...) and prediction of the queries. The first ``warmup``
    episodes only trace and warm up the compiled function and are not timed; the episodes are read
    from the dataset before the clock starts. Report the median (robust to a machine's hiccups);
    with single episodes (no meta-batch axis) it is the cost of one new task.

    >>> import numpy as np, tensorflow as tf
    >>> class Mean:
    ...     task = "classification"
    ...     def episode_scores(self, batch):
    ...         return tf.reduce_mean(batch, -1)
    >>> times = episode_cost(Mean(), tf.data.Dataset.from_tensor_slices(np.ones((10, 3), "float32")), 5)
    >>> times.shape, bool(np.all(times > 0))
    ((5,), True)
    """
    for name, value, least in (("n_episodes", n_episodes, 1), ("warmup", warmup, 1)):
        if isinstance(value, bool) or not isinstance(value, int) or value < least:
            raise ValueError(f"{name} must be an integer >= {least}, got {value!r}")
    batches = list(episodes.take(warmup + n_episodes))
    if len(batches) < warmup + n_episodes:
        raise ValueError(f"episodes ran out after {len(batches)} of warmup + n_episodes = {warmup + n_episodes}")
    score = scorer(learner)
    for batch in batches[:warmup]:
        score(batch).numpy()
    times = []
    for batch in batches[warmup:]:
        start = time.perf_counter()
        score(batch).numpy()  # .numpy() waits for the result
        times.append(time.perf_counter() - start)
    return np.asarray(times)


@dataclasses.dataclass(frozen=True)
class PairedDifference:
    """``a - b`` over the same test episodes: the mean per-episode difference, its 95% CI and the two-sided
    p-value of "no difference" (normal approximation of the paired t-test; fine for the >= 600 episodes of a
    meta-test), with the episodes on which each one is better (higher accuracy, lower error)."""

    mean: float
    ci95: float
    p_value: float
    a_better: int
    b_better: int
    metric: str

    @property
    def significant(self):
        """Is the difference significant at the 5% level?"""
        return self.p_value < 0.05

    def __str__(self):
        unit = " points" if self.metric == "accuracy" else ""
        verdict = "significant at 5%" if self.significant else "not significant at 5%"
        p_value = f"p = {self.p_value:.2g}" if self.p_value >= 1e-6 else "p < 1e-6"
        return (f"difference {self.mean:+.2f}{unit} ± {self.ci95:.2f} (95% CI, {self.a_better + self.b_better} "
                f"episodes differ: {self.a_better} for the first, {self.b_better} for the second), {p_value}, {verdict}")


def paired_difference(a, b):
    """Compare two :class:`MetaTestResult` s of the same test episodes (same seed and settings), episode by
    episode: a paired comparison sees differences that two overlapping CIs hide.

    >>> a = MetaTestResult("accuracy", np.array([100.0, 80.0, 90.0, 90.0] * 150), 0.0)
    >>> b = MetaTestResult("accuracy", np.array([100.0, 80.0, 80.0, 90.0] * 150), 0.0)
    >>> result = paired_difference(a, b)
    >>> round(result.mean, 2), result.a_better, result.b_better, result.significant
    (2.5, 150, 0, True)
    >>> paired_difference(MetaTestResult("mse", b.values / 100, 0.0), MetaTestResult("mse", a.values / 100, 0.0)).a_better
    150
    """
    import math

    if a.metric != b.metric:
        raise ValueError(f"a and b must score the same metric, got {a.metric!r} and {b.metric!r}")
    if a.values.shape != b.values.shape:
        raise ValueError(f"a and b must hold the same test episodes, got {a.episodes} and {b.episodes} scores")
    difference = np.asarray(a.values, np.float64) - np.asarray(b.values, np.float64)
    if not np.all(np.isfinite(difference)):
        raise ValueError("a and b must have finite scores on every episode (some diverged)")
    mean, ci95 = mean_ci95(difference)
    spread = difference.std(ddof=1) / math.sqrt(difference.size)
    p_value = 1.0 if spread == 0 and mean == 0 else 0.0 if spread == 0 else math.erfc(abs(mean / spread) / math.sqrt(2))
    higher, lower = int(np.sum(difference > 0)), int(np.sum(difference < 0))
    a_better, b_better = (higher, lower) if a.metric == "accuracy" else (lower, higher)  # an error: lower is better
    return PairedDifference(mean, ci95, p_value, a_better, b_better, a.metric)
