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
