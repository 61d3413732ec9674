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
    def ci95(self):
        return mean_ci95(self.values)[1]

    def __str__(self):
        unit = "%" if self.metric == "accuracy" else ""
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


def _commit():
    try:
        out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], check=False, capture_output=True, text=True,
                             cwd=Path(__file__).resolve().parent, timeout=10)
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], check=False, capture_output=True,
                               text=True, cwd=Path(__file__).resolve().parent, timeout=10).stdout.strip()
        return out.stdout.strip() + ("+dirty" if dirty else "") if out.returncode == 0 else "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


_START_COMMIT = _commit()  # the code that runs is the code at import time, not at record time


def machine():
    """A short description of this machine for result records."""
    import tensorflow as tf

    gpus = len(tf.config.list_physical_devices("GPU"))
    return f"{platform.machine()} {os.cpu_count()} cores{f', {gpus} GPU' if gpus else ''}, TF {tf.__version__}"


REQUIRED = ("algorithm", "dataset", "split", "way", "shot", "episodes", "mean", "ci95", "budget", "wall_s",
            "machine", "commit", "command")


def record(result, algorithm, dataset, split, way, shot, budget, wall_s, results_dir="results", command=None,
           **extra):
    """Append one result line to ``results_dir/<algorithm>.jsonl`` and return the record.

    ``way``/``shot`` describe the test episodes (``way`` None for regression); ``budget`` says how it
    was trained (e.g. ``"20000 meta-steps x 25 tasks"``); ``wall_s`` the training wall time.
    """
    rec = {
        "algorithm": algorithm, "dataset": dataset, "split": split, "way": way, "shot": shot,
        "episodes": result.episodes, "metric": result.metric, "mean": round(result.mean, 4),
        "ci95": round(result.ci95, 4), "budget": budget, "wall_s": round(float(wall_s), 1),
        "machine": machine(), "commit": _START_COMMIT,
        "command": command or " ".join(["hands-on-meta" if sys.argv[0].endswith("hands-on-meta") else
                                        Path(sys.argv[0]).name] + sys.argv[1:]),
        "date": datetime.date.today().isoformat(), **extra,
    }
    path = Path(results_dir) / f"{algorithm.lower().replace(' ', '-')}.jsonl"
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
}


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
        ours = f"{rec['mean']:.2f}{unit} ± {rec['ci95']:.2f}"
        lines.append(
            f"| {algorithm} | {dataset} | {split} | {way if way is not None else '–'} | {shot} | {setting or '–'} | "
            f"{rec['episodes']} | {ours} | {published[0] + ' (' + published[1] + ')' if published else '–'} | "
            f"{rec['budget']} | {rec['wall_s']:.0f} s | {rec['machine']} | {rec['commit']} | `{rec['command']}` |")
    if not latest:
        lines.append("| (no results yet) |||||||||||||")
    Path(out).write_text("\n".join(lines) + "\n")
    return out
