"""Re-evaluate every committed model in ``models/`` with its recipe and compare with its latest record.

    HANDS_ON_META_DATA=../shared/data python scripts/reevaluate_models.py            # all models
    HANDS_ON_META_DATA=../shared/data python scripts/reevaluate_models.py maml-omniglot/maml-1shot

For each ``models/RECIPE/NAME.keras`` this runs what ``hands-on-meta evaluate RECIPE --out models/RECIPE
--only NAME`` runs (same test episodes, same seed) and looks up, for every evaluation row, the newest
record in ``results/*.jsonl`` of that algorithm, test setting and model (a ``reproduce`` command with
``--out models/RECIPE`` covering NAME). Evaluation is seeded, so mean and CI must match the record to
its 4 decimals. Prints one line per row and exits with 1 if any row differs or has no record.
Takes about an hour on 2 CPU cores; run it before a change that touches learners is resolved.
"""
import sys
import time
from pathlib import Path

import hands_on_meta  # noqa: F401  (first: TensorFlow's oneDNN kernels)

ROOT = Path(__file__).resolve().parents[1]


def covers(command, recipe_name, model):
    """Does a recorded ``reproduce`` command evaluate ``model`` of ``recipe_name`` (``--only`` it, or all)?"""
    words = command.strip("`").split()
    if "reproduce" not in words or recipe_name not in words or f"models/{recipe_name}" not in words:
        return False
    only = [words[i + 1] for i, word in enumerate(words[:-1]) if word == "--only"]
    return not only or model in only


def latest_record(records, recipe_name, model, fields):
    """The newest record of ``model`` with the algorithm, way, shot and setting of ``fields``, or None."""
    keys = ("algorithm", "dataset", "split", "way", "shot")
    matching = [r for r in records if covers(r["command"], recipe_name, model)
                and all(r[k] == fields[k] for k in keys) and r.get("setting", "") == fields.get("setting", "")]
    return matching[-1] if matching else None


def main(selected):
    import keras

    from hands_on_meta.recipes import get
    from hands_on_meta.records import load_records

    records = load_records(ROOT / "results")
    failures = 0
    for done in sorted((ROOT / "models").glob("*/*.done.json")):
        recipe_name, model = done.parent.name, done.name.removesuffix(".done.json")
        if selected and f"{recipe_name}/{model}" not in selected and recipe_name not in selected:
            continue
        recipe = get(recipe_name)
        cfg = recipe.select(recipe.config(), [model])
        start = time.perf_counter()
        learner = keras.models.load_model(done.parent / f"{model}.keras")
        for result, fields in recipe.evaluate({model: learner}, cfg):
            rec = latest_record(records, recipe_name, fields.pop("model"), fields)
            ours = (round(result.mean, 4), round(result.ci95, 4))
            if rec is None:
                status, failures = "NO RECORD", failures + 1
            elif (rec["mean"], rec["ci95"]) == ours:
                status = "same"
            else:
                status, failures = f"DIFFERS from record {rec['mean']} ± {rec['ci95']}", failures + 1
            print(f"RESULT {recipe_name}/{model} {fields['way']}-way {fields['shot']}-shot "
                  f"{fields.get('setting') or 'standard'}: {ours[0]} ± {ours[1]} {status}", flush=True)
        print(f"  ({time.perf_counter() - start:.0f} s)", flush=True)
    print(f"RESULT {failures} row(s) differ or lack a record")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
