"""``siamese-faces`` and ``siamese-fsdd``: Siamese networks (book chapter 2) on held-out faces and
recordings.

Every model is a :class:`~hands_on_meta.learners.SiameseNetwork` around a conv4 encoder whose
embedding is a ``Dense`` layer projected onto the unit sphere, trained on N-way 1-shot episodes of
the training classes (all query x support pairs, similar and dissimilar pairs weighed equally), Adam.
It is then tested on data it never saw:

* **pair verification**: 2-way 1-shot 1-query test episodes give 2 same and 2 different pairs each;
  accuracy at the threshold that is best on *training* pairs, ROC-AUC (95% CI: Hanley-McNeil);
* **N-way 1-shot identification**: each query gets the class of its most similar support example,
  mean accuracy ± 95% CI over 600 test episodes.

``siamese-faces``: AT&T faces in 4 folds (``folds``): each fold holds out 10 subjects and trains on the
other 30 (nobody on both sides), so every subject is tested once and a 10-way episode is not always
the same 10 people; one model per head and fold (softmax L2, contrastive L2, BCE L1), each tested beside
the distance of raw pixels on the same episodes and pairs (paired differences in the records), and the
mean over the folds recorded too. ``siamese-fsdd``: Free Spoken Digits as log-mel
spectrograms; *speaker* models train on recordings 5-49 of the 6 speakers and are tested on
recordings 0-4 (never heard in training); *digit* models train on digits 0-6 and are tested on
digits 7-9, never heard in training (all their recordings). ``siamese-faces`` trains on 25-way 1-shot
2-query episodes and its softmax head, both chosen on validation subjects (RESULTS.md, "How the settings
were chosen"); ``siamese-fsdd`` episodes hold all its training classes (6 speakers, or 7 digits).
"""
import dataclasses
import json
from typing import ClassVar

import keras
import numpy as np

from hands_on_meta.episodes import episode_dataset
from hands_on_meta.evaluation import MetaTestResult, meta_test, paired_difference
from hands_on_meta.learners import SiameseNetwork
from hands_on_meta.models import siamese_encoder
from hands_on_meta.recipes import Recipe, Run, register
from hands_on_meta.verification import Estimate, best_threshold, verification_scores, verification_test

TRAIN_PAIR_SEED = 30_000  # training-class pairs that choose the verification threshold
VERIFY_SEED = 31_000      # held-out pairs
TEST_SEED = 32_000        # held-out identification episodes (training uses cfg["seed"] + 1000 * i)


def example_pairs(learner, data, n_pairs=8, seed=VERIFY_SEED):
    """``n_pairs`` pairs of ``data`` taken from 2-way 1-shot 1-query episodes, alternately same and
    different class: ``(x1, x2, same, values, value_name)``, where ``values`` are the learned
    distances (contrastive head) or probabilities of "same" (BCE head)."""
    episode = next(iter(episode_dataset(data, 2, 1, 1, seed=seed, meta_batch=n_pairs)))
    x1 = episode["support_x"][:, 0].numpy()  # the example of class 0
    same = np.arange(n_pairs) % 2 == 0
    x2 = episode["query_x"].numpy()[np.arange(n_pairs), np.where(same, 0, 1)]  # class 0 or class 1
    scores = np.asarray(learner.pair_scores(x1, x2))
    if getattr(learner, "head", "contrastive") == "bce":
        return x1, x2, same, 1.0 / (1.0 + np.exp(-scores)), "p(same)"
    return x1, x2, same, -scores, "distance"


def pooled(results):
    """One result for several folds: the mean of their means. Accuracies (:class:`MetaTestResult`) pool
    their episodes (each fold has as many), so the CI counts every episode; an :class:`Estimate` (ROC-AUC)
    averages the folds' values, its CI that of a mean of independent estimates, sqrt(sum ci^2) / n."""
    if all(isinstance(result, MetaTestResult) for result in results):
        return MetaTestResult(results[0].metric, np.concatenate([result.values for result in results]),
                              sum(result.wall_s for result in results))
    return Estimate(results[0].metric, float(np.mean([result.mean for result in results])),
                    float(np.sqrt(np.sum([result.ci95 ** 2 for result in results])) / len(results)),
                    sum(result.episodes for result in results), sum(result.wall_s for result in results))


def check_folds(folds, n_classes, min_train=2):
    """``folds`` (lists of 1-based class numbers, e.g. subjects) after checking they are disjoint, within
    1..``n_classes``, and leave at least ``min_train`` classes to train on; ValueError naming the problem."""
    if not isinstance(folds, list) or not folds:
        raise ValueError(f"folds must be a non-empty list of lists of subject numbers, got {folds!r}")
    seen = set()
    for i, fold in enumerate(folds):
        if (not isinstance(fold, list) or not fold
                or not all(isinstance(c, int) and not isinstance(c, bool) and 1 <= c <= n_classes for c in fold)):
            raise ValueError(f"folds[{i}] must be a non-empty list of subject numbers from 1 to {n_classes}, "
                             f"got {fold!r}")
        if len(set(fold)) != len(fold) or seen & set(fold):
            raise ValueError(f"folds must be disjoint (every subject held out at most once); folds[{i}] repeats "
                             f"{sorted(seen & set(fold)) or sorted(c for c in set(fold) if fold.count(c) > 1)}")
        if n_classes - len(fold) < min_train:
            raise ValueError(f"folds[{i}] holds out {len(fold)} of {n_classes} subjects, leaving fewer than "
                             f"{min_train} to train on")
        seen |= set(fold)
    return folds


def subject_names(numbers):
    """``"s1-s10"`` for a run of numbers, else ``"s1,s5,s9"``."""
    numbers = sorted(numbers)
    if numbers == list(range(numbers[0], numbers[-1] + 1)) and len(numbers) > 2:
        return f"s{numbers[0]}-s{numbers[-1]}"
    return ",".join(f"s{n}" for n in numbers)


def versus(result, raw):
    """``result`` against the raw-input distance ``raw`` on the same pairs or episodes, for a record:
    the paired difference (95% CI, p-value) of accuracies, the plain difference of ROC-AUCs."""
    if isinstance(result, MetaTestResult):
        difference = paired_difference(result, raw)
        return {"raw": round(raw.mean, 4), "difference": round(difference.mean, 4), "ci95": round(difference.ci95, 4),
                "p_value": float(f"{difference.p_value:.3g}")}
    return {"raw": round(raw.mean, 4), "difference": round(result.mean - raw.mean, 4)}


def mean_over_folds(runs, raw_runs=None):
    """The record of the mean over folds of one test of one model: ``runs`` and ``raw_runs`` (the
    raw-input distance's, if any) are the folds' ``(result, record fields)``."""
    results = [result for result, _ in runs]
    mean, fields = pooled(results), dict(runs[0][1])
    for key in ("fold", "threshold", "vs_raw"):
        fields.pop(key, None)
    fields.update(model=tuple(f["model"] for _, f in runs if f["model"]),  # () for the raw-input distance
                  split=f"mean over {len(runs)} folds", folds=[f["split"] for _, f in runs],
                  fold_means=[round(result.mean, 4) for result in results],
                  budget=f"{len(runs)} folds x {fields['budget']}")
    if "roc_auc" in fields:
        auc = pooled([Estimate("roc_auc", f["roc_auc"], f["roc_auc_ci95"], 1, 0.0) for _, f in runs])
        fields.update(roc_auc=round(auc.mean, 4), roc_auc_ci95=round(auc.ci95, 4))
    if raw_runs:
        fields["vs_raw"] = versus(mean, pooled([result for result, _ in raw_runs]))
    return mean, fields


@dataclasses.dataclass(frozen=True)
class SiameseModel:
    """One Siamese model: trained on the recipe's ``task`` (e.g. "identity", "speaker", "digit"), with a
    ``head`` of :data:`~hands_on_meta.learners.siamese.HEADS` and the ``distance`` "l2" or "l1"."""

    task: str
    head: str = "contrastive"
    distance: str = "l2"


class SiameseRecipe(Recipe):
    """Shared train/evaluate/plot; a subclass gives the data of each task (see :meth:`load_task`) and,
    with :meth:`folds`, several held-out splits, each with its own models (``<model>-fold<k>``)."""

    algorithm = "Siamese"
    typed: ClassVar[dict] = {"models": dict[str, SiameseModel]}
    dataset = ""
    spectrogram = False
    baseline = None  # name of the raw-input distance tested beside the models (e.g. "raw pixels"), if any

    def load_task(self, cfg, task, fold=None):
        """``(train ClassDataset, test ClassDataset, held-out description, test ways, encoder kwargs)`` of
        ``fold`` (an index of :meth:`folds`, or None for a recipe without folds)."""
        raise NotImplementedError

    def folds(self, cfg):
        """The held-out splits: ``[None]`` (one), or the fold indices of a recipe with ``folds``."""
        return list(range(len(cfg["folds"]))) if "folds" in cfg else [None]

    @staticmethod
    def run_name(name, fold):
        """The name model ``name`` of ``fold`` is trained and saved under: ``name`` or ``name-fold<k>``."""
        return name if fold is None else f"{name}-fold{fold + 1}"

    def task_data(self, cfg, task, fold=None):
        """:meth:`load_task`, loaded once per config."""
        key = (task, fold, json.dumps(cfg, sort_keys=True, default=str))
        cache = self.__dict__.setdefault("_loaded", {})
        if key not in cache:
            if len(cache) >= 8:
                cache.clear()
            cache[key] = self.load_task(cfg, task, fold)
        return cache[key]

    def build(self, cfg, model, fold=None):
        """The uncompiled :class:`~hands_on_meta.learners.SiameseNetwork` of ``model`` (a :class:`SiameseModel`)."""
        train_data, *_, encoder_kwargs = self.task_data(cfg, model.task, fold)
        encoder = siamese_encoder(train_data.example_shape, cfg["embedding"], cfg["filters"], **encoder_kwargs)
        return SiameseNetwork(encoder, distance=model.distance, head=model.head, margin=cfg["margin"],
                              scale=cfg.get("scale", 10.0))

    def runs(self, cfg):
        for fold in self.folds(cfg):
            offset = 0 if fold is None else 100 * fold  # each fold's models start and sample differently
            for i, (name, model) in enumerate(cfg["models"].items()):
                yield Run(self.run_name(name, fold), cfg["seed"] + i + offset, cfg["steps"],
                          build=lambda model=model, fold=fold: self.build(cfg, model, fold),
                          optimizer=lambda: keras.optimizers.Adam(cfg["lr"]),
                          episodes=lambda start, i=i, task=model.task, fold=fold, offset=offset: episode_dataset(
                              self.task_data(cfg, task, fold)[0], self.train_way(cfg, task, fold), 1,
                              cfg["train_query"], seed=cfg["seed"] + 1000 * i + offset, start=start))

    def train_way(self, cfg, task, fold=None):
        """Classes per training episode: ``cfg["train_way"]``, at most all training classes."""
        return min(cfg["train_way"], self.task_data(cfg, task, fold)[0].n_classes)

    def raw_distance(self, cfg, task, fold=None):
        """The untrained baseline: a Siamese network whose encoder only flattens the input (L2 distance)."""
        shape = self.task_data(cfg, task, fold)[0].example_shape
        return SiameseNetwork(keras.Sequential([keras.Input(shape), keras.layers.Flatten()]))

    def verify(self, learner, cfg, task, fold=None):
        """Verification of held-out pairs at the threshold that is best on training pairs."""
        train_data, test_data = self.task_data(cfg, task, fold)[:2]
        train_pairs = episode_dataset(train_data, 2, 1, 1, seed=TRAIN_PAIR_SEED, meta_batch=50)
        threshold = best_threshold(*verification_scores(learner, train_pairs, cfg["episodes"]))
        test_pairs = episode_dataset(test_data, 2, 1, 1, seed=VERIFY_SEED, meta_batch=50)
        return verification_test(learner, test_pairs, threshold, cfg["episodes"], allow_fewer=True)

    def identify(self, learner, cfg, task, way, fold=None):
        """``way``-way 1-shot identification of the held-out classes over ``cfg["episodes"]`` test episodes
        (the same episodes for every learner, so results can be compared episode by episode)."""
        test_data = self.task_data(cfg, task, fold)[1]
        episodes = episode_dataset(test_data, way, 1, cfg["test_query"], seed=TEST_SEED, meta_batch=cfg["test_batch"])
        return meta_test(learner, episodes, cfg["episodes"], allow_fewer=True)

    def test(self, learner, cfg, task, fold, label):
        """Every test of ``learner`` on ``fold``: ``{(test, way): result}`` for "verification accuracy",
        "verification ROC-AUC" (way 2) and "1-shot identification" (each test way); the verification
        (scores of every pair) is kept in ``self.verifications[label]``, each identification in
        ``self.identifications[label, way]``."""
        held_out, ways = self.task_data(cfg, task, fold)[2:4]
        verification = self.verify(learner, cfg, task, fold)
        self.verifications[label] = verification
        print(f"{self.dataset} {task} ({label}), held out {held_out}: {verification}")
        results = {("verification accuracy", 2): verification.accuracy, ("verification ROC-AUC", 2): verification.auc}
        for way in ways:
            result = self.identifications[label, way] = self.identify(learner, cfg, task, way, fold)
            print(f"{self.dataset} {task} ({label}), {way}-way 1-shot identification, held out {held_out}: {result}")
            results["1-shot identification", way] = result
        return results

    def evaluate(self, models, cfg):
        """Verification and identification results of every model on every fold, and with several folds
        their mean over folds (split "mean over N folds"); with a :attr:`baseline`, the same tests of the
        raw-input distance, and each model's difference to it on the same pairs and episodes (``vs_raw``:
        paired, with its 95% CI and p-value, for accuracies; the plain difference for ROC-AUC). Results
        also stay in ``self.verifications`` and ``self.identifications`` by run name, for notebooks and plots."""
        out, self.verifications, self.identifications = [], {}, {}
        folds, by_test = self.folds(cfg), {}
        for fold in folds:
            raw = {}
            for task in dict.fromkeys(model.task for model in cfg["models"].values()) if self.baseline else ():
                raw[task] = self.test(self.raw_distance(cfg, task, fold), cfg, task, fold,
                                      self.run_name(self.baseline, fold))
            for name, model in [*cfg["models"].items(), *((self.baseline, task) for task in raw)]:
                is_raw = isinstance(model, str)
                task, head = (model, self.baseline) if is_raw else (model.task, model.head)
                results = raw[task] if is_raw else self.test(models[self.run_name(name, fold)], cfg, task, fold,
                                                               self.run_name(name, fold))
                held_out = self.task_data(cfg, task, fold)[2]
                budget = (f"untrained: L2 distance of the {self.baseline}" if is_raw else
                          f"{cfg['steps']} episodes {self.train_way(cfg, task, fold)}-way 1-shot "
                          f"{cfg['train_query']}-query, {head} head, {model.distance.upper()}")
                common = {"model": () if is_raw else self.run_name(name, fold), "algorithm": self.algorithm,
                          "dataset": self.dataset, "split": held_out, "budget": budget, "task": task, "head": head,
                          "distance": "l2" if is_raw else model.distance,
                          **({} if fold is None else {"fold": fold + 1})}
                for (kind, way), result in results.items():
                    fields = {**common, "way": way, "shot": 1, "setting": f"{task}: {kind}, {head}"}
                    if kind.startswith("verification"):
                        fields["pairs"] = result.episodes
                    if kind == "verification accuracy":
                        auc = results["verification ROC-AUC", 2]
                        fields.update(threshold=self.verifications[self.run_name(name, fold)].threshold,
                                      roc_auc=round(auc.mean, 4), roc_auc_ci95=round(auc.ci95, 4))
                    if raw and not is_raw:
                        fields["vs_raw"] = versus(result, raw[task][kind, way])
                    out.append((result, fields))
                    by_test.setdefault((name, kind, way), []).append((result, fields))
        if len(folds) > 1:
            out += [mean_over_folds(runs, by_test.get((self.baseline, kind, way)) if name != self.baseline else None)
                    for (name, kind, way), runs in by_test.items()]
        return out

    def embeddings(self, learner, data, per_class=None):
        """Embeddings of the first ``per_class`` examples of every class of ``data`` and their labels."""
        x = data.x[:, :per_class]
        z = learner.encoder.predict(x.reshape(-1, *data.example_shape), batch_size=256, verbose=0)
        return z, np.repeat(np.arange(data.n_classes), x.shape[1])

    def plot(self, models, cfg, path):
        """ROC curves, embeddings and example pairs of the held-out data (of the last fold, with folds)."""
        from hands_on_meta.plotting import plot_embedding_2d, plot_pairs, plot_roc, pyplot

        plt = pyplot()
        fold = self.folds(cfg)[-1]
        runs = {name: self.run_name(name, fold) for name in cfg["models"]}
        where = "" if fold is None else f", fold {fold + 1}"
        tasks = list(dict.fromkeys(model.task for model in cfg["models"].values()))
        fig, axes = plt.subplots(1, 1 + len(tasks), figsize=(4.6 * (1 + len(tasks)), 4.2), squeeze=False)
        done = getattr(self, "verifications", {})
        plot_roc({name: done[runs[name]] if runs[name] in done else self.verify(models[runs[name]], cfg, model.task, fold)
                  for name, model in cfg["models"].items()},
                 ax=axes[0, 0], title=f"{self.dataset}: held-out pair verification{where}")
        for ax, task in zip(axes[0, 1:], tasks):
            name = next(n for n, model in cfg["models"].items() if model.task == task)
            test_data = self.task_data(cfg, task, fold)[1]
            z, labels = self.embeddings(models[runs[name]], test_data, cfg["plot_per_class"])
            plot_embedding_2d(z, labels, test_data.class_names, ax=ax,
                              title=f"{name}: held-out {task} embeddings (PCA){where}")
        fig.tight_layout()
        fig.savefig(path, dpi=120, bbox_inches="tight")
        for name, model in cfg["models"].items():  # example held-out pairs, one figure per model
            x1, x2, same, values, value_name = example_pairs(models[runs[name]],
                                                             self.task_data(cfg, model.task, fold)[1])
            pairs = plot_pairs(x1, x2, same, values, value_name, spectrogram=self.spectrogram,
                               title=f"{self.dataset} {name}: held-out pairs and their {value_name}{where}")
            pairs.savefig(path.with_name(f"{path.stem}_{name}_pairs.png"), dpi=120, bbox_inches="tight")
        plt.close("all")
        return path


@register
class SiameseFaces(SiameseRecipe):
    name = "siamese-faces"
    dataset = "faces"
    description = ("Siamese nets (softmax, contrastive, BCE heads), AT&T faces in 4 folds of 10 held-out "
                   "subjects: verification + 5/10-way 1-shot, beside raw pixels")
    baseline = "raw pixels"
    defaults: ClassVar[dict] = {
        "models": {"softmax": SiameseModel("identity", "softmax", "l2"),
                   "contrastive": SiameseModel("identity", "contrastive", "l2"),
                   "bce": SiameseModel("identity", "bce", "l1")},
        "folds": [list(range(1 + 10 * k, 11 + 10 * k)) for k in range(4)],  # held-out subjects of each fold
        "image_size": [56, 46], "embedding": 64, "filters": 64, "margin": 1.0, "scale": 10.0,
        "flip": True, "shift": 0.1, "rotation": 0.05, "zoom": 0.1, "contrast": 0.2,  # training augmentation
        "train_way": 25, "train_query": 2, "steps": 600, "steps_per_epoch": 100, "lr": 1e-3,
        "ways": [5, 10], "episodes": 600, "test_query": 5, "test_batch": 20, "plot_per_class": None, "seed": 0,
    }
    quick: ClassVar[dict] = {"steps": 10, "steps_per_epoch": 10, "episodes": 40, "folds": [list(range(31, 41))]}
    AUGMENTATION = ("flip", "shift", "rotation", "zoom", "contrast")

    def load_task(self, cfg, task, fold=None):
        from hands_on_meta.datasets import load_faces
        from hands_on_meta.datasets.faces import SUBJECTS

        folds = check_folds(cfg["folds"], SUBJECTS, min_train=2)
        held_out = folds[0 if fold is None else fold]
        everyone = load_faces("all", tuple(cfg["image_size"]))
        train = [s for s in range(SUBJECTS) if s + 1 not in held_out]
        return (everyone.subset(train, "train"), everyone.subset([s - 1 for s in held_out], "test"),
                f"subjects {subject_names(held_out)}", cfg["ways"], {key: cfg[key] for key in self.AUGMENTATION})


@register
class SiameseFSDD(SiameseRecipe):
    name = "siamese-fsdd"
    dataset = "fsdd"
    spectrogram = True
    description = ("Siamese nets, spoken digits (log-mel): speakers on unheard recordings, "
                   "one-shot matching of unheard digits 7-9")
    defaults: ClassVar[dict] = {
        "models": {"speaker": SiameseModel("speaker"), "digit": SiameseModel("digit")},
        "train_digits": [0, 1, 2, 3, 4, 5, 6], "embedding": 64, "filters": 64, "margin": 1.0,
        "train_way": 10, "train_query": 4, "steps": 600, "steps_per_epoch": 100, "lr": 1e-3,
        "speaker_ways": [5, 6], "digit_ways": [3], "episodes": 600, "test_query": 5, "test_batch": 20,
        "plot_per_class": 40, "seed": 0,
    }
    quick: ClassVar[dict] = {"steps": 10, "steps_per_epoch": 10, "episodes": 40}

    def load_task(self, cfg, task, fold=None):
        from hands_on_meta.datasets import load_fsdd

        logmel = {"scale": 1 / 40, "offset": 1.0}  # dB in [-80, 0] -> [-1, 1]
        if task == "speaker":
            return (load_fsdd("speaker", "train", verbose=False), load_fsdd("speaker", "test", verbose=False),
                    "recordings 0-4 of each speaker and digit", cfg["speaker_ways"], logmel)
        digits = load_fsdd("digit", "all", verbose=False)
        train_digits = sorted(cfg["train_digits"])
        test_digits = [d for d in range(10) if d not in train_digits]
        return (digits.subset(train_digits, "train"), digits.subset(test_digits, "test"),
                f"digits {','.join(map(str, test_digits))}", cfg["digit_ways"], logmel)
