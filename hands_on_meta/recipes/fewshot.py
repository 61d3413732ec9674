"""Few-shot classification recipes on Omniglot (Vinyals split), shared by every episodic learner.

A subclass names its ``algorithm`` and implements ``build(cfg, setting)``, returning an uncompiled
learner; this base trains one model per entry of ``cfg["train"]`` (a :class:`ModelTraining`) on
episodes of the training classes (Adam, learning rate halved every ``halve_every`` episodes, as in
Snell et al. 2017) and meta-tests each :class:`Evaluation` of ``cfg["eval"]`` on ``cfg["episodes"]``
episodes of the *test* classes, with a seed that training never uses.

Comparisons hook in without a loop of their own: ``build`` sees the model's name, ``algorithms``
gives the name each model is recorded under, ``episode_options`` extra ``episode_dataset``
arguments for a model's training episodes (e.g. unlabelled examples), and ``variants`` the
test-time forms of a trained model an evaluation may ask for (e.g. transductive batch norm).

>>> from hands_on_meta.recipes import get
>>> cfg = get("protonet-omniglot").config(quick=True, **{"train.5shot.way": 20})
>>> cfg["steps"], cfg["train"]["5shot"]
(100, ModelTraining(way=20, shot=5, query=5, steps=5000, halve_every=None, learner=''))
"""
import dataclasses
import functools
from typing import ClassVar

import keras

from hands_on_meta.datasets import load_omniglot
from hands_on_meta.episodes import episode_dataset
from hands_on_meta.evaluation import meta_test
from hands_on_meta.recipes import Recipe, Run
from hands_on_meta.transductive import Transductive
from hands_on_meta.validation import check_int

TEST_SEED = 20_000  # test episodes are keyed by this seed; training uses cfg["seed"]


@dataclasses.dataclass(frozen=True)
class ModelTraining:
    """How one model trains: ``way``-way ``shot``-shot episodes with ``query`` queries per class,
    ``steps`` of them (default: the recipe's ``steps``; the recipe's ``steps`` also caps them, for
    quick runs), learning rate halved every ``halve_every`` (default: the recipe's ``lr_halve_every``);
    ``learner``: which learner, for recipes that train several kinds."""

    way: int
    shot: int
    query: int
    steps: int | None = None
    halve_every: int | None = None
    learner: str = ""

    def __post_init__(self):
        for name in ("way", "shot", "query", "steps", "halve_every"):
            if name in ("way", "shot", "query") or getattr(self, name) is not None:
                check_int(name, getattr(self, name), 1)


@dataclasses.dataclass(frozen=True)
class Evaluation:
    """One meta-test: ``way``-way ``shot``-shot test episodes for the trained ``model``, as the test-time
    ``variant`` of the recipe when given; ``setting`` labels the record; ``options``: extra
    ``episode_dataset`` arguments (e.g. unlabelled examples)."""

    way: int
    shot: int
    model: str
    variant: str = ""
    setting: str = ""
    options: dict = dataclasses.field(default_factory=dict)

    @property
    def label(self):
        """The model as printed: ``"1shot"``, or ``"1shot+transductive"`` for a variant."""
        return f"{self.model}+{self.variant}" if self.variant else self.model


STANDARD_EVAL = [Evaluation(5, 1, "1shot"), Evaluation(5, 5, "5shot"), Evaluation(20, 1, "1shot"),
                 Evaluation(20, 5, "5shot")]
# the same, tested with the batch statistics of each episode (hands_on_meta.transductive)
TRANSDUCTIVE_EVAL = [dataclasses.replace(test, variant="transductive", setting="transductive batch norm")
                     for test in STANDARD_EVAL]


class FewShotRecipe(Recipe):
    """Train on Omniglot training-class episodes, meta-test on test classes (see module docstring)."""

    algorithm = ""
    algorithms: ClassVar[dict] = {}  # model name -> algorithm recorded (default: ``algorithm``)
    variant_algorithms: ClassVar[dict] = {}  # variant -> algorithm recorded, when it is another one
    typed: ClassVar[dict] = {"train": dict[str, ModelTraining], "eval": list[Evaluation]}
    defaults: ClassVar[dict] = {
        "train": {"1shot": ModelTraining(60, 1, 5), "5shot": ModelTraining(60, 5, 5)},
        "eval": STANDARD_EVAL,
        "split": "trainval", "steps": 20000, "lr": 1e-3, "lr_halve_every": 2000, "steps_per_epoch": 500,
        "episodes": 600, "test_query": 15, "test_batch": 10, "seed": 0,
    }
    quick: ClassVar[dict] = {"steps": 100, "steps_per_epoch": 50, "episodes": 100}

    def build(self, cfg, name, setting):
        """An uncompiled learner for model ``name``, trained as ``setting`` (a :class:`ModelTraining`)."""
        raise NotImplementedError

    def episode_options(self, cfg, name):
        """Extra ``episode_dataset`` arguments for the training episodes of model ``name``."""
        return {}

    def variants(self, cfg):
        """``{variant: wrap}``: the test-time forms of a trained model that an :class:`Evaluation` can
        name. Here ``"transductive"``: tested with the batch statistics of each episode
        (:class:`~hands_on_meta.transductive.Transductive`)."""
        return {"transductive": Transductive}

    @staticmethod
    def setting(cfg, name):
        """Model ``name``'s :class:`ModelTraining` with its defaults filled in from ``cfg`` (quick runs
        cap its episodes at ``cfg["steps"]``)."""
        row = cfg["train"][name]
        return dataclasses.replace(row, steps=min(row.steps, cfg["steps"]) if row.steps else cfg["steps"],
                                   halve_every=row.halve_every or cfg["lr_halve_every"])

    def budget(self, cfg, name):
        """How model ``name`` was trained, for the record."""
        s = self.setting(cfg, name)
        return (f"{s.steps} episodes {s.way}-way {s.shot}-shot {s.query}-query ({cfg['split']} classes), "
                f"Adam {cfg['lr']:g} halved every {s.halve_every}")

    def select(self, cfg, models):
        """``cfg`` with only the training and evaluation entries of ``models``.

        >>> from hands_on_meta.recipes import get
        >>> recipe = get("protonet-omniglot")
        >>> cfg = recipe.select(recipe.config(), ["5shot"])
        >>> list(cfg["train"]), [(test.way, test.shot, test.model) for test in cfg["eval"]]
        (['5shot'], [(5, 5, '5shot'), (20, 5, '5shot')])
        """
        unknown = [name for name in models if name not in cfg["train"]]
        if unknown:
            raise ValueError(f"recipe {self.name!r} has no models {unknown}; it has {list(cfg['train'])}")
        return {**cfg, "train": {name: row for name, row in cfg["train"].items() if name in models},
                "eval": [test for test in cfg["eval"] if test.model in models]}

    def optimizer(self, cfg, name):
        """Adam at ``cfg["lr"]``, halved every ``halve_every`` episodes of model ``name``."""
        schedule = keras.optimizers.schedules.ExponentialDecay(cfg["lr"], self.setting(cfg, name).halve_every, 0.5,
                                                               staircase=True)
        return keras.optimizers.Adam(schedule)

    def runs(self, cfg):
        data = functools.cache(lambda: load_omniglot(cfg["split"]))  # read when a run trains, not to build one
        for i, name in enumerate(cfg["train"]):
            setting = self.setting(cfg, name)
            yield Run(name, cfg["seed"] + i, setting.steps,
                      build=lambda name=name, setting=setting: self.build(cfg, name, setting),
                      optimizer=lambda name=name: self.optimizer(cfg, name),
                      episodes=lambda start, i=i, name=name, s=setting: episode_dataset(
                          data(), s.way, s.shot, s.query, seed=cfg["seed"] + 1000 * i, start=start,
                          **self.episode_options(cfg, name)))

    def algorithm_of(self, cfg, model, variant=""):
        """The algorithm that ``model`` (tested as ``variant``) is recorded under."""
        return self.variant_algorithms.get(variant) or self.algorithms.get(model, self.algorithm)

    @staticmethod
    def test_episodes(cfg, test, test_data, meta_batch="cfg"):
        """The test episodes of :class:`Evaluation` ``test`` on ``test_data`` (the test classes), in
        meta-batches of ``cfg["test_batch"]``, or of ``meta_batch`` (None: single episodes): the same
        episodes whatever the batching, keyed by :data:`TEST_SEED`."""
        meta_batch = cfg["test_batch"] if meta_batch == "cfg" else meta_batch
        return episode_dataset(test_data, test.way, test.shot, cfg["test_query"], seed=TEST_SEED,
                               meta_batch=meta_batch, **test.options)

    def tested_learner(self, cfg, test, model=None):
        """The learner that :class:`Evaluation` ``test`` meta-tests: ``model`` (default: model
        ``test.model`` as its :class:`~hands_on_meta.recipes.Run` builds it, untrained, with the run's
        seed) in the test's variant, if any. An untrained learner has the parameters and the test-time
        cost of the trained one."""
        if model is None:
            run = next((run for run in self.runs(cfg) if run.name == test.model), None)
            if run is None:
                raise ValueError(f"recipe {self.name!r} has no model {test.model!r}; it has {list(cfg['train'])}")
            keras.utils.set_random_seed(run.seed)
            model = run.build()
        return self.wrap(cfg, test)(model)

    def wrap(self, cfg, test):
        """How :class:`Evaluation` ``test`` tests a model: the wrapper of its variant (:meth:`variants`),
        or the model as it is."""
        if not test.variant:
            return lambda model: model
        variants = self.variants(cfg)
        if test.variant not in variants:
            raise ValueError(f"recipe {self.name!r} has no test variant {test.variant!r}; it has {sorted(variants)}")
        return variants[test.variant]

    def evaluate(self, models, cfg):
        test_data = load_omniglot("test")
        wraps, tested, out = [self.wrap(cfg, test) for test in cfg["eval"]], {}, []  # an unknown variant fails first
        for test, wrap in zip(cfg["eval"], wraps):
            if test.label not in tested:
                tested[test.label] = wrap(models[test.model])
            episodes = self.test_episodes(cfg, test, test_data)
            result = meta_test(tested[test.label], episodes, cfg["episodes"], allow_fewer=True)
            algorithm = self.algorithm_of(cfg, test.model, test.variant)
            print(f"{algorithm} ({test.label} model), {test.way}-way {test.shot}-shot"
                  f"{', ' + test.setting if test.setting else ''}, test classes: {result}")
            out.append((result, {
                "model": test.model, "algorithm": algorithm, "dataset": "omniglot", "split": "test",
                "way": test.way, "shot": test.shot, "setting": test.setting, "budget": self.budget(cfg, test.model)}))
        return out

    def plot(self, models, cfg, path):
        from hands_on_meta.plotting import plot_training_logs, save_figure

        fig = plot_training_logs({name: path.parent / f"{name}.log.csv" for name in models},
                                 title=f"{self.algorithm} on Omniglot")
        return save_figure(fig, path)


def omniglot_tests(quick=False):
    """Which model of which recipe stands behind each Omniglot record: ``{(algorithm, setting, way, shot):
    (recipe, cfg, evaluation)}`` over the meta-tests (:class:`Evaluation`) of every registered few-shot
    recipe, with its full config (or its ``quick`` one). The keys are those of the records
    (:func:`hands_on_meta.records.group_key` without dataset and split), so a record's learner can be
    rebuilt (:meth:`FewShotRecipe.tested_learner`) and timed on its own test episodes.

    >>> recipe, cfg, test = omniglot_tests()[("Proto-MAML", "", 5, 1)]
    >>> recipe.name, test.model
    ('maml-omniglot', 'proto-maml-1shot')
    """
    from hands_on_meta.recipes import RECIPES, load_all

    load_all()
    found = {}
    for recipe in RECIPES.values():
        if not isinstance(recipe, FewShotRecipe):
            continue
        cfg = recipe.config(quick=quick)
        for test in cfg["eval"]:
            key = (recipe.algorithm_of(cfg, test.model, test.variant), test.setting, test.way, test.shot)
            if key in found and found[key][0] is not recipe:
                raise ValueError(f"recipes {found[key][0].name!r} and {recipe.name!r} both record {key}")
            found.setdefault(key, (recipe, cfg, test))
    return found
