"""``sine-maml``: MAML against a pretrained baseline on sine regression (Finn et al. 2017, sec. 5.1).

Both use an MLP 1-40-40-1 (ReLU), meta-batch 25, Adam 1e-3 and the same number of meta-steps. MAML
adapts with one SGD step (lr 0.01) in training; the baseline is trained on all tasks jointly
(``inner_steps=0``). At test both are fine-tuned on K support points with 1 and 10 SGD steps (lr
0.01) and scored by query MSE on 600 held-out tasks (a seed training never uses).
"""
from typing import ClassVar

import keras

from hands_on_meta.datasets.sine import sine_tasks
from hands_on_meta.evaluation import meta_test
from hands_on_meta.learners import MAML
from hands_on_meta.recipes import Recipe, register
from hands_on_meta.training import train

TEST_SEED = 10_000  # training draws tasks from seed cfg["seed"]; held-out tasks from this one


def sine_mlp(hidden=40, seed=0):
    """The MLP of the MAML paper's regression experiments: 1 -> 40 -> 40 -> 1, ReLU."""
    init = keras.initializers.GlorotUniform
    return keras.Sequential([
        keras.Input((1,)),
        keras.layers.Dense(hidden, activation="relu", kernel_initializer=init(seed)),
        keras.layers.Dense(hidden, activation="relu", kernel_initializer=init(seed + 1)),
        keras.layers.Dense(1, kernel_initializer=init(seed + 2)),
    ], name="sine_mlp")


@register
class SineMAML(Recipe):
    name = "sine-maml"
    description = "MAML vs pretrained baseline, sine regression, K-shot, 600 held-out tasks"
    defaults: ClassVar[dict] = {"k_shot": 10, "steps": 30000, "meta_batch": 25, "inner_lr": 0.01, "eval_steps": [1, 10],
                "episodes": 600, "seed": 0, "steps_per_epoch": 1000}
    quick: ClassVar[dict] = {"steps": 1000, "episodes": 100, "steps_per_epoch": 500}

    def build(self, cfg):
        common = {"task": "regression", "inner_lr": cfg["inner_lr"], "eval_steps": max(cfg["eval_steps"])}
        return {"maml": MAML(sine_mlp(seed=cfg["seed"]), inner_steps=1, **common, name="maml"),
                "pretrained": MAML(sine_mlp(seed=cfg["seed"]), inner_steps=0, **common, name="pretrained")}

    def train(self, cfg, out_dir):
        keras.utils.set_random_seed(cfg["seed"])
        models, walls = self.build(cfg), {}
        for name, learner in models.items():
            learner.compile(optimizer=keras.optimizers.Adam(1e-3))
            tasks = sine_tasks(cfg["k_shot"], cfg["k_shot"], seed=cfg["seed"], meta_batch=cfg["meta_batch"])
            walls[name] = train(learner, tasks, cfg["steps"], out_dir, name, cfg["steps_per_epoch"])
        return models, walls

    def evaluate(self, models, cfg):
        out = []
        for name, learner in models.items():
            for steps in cfg["eval_steps"]:
                learner.eval_steps = steps
                tasks = sine_tasks(cfg["k_shot"], cfg["k_shot"], seed=TEST_SEED, episodes=cfg["episodes"] // 25 + 1,
                                   meta_batch=25)
                result = meta_test(learner, tasks, cfg["episodes"], allow_fewer=True)
                print(f"{name:>10} K={cfg['k_shot']} after {steps:>2} step(s): test MSE {result}")
                out.append((result, {
                    "model": name, "algorithm": "MAML" if name == "maml" else "pretrained baseline",
                    "dataset": "sine", "split": "held-out tasks", "way": None, "shot": cfg["k_shot"],
                    "setting": f"{steps} step" + ("s" if steps > 1 else ""),
                    "budget": f"{cfg['steps']} meta-steps x {cfg['meta_batch']} tasks"}))
            learner.eval_steps = max(cfg["eval_steps"])
        return out

    def plot(self, models, cfg, path):
        from hands_on_meta.plotting import plot_sine_adaptation

        fig = plot_sine_adaptation(models, k_shot=cfg["k_shot"], steps=(0, *cfg["eval_steps"]), seed=TEST_SEED)
        fig.savefig(path, dpi=120, bbox_inches="tight")
        return path
