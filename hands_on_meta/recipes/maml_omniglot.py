"""``maml-omniglot``: gradient-based meta-learners on Omniglot 5-way 1-shot and 5-shot (Vinyals split).

Network: conv4 with batch norm (fused kernel, exact second derivatives; transductive batch
statistics) and a 5-way linear head, as in Finn et al. 2017; learners from
:func:`~hands_on_meta.models.omniglot_learner`. One model per algorithm and shot, trained on 5-way
episodes of the train+val classes, ``meta_batch`` tasks per meta-step, Adam 1e-3 halved after 4,000
meta-steps (``lr_halve_every``; the papers keep it constant):

- ``maml``: second-order, 1 inner SGD step (the paper's 5-way setting);
- ``fomaml``: the same, first-order;
- ``meta-sgd``: per-parameter inner rates, learned, starting from ``inner_lr``;
- ``reptile``: 5 inner SGD steps on mini-batches of 10 of a 10-shot task (as Nichol et al.: Reptile's
  inner steps must see different examples), the mean of ``phi - phi_i`` fed to Adam; one model, tested
  at 1 and 5 shots (adapting on the whole support set);
- ``anil``: MAML adapting only the head; ``proto-maml``: the head starts from class prototypes;
- ``maml-running`` (1-shot only): MAML with ``batch_norm="running"``: its queries tested with moving
  statistics, each on its own, instead of the transductive batch statistics of every other model.

Inner learning rate 0.1 for every algorithm (``inner_lr``: one number, or ``{algorithm: rate}``), not
the MAML paper's 0.4. Training episodes have as many query examples per class as support examples.
1-shot models train 6,000 meta-steps, MAML and Meta-SGD 15,000 (``LONG``); 5-shot models, whose tasks
hold 50 images instead of 10, train 1,000; ``steps`` caps them all, for quick runs. RESULTS.md ("How
the settings were chosen") has the measurements behind these choices.

At test every model adapts with ``eval_steps`` inner steps (3, as the MAML paper) on the support set
and classifies 15 queries per class of 600 test-class episodes. The papers train 40-60k meta-steps
(MAML: 60k x 32 tasks); the default budget here is what 2 CPU cores allow and is stated in every record.
"""
import functools
from typing import ClassVar

from hands_on_meta.adversarial import UnderAttack
from hands_on_meta.models import OMNIGLOT_INNER_LR, omniglot_learner
from hands_on_meta.recipes import register
from hands_on_meta.recipes.fewshot import Evaluation, FewShotRecipe, ModelTraining
from hands_on_meta.transductive import Transductive

ALGORITHMS = {"maml": "MAML", "fomaml": "FOMAML", "meta-sgd": "Meta-SGD", "reptile": "Reptile", "anil": "ANIL",
              "proto-maml": "Proto-MAML", "adml": "ADML", "maml-running": "MAML (running batch-norm statistics)"}
INNER_LR = {alg: OMNIGLOT_INNER_LR for alg in ALGORITHMS}
ONE_SHOT = ["maml", "fomaml", "meta-sgd", "anil", "proto-maml"]
FIVE_SHOT = ["maml", "fomaml", "meta-sgd"]
LONG = ["maml", "meta-sgd"]  # 1-shot models trained 15,000 meta-steps
REPTILE = {"reptile-10shot": ModelTraining(5, 10, 1, steps=6000, learner="reptile")}  # 1 query per class
STANDARD = [*ONE_SHOT, "reptile"]  # the algorithms of a quick run


def _models(algorithms, shot, steps=None):
    """Training settings: 5-way, ``shot`` support and ``shot`` query examples per class."""
    return {f"{alg}-{shot}shot": ModelTraining(5, shot, shot, steps, learner=alg) for alg in algorithms}


@register
class MAMLOmniglot(FewShotRecipe):
    name = "maml-omniglot"
    algorithm = "MAML"
    description = "MAML, FOMAML, Meta-SGD, Reptile, ANIL, Proto-MAML on Omniglot 5-way 1/5-shot (+ MAML, running BN)"
    defaults: ClassVar[dict] = {
        **FewShotRecipe.defaults,
        "train": {**_models(ONE_SHOT, 1, 6000), **_models(LONG, 1, 15000), **REPTILE,
                  **_models(["maml-running"], 1, 6000), **_models(FIVE_SHOT, 5, 1000)},
        "eval": ([Evaluation(5, 1, f"{alg}-1shot") for alg in [*ONE_SHOT, "maml-running"]]
                 + [Evaluation(5, 1, "reptile-10shot")]
                 + [Evaluation(5, 5, f"{alg}-5shot") for alg in FIVE_SHOT] + [Evaluation(5, 5, "reptile-10shot")]),
        "steps": 15000, "steps_per_epoch": 100, "meta_batch": 32, "lr_halve_every": 4000,
        "inner_lr": INNER_LR, "adml_epsilon": 0.1, "eval_steps": 3, "batch_norm": "transductive",
    }
    quick: ClassVar[dict] = {"steps": 4, "steps_per_epoch": 2, "episodes": 20, "meta_batch": 2,
                             "train": {**_models(ONE_SHOT, 1), **REPTILE},
                             "eval": [Evaluation(5, 1, f"{alg}-1shot") for alg in ONE_SHOT]
                             + [Evaluation(5, 1, "reptile-10shot")]}

    def build(self, cfg, name, setting):
        if setting.learner not in ALGORITHMS:
            raise ValueError(f"model {name!r} of recipe {self.name!r} needs a learner, one of {sorted(ALGORITHMS)}; "
                             f"got {setting.learner!r}")
        return omniglot_learner(setting.learner, setting.way, self.inner_lr(cfg, setting.learner), cfg["eval_steps"],
                                cfg["batch_norm"], cfg["adml_epsilon"])

    def algorithm_of(self, cfg, model, variant=""):
        return ALGORITHMS[cfg["train"][model].learner]

    @staticmethod
    def inner_lr(cfg, algorithm):
        """``algorithm``'s inner learning rate: ``cfg["inner_lr"]`` is one number for every algorithm or
        ``{algorithm: rate}`` (algorithms it leaves out keep :data:`INNER_LR`)."""
        rates = cfg["inner_lr"]
        return {**INNER_LR, **rates}[algorithm] if isinstance(rates, dict) else rates

    def episode_options(self, cfg, name):
        return {"meta_batch": cfg["meta_batch"]}

    def budget(self, cfg, name):
        s = self.setting(cfg, name)
        return (f"{s.steps} meta-steps x {cfg['meta_batch']} episodes {s.way}-way {s.shot}-shot {s.query}-query "
                f"({cfg['split']} classes), inner lr {self.inner_lr(cfg, s.learner):g}, Adam {cfg['lr']:g}"
                + (f" halved every {s.halve_every}" if s.halve_every < s.steps else ""))


@register
class ADMLOmniglot(MAMLOmniglot):
    """``adml-omniglot``: ADML against MAML (same network, inner loop and budget) on 5-way 1-shot,
    tested on clean queries and on queries attacked with FGSM (:class:`~hands_on_meta.adversarial.UnderAttack`,
    pixels kept in [0, 1]) at each of ``attack_epsilons``. ADML trains with FGSM step ``adml_epsilon``.
    An ADML meta-step costs about two of MAML's (two adaptations and the attacks), so both models
    train 2,000 meta-steps at a constant rate: a comparison of robustness, not a reproduction of accuracy."""

    name = "adml-omniglot"
    description = "ADML vs MAML on Omniglot 5-way 1-shot, clean and under FGSM attack"
    defaults: ClassVar[dict] = {
        **MAMLOmniglot.defaults, "train": _models(["maml", "adml"], 1), "attack_epsilons": [0.05, 0.1, 0.2],
        "eval": None, "steps": 2000, "lr_halve_every": 10**9}
    quick: ClassVar[dict] = {**MAMLOmniglot.quick, "train": _models(["maml", "adml"], 1),
                             "attack_epsilons": [0.1], "eval": None}

    def config(self, quick=False, **overrides):
        cfg = super().config(quick, **overrides)
        if cfg["eval"] is None:
            cfg["eval"] = [Evaluation(5, 1, f"{alg}-1shot", variant, setting) for alg in ("maml", "adml")
                           for variant, setting in [("", "clean")] + [(f"fgsm{eps}", f"FGSM epsilon {eps}")
                                                                      for eps in cfg["attack_epsilons"]]]
        return cfg

    def variants(self, cfg):
        """Also ``"fgsm{epsilon}"`` for each of ``attack_epsilons``: queries attacked with FGSM, pixels kept in [0, 1]."""
        return {"transductive": Transductive,
                **{f"fgsm{eps}": functools.partial(UnderAttack, epsilon=eps, clip=(0.0, 1.0))
                   for eps in cfg["attack_epsilons"]}}
