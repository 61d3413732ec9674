"""Sine regression recipes (Finn et al. 2017, sec. 5.1): amplitude in [0.1, 5], phase in [0, pi],
x in [-5, 5]; K support points per task.

``sine-maml``: MAML against a pretrained baseline, K = 10. ``sine-comparison``: MAML, first-order
MAML, Meta-SGD, Reptile, CAML and iMAML against the pretrained baseline, one model per algorithm
and K = 5, 10, 20 (trained on K-shot tasks). ``sine-agreement``: MAML and Reptile with and without
gradient agreement, K = 10. Every model is :func:`~hands_on_meta.models.sine_learner` (the MLP
1-40-40-1; inner loops there), Adam 1e-3, the same number of meta-steps and of task points per
meta-step: 25 tasks of K support and K query points, or for Reptile K tasks of 50 points (its inner
steps run on distinct mini-batches of them, as in the Reptile authors' sine code; see
:meth:`SineMAML.training_tasks`); the
iMAML settings were chosen by measurement (RESULTS.md, "How the settings were chosen"). ``sine-corrupted``:
``sine-agreement`` on a training stream where 30% of the tasks have their targets shuffled. At test every
model is fine-tuned with its own inner rule for 1 and 10 steps on the K support points of 600
held-out tasks (a seed training never uses) and scored by the MSE on ``test_query`` query points.
"""
import functools
from typing import ClassVar

import keras
import numpy as np
import tensorflow as tf

from hands_on_meta.datasets.sine import sine_tasks
from hands_on_meta.evaluation import meta_test
from hands_on_meta.models import REPTILE_SINE_BATCH, REPTILE_SINE_STEPS, sine_learner
from hands_on_meta.recipes import Recipe, Run, register

TEST_SEED = 10_000  # training draws tasks from seed cfg["seed"]; held-out tasks from this one
PROBE_SEED = 20_000  # the meta-batches on which CorruptedTaskWeights logs the tasks' weights
# Targets lie in [-5, 5]: a test MSE above (2 x 5)^2 means predictions off by more than twice the largest
# amplitude on average, an adaptation that blew up (counted as diverged, like a non-finite MSE).
DIVERGED_MSE = 100.0
ALGORITHMS = {"maml": "MAML", "fomaml": "FOMAML", "meta-sgd": "Meta-SGD", "reptile": "Reptile", "caml": "CAML",
              "imaml": "iMAML", "pretrained": "pretrained baseline", "maml-ga": "MAML + gradient agreement",
              "reptile-ga": "Reptile + gradient agreement"}
COMPARISON = ["maml", "fomaml", "meta-sgd", "reptile", "caml", "imaml", "pretrained"]


class CorruptedTaskWeights(keras.callbacks.Callback):
    """After each epoch, add to the logs the mean weight the learner gives the corrupted and the clean
    tasks of fixed ``probes`` (meta-batches with a ``corrupted`` flag), in units of the plain average's
    1/T: ``weight_corrupted`` and ``weight_clean`` (1.0 each without gradient agreement)."""

    def __init__(self, probes):
        super().__init__()
        self.probes = list(probes)

    def on_epoch_end(self, epoch, logs=None):
        weigh = tf.function(self.model.task_weights)
        shares = {True: [], False: []}
        for batch in self.probes:
            weights = weigh(batch).numpy() * len(batch["corrupted"])
            for flag, weight in zip(batch["corrupted"].numpy(), weights):
                shares[bool(flag)].append(weight)
        if logs is not None:
            logs.update({"weight_corrupted": float(np.mean(shares[True])) if shares[True] else float("nan"),
                         "weight_clean": float(np.mean(shares[False])) if shares[False] else float("nan")})


@register
class SineMAML(Recipe):
    name = "sine-maml"
    description = "MAML vs pretrained baseline, sine regression, K=10, 600 held-out tasks"
    defaults: ClassVar[dict] = {
        "algorithms": ["maml", "pretrained"], "k_shots": [10], "steps": 30000, "meta_batch": 25, "inner_lr": 0.01,
        "eval_steps": [1, 10], "test_query": 10, "episodes": 600, "seed": 0, "steps_per_epoch": 1000, "corrupted": 0.0}
    quick: ClassVar[dict] = {"steps": 1000, "episodes": 100, "steps_per_epoch": 500}

    @staticmethod
    def model_name(algorithm, k_shot):
        return f"{algorithm}-k{k_shot}"

    def grid(self, cfg):
        """``(model name, algorithm, K)`` of every model: each algorithm at each K (only those that
        :meth:`select` chose, if it did)."""
        return [(self.model_name(algorithm, k_shot), algorithm, k_shot)
                for k_shot in cfg["k_shots"] for algorithm in cfg["algorithms"]
                if self.model_name(algorithm, k_shot) in cfg.get("only", [self.model_name(algorithm, k_shot)])]

    def select(self, cfg, models):
        """``cfg`` restricted to the named ``models`` (``--only maml-k10``)."""
        names = [name for name, _, _ in self.grid(cfg)]
        unknown = [model for model in models if model not in names]
        if unknown:
            raise ValueError(f"recipe {self.name!r} has no models {unknown} in this config; it has {names}")
        return {**cfg, "only": list(models)}

    @staticmethod
    def training_tasks(algorithm, k_shot, cfg):
        """``(support points, query points, tasks)`` of a meta-step training ``algorithm`` at K = ``k_shot``.

        MAML and the others adapt on K points and learn from K more, in ``meta_batch`` tasks. Reptile
        learns from its inner steps alone, and those need different rows each (Nichol et al.: steps
        that reuse a task's data lose the useful term), so its tasks hold ``steps x batch`` = 50 points
        and a meta-step takes as many tasks as give the same ``meta_batch x 2K`` points; its K query
        points only report the loss."""
        if not algorithm.startswith("reptile"):
            return k_shot, k_shot, cfg["meta_batch"]
        points = REPTILE_SINE_STEPS * REPTILE_SINE_BATCH
        tasks, rest = divmod(cfg["meta_batch"] * 2 * k_shot, points)
        if rest or not tasks:
            raise ValueError(f"Reptile at K={k_shot} needs meta_batch x 2K ({cfg['meta_batch']} x {2 * k_shot}) to be "
                             f"a multiple of the {points} points of its tasks")
        return points, k_shot, tasks

    def runs(self, cfg):
        for name, algorithm, k_shot in self.grid(cfg):
            support, query, tasks = self.training_tasks(algorithm, k_shot, cfg)
            stream = functools.partial(sine_tasks, support, query, meta_batch=tasks, corrupted=cfg["corrupted"])
            yield Run(name, cfg["seed"], cfg["steps"],
                      build=lambda algorithm=algorithm: sine_learner(algorithm, cfg["seed"], cfg["inner_lr"],
                                                                     max(cfg["eval_steps"])),
                      optimizer=lambda: keras.optimizers.Adam(1e-3),
                      episodes=lambda start, stream=stream: stream(seed=cfg["seed"], start=start),
                      callbacks=lambda stream=stream: [CorruptedTaskWeights(stream(seed=PROBE_SEED).take(8))]
                      if cfg["corrupted"] else [])

    def budget(self, cfg, name):
        algorithm, k_shot = next((a, k) for n, a, k in self.grid(cfg) if n == name)
        support, _, tasks = self.training_tasks(algorithm, k_shot, cfg)
        reptile = f" of {support} points" if algorithm.startswith("reptile") else ""
        corrupted = f", {cfg['corrupted']:.0%} of them corrupted" if cfg["corrupted"] else ""
        return f"{cfg['steps']} meta-steps x {tasks} tasks{reptile}{corrupted}"

    def evaluate(self, models, cfg):
        """Meta-test those of ``models`` that are models of ``cfg`` (see :meth:`grid`)."""
        out = []
        for name, algorithm, k_shot in self.grid(cfg):
            if name not in models:
                continue
            learner = models[name]
            for steps in cfg["eval_steps"]:
                learner.eval_steps = steps
                tasks = sine_tasks(k_shot, cfg["test_query"], seed=TEST_SEED, episodes=cfg["episodes"] // 25 + 1,
                                   meta_batch=25)
                result = meta_test(learner, tasks, cfg["episodes"], allow_fewer=True, diverged_above=DIVERGED_MSE)
                print(f"{ALGORITHMS[algorithm]:>20} K={k_shot:<2} after {steps:>2} step(s): test MSE {result}")
                out.append((result, {
                    "model": name, "algorithm": ALGORITHMS[algorithm],
                    "dataset": "sine", "split": "held-out tasks", "way": None, "shot": k_shot,
                    "setting": f"{steps} step" + ("s" if steps > 1 else ""),
                    "budget": self.budget(cfg, name)}))
            learner.eval_steps = max(cfg["eval_steps"])
        return out

    def at_shot(self, models, cfg):
        """``(K, {algorithm: learner})`` for the models trained with K = 10 support points (or the first K)."""
        k_shot = 10 if 10 in cfg["k_shots"] else cfg["k_shots"][0]
        return k_shot, {algorithm: models[name] for name, algorithm, k in self.grid(cfg) if k == k_shot}

    def plot(self, models, cfg, path):
        from hands_on_meta.plotting import plot_sine_adaptation, save_figure

        k_shot, shown = self.at_shot(models, cfg)
        shown = {ALGORITHMS[algorithm]: learner for algorithm, learner in shown.items()}
        fig = plot_sine_adaptation(shown, k_shot=k_shot, steps=(0, *cfg["eval_steps"]), seed=TEST_SEED)
        return save_figure(fig, path)


@register
class SineComparison(SineMAML):
    name = "sine-comparison"
    description = "MAML, FOMAML, Meta-SGD, Reptile, CAML, iMAML vs pretrained, sine regression, K=5/10/20"
    defaults: ClassVar[dict] = {**SineMAML.defaults, "algorithms": COMPARISON, "k_shots": [5, 10, 20],
                                "steps": 20000, "test_query": 50}
    quick: ClassVar[dict] = {"steps": 100, "episodes": 50, "steps_per_epoch": 50, "k_shots": [5]}


@register
class SineAgreement(SineMAML):
    """``sine-agreement``: MAML and Reptile with and without gradient agreement (Eshratifar et al. 2018),
    K = 10, everything else as ``sine-comparison``."""

    name = "sine-agreement"
    description = "MAML and Reptile with and without gradient agreement, sine regression, K=10"
    defaults: ClassVar[dict] = {**SineComparison.defaults, "algorithms": ["maml", "maml-ga", "reptile", "reptile-ga"],
                                "k_shots": [10]}
    quick: ClassVar[dict] = SineComparison.quick


@register
class SineCorrupted(SineAgreement):
    """``sine-corrupted``: ``sine-agreement`` trained on a stream where each task's targets are shuffled
    across its points with chance 0.3 (its labels say nothing about its inputs), tested on clean held-out
    tasks; the training log holds the weights of corrupted and clean tasks (:class:`CorruptedTaskWeights`)."""

    name = "sine-corrupted"
    description = "MAML and Reptile with and without gradient agreement, 30% of training tasks corrupted, K=10"
    defaults: ClassVar[dict] = {**SineAgreement.defaults, "corrupted": 0.3}
    quick: ClassVar[dict] = SineComparison.quick
