"""Confidence intervals, meta_test, result records and RESULTS.md."""
import json

import numpy as np
import pytest

from hands_on_meta.evaluation import (
    MetaTestResult,
    load_records,
    mean_ci95,
    meta_test,
    record,
    write_results_md,
)


def test_mean_ci95_is_the_normal_interval():
    values = np.random.default_rng(0).normal(90, 5, 600)
    mean, ci = mean_ci95(values)
    assert mean == pytest.approx(values.mean())
    assert ci == pytest.approx(1.96 * values.std(ddof=1) / np.sqrt(600))
    with pytest.raises(ValueError, match="at least 2"):
        mean_ci95([1.0])


class Constant:
    """A stand-in learner whose per-episode scores are known."""
    task = "classification"

    def episode_scores(self, batch):
        return batch


def test_meta_test_takes_exactly_n_episodes_and_refuses_too_few():
    import tensorflow as tf

    data = tf.data.Dataset.from_tensor_slices(np.arange(1000, dtype=np.float32)).batch(7)
    result = meta_test(Constant(), data, 600)
    assert result.episodes == 600 and result.mean == pytest.approx(np.arange(600).mean())
    with pytest.raises(ValueError, match="below the 600"):
        meta_test(Constant(), data, 100)
    with pytest.raises(ValueError, match="ran out after 1000"):
        meta_test(Constant(), data, 2000)


def test_records_and_results_table(tmp_path):
    result = MetaTestResult("accuracy", np.full(600, 98.0) + np.linspace(-1, 1, 600), 3.0)
    rec = record(result, "ProtoNet", "omniglot", "test", 5, 1, "5000 episodes", 120.0, tmp_path, command="x y")
    for key in ("algorithm", "dataset", "split", "way", "shot", "episodes", "mean", "ci95", "budget", "wall_s",
                "machine", "commit", "command"):
        assert key in rec
    assert json.loads((tmp_path / "protonet.jsonl").read_text())["mean"] == pytest.approx(98.0)
    record(result, "Gaussian ProtoNet (radius)", "omniglot", "test", 5, 1, "b", 1.0, tmp_path, command="z")
    assert (tmp_path / "gaussian-protonet-radius.jsonl").is_file()  # no brackets or spaces in file names
    out = write_results_md(tmp_path, tmp_path / "RESULTS.md")
    table = (tmp_path / "RESULTS.md").read_text()
    assert out and "98.00% ± 0.05" in table and "98.8 (Snell et al. 2017" in table and "`x y`" in table
    (tmp_path / "bad.jsonl").write_text(json.dumps({"algorithm": "x"}) + "\n")
    with pytest.raises(ValueError, match="lacks the keys"):
        load_records(tmp_path)
