"""The package's modules import only downward (the layers of the README's Architecture section) and never a
private name of another module, so each piece can be read, tested and replaced on its own."""
import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "hands_on_meta"
# Lowest first; a module may import modules of its own layer or of a lower one.
LAYERS = [
    ["validation", "seeding", "objectives", "files"],
    ["datasets"],
    ["episodes"],
    ["layers", "gradient_agreement", "inner_loop", "attacks"],
    ["learners", "learned_optimizer"],
    ["evaluation", "verification", "transductive", "adversarial", "records", "models"],
    ["training", "plotting"],
    ["recipes", "cli"],
]


def layer_of(module):
    """The layer of a dotted module name below hands_on_meta (``learners.maml`` -> that of ``learners``)."""
    top = module.split(".")[0]
    found = [i for i, names in enumerate(LAYERS) if top in names]
    assert found, f"hands_on_meta.{module} is in no layer of tests/test_layering.py: add it"
    return found[0]


def package_imports(path):
    """``(imported module, imported names)`` of every import of hands_on_meta in ``path``, anywhere in the file."""
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("hands_on_meta"):
            module = node.module.removeprefix("hands_on_meta").lstrip(".")
            if not module:  # from hands_on_meta import datasets
                for alias in node.names:
                    yield alias.name, []
            else:
                yield module, [alias.name for alias in node.names]
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("hands_on_meta."):
                    yield alias.name.removeprefix("hands_on_meta."), []


def modules():
    for path in sorted(PACKAGE.rglob("*.py")):
        name = ".".join(path.relative_to(PACKAGE).with_suffix("").parts)
        if name != "__init__":
            yield name.removesuffix(".__init__"), path


def test_every_import_points_down():
    upward = [f"{name} -> {imported}" for name, path in modules() for imported, _ in package_imports(path)
              if layer_of(imported) > layer_of(name)]
    assert not upward, f"imports that run up the layers: {upward}"


def test_no_module_imports_a_private_name():
    private = [f"{name}: from {imported} import {n}" for name, path in modules()
               for imported, names in package_imports(path) for n in names
               if n.startswith("_") or any(part.startswith("_") and part != "__init__" for part in imported.split("."))]
    assert not private, private
