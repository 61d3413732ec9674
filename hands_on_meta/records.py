"""Result records: one JSON line per measured number in ``results/<algorithm>.jsonl``, with the
command, machine and code commit that made it, and ``RESULTS.md`` generated from them with the
published numbers (``published.json`` in this package) beside ours.

The commit is that of the code that *runs*: :func:`code_commit` is called when a run starts
(``hands-on-meta reproduce`` does) and passed to :func:`record`, so a file edited during a long run
does not relabel it.

>>> slug("Gaussian ProtoNet (radius)")
'gaussian-protonet-radius'
"""
import datetime
import json
import os
import platform
import re
import subprocess
import sys
from pathlib import Path

from hands_on_meta.files import write_atomic


def code_commit(package=None):
    """Short hash of HEAD, ``+dirty`` when the code in ``package`` differs from it (results, notebooks
    and tests do not change what a run computes); ``package`` defaults to this package's folder.
    "unknown" outside a git checkout."""
    package = package or Path(__file__).resolve().parent

    def git(*args):
        return subprocess.run(["git", *args], check=False, capture_output=True, text=True, cwd=package, timeout=10)

    try:
        head = git("rev-parse", "--short", "HEAD")
        dirty = git("status", "--porcelain", "--untracked-files=no", "--", ".").stdout.strip()
        return head.stdout.strip() + ("+dirty" if dirty else "") if head.returncode == 0 else "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


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


def record(result, algorithm, dataset, split, way, shot, budget, wall_s, results_dir="results", *, commit,
           command=None, **extra):
    """Add one result line to ``results_dir/<algorithm>.jsonl`` (the file is rewritten whole) and return the record.

    ``way``/``shot`` describe the test episodes (``way`` None for regression); ``budget`` says how it
    was trained (e.g. ``"20000 meta-steps x 25 tasks"``); ``wall_s`` the training wall time; ``commit``
    the code's :func:`code_commit`, taken when the run started. If some
    episodes diverged (non-finite scores, or above the result's ``diverged_above``), ``mean`` and ``ci95``
    are None and the record says how many diverged, above what, and the median score.
    """
    diverged = getattr(result, "diverged", 0)
    rec = {
        "algorithm": algorithm, "dataset": dataset, "split": split, "way": way, "shot": shot,
        "episodes": result.episodes, "metric": result.metric,
        "mean": None if diverged else round(result.mean, 4), "ci95": None if diverged else round(result.ci95, 4),
        **({"diverged": diverged, "median": round(result.median, 4)} if diverged else {}),
        **({"diverged_above": result.diverged_above} if diverged and getattr(result, "diverged_above", None) else {}),
        "budget": budget, "wall_s": round(float(wall_s), 1),
        "machine": machine(), "commit": commit,
        "command": command or " ".join(["hands-on-meta" if sys.argv[0].endswith("hands-on-meta") else
                                        Path(sys.argv[0]).name] + sys.argv[1:]),
        "date": datetime.date.today().isoformat(), **extra,
    }
    path = Path(results_dir) / f"{slug(algorithm)}.jsonl"
    write_atomic(path, (path.read_text() if path.is_file() else "") + json.dumps(rec) + "\n")
    return rec


def load_records(results_dir="results"):
    """All records of ``results_dir/*.jsonl``, oldest first."""
    records = []
    for path in sorted(Path(results_dir).glob("*.jsonl")):
        for number, line in enumerate(path.read_text().splitlines(), 1):
            if line.strip():
                try:
                    rec = json.loads(line)
                except ValueError as err:
                    raise ValueError(f"{path}:{number} is not a JSON record ({err}); remove or repair that line") from None
                missing = [key for key in REQUIRED if key not in rec]
                if missing:
                    raise ValueError(f"{path}:{number} lacks the keys {missing}")
                records.append(rec)
    return records


def published_numbers():
    """Published results keyed by ``(algorithm, dataset, way, shot, setting)``: ``(value, source)``."""
    rows = json.loads((Path(__file__).with_name("published.json")).read_text())
    return {(r["algorithm"], r["dataset"], r["way"], r["shot"], r["setting"]): (r["value"], r["source"]) for r in rows}


PUBLISHED = published_numbers()


def group_key(rec):
    """The test setting a record measures: ``(algorithm, dataset, split, way, shot, setting)``."""
    return rec["algorithm"], rec["dataset"], rec["split"], rec["way"], rec["shot"], rec.get("setting", "")


def latest_records(records):
    """The newest of ``records`` (oldest first, as :func:`load_records` returns them) for each test
    setting, keyed by :func:`group_key`. A later record of a setting is a later run (e.g. a longer
    budget), so this is the one to compare learners with; the earlier ones stay in RESULTS.md.

    >>> old = {"algorithm": "MAML", "dataset": "omniglot", "split": "test", "way": 5, "shot": 1, "mean": 97.2}
    >>> latest = latest_records([old, {**old, "mean": 98.2}, {**old, "setting": "clean", "mean": 95.2}])
    >>> latest[("MAML", "omniglot", "test", 5, 1, "")]["mean"], len(latest)
    (98.2, 2)
    """
    return {group_key(rec): rec for rec in records}


def format_result(rec, unit=None):
    """A record's score as RESULTS.md shows it: ``"98.23% ± 0.24"``, or ``"diverged on 57 of 600
    episodes; median 0.06"``; ``unit`` defaults to "%" for accuracy, none for an error.

    >>> format_result({"metric": "accuracy", "mean": 98.2333, "ci95": 0.2411, "episodes": 600})
    '98.23% ± 0.24'
    """
    unit = ("%" if rec.get("metric", "accuracy") == "accuracy" else "") if unit is None else unit
    if rec.get("diverged"):
        above = f" (non-finite or above {rec['diverged_above']:g})" if rec.get("diverged_above") else ""
        return f"diverged{above} on {rec['diverged']} of {rec['episodes']} episodes; median {rec['median']:.2f}{unit}"
    return f"{rec['mean']:.2f}{unit} ± {rec['ci95']:.2f}"


def write_results_md(results_dir="results", out="RESULTS.md"):
    """Regenerate ``out`` from the records: every record, grouped by (algorithm, dataset, split, way,
    shot, setting) with the newest first in its group ("latest"; the others "earlier", e.g. a shorter
    budget or older code), the published number beside ours and the command that made it, then
    ``results_dir/choices.md`` (how the recipes' settings were chosen) when there is one."""
    groups = {}
    for rec in load_records(results_dir):
        groups.setdefault(group_key(rec), []).append(rec)
    lines = [
        "# Results", "",
        "Generated by `hands-on-meta results` from `results/*.jsonl`; do not edit by hand. Every record is a",
        "row, made by the command beside it; rows of the same test setting are grouped, the latest first.",
        "Accuracy in % (mean ± 95% CI over test episodes); MSE for regression.",
        "",
        ("| algorithm | dataset | split | way | shot | setting | run | episodes | ours | published | budget | "
         "train wall time | machine | commit | command |"),
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for key in sorted(groups, key=lambda k: tuple(str(part) for part in k)):
        algorithm, dataset, split, way, shot, setting = key
        published = PUBLISHED.get((algorithm, dataset, way, shot, setting))
        for age, rec in enumerate(reversed(groups[key])):  # newest first (records are appended in time order)
            lines.append(
                f"| {algorithm} | {dataset} | {split} | {way if way is not None else '–'} | {shot} | {setting or '–'} | "
                f"{'earlier' if age else 'latest'} | {rec['episodes']} | {format_result(rec)} | "
                f"{published[0] + ' (' + published[1] + ')' if published else '–'} | "
                f"{rec['budget']} | {rec['wall_s']:.0f} s | {rec['machine']} | {rec['commit']} | `{rec['command']}` |")
    if not groups:
        lines.append("| (no results yet) ||||||||||||||")
    choices = Path(results_dir) / "choices.md"  # hand-written: the pilot runs behind the recipes' settings
    if choices.is_file():
        lines += ["", choices.read_text().rstrip()]
    write_atomic(out, "\n".join(lines) + "\n")
    return out
