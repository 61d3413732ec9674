"""Relation-network recipes (Sung et al. 2018).

``relation-omniglot``: the paper's Omniglot setting. Embedding: 4 conv blocks, max-pooling after the
first two (28x28 -> 7x7x64); relation module: 2 conv blocks on the concatenated pair, FC 8, FC 1
(sigmoid); K-shot class feature = sum of the K support feature maps; MSE to the one-hot labels; fused
batch norm (``batch_norm``) in both. One model trained on 20-way 1-shot episodes with 5 queries per
class (30,000 episodes, Adam 1e-3 halved every 7,500), one on 20-way 5-shot episodes with 5 (10,000
episodes, halved every 2,500); both are tested 5-way and 20-way. The paper trains 5-way models with 19
(1-shot) or 15 (5-shot) queries per class and separate 20-way models, for far longer; training on more
classes per episode than at test time generalises better here (RESULTS.md, "How the settings were
chosen"). Every test setting is run twice: with the moving batch-norm statistics (each query on its
own), and with the statistics of each test episode (setting "transductive batch norm",
:class:`~hands_on_meta.transductive.Transductive`), which is how the paper's published test code runs.

``relation-zeroshot-fsdd``: zero-shot spoken digits from their pronunciation (see
:class:`RelationZeroShotFSDD`).
"""
from typing import ClassVar

import keras
import numpy as np

from hands_on_meta.datasets import load_fsdd
from hands_on_meta.datasets.phonemes import digit_side_info
from hands_on_meta.episodes import episode_dataset
from hands_on_meta.evaluation import meta_test
from hands_on_meta.layers import RelationModule, relation_embedding
from hands_on_meta.learners import RelationNet
from hands_on_meta.models import fsdd_zeroshot_model
from hands_on_meta.plotting import pyplot, save_figure
from hands_on_meta.recipes import Recipe, Run, register
from hands_on_meta.recipes.fewshot import (
    STANDARD_EVAL,
    TEST_SEED,
    TRANSDUCTIVE_EVAL,
    FewShotRecipe,
    ModelTraining,
)


@register
class RelationOmniglot(FewShotRecipe):
    name = "relation-omniglot"
    algorithm = "RelationNet"
    description = "relation network, Omniglot 5/20-way 1/5-shot, 600 test episodes each"
    defaults: ClassVar[dict] = {
        **FewShotRecipe.defaults,
        "train": {"1shot": ModelTraining(20, 1, 5, steps=30000, halve_every=7500),
                  "5shot": ModelTraining(20, 5, 5, steps=10000, halve_every=2500)},
        "eval": STANDARD_EVAL + TRANSDUCTIVE_EVAL,
        "steps": 30000, "lr_halve_every": 4000, "batch_norm": "fused",
    }

    def build(self, cfg, name, setting):
        embedding = relation_embedding(batch_norm=cfg["batch_norm"])
        return RelationNet(embedding, RelationModule(embedding.output_shape[1:], batch_norm=cfg["batch_norm"]))


def derangement(n, seed):
    """A seeded permutation of range(n) that moves every element (for the shuffled baseline)."""
    rng = np.random.default_rng(seed)
    while True:
        order = rng.permutation(n)
        if not np.any(order == np.arange(n)):
            return order


@register
class RelationZeroShotFSDD(Recipe):
    """Zero-shot spoken digits: recognise digits never heard in training from how their names are
    pronounced (:func:`hands_on_meta.datasets.phonemes.digit_side_info`).

    For each held-out triple of ``splits``, two models train on the other 7 digits (training
    recordings, 7-way episodes): one with the real side information, and a control whose side
    information rows are permuted among the digits (a fixed derangement: the same vectors, but
    describing the wrong words). Both are tested on 3-way episodes of the held-out digits (chance
    33.3%; every recording of those digits is new to the model), and on the training digits' test
    recordings (7-way, seen classes). The default splits cut ``np.random.default_rng(0).permutation(10)``
    into three disjoint triples.
    """

    name = "relation-zeroshot-fsdd"
    description = "zero-shot relation network, FSDD digits from their pronunciation, 3 held-out triples"
    defaults: ClassVar[dict] = {
        "side_info": "articulatory", "splits": [[2, 4, 6], [3, 5, 7], [0, 8, 9]],
        "steps": 800, "steps_per_epoch": 200, "query": 5, "lr": 1e-3,
        "embed_dim": 64, "filters": 32, "hidden": 64,
        "episodes": 600, "test_query": 10, "test_batch": 20, "seed": 0,
    }
    quick: ClassVar[dict] = {"splits": [[2, 4, 6]], "steps": 60, "steps_per_epoch": 30, "episodes": 40}
    VARIANTS = ("side", "shuffled")

    def side_info(self, cfg, variant):
        side = digit_side_info(cfg["side_info"])
        return side if variant == "side" else side[derangement(len(side), cfg["seed"])]

    @staticmethod
    def model_name(digits, variant):
        return f"heldout{''.join(str(d) for d in digits)}-{variant}"

    def _splits(self, cfg):
        splits = [sorted(int(d) for d in split) for split in cfg["splits"]]
        for split in splits:
            valid = len(set(split)) == len(split) and all(0 <= d <= 9 for d in split) and 2 <= len(split) <= 8
            if not valid:
                raise ValueError(f"splits must be lists of 2-8 distinct digits 0-9, got {split}")
        return splits

    def runs(self, cfg):
        data = load_fsdd("digit", "train", verbose=False).x
        for i, held_out in enumerate(self._splits(cfg)):
            seen = [d for d in range(10) if d not in held_out]
            for variant in self.VARIANTS:  # both variants start from the same weights
                side = self.side_info(cfg, variant)
                yield Run(self.model_name(held_out, variant), cfg["seed"] + i, cfg["steps"],
                          build=lambda side=side: fsdd_zeroshot_model(side.shape[1], cfg["embed_dim"], cfg["filters"],
                                                                      cfg["hidden"], data.shape[2:]),
                          optimizer=lambda: keras.optimizers.Adam(cfg["lr"]),
                          episodes=lambda start, i=i, seen=seen, side=side: episode_dataset(
                              data[seen], len(seen), 0, cfg["query"], seed=cfg["seed"] + 100 * i,
                              side_info=side[seen], start=start))

    def evaluate(self, models, cfg):
        unseen_data = load_fsdd("digit", "all", verbose=False).x    # every recording of the held-out digits
        seen_data = load_fsdd("digit", "test", verbose=False).x     # the test recordings of the others
        out = []
        for held_out in self._splits(cfg):
            seen = [d for d in range(10) if d not in held_out]
            for variant in self.VARIANTS:
                name = self.model_name(held_out, variant)
                side = self.side_info(cfg, variant)
                label = f"{cfg['side_info']} side info" + (", shuffled among digits" if variant == "shuffled"
                                                           else "")
                budget = (f"{cfg['steps']} episodes {len(seen)}-way {cfg['query']}-query "
                          f"(digits {seen}, training recordings)")
                for split, data, digits in [("unseen digits", unseen_data, held_out),
                                            ("seen digits, test recordings", seen_data, seen)]:
                    episodes = episode_dataset(data[digits], len(digits), 0, cfg["test_query"],
                                               seed=TEST_SEED, meta_batch=cfg["test_batch"],
                                               side_info=side[digits])
                    result = meta_test(models[name], episodes, cfg["episodes"], allow_fewer=True)
                    print(f"{name}: {split} {digits}, {len(digits)}-way, {label}: {result}")
                    out.append((result, {
                        "model": name, "algorithm": "ZeroShotRelationNet", "dataset": "fsdd",
                        "split": f"{split} {','.join(map(str, digits))}", "way": len(digits), "shot": 0,
                        "setting": label, "budget": budget}))
        return out

    def plot(self, models, cfg, path):
        """Mean relation score of each held-out digit's recordings against the description of every
        digit, for the models with real side information (one panel per split)."""
        plt = pyplot()
        splits = self._splits(cfg)
        data = load_fsdd("digit", "all", verbose=False).x
        side = self.side_info(cfg, "side")
        fig, axes = plt.subplots(1, len(splits), figsize=(4.2 * len(splits), 2.6), squeeze=False)
        for ax, held_out in zip(axes[0], splits):
            learner = models[self.model_name(held_out, "side")]
            queries = data[held_out][:, :50]  # 50 recordings per held-out digit
            episode = {"side_info": side[None], "query_x": queries.reshape(1, -1, *queries.shape[2:]),
                       "query_y": np.zeros((1, len(held_out) * 50), np.int32)}
            scores = np.asarray(learner(episode))[0].reshape(len(held_out), 50, 10).mean(1)
            ax.imshow(scores, vmin=0, vmax=1, cmap="viridis")
            ax.set_xticks(range(10), [f"{d}{'*' if d in held_out else ''}" for d in range(10)])
            ax.set_yticks(range(len(held_out)), [f"heard {d}" for d in held_out])
            ax.set_xlabel("described digit (* = never seen in training)")
        fig.suptitle("Mean relation score: held-out recordings vs every digit's pronunciation", fontsize=10)
        fig.tight_layout()
        return save_figure(fig, path)
