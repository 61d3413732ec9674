"""Meta-train a learner with ``fit()`` so an interruption loses nothing.

>>> # wall_s = train(learner, sine_tasks(meta_batch=25), steps=20000, out_dir="runs/sine", name="maml")
"""
import json
import math
import sys
import time
from pathlib import Path

import keras

from hands_on_meta.validation import check_int


def train(learner, episodes, steps, out_dir, name, steps_per_epoch=1000, verbose="auto"):
    """Run ``steps`` meta-steps of ``learner.fit`` on ``episodes`` and save ``out_dir/name.keras``.

    Callbacks: ``BackupAndRestore`` (a rerun after an interruption resumes from the last finished
    epoch), ``TerminateOnNaN`` and ``CSVLogger`` (``out_dir/name.log.csv``). Returns the training
    wall time in seconds, including the finished epochs of interrupted runs (``out_dir/name.wall.json``).
    A finished run leaves ``out_dir/name.done.json``; when it records the same ``steps``, the saved
    weights are loaded into ``learner`` instead of training again; when it records fewer (a multiple of
    ``steps_per_epoch``), training goes on from the saved weights and optimizer state up to ``steps``, as
    a resumed run would (the learning-rate schedule continues from the saved step; the wall time adds
    up). Delete ``done.json`` to retrain from scratch.
    """
    steps = check_int("steps", steps, 1)
    steps_per_epoch = min(check_int("steps_per_epoch", steps_per_epoch, 1), steps)
    if steps % steps_per_epoch:
        raise ValueError(f"steps ({steps}) must be a multiple of steps_per_epoch ({steps_per_epoch})")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    done, saved = out_dir / f"{name}.done.json", out_dir / f"{name}.keras"
    finished, finished_wall = 0, 0.0
    if done.is_file() and saved.is_file():
        info = json.loads(done.read_text())
        if info["steps"] == steps or (info["steps"] < steps and info["steps"] % steps_per_epoch == 0):
            if learner.optimizer is not None and not learner.optimizer.built:  # restore its state too, quietly
                learner.optimizer.build(getattr(learner, "outer_variables", learner.trainable_variables))
            learner.load_weights(saved)
            if info["steps"] == steps:
                return float(info["wall_s"])
            finished, finished_wall = info["steps"], float(info["wall_s"])
    backup, clock = out_dir / f"{name}.backup", out_dir / f"{name}.wall.json"
    # wall time of the epochs finished before an interruption (BackupAndRestore resumes after them)
    before = json.loads(clock.read_text())["wall_s"] if backup.exists() and clock.is_file() else finished_wall
    start = time.perf_counter()
    callbacks = [
        keras.callbacks.BackupAndRestore(str(backup)),
        keras.callbacks.TerminateOnNaN(),
        keras.callbacks.CSVLogger(str(out_dir / f"{name}.log.csv"), append=True),
        keras.callbacks.LambdaCallback(on_epoch_end=lambda epoch, logs: clock.write_text(
            json.dumps({"wall_s": round(before + time.perf_counter() - start, 1)}))),
    ]
    if verbose == "auto":  # a live bar on a terminal, one line per epoch in logs
        verbose = 1 if sys.stdout.isatty() else 2
    history = learner.fit(episodes, steps_per_epoch=steps_per_epoch, epochs=steps // steps_per_epoch,
                          initial_epoch=finished // steps_per_epoch, callbacks=callbacks, verbose=verbose)
    wall = before + time.perf_counter() - start
    if any(math.isnan(value) for value in history.history.get("loss", [])):
        raise FloatingPointError(f"training {name} produced a NaN loss; see {out_dir / (name + '.log.csv')}")
    learner.save(saved)
    done.write_text(json.dumps({"steps": steps, "wall_s": round(wall, 1)}))
    clock.unlink(missing_ok=True)
    return wall
