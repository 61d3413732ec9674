"""Meta-train a learner with ``fit()`` so that a crash loses at most the current epoch and a resumed run
ends bit for bit where an uninterrupted one would.

Every file is written to a temporary file and renamed (a reader sees the old file or the new one,
never a part of one). After each epoch the weights and optimizer state go to
``out_dir/NAME.backup/epoch-N.weights.h5``, then ``state.json`` names them: that rename is the moment
the epoch counts. A rerun loads them and draws the episodes the interrupted run had not reached.

>>> # wall_s = train(learner, lambda start: sine_tasks(meta_batch=25, start=start), 20000, "runs/sine", "maml")
"""
import csv
import io
import json
import math
import os
import shutil
import signal
import sys
import time
from pathlib import Path

import keras

from hands_on_meta.files import read_json, save_atomic, write_atomic
from hands_on_meta.validation import check_int

KILL_IN_CHECKPOINT = "HANDS_ON_META_KILL_IN_CHECKPOINT"  # tests: SIGKILL inside the checkpoint of this epoch


def read_state(path):
    """The state saved in ``path`` (a done.json or a checkpoint's state.json)."""
    return read_json(path, "delete it to train that run again")


def load_into(learner, path):
    """Load the weights (and optimizer state) saved in ``path`` into ``learner``."""
    if learner.optimizer is not None and not learner.optimizer.built:  # restore its state too, quietly
        learner.optimizer.build(getattr(learner, "outer_variables", learner.trainable_variables))
    try:
        learner.load_weights(path)
    except Exception as err:  # noqa: BLE001  (h5py, zipfile and Keras raise many kinds)
        raise ValueError(f"{path} cannot be loaded ({type(err).__name__}: {err}); delete it (and its "
                         f"done.json, if any) to train that run again") from None


class Checkpoint(keras.callbacks.Callback):
    """After each epoch: the log row, the weights with the optimizer state, then ``state.json`` naming
    them (steps done, wall time so far); older weights are removed once the new state is in place."""

    def __init__(self, folder, log, steps_per_epoch, wall_before):
        super().__init__()
        self.folder, self.log, self.steps_per_epoch = Path(folder), Path(log), steps_per_epoch
        self.wall_before, self.start = wall_before, time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        write_atomic(self.log, log_with_row(self.log, epoch, logs or {}))
        self.folder.mkdir(parents=True, exist_ok=True)
        weights = self.folder / f"epoch-{epoch + 1}.weights.h5"

        def save(tmp):
            self.model.save_weights(tmp)
            if os.environ.get(KILL_IN_CHECKPOINT) == str(epoch + 1):
                os.kill(os.getpid(), signal.SIGKILL)

        save_atomic(weights, save)
        write_atomic(self.folder / "state.json", json.dumps({
            "steps": (epoch + 1) * self.steps_per_epoch, "weights": weights.name,
            "wall_s": round(self.wall_before + time.perf_counter() - self.start, 1)}))
        for old in self.folder.glob("epoch-*.weights.h5"):
            if old != weights:
                old.unlink()


class StopOnNonFiniteLoss(keras.callbacks.Callback):
    """Raise ``FloatingPointError`` at the first meta-step whose loss is NaN or infinite, before the
    epoch is checkpointed."""

    def __init__(self, name, log, steps_per_epoch):
        super().__init__()
        self.name, self.log, self.steps_per_epoch, self.epoch = name, log, steps_per_epoch, 0

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        loss = float((logs or {}).get("loss", 0.0))
        if not math.isfinite(loss):
            step = self.epoch * self.steps_per_epoch + batch + 1
            raise FloatingPointError(f"training {self.name}: the mean loss became {loss} at meta-step {step}; "
                                     f"nothing of that epoch is kept (the log of the epochs before: {self.log})")


def log_with_row(path, epoch, logs):
    """The CSV log in ``path`` with the row of ``epoch`` (0-based) appended and rows of later epochs dropped."""
    rows, fields = [], ["epoch", *sorted(logs)]
    if path.is_file():
        reader = csv.DictReader(io.StringIO(path.read_text()))
        rows = [row for row in reader if int(row["epoch"]) < epoch]
        fields = (reader.fieldnames or []) + [key for key in fields if key not in (reader.fieldnames or [])]
    rows.append({"epoch": epoch, **{key: repr(float(value)) for key, value in logs.items()}})
    out = io.StringIO()
    writer = csv.DictWriter(out, fields, restval="NA", lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue()


def train(learner, episodes, steps, out_dir, name, steps_per_epoch=1000, verbose="auto", callbacks=()):
    """Run ``steps`` meta-steps of ``learner.fit`` and save ``out_dir/name.keras``; return the training
    wall time in seconds, the finished epochs of interrupted runs included.

    ``episodes``: a function ``start -> dataset`` giving the training stream from meta-step ``start``
    on (e.g. ``lambda start: episode_dataset(..., start=start)``), or a dataset (a resumed run then
    skips the elements it has used). The log of every epoch is ``out_dir/name.log.csv``. A rerun after
    an interruption resumes after the last finished epoch (module docstring). A finished run leaves
    ``out_dir/name.done.json``; when it records the same ``steps``, the saved weights are loaded
    into ``learner`` instead of training again; when it records fewer (a multiple of
    ``steps_per_epoch``), training goes on from the saved weights and optimizer state up to ``steps``
    (the learning-rate schedule continues; the wall time adds up). Delete ``done.json`` to retrain from
    scratch. A NaN or infinite loss stops the run with ``FloatingPointError``; it is not marked finished.
    ``callbacks``: more Keras callbacks, run before the checkpoint, so what they add to an epoch's logs
    is in its log row.
    """
    steps = check_int("steps", steps, 1)
    steps_per_epoch = min(check_int("steps_per_epoch", steps_per_epoch, 1), steps)
    if steps % steps_per_epoch:
        raise ValueError(f"steps ({steps}) must be a multiple of steps_per_epoch ({steps_per_epoch})")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    done, saved = out_dir / f"{name}.done.json", out_dir / f"{name}.keras"
    backup, log = out_dir / f"{name}.backup", out_dir / f"{name}.log.csv"
    finished, wall_before = 0, 0.0
    if done.is_file():
        info = read_state(done)
        if not saved.is_file():
            raise FileNotFoundError(f"{done} says the run is finished but {saved} is missing; delete {done} "
                                    "to train it again")
        if info["steps"] == steps or (info["steps"] < steps and info["steps"] % steps_per_epoch == 0):
            load_into(learner, saved)
            if info["steps"] == steps:
                return float(info["wall_s"])
            finished, wall_before = info["steps"], float(info["wall_s"])
    state = backup / "state.json"
    if state.is_file() and read_state(state)["steps"] > finished:  # an interrupted run: go on after its last epoch
        info = read_state(state)
        if info["steps"] > steps or info["steps"] % steps_per_epoch:
            raise ValueError(f"{backup} holds a run interrupted after {info['steps']} meta-steps, which does not fit "
                             f"steps={steps} with steps_per_epoch={steps_per_epoch}; rerun with the settings it "
                             f"was started with, or delete {backup} to start again")
        load_into(learner, backup / info["weights"])
        finished, wall_before = info["steps"], float(info["wall_s"])
    stream = episodes(finished) if callable(episodes) else episodes.skip(finished)
    if verbose == "auto":  # a live bar on a terminal, one line per epoch in logs
        verbose = 1 if sys.stdout.isatty() else 2
    start = time.perf_counter()
    learner.fit(stream, steps_per_epoch=steps_per_epoch, epochs=steps // steps_per_epoch,
                initial_epoch=finished // steps_per_epoch, verbose=verbose,
                callbacks=[*callbacks, StopOnNonFiniteLoss(name, log, steps_per_epoch),
                           Checkpoint(backup, log, steps_per_epoch, wall_before)])
    wall = wall_before + time.perf_counter() - start
    save_atomic(saved, learner.save)
    write_atomic(done, json.dumps({"steps": steps, "wall_s": round(wall, 1)}))
    shutil.rmtree(backup, ignore_errors=True)
    return wall
