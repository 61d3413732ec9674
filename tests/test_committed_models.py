"""Committed models still load and score exactly as when they were recorded: one model per learner family
(and per test-time wrapper) re-evaluated on 100 test episodes of its recipe, against values stored from
the code that trained them (tests/data/committed_scores.json). The full check, every model on its 600
recorded episodes, is scripts/reevaluate_models.py."""
import json
from pathlib import Path

import keras
import pytest

from hands_on_meta.recipes import get

ROOT = Path(__file__).resolve().parents[1]
STORED = json.loads((ROOT / "tests" / "data" / "committed_scores.json").read_text())


def scores(recipe_name, model, row):
    """(mean, ci95) of the evaluation ``row`` (way, shot, the model as printed: "1shot+transductive") of
    models/RECIPE/MODEL on the recipe's first 100 test episodes."""
    recipe = get(recipe_name)
    cfg = recipe.select(recipe.config(episodes=100), [model])
    cfg["eval"] = [test for test in cfg["eval"] if [test.way, test.shot, test.label] == row]
    assert len(cfg["eval"]) == 1, (row, cfg["eval"])
    learner = keras.models.load_model(ROOT / "models" / recipe_name / f"{model}.keras")
    (result, _), = recipe.evaluate({model: learner}, cfg)
    return round(result.mean, 4), round(result.ci95, 4)


@pytest.mark.parametrize("entry", STORED, ids=[f"{e['recipe']}/{e['row'][2]}" for e in STORED])
def test_a_committed_model_scores_as_stored(mirror, entry):
    assert list(scores(entry["recipe"], entry["model"], entry["row"])) == [entry["mean"], entry["ci95"]]
