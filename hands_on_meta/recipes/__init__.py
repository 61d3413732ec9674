"""Registered recipes: a named training + evaluation setting the CLI can run and record.

A recipe subclasses :class:`Recipe`, is added with :func:`register`, says which models it trains as
:class:`Run` s (:meth:`Recipe.runs`) and how it evaluates them. Settings with several fields are
dataclasses (:attr:`Recipe.typed`), given by name in Python, JSON or on the command line, where a
dotted key sets one field: ``--set train.1shot.steps=3000``.

>>> sorted(RECIPES)                  # doctest: +SKIP
['sine-maml']
"""
import dataclasses
import time
import typing
from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar

RECIPES = {}


@dataclasses.dataclass(frozen=True)
class Run:
    """One model to train: ``seed`` is set before ``build()`` makes the uncompiled learner, which is
    compiled with ``optimizer()`` and fitted for ``steps`` meta-steps on ``episodes(start)``, the
    training stream from meta-step ``start`` on (a resumed run starts where it stopped)."""

    name: str
    seed: int
    steps: int
    build: Callable[[], Any]
    optimizer: Callable[[], Any]
    episodes: Callable[[int], Any]
    callbacks: Callable[[], list] = list  # extra Keras callbacks, e.g. ones that add columns to the training log


def as_setting(cls, value, where):
    """``value`` as the dataclass ``cls``: an instance, or a dict of its fields by name."""
    names = [field.name for field in dataclasses.fields(cls)]
    if isinstance(value, cls):
        return value
    if isinstance(value, dict):
        unknown = sorted(set(value) - set(names))
        if unknown:
            raise ValueError(f"{where}: {cls.__name__} has no fields {unknown}; it has {names}")
        try:
            return cls(**value)
        except TypeError as err:
            raise ValueError(f"{where}: {err}; {cls.__name__} has the fields {names}") from None
        except ValueError as err:
            raise ValueError(f"{where}: {err}") from None
    raise ValueError(f"{where} must give the fields of {cls.__name__} by name ({names}), got {value!r}")


def with_field(value, path, new, where):
    """``value`` with the entry at dotted ``path`` (dict keys, list indices, dataclass fields) set to ``new``."""
    if not path:
        return new
    key, rest = path[0], path[1:]
    if dataclasses.is_dataclass(value):
        names = [field.name for field in dataclasses.fields(value)]
        if key not in names:
            raise ValueError(f"{where}: {type(value).__name__} has no field {key!r}; it has {names}")
        inner = with_field(getattr(value, key), rest, new, where)
        try:
            return dataclasses.replace(value, **{key: inner})
        except ValueError as err:
            raise ValueError(f"{where}: {err}") from None
    if isinstance(value, dict) and key in value:
        return {**value, key: with_field(value[key], rest, new, where)}
    if isinstance(value, list) and key.isdigit() and int(key) < len(value):
        return [with_field(item, rest, new, where) if i == int(key) else item for i, item in enumerate(value)]
    keys = list(value) if isinstance(value, dict) else f"indices 0-{len(value) - 1}" if isinstance(value, list) else []
    raise ValueError(f"{where}: no entry {key!r} here (it has {keys})")


class Recipe:
    """One reproducible experiment. ``defaults``: the full-run config; ``quick``: overrides that
    shrink it to a smoke run. Subclasses implement ``runs`` and ``evaluate`` (and may ``plot``)."""

    name = ""
    description = ""
    defaults: ClassVar[dict] = {}
    quick: ClassVar[dict] = {}
    typed: ClassVar[dict] = {}  # setting -> dict[str, Dataclass] or list[Dataclass]

    def config(self, quick=False, **overrides):
        """The recipe's settings (``quick``: shrunk to a smoke run) with ``overrides``; a dotted key
        (``"train.1shot.steps"``) sets one entry of a setting."""
        cfg = {**self.defaults, **(self.quick if quick else {})}
        dotted = {key: value for key, value in overrides.items() if "." in key}
        unknown = {key.split(".")[0] for key in overrides} - set(cfg)
        if unknown:
            raise ValueError(f"recipe {self.name!r} has no settings {sorted(unknown)}; it has {sorted(cfg)}")
        for key, value in overrides.items():
            if value is not None and key not in dotted:
                cfg[key] = self.checked(key, cfg[key], value)
        cfg = self.typed_settings(cfg)
        for key, value in dotted.items():
            top, *path = key.split(".")
            cfg[top] = with_field(cfg[top], path, value, f"setting {key!r} of recipe {self.name!r}")
        return self.typed_settings(cfg)

    def checked(self, key, default, value):
        """``value`` for setting ``key`` if it has the kind of the ``default`` (a number for a number, a
        non-empty list for a non-empty list ...); settings whose default is None or a dict take any."""
        kinds = {bool: (bool, int), int: (int,), float: (int, float), str: (str,), list: (list,)}
        expected = kinds.get(type(default)) if key not in self.typed else None
        wrong = expected and (not isinstance(value, expected) or (isinstance(value, bool) and type(default) is not bool))
        if wrong or (isinstance(default, list) and default and value == []):
            kind = {bool: "true or false", int: "an integer", float: "a number", str: "a string",
                    list: "a non-empty list"}[type(default)]
            raise ValueError(f"setting {key!r} of recipe {self.name!r} takes {kind} like its default {default!r}, "
                             f"got {value!r}")
        return value

    def typed_settings(self, cfg):
        """``cfg`` with the entries of every setting in :attr:`typed` made of their dataclass."""
        cfg = dict(cfg)
        for key, kind in self.typed.items():
            value, where = cfg.get(key), f"setting {key!r} of recipe {self.name!r}"
            container, (cls,) = typing.get_origin(kind), typing.get_args(kind)[-1:]
            if value is None:
                continue
            if not isinstance(value, container):
                raise ValueError(f"{where} must be a {container.__name__} of {cls.__name__}, got {value!r}")
            cfg[key] = ({name: as_setting(cls, entry, f"{where}, entry {name!r}") for name, entry in value.items()}
                        if container is dict else
                        [as_setting(cls, entry, f"{where}, entry {i}") for i, entry in enumerate(value)])
        return cfg

    def select(self, cfg, models):
        """``cfg`` restricted to the named ``models`` (``--only``); recipes with several models override it."""
        raise ValueError(f"recipe {self.name!r} trains its models together; --only is not available for it")

    def runs(self, cfg):
        """The models to train, as :class:`Run` s."""
        raise NotImplementedError

    def train(self, cfg, out_dir):
        """Train (or load, when finished) every model of :meth:`runs` with
        :func:`hands_on_meta.training.train`; return ``({name: learner}, {name: wall seconds})``."""
        import keras

        from hands_on_meta.training import train

        models, walls = {}, {}
        for run in self.runs(cfg):
            keras.utils.set_random_seed(run.seed)
            learner = run.build()
            learner.compile(optimizer=run.optimizer())
            walls[run.name] = train(learner, run.episodes, run.steps, out_dir, run.name, cfg["steps_per_epoch"],
                                    callbacks=run.callbacks())
            models[run.name] = learner
        return models, walls

    def load(self, out_dir, cfg):
        """The models of ``cfg`` (:meth:`runs`) that :meth:`train` saved in ``out_dir``, each checked to be
        the learner its run builds (same class, same weight shapes)."""
        import keras

        runs = list(self.runs(cfg))
        missing = [run.name for run in runs if not (Path(out_dir) / f"{run.name}.keras").is_file()]
        if missing:
            raise FileNotFoundError(f"no trained models {missing} in {str(out_dir)!r}; run `hands-on-meta train "
                                    f"{self.name} --out {out_dir}` first (or choose models with --only)")
        models = {}
        for run in runs:
            path = Path(out_dir) / f"{run.name}.keras"
            try:
                model = keras.models.load_model(path)
            except Exception as err:  # noqa: BLE001  (zipfile, h5py and Keras raise many kinds)
                raise ValueError(f"{path} cannot be loaded ({type(err).__name__}: {err})") from None
            expected = run.build()
            shapes = [tuple(w.shape) for w in model.weights]
            if type(model) is not type(expected) or (expected.weights and shapes != [tuple(w.shape)
                                                                                  for w in expected.weights]):
                raise ValueError(f"{path} holds a {type(model).__name__} with {len(shapes)} weight arrays, not the "
                                 f"{type(expected).__name__} that recipe {self.name!r} trains as {run.name!r} "
                                 f"({len(expected.weights)} weight arrays); train it again into another folder")
            models[run.name] = model
        return models

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
        model = fields.pop("model")  # a tuple for a result of several models (their total training time)
        wall = (sum(walls.get(name, 0.0) for name in model) if isinstance(model, (tuple, list))
                else walls.get(model, time.perf_counter() - start))
        records.append(record(result, wall_s=wall,
                              results_dir=results_dir, commit=commit, command=command, **fields))
    plot = recipe.plot(models, cfg, Path(out_dir) / f"{name}{'-' + '+'.join(only) if only else ''}.png")
    return records, plot
