"""Sine regression recipes (Finn et al. 2017, sec. 5.1): amplitude in [0.1, 5], phase in [0, pi],
x in [-5, 5]; K support points per task.

``sine-maml``: MAML against a pretrained baseline, K = 10. ``sine-comparison``: MAML, first-order
MAML, Meta-SGD, Reptile, CAML and iMAML against the pretrained baseline, one model per algorithm
and K = 5, 10, 20 (trained on K-shot tasks). ``sine-agreement``: MAML and Reptile with and without
gradient agreement, K = 10. Every model is the MLP 1-40-40-1 (ReLU; CAML adds 4
context inputs), meta-batch 25 tasks, Adam 1e-3, the same number of meta-steps. Training inner
loops: MAML/FOMAML/Meta-SGD one SGD step (lr 0.01; Meta-SGD learns its rates from there), Reptile 5
steps (lr 0.01), CAML one step on the context (lr 1.0), iMAML 10 steps with a proximal term (lr 0.01,
lambda 10, gradients clipped to norm 10, 1 conjugate-gradient step; see below); the pretrained baseline
fits all tasks jointly
(``inner_steps=0``). At test every model is fine-tuned with its own inner rule for 1 and 10 steps on
the K support points of 600 held-out tasks (a seed training never uses) and scored by the MSE on
``test_query`` query points.

iMAML settings, measured (each ``IMAML(sine_mlp(), ...)`` fitted with Adam 1e-3 for 2,000 meta-steps on
``sine_tasks(10, 10, seed=0, meta_batch=25)``, seed 0; training query loss per 500 steps): lambda 1 with
5 steps leaves ``I + H / lambda`` indefinite (support-loss Hessian eigenvalues down to -9 on this ReLU
MLP) and learned slowly (3.50, 3.02, 2.61, 2.42); lambda 10 without clipping blew up (a task's inner
loop diverged); with clipping, 5 CG steps (2.47, 0.73, 0.74, 0.84) and 2 (2.36, 0.78, 0.69, 0.87)
turned upward, 1 step kept improving (2.62, 1.21, 0.75, 0.63). With the inner problem solved, the
implicit gradient matches finite differences (tests); here the 10-step inner solve is far from
solved, and more CG steps amplify directions of negative curvature.
"""
from typing import ClassVar

import keras

from hands_on_meta.datasets.sine import sine_tasks
from hands_on_meta.evaluation import meta_test
from hands_on_meta.layers import ContextConcat
from hands_on_meta.learners import CAML, IMAML, MAML, MetaSGD, Reptile
from hands_on_meta.recipes import Recipe, register
from hands_on_meta.training import train

TEST_SEED = 10_000  # training draws tasks from seed cfg["seed"]; held-out tasks from this one
ALGORITHMS = {"maml": "MAML", "fomaml": "FOMAML", "meta-sgd": "Meta-SGD", "reptile": "Reptile", "caml": "CAML",
              "imaml": "iMAML", "pretrained": "pretrained baseline", "maml-ga": "MAML + gradient agreement",
              "reptile-ga": "Reptile + gradient agreement"}
COMPARISON = ["maml", "fomaml", "meta-sgd", "reptile", "caml", "imaml", "pretrained"]


def sine_mlp(hidden=40, seed=0, context=0):
    """The MLP of the MAML paper's regression experiments: 1 -> 40 -> 40 -> 1, ReLU; ``context`` > 0
    concatenates that many context parameters to the input (CAML)."""
    init = keras.initializers.GlorotUniform
    return keras.Sequential([keras.Input((1,))] + ([ContextConcat(context)] if context else []) + [
        keras.layers.Dense(hidden, activation="relu", kernel_initializer=init(seed)),
        keras.layers.Dense(hidden, activation="relu", kernel_initializer=init(seed + 1)),
        keras.layers.Dense(1, kernel_initializer=init(seed + 2)),
    ], name="sine_mlp")


def sine_learner(algorithm, seed=0, inner_lr=0.01, eval_steps=10):
    """An uncompiled learner of ``algorithm`` (a key of :data:`ALGORITHMS`) as the recipes train it."""
    common = {"task": "regression", "eval_steps": eval_steps, "name": algorithm.replace("-", "_")}
    net = sine_mlp(seed=seed)
    builders = {
        "maml": lambda: MAML(net, inner_lr=inner_lr, inner_steps=1, **common),
        "fomaml": lambda: MAML(net, inner_lr=inner_lr, inner_steps=1, first_order=True, **common),
        "meta-sgd": lambda: MetaSGD(net, inner_lr=inner_lr, inner_steps=1, **common),
        "reptile": lambda: Reptile(net, inner_lr=inner_lr, inner_steps=5, **common),
        "maml-ga": lambda: MAML(net, inner_lr=inner_lr, inner_steps=1, agreement=True, **common),
        "reptile-ga": lambda: Reptile(net, inner_lr=inner_lr, inner_steps=5, agreement=True, **common),
        "caml": lambda: CAML(sine_mlp(seed=seed, context=4), inner_lr=1.0, inner_steps=1, **common),
        "imaml": lambda: IMAML(net, inner_lr=inner_lr, inner_steps=10, reg=10.0, cg_steps=1, clip_norm=10.0, **common),
        "pretrained": lambda: MAML(net, inner_lr=inner_lr, inner_steps=0, **common),
    }
    if algorithm not in builders:
        raise ValueError(f"algorithm must be one of {sorted(builders)}, got {algorithm!r}")
    return builders[algorithm]()


@register
class SineMAML(Recipe):
    name = "sine-maml"
    description = "MAML vs pretrained baseline, sine regression, K=10, 600 held-out tasks"
    defaults: ClassVar[dict] = {
        "algorithms": ["maml", "pretrained"], "k_shots": [10], "steps": 30000, "meta_batch": 25, "inner_lr": 0.01,
        "eval_steps": [1, 10], "test_query": 10, "episodes": 600, "seed": 0, "steps_per_epoch": 1000}
    quick: ClassVar[dict] = {"steps": 1000, "episodes": 100, "steps_per_epoch": 500}

    @staticmethod
    def model_name(algorithm, k_shot):
        return f"{algorithm}-k{k_shot}"

    @staticmethod
    def split_name(name):
        """``(algorithm, K)`` of a model name."""
        algorithm, k_shot = name.rsplit("-k", 1)
        return algorithm, int(k_shot)

    def train(self, cfg, out_dir):
        models, walls = {}, {}
        for k_shot in cfg["k_shots"]:
            for algorithm in cfg["algorithms"]:
                keras.utils.set_random_seed(cfg["seed"])
                learner = sine_learner(algorithm, cfg["seed"], cfg["inner_lr"], max(cfg["eval_steps"]))
                learner.compile(optimizer=keras.optimizers.Adam(1e-3))
                tasks = sine_tasks(k_shot, k_shot, seed=cfg["seed"], meta_batch=cfg["meta_batch"])
                name = self.model_name(algorithm, k_shot)
                walls[name] = train(learner, tasks, cfg["steps"], out_dir, name, cfg["steps_per_epoch"])
                models[name] = learner
        return models, walls

    def evaluate(self, models, cfg):
        out = []
        for name, learner in models.items():
            algorithm, k_shot = self.split_name(name)
            for steps in cfg["eval_steps"]:
                learner.eval_steps = steps
                tasks = sine_tasks(k_shot, cfg["test_query"], seed=TEST_SEED, episodes=cfg["episodes"] // 25 + 1,
                                   meta_batch=25)
                result = meta_test(learner, tasks, cfg["episodes"], allow_fewer=True)
                print(f"{ALGORITHMS[algorithm]:>20} K={k_shot:<2} after {steps:>2} step(s): test MSE {result}")
                out.append((result, {
                    "model": name, "algorithm": ALGORITHMS[algorithm],
                    "dataset": "sine", "split": "held-out tasks", "way": None, "shot": k_shot,
                    "setting": f"{steps} step" + ("s" if steps > 1 else ""),
                    "budget": f"{cfg['steps']} meta-steps x {cfg['meta_batch']} tasks"}))
            learner.eval_steps = max(cfg["eval_steps"])
        return out

    def at_shot(self, models, cfg):
        """``(K, {algorithm: learner})`` for the models trained with K = 10 support points (or the first K)."""
        k_shot = 10 if 10 in cfg["k_shots"] else cfg["k_shots"][0]
        return k_shot, {self.split_name(name)[0]: learner for name, learner in models.items()
                        if self.split_name(name)[1] == k_shot}

    def plot(self, models, cfg, path):
        from hands_on_meta.plotting import plot_sine_adaptation

        k_shot, shown = self.at_shot(models, cfg)
        shown = {ALGORITHMS[algorithm]: learner for algorithm, learner in shown.items()}
        fig = plot_sine_adaptation(shown, k_shot=k_shot, steps=(0, *cfg["eval_steps"]), seed=TEST_SEED)
        fig.savefig(path, dpi=120, bbox_inches="tight")
        return path


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
