"""Few-shot classification recipes on Omniglot (Vinyals split), shared by every episodic learner.

A subclass names its ``algorithm`` and implements ``build(cfg, way, shot)``, returning an uncompiled
learner; this base trains one model per entry of ``cfg["train"]`` (``[way, shot, query]``, optionally a
fourth entry: that model's number of episodes instead of ``cfg["steps"]``, and a fifth: its own
``lr_halve_every``) on episodes of the training classes (Adam, learning rate halved every
``lr_halve_every`` episodes, as in Snell et al. 2017) and meta-tests
on ``cfg["episodes"]`` episodes of the *test* classes for each ``[way, shot, model]`` of
``cfg["eval"]``, with a seed that training never uses.

Comparisons hook in without a loop of their own: ``build_model`` (one learner per model name),
``algorithms`` (the name each model is recorded under), ``episode_options`` (extra
``episode_dataset`` arguments for a model's training episodes, e.g. unlabelled examples),
``derived_models`` (models made from trained ones for testing only, named ``"base+what"``), and an
optional fourth entry of an ``eval`` row: extra ``episode_dataset`` arguments plus a ``"setting"``
label for the record.

>>> from hands_on_meta.recipes import get
>>> get("protonet-omniglot").config(quick=True)["steps"]
100
"""
from typing import ClassVar

import keras

from hands_on_meta.datasets import load_omniglot
from hands_on_meta.episodes import episode_dataset
from hands_on_meta.evaluation import meta_test
from hands_on_meta.recipes import Recipe
from hands_on_meta.training import train

TEST_SEED = 20_000  # test episodes are keyed by this seed; training uses cfg["seed"]
STANDARD_EVAL = [[5, 1, "1shot"], [5, 5, "5shot"], [20, 1, "1shot"], [20, 5, "5shot"]]
# the same, tested with the batch statistics of each episode (hands_on_meta.transductive)
TRANSDUCTIVE_EVAL = [[way, shot, f"{name}+transductive", {"setting": "transductive batch norm"}]
                     for way, shot, name in STANDARD_EVAL]


class FewShotRecipe(Recipe):
    """Train on Omniglot training-class episodes, meta-test on test classes (see module docstring)."""

    algorithm = ""
    algorithms: ClassVar[dict] = {}  # model name -> algorithm recorded (default: ``algorithm``)
    defaults: ClassVar[dict] = {
        "train": {"1shot": [60, 1, 5], "5shot": [60, 5, 5]},  # model -> training way, shot, query
        "eval": STANDARD_EVAL,                                 # [test way, test shot, model]
        "split": "trainval", "steps": 20000, "lr": 1e-3, "lr_halve_every": 2000, "steps_per_epoch": 500,
        "episodes": 600, "test_query": 15, "test_batch": 10, "seed": 0,
    }
    quick: ClassVar[dict] = {"steps": 100, "steps_per_epoch": 50, "episodes": 100}

    def build(self, cfg, way, shot):
        """An uncompiled learner for training episodes of ``way`` classes and ``shot`` examples."""
        raise NotImplementedError

    def build_model(self, cfg, name, way, shot):
        """The learner for model ``name`` (default: :meth:`build`)."""
        return self.build(cfg, way, shot)

    def episode_options(self, cfg, name):
        """Extra ``episode_dataset`` arguments for the training episodes of model ``name``."""
        return {}

    def derived_models(self, models, cfg):
        """Test-only models built from the trained ``models``: ``{"base+what": learner}``. Here: for each
        evaluation row of a model named ``"base+transductive"``, ``base`` tested with the batch
        statistics of each episode (:class:`~hands_on_meta.transductive.Transductive`)."""
        from hands_on_meta.transductive import Transductive

        names = {row[2] for row in cfg["eval"] if row[2].endswith("+transductive")}
        return {name: Transductive(models[name.split("+")[0]]) for name in names if name.split("+")[0] in models}

    @staticmethod
    def setting(cfg, name):
        """``(way, shot, query, episodes)`` of model ``name``; quick runs cap the episodes at ``cfg["steps"]``."""
        way, shot, query, *steps = cfg["train"][name]
        return way, shot, query, min(steps[0], cfg["steps"]) if steps else cfg["steps"]

    @staticmethod
    def halve_every(cfg, name):
        """Episodes between halvings of model ``name``'s learning rate (its fifth ``train`` entry, if any)."""
        row = cfg["train"][name]
        return row[4] if len(row) > 4 else cfg["lr_halve_every"]

    def budget(self, cfg, name):
        """How model ``name`` was trained, for the record."""
        way, shot, query, steps = self.setting(cfg, name)
        return (f"{steps} episodes {way}-way {shot}-shot {query}-query ({cfg['split']} classes), "
                f"Adam {cfg['lr']:g} halved every {self.halve_every(cfg, name)}")

    def select(self, cfg, models):
        """``cfg`` with only the training and evaluation rows of ``models`` (evaluation rows of models
        derived from them included).

        >>> from hands_on_meta.recipes import get
        >>> recipe = get("protonet-omniglot")
        >>> cfg = recipe.select(recipe.config(), ["5shot"])
        >>> list(cfg["train"]), cfg["eval"]
        (['5shot'], [[5, 5, '5shot'], [20, 5, '5shot']])
        """
        unknown = [name for name in models if name not in cfg["train"]]
        if unknown:
            raise ValueError(f"recipe {self.name!r} has no models {unknown}; it has {list(cfg['train'])}")
        return {**cfg, "train": {name: row for name, row in cfg["train"].items() if name in models},
                "eval": [row for row in cfg["eval"] if row[2].split("+")[0] in models]}

    def compile(self, learner, cfg, name=None):
        halve = cfg["lr_halve_every"] if name is None else self.halve_every(cfg, name)
        schedule = keras.optimizers.schedules.ExponentialDecay(cfg["lr"], halve, 0.5, staircase=True)
        learner.compile(optimizer=keras.optimizers.Adam(schedule))

    def train(self, cfg, out_dir):
        data = load_omniglot(cfg["split"])
        models, walls = {}, {}
        for i, name in enumerate(cfg["train"]):
            way, shot, query, steps = self.setting(cfg, name)
            keras.utils.set_random_seed(cfg["seed"] + i)
            learner = self.build_model(cfg, name, way, shot)
            self.compile(learner, cfg, name)
            episodes = episode_dataset(data, way, shot, query, seed=cfg["seed"] + 1000 * i,
                                       **self.episode_options(cfg, name))
            walls[name] = train(learner, episodes, steps, out_dir, name, cfg["steps_per_epoch"])
            models[name] = learner
        return models, walls

    def evaluate(self, models, cfg):
        test = load_omniglot("test")
        models = {**models, **self.derived_models(models, cfg)}
        out = []
        for way, shot, name, *options in cfg["eval"]:
            options = dict(options[0]) if options else {}
            setting = options.pop("setting", "")
            episodes = episode_dataset(test, way, shot, cfg["test_query"], seed=TEST_SEED,
                                       meta_batch=cfg["test_batch"], **options)
            result = meta_test(models[name], episodes, cfg["episodes"], allow_fewer=True)
            algorithm = self.algorithms.get(name, self.algorithms.get(name.split("+")[0], self.algorithm))
            print(f"{algorithm} ({name} model), {way}-way {shot}-shot{', ' + setting if setting else ''}, "
                  f"test classes: {result}")
            base = name.split("+")[0]
            out.append((result, {
                "model": base, "algorithm": algorithm, "dataset": "omniglot", "split": "test",
                "way": way, "shot": shot, "setting": setting, "budget": self.budget(cfg, base)}))
        return out

    def plot(self, models, cfg, path):
        from hands_on_meta.plotting import plot_training_logs

        fig = plot_training_logs({name: path.parent / f"{name}.log.csv" for name in models},
                                 title=f"{self.algorithm} on Omniglot")
        fig.savefig(path, dpi=120, bbox_inches="tight")
        return path
