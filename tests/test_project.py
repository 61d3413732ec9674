"""The project's own files agree with each other."""
import json
import re
from pathlib import Path

import tomllib

ROOT = Path(__file__).resolve().parents[1]


def _name(requirement):
    return re.split(r"[<>=!~ \[;]", requirement.strip(), maxsplit=1)[0].lower()


def test_environment_yml_lists_the_same_dependencies_as_pyproject():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    wanted = {req.replace(" ", "") for req in project["dependencies"]}
    for extra in project["optional-dependencies"].values():
        wanted |= {req.replace(" ", "") for req in extra}
    pip_lines = [line.strip()[2:].strip() for line in (ROOT / "environment.yml").read_text().splitlines()
                 if line.strip().startswith("- ") and line.startswith("      ")]
    listed = {req.replace(" ", "") for req in pip_lines if req != "-e ."}
    assert listed == wanted, f"only in environment.yml: {sorted(listed - wanted)}; only in pyproject: {sorted(wanted - listed)}"
    assert "-e ." in pip_lines, "environment.yml must install the package itself"


def test_ci_runs_the_readme_test_command():
    readme = (ROOT / "README.md").read_text()
    ci = (ROOT / ".ci" / "run").read_text()
    command = re.search(r"^(python3 -m venv [^\n]+ -m pytest [^\n]+)$", ci, re.MULTILINE)
    assert command, ".ci/run must create the venv and call pytest in one line, as the README shows"
    assert command.group(1) in readme, f"the README must show the test command .ci/run uses: {command.group(1)}"


def test_notebooks_import_hands_on_meta_before_tensorflow():
    """hands_on_meta turns TensorFlow's oneDNN kernels on, which works only before TensorFlow loads."""
    for path in sorted((ROOT / "chapters").glob("*/*.ipynb")):
        cells = json.loads(path.read_text())["cells"]
        code = "\n".join("".join(cell["source"]) for cell in cells if cell["cell_type"] == "code")
        imports = re.findall(r"^(?:import|from) ([\w.]+)", code, re.MULTILINE)
        ours = next((i for i, name in enumerate(imports) if name.startswith("hands_on_meta")), len(imports))
        theirs = next((i for i, name in enumerate(imports) if name.split(".")[0] in ("keras", "tensorflow")),
                      len(imports))
        assert ours <= theirs, f"{path.name} imports {imports[theirs]} before hands_on_meta"


def covers(command, recipe_name, model):
    """Does a recorded ``hands-on-meta reproduce`` command evaluate ``model`` of ``recipe_name``? Yes if it
    names the recipe and either selects that model with ``--only`` or selects none (all models)."""
    words = command.strip("`").split()
    if "reproduce" not in words or recipe_name not in words:
        return False
    only = [words[i + 1] for i, word in enumerate(words[:-1]) if word == "--only"]
    return not only or model in only


def test_committed_models_match_their_recipe_and_records():
    """Each model in models/RECIPE was trained for the meta-steps its recipe now asks for (else a
    notebook's full run would train it again), and has a recorded result made with --out models/RECIPE."""
    from hands_on_meta.recipes import get

    records = [json.loads(line) for path in (ROOT / "results").glob("*.jsonl") for line in path.read_text().splitlines()]
    done_files = sorted((ROOT / "models").glob("*/*.done.json"))
    steps = {}  # recipe -> {model: the meta-steps its run asks for}
    for done in done_files:
        recipe_name, model = done.parent.name, done.name.removesuffix(".done.json")
        if recipe_name not in steps:
            recipe = get(recipe_name)
            steps[recipe_name] = {run.name: run.steps for run in recipe.runs(recipe.config())}
        assert json.loads(done.read_text())["steps"] == steps[recipe_name][model], done
        assert (done.parent / f"{model}.keras").is_file() and (done.parent / f"{model}.log.csv").is_file()
        commands = [r["command"] for r in records if f"--out models/{recipe_name}" in r["command"]
                    and covers(r["command"], recipe_name, model)]
        assert commands, f"no recorded result of {done.parent.name}/{model}"


def test_the_readme_example_of_a_new_learner_trains():
    """The Architecture section's ten-line learner meta-trains through the family's train_step, and its
    extra term changes the meta-step (it is not MAML under another name)."""
    import keras
    import numpy as np
    import tensorflow as tf

    from hands_on_meta.learners import MAML

    readme = (ROOT / "README.md").read_text()
    section = readme[readme.index("## Architecture"):readme.index("## Conventions")]
    code = re.search(r"```python\n(.*?)```", section, re.DOTALL).group(1)
    namespace = {}
    exec(code, namespace)  # noqa: S102  (the README's own example, run as a reader would)
    rng = np.random.default_rng(0)
    batch = {"support_x": rng.normal(size=(2, 6, 4)).astype("float32"), "support_y": np.tile(np.arange(3), (2, 2)),
             "query_x": rng.normal(size=(2, 9, 4)).astype("float32"), "query_y": np.tile(np.arange(3), (2, 3))}
    steps = {}
    for learner_class in (namespace["ConfidentMAML"], MAML):
        keras.utils.set_random_seed(0)
        learner = learner_class(keras.Sequential([keras.Input((4,)), keras.layers.Dense(3)]), inner_lr=0.5)
        learner.compile(optimizer=keras.optimizers.SGD(1.0))
        before = learner.network.get_weights()[0]
        logs = learner.fit(tf.data.Dataset.from_tensors(batch), verbose=0).history
        assert set(logs) == {"loss", "accuracy"}
        steps[learner_class.__name__] = learner.network.get_weights()[0] - before
    assert np.abs(steps["ConfidentMAML"]).max() > 0
    assert not np.allclose(steps["ConfidentMAML"], steps["MAML"])


def test_saved_learners_and_user_models_on_package_layers_load_after_importing_only_the_package(tmp_path):
    """The promise "copy a layer into your own model": a .keras file of a user's model built on
    ``conv4`` (FusedBatchNormalization inside) and one of a learner load in a fresh process that
    imports nothing but ``hands_on_meta``."""
    import os
    import subprocess
    import sys

    import keras
    import numpy as np

    from hands_on_meta.layers import conv4
    from hands_on_meta.learners import MAML

    inputs = keras.Input((28, 28, 1))
    user = keras.Model(inputs, keras.layers.Dense(3)(conv4(filters=4)(inputs)))
    learner = MAML(conv4(filters=4, outputs=5), inner_lr=0.1)
    x = np.zeros((1, 28, 28, 1), "float32")
    learner.predict_tasks({"support_x": np.zeros((1, 5, 28, 28, 1), "float32"), "support_y": np.arange(5)[None],
                           "query_x": np.zeros((1, 5, 28, 28, 1), "float32"), "query_y": np.arange(5)[None]})
    user.save(tmp_path / "user.keras")
    learner.save(tmp_path / "learner.keras")
    code = ("import sys, numpy as np, hands_on_meta, keras\n"
            "user = keras.models.load_model(sys.argv[1]); learner = keras.models.load_model(sys.argv[2])\n"
            "print(type(learner).__name__, float(np.sum(user.predict(np.zeros((1, 28, 28, 1), 'float32'), verbose=0))))")
    out = subprocess.run([sys.executable, "-c", code, str(tmp_path / "user.keras"), str(tmp_path / "learner.keras")],
                         check=False, capture_output=True, text=True, env=os.environ, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    name, total = out.stdout.split()
    assert name == "MAML" and float(total) == float(np.sum(user.predict(x, verbose=0)))


def test_results_md_is_up_to_date_with_every_record():
    """RESULTS.md is what `hands-on-meta results` makes of results/*.jsonl: one row per record."""
    import tempfile

    from hands_on_meta.records import load_records, write_results_md

    with tempfile.TemporaryDirectory() as tmp:
        fresh = Path(write_results_md(ROOT / "results", Path(tmp) / "RESULTS.md")).read_text()
    committed = (ROOT / "RESULTS.md").read_text()
    assert committed == fresh, "RESULTS.md is stale: run `hands-on-meta results`"
    rows = [line for line in committed.splitlines() if "| latest |" in line or "| earlier |" in line]
    assert len(rows) == len(load_records(ROOT / "results"))
