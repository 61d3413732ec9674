"""Confidence intervals, meta_test, result records and RESULTS.md."""
import json

import numpy as np
import pytest

from hands_on_meta.evaluation import MetaTestResult, mean_ci95, meta_test
from hands_on_meta.records import load_records, record, write_results_md


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
    rec = record(result, "ProtoNet", "omniglot", "test", 5, 1, "5000 episodes", 120.0, tmp_path, commit="abc1234", command="x y")
    for key in ("algorithm", "dataset", "split", "way", "shot", "episodes", "mean", "ci95", "budget", "wall_s",
                "machine", "commit", "command"):
        assert key in rec
    assert json.loads((tmp_path / "protonet.jsonl").read_text())["mean"] == pytest.approx(98.0)
    record(result, "Gaussian ProtoNet (radius)", "omniglot", "test", 5, 1, "b", 1.0, tmp_path, commit="abc1234", command="z")
    assert (tmp_path / "gaussian-protonet-radius.jsonl").is_file()  # no brackets or spaces in file names
    out = write_results_md(tmp_path, tmp_path / "RESULTS.md")
    table = (tmp_path / "RESULTS.md").read_text()
    assert out and "98.00% ± 0.05" in table and "98.8 (Snell et al. 2017" in table and "`x y`" in table
    (tmp_path / "bad.jsonl").write_text(json.dumps({"algorithm": "x"}) + "\n")
    with pytest.raises(ValueError, match="lacks the keys"):
        load_records(tmp_path)


def test_diverged_episodes_are_counted_and_reported_with_the_median(tmp_path):
    values = np.r_[np.linspace(0.1, 0.3, 597), np.inf, np.nan, 1e30]
    result = MetaTestResult("mse", values, 1.0)
    assert result.diverged == 2 and result.median == pytest.approx(np.median(np.r_[values[:597], np.inf, np.inf, 1e30]))
    assert "diverged (non-finite) on 2 of 600 episodes, median 0.20" in str(result)
    rec = record(result, "MAML", "sine", "held-out tasks", None, 5, "b", 1.0, tmp_path, commit="abc1234", command="c", setting="10 steps")
    assert rec["mean"] is None and rec["diverged"] == 2
    json.loads((tmp_path / "maml.jsonl").read_text(), parse_constant=lambda name: pytest.fail(f"{name} in JSON"))
    write_results_md(tmp_path, tmp_path / "RESULTS.md")
    assert "diverged on 2 of 600 episodes; median 0.20" in (tmp_path / "RESULTS.md").read_text()
    assert MetaTestResult("mse", values[:597], 1.0).diverged == 0
    bounded = MetaTestResult("mse", values, 1.0, diverged_above=100.0)
    assert bounded.diverged == 3 and "diverged (non-finite or above 100) on 3 of 600 episodes" in str(bounded)
    rec = record(bounded, "MAML", "sine", "held-out tasks", None, 5, "b", 1.0, tmp_path, commit="abc1234", command="c",
                 setting="1 step")
    assert rec["diverged"] == 3 and rec["diverged_above"] == 100.0
    write_results_md(tmp_path, tmp_path / "RESULTS.md")
    assert "diverged (non-finite or above 100) on 3 of 600 episodes" in (tmp_path / "RESULTS.md").read_text()


def test_grouped_results_plot_a_diverged_result_as_its_hatched_median():
    import matplotlib

    matplotlib.use("Agg")
    from hands_on_meta.plotting import plot_grouped_results

    fine = MetaTestResult("mse", np.linspace(0.1, 0.3, 600), 1.0)
    broken = MetaTestResult("mse", np.r_[np.full(599, 0.5), np.inf], 1.0)
    fig = plot_grouped_results([(fine, {"shot": 5, "algorithm": "a"}), (broken, {"shot": 5, "algorithm": "b"})],
                               "shot", "algorithm", "MSE")
    bars = fig.axes[0].patches
    assert [round(b.get_height(), 3) for b in bars] == [0.2, 0.5] and bars[1].get_hatch() == "///"
    assert any("1/600" in t.get_text() for t in fig.axes[0].texts)
    assert "median" in fig.axes[0].get_legend().get_texts()[-1].get_text()


def test_record_commit_is_dirty_only_when_the_package_code_changed(tmp_path):
    import subprocess

    from hands_on_meta.records import code_commit

    def git(*args):
        subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t", *args], cwd=tmp_path, check=True,
                       capture_output=True)

    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "code.py").write_text("x = 1\n")
    (tmp_path / "results.jsonl").write_text("")
    git("init", "-q")
    git("add", "-A")
    git("commit", "-qm", "c")
    head = code_commit(tmp_path / "pkg")
    assert len(head) >= 7 and not head.endswith("+dirty")
    (tmp_path / "results.jsonl").write_text("{}\n")      # a new record: the code is unchanged
    assert code_commit(tmp_path / "pkg") == head
    (tmp_path / "pkg" / "code.py").write_text("x = 2\n")
    assert code_commit(tmp_path / "pkg") == head + "+dirty"


def test_records_are_written_whole_and_a_broken_line_is_named(tmp_path):
    result = MetaTestResult("accuracy", np.array([50.0, 60.0]), 1.0)
    for _ in range(2):
        record(result, "X", "d", "test", 5, 1, "b", 1.0, tmp_path, commit="c", command="test")
    assert len(load_records(tmp_path)) == 2 and not list(tmp_path.glob(".partial-*"))
    path = tmp_path / "x.jsonl"
    path.write_text(path.read_text() + '{"algorithm": "X", "data')  # a partial last line, from another tool
    with pytest.raises(ValueError, match=r"x.jsonl:3 is not a JSON record .*remove or repair that line"):
        load_records(tmp_path)


def test_results_table_shows_every_record_the_latest_first(tmp_path):
    for budget, mean in (("1000 episodes", 90.0), ("5000 episodes", 95.0)):
        result = MetaTestResult("accuracy", np.full(10, mean), 1.0)
        record(result, "ProtoNet", "omniglot", "test", 5, 1, budget, 1.0, tmp_path, commit="c", command=budget)
    lines = [line for line in write_results_md(tmp_path, tmp_path / "R.md") and
             (tmp_path / "R.md").read_text().splitlines() if line.startswith("| ProtoNet")]
    assert len(lines) == 2
    assert "| latest | 10 | 95.00% ± 0.00 |" in lines[0] and "| earlier | 10 | 90.00% ± 0.00 |" in lines[1]


def test_paired_difference_finds_what_overlapping_intervals_hide():
    from hands_on_meta.evaluation import paired_difference

    rng = np.random.default_rng(0)
    hard = rng.uniform(60, 100, 600)  # episodes differ a lot in difficulty; b is 0.5 points worse on each
    a, b = MetaTestResult("accuracy", hard, 1.0), MetaTestResult("accuracy", hard - 0.5 + rng.normal(0, 0.5, 600), 1.0)
    assert abs(a.mean - b.mean) < a.ci95 + b.ci95  # the intervals overlap...
    paired = paired_difference(a, b)
    assert paired.significant and paired.mean == pytest.approx(0.5, abs=0.1)  # ...the paired test does not miss it
    assert "significant at 5%" in str(paired) and paired.a_better > paired.b_better
    same = paired_difference(a, MetaTestResult("accuracy", hard + rng.normal(0, 0.5, 600), 1.0))
    assert not same.significant and same.p_value > 0.05
    with pytest.raises(ValueError, match="same test episodes"):
        paired_difference(a, MetaTestResult("accuracy", hard[:300], 1.0))


def test_latest_records_keep_the_newest_of_each_test_setting_and_format_like_results_md(tmp_path):
    from hands_on_meta.records import format_result, latest_records

    for mean in (90.0, 95.0):
        record(MetaTestResult("accuracy", np.full(10, mean), 1.0), "ProtoNet", "omniglot", "test", 5, 1, "b", 1.0,
               tmp_path, commit="c", command=str(mean))
    record(MetaTestResult("accuracy", np.full(10, 80.0), 1.0), "ProtoNet", "omniglot", "test", 5, 1, "b", 1.0,
           tmp_path, commit="c", command="other", setting="same-budget comparison")
    broken = MetaTestResult("mse", np.r_[np.full(9, 0.5), np.inf], 1.0, diverged_above=100.0)
    record(broken, "MAML", "sine", "held-out tasks", None, 10, "b", 1.0, tmp_path, commit="c", command="s", setting="10 steps")
    latest = latest_records(load_records(tmp_path))
    assert len(latest) == 3
    assert latest[("ProtoNet", "omniglot", "test", 5, 1, "")]["command"] == "95.0"
    assert latest[("ProtoNet", "omniglot", "test", 5, 1, "same-budget comparison")]["mean"] == 80.0
    assert format_result(latest[("ProtoNet", "omniglot", "test", 5, 1, "")]) == "95.00% ± 0.00"
    assert format_result(latest[("ProtoNet", "omniglot", "test", 5, 1, "")], unit="") == "95.00 ± 0.00"
    diverged = format_result(latest[("MAML", "sine", "held-out tasks", None, 10, "10 steps")])
    assert diverged == "diverged (non-finite or above 100) on 1 of 10 episodes; median 0.50"


class Sleepy:
    """A stand-in learner whose every episode takes at least 20 ms."""
    task = "classification"

    def episode_scores(self, batch):
        import time

        import tensorflow as tf

        return tf.py_function(lambda b: (time.sleep(0.02), b)[1], [batch], tf.float32)


def test_episode_cost_times_each_episode_after_the_warm_up_and_names_bad_arguments():
    import tensorflow as tf

    from hands_on_meta.evaluation import episode_cost

    data = tf.data.Dataset.from_tensor_slices(np.arange(10, dtype=np.float32))
    times = episode_cost(Sleepy(), data, 5, warmup=2)
    assert times.shape == (5,) and np.all(times >= 0.02) and np.median(times) < 1.0
    with pytest.raises(ValueError, match="ran out after 10 of warmup \\+ n_episodes = 11"):
        episode_cost(Sleepy(), data, 10, warmup=1)
    for bad in ({"n_episodes": 0}, {"n_episodes": 2.0}, {"warmup": 0}, {"warmup": True}):
        with pytest.raises(ValueError, match=f"{next(iter(bad))} must be an integer >= 1"):
            episode_cost(Sleepy(), data, **{"n_episodes": 3, **bad})
