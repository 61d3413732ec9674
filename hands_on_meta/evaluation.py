"""Meta-test: mean score and 95% confidence interval over held-out episodes, and result records.

>>> values = [100.0, 80.0, 90.0, 90.0]
>>> mean, ci95 = mean_ci95(values)
>>> round(mean, 1), round(ci95, 2)
(90.0, 8.0)

``meta_test(learner, episodes)`` runs any :class:`~hands_on_meta.learners.EpisodicLearner` on a
dataset of test episodes and returns a :class:`MetaTestResult`; ``record`` appends it, with its
config, command, machine and commit, to ``results/<algorithm>.jsonl``; ``write_results_md`` turns
all records into ``RESULTS.md`` with the published numbers beside ours.
"""
import dataclasses
import datetime
import json
import os
import platform
import re
import subprocess
import sys
import time
from pathlib import Path

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
    """Per-episode scores and their summary. ``metric`` is ``"accuracy"`` (%) or ``"mse"``."""

    metric: str
    values: np.ndarray
    wall_s: float

    @property
    def episodes(self):
        return int(self.values.size)

    @property
    def mean(self):
        return mean_ci95(self.values)[0]

    @property
    def diverged(self):
        """Number of episodes with a non-finite score (an adaptation that blew up); the mean is then not finite."""
        return int(np.sum(~np.isfinite(self.values)))

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
            return (f"{self.metric}: diverged (non-finite) on {self.diverged} of {self.episodes} episodes, "
                    f"median {self.median:.2f}{unit}")
        return f"{self.metric} {self.mean:.2f}{unit} ± {self.ci95:.2f}{unit} (95% CI, {self.episodes} episodes)"


def meta_test(learner, episodes, n_episodes=MIN_EPISODES, allow_fewer=False, verbose=0):
    """Score ``learner`` on ``n_episodes`` episodes taken from the dataset ``episodes`` (single
    episodes or meta-batches). Fewer than 600 episodes is refused unless ``allow_fewer=True`` (quick
    runs and tests); results meant for RESULTS.md use the default."""
    import keras

    if isinstance(n_episodes, bool) or not isinstance(n_episodes, int) or n_episodes < 2:
        raise ValueError(f"n_episodes must be an integer >= 2, got {n_episodes!r}")
    if n_episodes < MIN_EPISODES and not allow_fewer:
        raise ValueError(f"n_episodes={n_episodes} is below the {MIN_EPISODES} episodes a reported result "
                         "needs; pass allow_fewer=True for a quick look")
    import tensorflow as tf

    score = tf.function(learner.episode_scores, reduce_retracing=True)
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
    return MetaTestResult(metric, np.asarray(values[:n_episodes]), time.perf_counter() - start)


# --- Pair verification (Siamese networks, chapter 2): "same class or not?" for pairs of examples ---


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


def _commit(package=None):
    """Short hash of HEAD, ``+dirty`` when the code in ``package`` differs from it (results, notebooks
    and tests do not change what a run computes); ``package`` defaults to this package's folder."""
    package = package or Path(__file__).resolve().parent

    def git(*args):
        return subprocess.run(["git", *args], check=False, capture_output=True, text=True, cwd=package, timeout=10)

    try:
        head = git("rev-parse", "--short", "HEAD")
        dirty = git("status", "--porcelain", "--untracked-files=no", "--", ".").stdout.strip()
        return head.stdout.strip() + ("+dirty" if dirty else "") if head.returncode == 0 else "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


_START_COMMIT = _commit()  # the code that runs is the code at import time, not at record time


def machine():
    """A short description of this machine for result records."""
    import tensorflow as tf

    gpus = len(tf.config.list_physical_devices("GPU"))
    onednn = ", oneDNN" if os.environ.get("TF_ENABLE_ONEDNN_OPTS") == "1" else ""
    return f"{platform.machine()} {os.cpu_count()} cores{f', {gpus} GPU' if gpus else ''}, TF {tf.__version__}{onednn}"


REQUIRED = ("algorithm", "dataset", "split", "way", "shot", "episodes", "mean", "ci95", "budget", "wall_s",
            "machine", "commit", "command")


def slug(name):
    """A file-name-safe form of ``name``: ``slug("Gaussian ProtoNet (radius)") == "gaussian-protonet-radius"``."""
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")


def record(result, algorithm, dataset, split, way, shot, budget, wall_s, results_dir="results", command=None,
           **extra):
    """Append one result line to ``results_dir/<algorithm>.jsonl`` and return the record.

    ``way``/``shot`` describe the test episodes (``way`` None for regression); ``budget`` says how it
    was trained (e.g. ``"20000 meta-steps x 25 tasks"``); ``wall_s`` the training wall time. If some
    episodes diverged (non-finite scores), ``mean`` and ``ci95`` are None and the record says how many
    diverged and the median score.
    """
    diverged = getattr(result, "diverged", 0)
    rec = {
        "algorithm": algorithm, "dataset": dataset, "split": split, "way": way, "shot": shot,
        "episodes": result.episodes, "metric": result.metric,
        "mean": None if diverged else round(result.mean, 4), "ci95": None if diverged else round(result.ci95, 4),
        **({"diverged": diverged, "median": round(result.median, 4)} if diverged else {}), "budget": budget, "wall_s": round(float(wall_s), 1),
        "machine": machine(), "commit": _START_COMMIT,
        "command": command or " ".join(["hands-on-meta" if sys.argv[0].endswith("hands-on-meta") else
                                        Path(sys.argv[0]).name] + sys.argv[1:]),
        "date": datetime.date.today().isoformat(), **extra,
    }
    path = Path(results_dir) / f"{slug(algorithm)}.jsonl"
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as handle:
        handle.write(json.dumps(rec) + "\n")
    return rec


# Published numbers, keyed by (algorithm, dataset, way, shot, setting): (value, source).
PUBLISHED = {
    ("MAML", "sine", None, 5, "1 step"): ("1.13 ± 0.18", "Li et al. 2017 (Meta-SGD), Table 1"),
    ("MAML", "sine", None, 10, "1 step"): ("0.85 ± 0.14", "Li et al. 2017 (Meta-SGD), Table 1"),
    ("MAML", "sine", None, 20, "1 step"): ("0.71 ± 0.12", "Li et al. 2017 (Meta-SGD), Table 1"),
    ("Meta-SGD", "sine", None, 5, "1 step"): ("0.90 ± 0.16", "Li et al. 2017 (Meta-SGD), Table 1"),
    ("Meta-SGD", "sine", None, 10, "1 step"): ("0.53 ± 0.09", "Li et al. 2017 (Meta-SGD), Table 1"),
    ("Meta-SGD", "sine", None, 20, "1 step"): ("0.31 ± 0.05", "Li et al. 2017 (Meta-SGD), Table 1"),
    ("ProtoNet", "omniglot", 5, 1, ""): ("98.8", "Snell et al. 2017, Table 1"),
    ("ProtoNet", "omniglot", 5, 5, ""): ("99.7", "Snell et al. 2017, Table 1"),
    ("ProtoNet", "omniglot", 20, 1, ""): ("96.0", "Snell et al. 2017, Table 1"),
    ("ProtoNet", "omniglot", 20, 5, ""): ("98.9", "Snell et al. 2017, Table 1"),
    ("MAML", "omniglot", 5, 1, ""): ("98.7 ± 0.4", "Finn et al. 2017, Table 1"),
    ("MAML", "omniglot", 5, 5, ""): ("99.9 ± 0.1", "Finn et al. 2017, Table 1"),
    ("FOMAML", "omniglot", 5, 1, ""): ("98.3 ± 0.5", "Finn et al. 2017, Table 1"),
    ("Meta-SGD", "omniglot", 5, 1, ""): ("99.5", "Li et al. 2017"),
    ("FOMAML", "omniglot", 5, 5, ""): ("99.2 ± 0.2", "Finn et al. 2017, Table 1"),
    ("Meta-SGD", "omniglot", 5, 5, ""): ("99.9", "Li et al. 2017"),
    ("Reptile", "omniglot", 5, 1, ""): ("97.7 (transductive)", "Nichol et al. 2018"),
    ("Reptile", "omniglot", 5, 5, ""): ("99.5 (transductive)", "Nichol et al. 2018"),
    # Matching nets, cosine, no fine-tuning; the paper reports no FCE numbers on Omniglot
    ("MatchingNet", "omniglot", 5, 1, ""): ("98.1", "Vinyals et al. 2016, Table 1"),
    ("MatchingNet", "omniglot", 5, 5, ""): ("98.9", "Vinyals et al. 2016, Table 1"),
    ("MatchingNet", "omniglot", 20, 1, ""): ("93.8", "Vinyals et al. 2016, Table 1"),
    ("MatchingNet", "omniglot", 20, 5, ""): ("98.5", "Vinyals et al. 2016, Table 1"),
    ("RelationNet", "omniglot", 5, 1, ""): ("99.6 ± 0.2", "Sung et al. 2018, Table 1"),
    ("RelationNet", "omniglot", 5, 5, ""): ("99.8 ± 0.1", "Sung et al. 2018, Table 1"),
    ("RelationNet", "omniglot", 20, 1, ""): ("97.6 ± 0.2", "Sung et al. 2018, Table 1"),
    ("RelationNet", "omniglot", 20, 5, ""): ("99.1 ± 0.1", "Sung et al. 2018, Table 1"),
}
# The relation network's published test code normalises with each episode's batch statistics.
PUBLISHED.update({(alg, data, way, shot, "transductive batch norm"): (value, f"{source}; batch statistics at test")
                  for (alg, data, way, shot, setting), (value, source) in list(PUBLISHED.items())
                  if alg == "RelationNet" and not setting})


def load_records(results_dir="results"):
    """All records of ``results_dir/*.jsonl``, oldest first."""
    records = []
    for path in sorted(Path(results_dir).glob("*.jsonl")):
        for number, line in enumerate(path.read_text().splitlines(), 1):
            if line.strip():
                rec = json.loads(line)
                missing = [key for key in REQUIRED if key not in rec]
                if missing:
                    raise ValueError(f"{path}:{number} lacks the keys {missing}")
                records.append(rec)
    return records


def write_results_md(results_dir="results", out="RESULTS.md"):
    """Regenerate ``out`` from the records: the newest record of each (algorithm, dataset, split, way,
    shot, setting) in a table, with the published number beside ours and the command that made it."""
    latest = {}
    for rec in load_records(results_dir):
        key = (rec["algorithm"], rec["dataset"], rec["split"], rec["way"], rec["shot"], rec.get("setting", ""))
        latest[key] = rec
    lines = [
        "# Results", "",
        "Generated by `hands-on-meta results` from `results/*.jsonl`; do not edit by hand. Every row was",
        "made by the command beside it. Accuracy in % (mean ± 95% CI over test episodes); MSE for regression.",
        "",
        ("| algorithm | dataset | split | way | shot | setting | episodes | ours | published | budget | "
         "train wall time | machine | commit | command |"),
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for key in sorted(latest, key=lambda k: tuple(str(part) for part in k)):
        rec = latest[key]
        algorithm, dataset, split, way, shot, setting = key
        published = PUBLISHED.get((algorithm, dataset, way, shot, setting))
        unit = "%" if rec.get("metric", "accuracy") == "accuracy" else ""
        ours = (f"diverged on {rec['diverged']} of {rec['episodes']} episodes; median {rec['median']:.2f}{unit}"
                if rec.get("diverged") else f"{rec['mean']:.2f}{unit} ± {rec['ci95']:.2f}")
        lines.append(
            f"| {algorithm} | {dataset} | {split} | {way if way is not None else '–'} | {shot} | {setting or '–'} | "
            f"{rec['episodes']} | {ours} | {published[0] + ' (' + published[1] + ')' if published else '–'} | "
            f"{rec['budget']} | {rec['wall_s']:.0f} s | {rec['machine']} | {rec['commit']} | `{rec['command']}` |")
    if not latest:
        lines.append("| (no results yet) |||||||||||||")
    Path(out).write_text("\n".join(lines) + "\n")
    return out
