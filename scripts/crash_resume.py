"""Kill real training runs with SIGKILL and check that the rerun ends bit-identical to an uninterrupted run.

    HANDS_ON_META_DATA=../shared/data python scripts/crash_resume.py --kills 10       # both learners
    HANDS_ON_META_DATA=../shared/data python scripts/crash_resume.py --learner maml --kills 2

Learners: ``maml`` (recipe sine-maml, its MAML model, epochs of 10 meta-steps) and ``protonet``
(protonet-omniglot, its 1-shot model on 5-way episodes, epochs of 5 episodes), max(20, 3 x kills) epochs.
The kill points come from ``--seed``: distinct epochs, each killed a drawn delay (0-50 ms, within the next
epoch: in a training step, a log or checkpoint write, wherever that falls) after its checkpoint, except one, killed
inside the checkpoint write of its epoch (``HANDS_ON_META_KILL_IN_CHECKPOINT``). After each kill the run is
started again; the last start runs to the end. Prints a RESULT line per learner; exits 1 if any weight differs.
"""
import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

CHILD = """
import json, sys
import hands_on_meta
from hands_on_meta.recipes import get
recipe = get(sys.argv[1])
recipe.train(recipe.config(**json.loads(sys.argv[2])), sys.argv[3])
"""
LEARNERS = {  # recipe, settings, model name, steps per epoch
    "maml": ("sine-maml", {"algorithms": ["maml"]}, "maml-k10", 10),
    "protonet": ("protonet-omniglot", {"train": {"1shot": {"way": 5, "shot": 1, "query": 5}}}, "1shot", 5),
}


def start(learner, out_dir, epochs, kill_in_checkpoint=None):
    recipe, settings, _, per_epoch = LEARNERS[learner]
    settings = {**settings, "steps": epochs * per_epoch, "steps_per_epoch": per_epoch}
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    env.pop("HANDS_ON_META_KILL_IN_CHECKPOINT", None)
    if kill_in_checkpoint is not None:
        env["HANDS_ON_META_KILL_IN_CHECKPOINT"] = str(kill_in_checkpoint)
    return subprocess.Popen([sys.executable, "-c", CHILD, recipe, json.dumps(settings), str(out_dir)], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def epochs_done(out_dir, model, steps_per_epoch):
    """Epochs whose checkpoint is in place (all of them once the run is finished)."""
    done, state = out_dir / f"{model}.done.json", out_dir / f"{model}.backup" / "state.json"
    for path in (done, state):
        try:
            return json.loads(path.read_text())["steps"] // steps_per_epoch
        except (OSError, ValueError, KeyError):
            continue
    return 0


def run_with_kills(learner, out_dir, epochs, schedule, rng):
    """Start the run and kill it at each point of ``schedule`` (``(epoch, inside_checkpoint)``, epochs
    increasing): inside the checkpoint write of that epoch, or a drawn delay after its checkpoint; start it
    again after each kill; the last start runs to the end. Returns the kills, as (where, epoch)."""
    _, _, model, per_epoch = LEARNERS[learner]
    kills = []
    for epoch, inside_checkpoint in schedule:
        epoch = max(epoch, epochs_done(out_dir, model, per_epoch) + 1)
        if epoch >= epochs:
            break
        if inside_checkpoint:
            proc = start(learner, out_dir, epochs, kill_in_checkpoint=epoch)
            _, err = proc.communicate()
            assert proc.returncode == -signal.SIGKILL, err[-3000:]
            assert epochs_done(out_dir, model, per_epoch) == epoch - 1
            kills.append(("inside the checkpoint write of epoch", epoch))
            continue
        proc, reached, delay = start(learner, out_dir, epochs), None, rng.uniform(0.0, 0.05)
        while proc.poll() is None:
            if reached is None and epochs_done(out_dir, model, per_epoch) >= epoch:
                reached = time.perf_counter()
            if reached is not None and time.perf_counter() - reached >= delay:
                proc.send_signal(signal.SIGKILL)
                break
            time.sleep(0.005)
        _, err = proc.communicate()
        if proc.returncode != -signal.SIGKILL:  # it finished before the kill
            assert proc.returncode == 0, err[-3000:]
            return kills
        kills.append((f"{delay:.2f} s after the checkpoint of epoch", epoch))
    proc = start(learner, out_dir, epochs)
    _, err = proc.communicate()
    assert proc.returncode == 0, err[-3000:]
    return kills


def final_weights(out_dir, model):
    import keras

    import hands_on_meta  # noqa: F401  (registers the learners)

    learner = keras.models.load_model(out_dir / f"{model}.keras")
    return [np.asarray(v) for v in learner.weights] + [np.asarray(v) for v in learner.optimizer.variables]


def check(learner, kills, seed):
    """Run ``learner`` once straight and once with ``kills`` kill points (one of them inside a checkpoint
    write); True if the final weights and optimizer state are bit-identical."""
    rng = np.random.default_rng(seed)
    model, epochs = LEARNERS[learner][2], max(20, 3 * kills)
    epochs_killed = sorted(rng.choice(np.arange(1, epochs - 2), size=kills, replace=False).tolist())
    inside = int(rng.integers(kills)) if kills else -1
    schedule = [(epoch, i == inside) for i, epoch in enumerate(epochs_killed)]
    with tempfile.TemporaryDirectory() as tmp:
        straight, crashed = Path(tmp) / "straight", Path(tmp) / "crashed"
        run_with_kills(learner, straight, epochs, [], rng)
        done = run_with_kills(learner, crashed, epochs, schedule, rng)
        a, b = final_weights(straight, model), final_weights(crashed, model)
        same = len(a) == len(b) and all(x.shape == y.shape and np.array_equal(x, y) for x, y in zip(a, b))
        largest = max(float(np.max(np.abs(x - y))) if x.size else 0.0 for x, y in zip(a, b))
    for where, epoch in done:
        print(f"  {learner}: killed {where} {epoch}")
    print(f"RESULT {learner}: {len(done)} kill(s) in {epochs} epochs, final weights and optimizer state "
          f"{'bit-identical to' if same else f'DIFFER (max |diff| {largest:.3g}) from'} an uninterrupted run", flush=True)
    return same


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--learner", choices=sorted(LEARNERS), action="append")
    parser.add_argument("--kills", type=int, default=10)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    results = [check(learner, args.kills, args.seed) for learner in args.learner or sorted(LEARNERS)]
    return 0 if all(results) else 1


if __name__ == "__main__":
    sys.exit(main())
