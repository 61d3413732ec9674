"""The hands-on-meta command line."""
import json
import re

from hands_on_meta.cli import main
from hands_on_meta.recipes.sine import ALGORITHMS, COMPARISON


def test_data_list_and_verify(mirror, capsys):
    assert main(["data", "list"]) == 0
    listing = capsys.readouterr().out
    for name in ("omniglot", "faces", "fsdd", "esc10"):
        assert name in listing
    assert "mirror:" in listing
    assert main(["data", "verify", "omniglot"]) == 0
    assert "964 characters" in capsys.readouterr().out


def test_unknown_names_are_errors(capsys):
    assert main(["data", "verify", "mnist"]) == 2
    assert "name must be one of" in capsys.readouterr().err
    assert main(["train", "nope"]) == 2
    assert "recipe must be one of" in capsys.readouterr().err
    assert main(["train", "sine-maml", "--set", "colour=blue"]) == 2
    assert "no settings ['colour']" in capsys.readouterr().err


def test_reproduce_then_evaluate_sine(tmp_path, capsys):
    out, results = tmp_path / "run", tmp_path / "results"
    args = ["--quick", "--steps", "200", "--set", "steps_per_epoch=100", "--set", "episodes=50", "--out", str(out)]
    assert main(["reproduce", "sine-maml", *args, "--results", str(results)]) == 0
    records = [json.loads(line) for line in (results / "maml.jsonl").read_text().splitlines()]
    assert [r["setting"] for r in records] == ["1 step", "10 steps"] and records[0]["episodes"] == 50
    assert (out / "sine-maml.png").stat().st_size > 10_000
    assert (out / "maml-k10.keras").exists() and (out / "pretrained-k10.keras").exists()
    capsys.readouterr()
    assert main(["evaluate", "sine-maml", *args]) == 0
    # evaluating the saved models again prints exactly the recorded numbers (seeded held-out tasks)
    printed = re.findall(r"(\S.*?) K=10 after\s+(\d+) step\(s\): test MSE mse ([0-9.]+)", capsys.readouterr().out)
    baseline = [json.loads(line) for line in (results / "pretrained-baseline.jsonl").read_text().splitlines()]
    recorded = {(r["algorithm"], r["setting"].split()[0]): r["mean"] for r in records + baseline}
    assert {(name, steps) for name, steps, _ in printed} == set(recorded)
    assert all(abs(float(value) - recorded[name, steps]) <= 0.0051 for name, steps, value in printed)  # 2 decimals


def test_sine_comparison_trains_every_algorithm_and_records_each(tmp_path):
    out, results = tmp_path / "run", tmp_path / "results"
    args = ["--quick", "--set", "steps=50", "--set", "episodes=25", "--out", str(out), "--results", str(results)]
    assert main(["reproduce", "sine-comparison", *args]) == 0
    records = [json.loads(line) for path in results.glob("*.jsonl") for line in path.read_text().splitlines()]
    assert sorted({r["algorithm"] for r in records}) == sorted(ALGORITHMS[name] for name in COMPARISON)
    assert len(records) == 2 * len(COMPARISON) and {r["shot"] for r in records} == {5}
    # the saved models, loaded and tested again, score exactly what was recorded (seeded test tasks)
    from hands_on_meta.recipes import get

    recipe = get("sine-comparison")
    cfg = recipe.config(quick=True, steps=50, episodes=25)
    again = {(fields["algorithm"], fields["setting"]): None if result.diverged else round(result.mean, 4)
             for result, fields in recipe.evaluate(recipe.load(out), cfg)}
    assert again == {(r["algorithm"], r["setting"]): r["mean"] for r in records}
    assert (out / "sine-comparison.png").stat().st_size > 10_000


def test_fewshot_models_can_have_their_own_learning_rate_halving():
    import keras

    from hands_on_meta.recipes import get

    recipe = get("relation-omniglot")
    cfg = recipe.config(train={"1shot": [5, 1, 19, 300, 100], "5shot": [5, 5, 15, 200]}, lr_halve_every=50)
    assert recipe.budget(cfg, "1shot").endswith("Adam 0.001 halved every 100")
    assert recipe.budget(cfg, "5shot").endswith("halved every 50")
    learner = keras.Sequential([keras.Input((1,)), keras.layers.Dense(1)])
    recipe.compile(learner, cfg, "1shot")
    rate = learner.optimizer.learning_rate  # the schedule's value at the optimizer's step: 1e-3 at step 0
    assert float(learner.optimizer._learning_rate(250)) == float(rate) / 4


def test_reproduce_only_one_model_of_a_recipe(tmp_path, capsys):
    out, results = tmp_path / "run", tmp_path / "results"
    args = ["--quick", "--set", "steps=10", "--set", "steps_per_epoch=10", "--set", "episodes=10", "--out", str(out)]
    assert main(["reproduce", "protonet-omniglot", *args, "--only", "1shot", "--results", str(results)]) == 0
    records = [json.loads(line) for line in (results / "protonet.jsonl").read_text().splitlines()]
    assert [(r["way"], r["shot"]) for r in records] == [(5, 1), (20, 1)]
    assert "--only 1shot" in records[0]["command"]
    assert sorted(path.name for path in out.glob("*.keras")) == ["1shot.keras"]
    assert (out / "protonet-omniglot-1shot.png").exists()
    assert main(["train", "protonet-omniglot", *args, "--only", "2shot"]) == 2
    assert "has no models ['2shot']; it has ['1shot', '5shot']" in capsys.readouterr().err
    assert main(["train", "sine-maml", "--quick", "--only", "maml-k10"]) == 2
    assert "--only is not available" in capsys.readouterr().err
