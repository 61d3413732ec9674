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

``siamese-faces``: AT&T faces, 30 training subjects, the other 10 held out (nobody on both sides);
one model per head (contrastive L2, BCE L1). ``siamese-fsdd``: Free Spoken Digits as log-mel
spectrograms; *speaker* models train on recordings 5-49 of the 6 speakers and are tested on
recordings 0-4 (never heard in training); *digit* models train on digits 0-6 and are tested on
digits 7-9, never heard in training (all their recordings). ``siamese-faces`` trains on 25-way 1-shot
2-query episodes, chosen on validation subjects (RESULTS.md, "How the settings were chosen");
``siamese-fsdd`` episodes hold all its training classes (6 speakers, or 7 digits).
"""
import dataclasses
import json
from typing import ClassVar

import keras
import numpy as np

from hands_on_meta.episodes import episode_dataset
from hands_on_meta.evaluation import meta_test
from hands_on_meta.learners import SiameseNetwork
from hands_on_meta.models import siamese_encoder
from hands_on_meta.recipes import Recipe, Run, register
from hands_on_meta.verification import best_threshold, verification_scores, verification_test

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


@dataclasses.dataclass(frozen=True)
class SiameseModel:
    """One Siamese model: trained on the recipe's ``task`` (e.g. "identity", "speaker", "digit"), with the
    ``head`` "contrastive" or "bce" and the ``distance`` "l2" or "l1"."""

    task: str
    head: str = "contrastive"
    distance: str = "l2"


class SiameseRecipe(Recipe):
    """Shared train/evaluate/plot; a subclass gives the data of each task (see :meth:`load_task`)."""

    algorithm = "Siamese"
    typed: ClassVar[dict] = {"models": dict[str, SiameseModel]}
    dataset = ""
    spectrogram = False

    def load_task(self, cfg, task):
        """``(train ClassDataset, test ClassDataset, held-out description, test ways, encoder kwargs)``."""
        raise NotImplementedError

    def task_data(self, cfg, task):
        """:meth:`load_task`, loaded once per config."""
        key = (task, json.dumps(cfg, sort_keys=True, default=str))
        cache = self.__dict__.setdefault("_loaded", {})
        if key not in cache:
            if len(cache) >= 4:
                cache.clear()
            cache[key] = self.load_task(cfg, task)
        return cache[key]

    def build(self, cfg, model):
        """The uncompiled :class:`~hands_on_meta.learners.SiameseNetwork` of ``model`` (a :class:`SiameseModel`)."""
        train_data, *_, encoder_kwargs = self.task_data(cfg, model.task)
        encoder = siamese_encoder(train_data.example_shape, cfg["embedding"], cfg["filters"], **encoder_kwargs)
        return SiameseNetwork(encoder, distance=model.distance, head=model.head, margin=cfg["margin"])

    def runs(self, cfg):
        for i, (name, model) in enumerate(cfg["models"].items()):
            yield Run(name, cfg["seed"] + i, cfg["steps"], build=lambda model=model: self.build(cfg, model),
                      optimizer=lambda: keras.optimizers.Adam(cfg["lr"]),
                      episodes=lambda start, i=i, task=model.task: episode_dataset(
                          self.task_data(cfg, task)[0], self.train_way(cfg, task), 1, cfg["train_query"],
                          seed=cfg["seed"] + 1000 * i, start=start))

    def train_way(self, cfg, task):
        """Classes per training episode: ``cfg["train_way"]``, at most all training classes."""
        return min(cfg["train_way"], self.task_data(cfg, task)[0].n_classes)

    def verify(self, learner, cfg, task):
        """Verification of held-out pairs at the threshold that is best on training pairs."""
        train_data, test_data = self.task_data(cfg, task)[:2]
        train_pairs = episode_dataset(train_data, 2, 1, 1, seed=TRAIN_PAIR_SEED, meta_batch=50)
        threshold = best_threshold(*verification_scores(learner, train_pairs, cfg["episodes"]))
        test_pairs = episode_dataset(test_data, 2, 1, 1, seed=VERIFY_SEED, meta_batch=50)
        return verification_test(learner, test_pairs, threshold, cfg["episodes"], allow_fewer=True)

    def evaluate(self, models, cfg):
        """Verification and identification results; the verification results (scores and labels of
        every pair) also stay in ``self.verifications`` by model name, for plots."""
        out, self.verifications = [], {}
        for name, model in cfg["models"].items():
            learner, task, head, distance = models[name], model.task, model.head, model.distance
            _, test_data, held_out, ways, _ = self.task_data(cfg, task)
            budget = (f"{cfg['steps']} episodes {self.train_way(cfg, task)}-way 1-shot {cfg['train_query']}-query, "
                      f"{head} head, {distance.upper()}")
            common = {"model": name, "algorithm": self.algorithm, "dataset": self.dataset, "split": held_out,
                      "budget": budget, "task": task, "head": head, "distance": distance}
            verification = self.verify(learner, cfg, task)
            self.verifications[name] = verification
            print(f"{self.dataset} {task} ({name}), held out {held_out}: {verification}")
            auc = verification.auc
            out.append((verification.accuracy, {**common, "way": 2, "shot": 1,
                                                "setting": f"{task}: verification accuracy, {head}",
                                                "pairs": auc.episodes, "threshold": verification.threshold,
                                                "roc_auc": round(auc.mean, 4), "roc_auc_ci95": round(auc.ci95, 4)}))
            out.append((auc, {**common, "way": 2, "shot": 1, "setting": f"{task}: verification ROC-AUC, {head}",
                              "pairs": auc.episodes}))
            for way in ways:
                episodes = episode_dataset(test_data, way, 1, cfg["test_query"], seed=TEST_SEED,
                                           meta_batch=cfg["test_batch"])
                result = meta_test(learner, episodes, cfg["episodes"], allow_fewer=True)
                print(f"{self.dataset} {task} ({name}), {way}-way 1-shot identification, held out {held_out}: "
                      f"{result}")
                out.append((result, {**common, "way": way, "shot": 1,
                                     "setting": f"{task}: 1-shot identification, {head}"}))
        return out

    def embeddings(self, learner, data, per_class=None):
        """Embeddings of the first ``per_class`` examples of every class of ``data`` and their labels."""
        x = data.x[:, :per_class]
        z = learner.encoder.predict(x.reshape(-1, *data.example_shape), batch_size=256, verbose=0)
        return z, np.repeat(np.arange(data.n_classes), x.shape[1])

    def plot(self, models, cfg, path):
        from hands_on_meta.plotting import plot_embedding_2d, plot_pairs, plot_roc, pyplot

        plt = pyplot()
        tasks = list(dict.fromkeys(model.task for model in cfg["models"].values()))
        fig, axes = plt.subplots(1, 1 + len(tasks), figsize=(4.6 * (1 + len(tasks)), 4.2), squeeze=False)
        done = getattr(self, "verifications", {})
        plot_roc({name: done[name] if name in done else self.verify(models[name], cfg, model.task)
                  for name, model in cfg["models"].items()},
                 ax=axes[0, 0], title=f"{self.dataset}: held-out pair verification")
        for ax, task in zip(axes[0, 1:], tasks):
            name = next(n for n, model in cfg["models"].items() if model.task == task)
            test_data = self.task_data(cfg, task)[1]
            z, labels = self.embeddings(models[name], test_data, cfg["plot_per_class"])
            plot_embedding_2d(z, labels, test_data.class_names, ax=ax,
                              title=f"{name}: held-out {task} embeddings (PCA)")
        fig.tight_layout()
        fig.savefig(path, dpi=120, bbox_inches="tight")
        for name, model in cfg["models"].items():  # example held-out pairs, one figure per model
            x1, x2, same, values, value_name = example_pairs(models[name], self.task_data(cfg, model.task)[1])
            pairs = plot_pairs(x1, x2, same, values, value_name, spectrogram=self.spectrogram,
                               title=f"{self.dataset} {name}: held-out pairs and their {value_name}")
            pairs.savefig(path.with_name(f"{path.stem}_{name}_pairs.png"), dpi=120, bbox_inches="tight")
        plt.close("all")
        return path


@register
class SiameseFaces(SiameseRecipe):
    name = "siamese-faces"
    dataset = "faces"
    description = "Siamese nets (contrastive, BCE), AT&T faces: verification + 5/10-way 1-shot, held-out subjects"
    defaults: ClassVar[dict] = {
        "models": {"contrastive": SiameseModel("identity", "contrastive", "l2"),
                   "bce": SiameseModel("identity", "bce", "l1")},
        "image_size": [56, 46], "n_train_subjects": 30, "embedding": 64, "filters": 64, "margin": 1.0,
        "flip": True, "shift": 0.05,
        "train_way": 25, "train_query": 2, "steps": 600, "steps_per_epoch": 100, "lr": 1e-3,
        "ways": [5, 10], "episodes": 600, "test_query": 5, "test_batch": 20, "plot_per_class": None, "seed": 0,
    }
    quick: ClassVar[dict] = {"steps": 10, "steps_per_epoch": 10, "episodes": 40}

    def load_task(self, cfg, task):
        from hands_on_meta.datasets import load_faces

        size, n_train = tuple(cfg["image_size"]), cfg["n_train_subjects"]
        return (load_faces("train", size, n_train), load_faces("test", size, n_train),
                f"subjects s{n_train + 1}-s40", cfg["ways"], {"flip": cfg["flip"], "shift": cfg["shift"]})


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

    def load_task(self, cfg, task):
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
