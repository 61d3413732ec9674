"""Registered recipes: a named training + evaluation setting the CLI can run and record.

A recipe subclasses :class:`Recipe` and is added with :func:`register`; later chapters add theirs.

>>> sorted(RECIPES)                  # doctest: +SKIP
['sine-maml']
"""
import time
from pathlib import Path
from typing import ClassVar

RECIPES = {}


class Recipe:
    """One reproducible experiment. ``defaults``: the full-run config; ``quick``: overrides that
    shrink it to a smoke run. Subclasses implement ``train`` and ``evaluate`` (and may ``plot``)."""

    name = ""
    description = ""
    defaults: ClassVar[dict] = {}
    quick: ClassVar[dict] = {}

    def config(self, quick=False, **overrides):
        cfg = {**self.defaults, **(self.quick if quick else {})}
        unknown = set(overrides) - set(cfg)
        if unknown:
            raise ValueError(f"recipe {self.name!r} has no settings {sorted(unknown)}; it has {sorted(cfg)}")
        cfg.update({key: value for key, value in overrides.items() if value is not None})
        return cfg

    def select(self, cfg, models):
        """``cfg`` restricted to the named ``models`` (``--only``); recipes with several models override it."""
        raise ValueError(f"recipe {self.name!r} trains its models together; --only is not available for it")

    def train(self, cfg, out_dir):
        """Train every model of the recipe; return ``({name: learner}, {name: wall seconds})``."""
        raise NotImplementedError

    def load(self, out_dir):
        """The trained models saved in ``out_dir`` by :meth:`train`."""
        import keras

        paths = sorted(Path(out_dir).glob("*.keras"))
        if not paths:
            raise FileNotFoundError(f"no trained models (*.keras) in {str(out_dir)!r}; run "
                                    f"`hands-on-meta train {self.name} --out {out_dir}` first")
        return {path.stem: keras.models.load_model(path) for path in paths}

    def budget(self, cfg, name):
        """How model ``name`` is trained, in words (recipes with several kinds of model override it)."""
        return f"{cfg['steps']} training steps" if "steps" in cfg else "see the recipe's config"

    def evaluate(self, models, cfg):
        """Meta-test the models; return a list of ``(MetaTestResult, record fields)``."""
        raise NotImplementedError

    def plot(self, models, cfg, path):
        """Save a figure to ``path`` and return the path (optional; by default there is none)."""


def register(recipe_class):
    """Class decorator adding a recipe to :data:`RECIPES` under its ``name``."""
    RECIPES[recipe_class.name] = recipe_class()
    return recipe_class


def get(name):
    load_all()
    if name not in RECIPES:
        raise ValueError(f"recipe must be one of {sorted(RECIPES)}, got {name!r}")
    return RECIPES[name]


def load_all():
    """Import every module of this package: each registers its recipes."""
    import importlib
    import pkgutil

    for module in pkgutil.iter_modules(__path__):
        importlib.import_module(f"{__name__}.{module.name}")


def notebook_setup(name, quick, quick_settings=None, **overrides):
    """``(recipe, cfg, out_dir)`` for a notebook. Full run: the recipe's config and the folder of its
    trained models in this checkout, ``models/<name>`` (committed for recipes that take hours) or else
    ``runs/<name>``, so :meth:`Recipe.train` reuses the models ``hands-on-meta reproduce <name>`` trained
    (and trains them otherwise). ``quick``: the quick config updated by ``quick_settings``, in a fresh
    temporary folder. ``overrides`` apply to both.

    >>> recipe, cfg, out_dir = notebook_setup("sine-maml", quick=False)
    >>> out_dir.parts[-2:], cfg["steps"]
    (('runs', 'sine-maml'), 30000)
    """
    import tempfile

    recipe = get(name)
    if quick:
        return recipe, recipe.config(quick=True, **{**(quick_settings or {}), **overrides}), Path(tempfile.mkdtemp())
    root = Path(__file__).resolve().parents[2]
    committed = root / "models" / name
    return recipe, recipe.config(**overrides), committed if committed.is_dir() else root / "runs" / name


def notebook_train(name, quick, quick_settings=None, **overrides):
    """:func:`notebook_setup`, then :meth:`Recipe.train` (which reuses finished runs); prints each
    model's budget and training time. Returns ``(recipe, cfg, out_dir, models)``.

    >>> # recipe, cfg, out_dir, models = notebook_train("relation-omniglot", QUICK, QUICK_SETTINGS)
    """
    recipe, cfg, out_dir = notebook_setup(name, quick, quick_settings, **overrides)
    models, walls = recipe.train(cfg, out_dir)
    for model, wall in walls.items():
        print(f"{name} {model} model: {recipe.budget(cfg, model)}, trained in {wall / 60:.1f} min")
    return recipe, cfg, out_dir, models


def reproduce(name, out_dir, results_dir="results", quick=False, command=None, only=None, **overrides):
    """Train, evaluate on held-out data, record every result and save the plot; ``only``: just these
    models of the recipe (their results are recorded as each is done, so a long recipe can be
    reproduced a model at a time). Returns ``(records, plot path)``."""
    from hands_on_meta.records import code_commit, record

    commit = code_commit()  # the code that runs now, whatever is edited before the run ends
    recipe = get(name)
    cfg = recipe.config(quick, **overrides)
    if only:
        cfg = recipe.select(cfg, only)
    start = time.perf_counter()
    models, walls = recipe.train(cfg, out_dir)
    records = []
    for result, fields in recipe.evaluate(models, cfg):
        fields = dict(fields)
        model = fields.pop("model")
        records.append(record(result, wall_s=walls.get(model, time.perf_counter() - start),
                              results_dir=results_dir, commit=commit, command=command, **fields))
    plot = recipe.plot(models, cfg, Path(out_dir) / f"{name}{'-' + '+'.join(only) if only else ''}.png")
    return records, plot
