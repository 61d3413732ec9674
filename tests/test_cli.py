"""The hands-on-meta command line."""
import dataclasses
import json
import re
import shlex
from pathlib import Path

import pytest

from hands_on_meta.cli import main
from hands_on_meta.recipes.sine import ALGORITHMS, COMPARISON

ROOT = Path(__file__).resolve().parents[1]


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
    (out / "pretrained-k10.keras").unlink()
    assert main(["evaluate", "sine-maml", *args]) == 2
    assert "no trained models ['pretrained-k10'] in" in capsys.readouterr().err


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
             for result, fields in recipe.evaluate(recipe.load(out, cfg), cfg)}
    assert again == {(r["algorithm"], r["setting"]): r["mean"] for r in records}
    assert (out / "sine-comparison.png").stat().st_size > 10_000


def test_fewshot_models_can_have_their_own_learning_rate_halving():
    import keras

    from hands_on_meta.recipes import get

    recipe = get("relation-omniglot")
    cfg = recipe.config(train={"1shot": {"way": 5, "shot": 1, "query": 19, "steps": 300, "halve_every": 100},
                               "5shot": {"way": 5, "shot": 5, "query": 15, "steps": 200}}, lr_halve_every=50)
    assert recipe.budget(cfg, "1shot").endswith("Adam 0.001 halved every 100")
    assert recipe.budget(cfg, "5shot").endswith("halved every 50")
    learner = keras.Sequential([keras.Input((1,)), keras.layers.Dense(1)])
    learner.compile(optimizer=recipe.optimizer(cfg, "1shot"))
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
    assert main(["train", "siamese-fsdd", "--quick", "--only", "speaker"]) == 2
    assert "--only is not available" in capsys.readouterr().err


def test_every_recipe_trains_through_the_one_training_loop():
    from hands_on_meta.recipes import RECIPES, Recipe, load_all

    load_all()
    assert len(RECIPES) >= 14
    own_loops = [name for name, recipe in RECIPES.items() if type(recipe).train is not Recipe.train]
    assert not own_loops, f"recipes with a training loop of their own: {own_loops}"


def test_set_reaches_named_fields_and_names_what_is_wrong(capsys):
    from hands_on_meta.recipes import get

    recipe = get("relation-omniglot")
    cfg = recipe.config(**{"train.1shot.steps": 300, "eval.0.way": 20})
    assert cfg["train"]["1shot"].steps == 300 and cfg["train"]["5shot"].steps == 10000 and cfg["eval"][0].way == 20
    for bad, message in [({"train": {"1shot": [20, 1, 5]}}, "must give the fields of ModelTraining by name"),
                         ({"train.1shot.shots": 2}, "ModelTraining has no field 'shots'"),
                         ({"train.2shot.steps": 2}, r"no entry '2shot' here \(it has \['1shot', '5shot'\]\)"),
                         ({"train.1shot.way": 0}, "'train.1shot.way' .*way must be >= 1"),
                         ({"eval": [{"way": 5, "shot": 1}]}, "entry 0: .*missing 1 required positional argument")]:
        with pytest.raises(ValueError, match=message):
            recipe.config(**bad)
    assert main(["train", "siamese-faces", "--set", "models.bce.head=triplet", "--set", "models.bce.size=3"]) == 2
    assert "SiameseModel has no field 'size'" in capsys.readouterr().err


def test_the_readme_set_examples_set_what_they_say():
    """Every ``hands-on-meta train ... --set`` line of the README gives a config with those values."""
    from hands_on_meta.cli import _config, _recipe_args, build_parser
    from hands_on_meta.recipes import get

    lines = [line.split("#")[0] for line in (ROOT / "README.md").read_text().splitlines()
             if line.startswith("hands-on-meta train") and "--set" in line]
    assert len(lines) >= 3
    for line in lines:
        args = build_parser().parse_args(shlex.split(line)[1:])
        cfg = _config(get(args.recipe), args)
        for key, value in _recipe_args(args).items():
            top, *path = key.split(".")
            found = cfg[top]
            for part in path:
                found = found[part] if isinstance(found, dict) else getattr(found, part)
            assert matches(found, value), (line, key, found)


def matches(found, value):
    """Does the config entry ``found`` hold ``value`` (dataclass fields given by name may be a subset)?"""
    if dataclasses.is_dataclass(found) and isinstance(value, dict):
        return all(matches(getattr(found, key), item) for key, item in value.items())
    if isinstance(found, dict) and isinstance(value, dict):
        return found.keys() == value.keys() and all(matches(found[key], value[key]) for key in value)
    return found == value
