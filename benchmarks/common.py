"""Shared by the benchmarks: per-step timing inside ``fit()``, and alternating rounds against the
PyTorch reference (../shared/bench/torch_reference.py) run in separate processes."""
import re
import resource
import subprocess
import time
from pathlib import Path

import numpy as np

REFERENCE = Path(__file__).resolve().parents[2] / "shared" / "bench" / "torch_reference.py"
TORCH_PYTHON = str(Path(__file__).resolve().parents[2] / ".venv-torch" / "bin" / "python")


def timed_fit(learner, data, steps):
    """``(median seconds per step, seconds of the first step including tracing)`` of ``learner.fit``."""
    import keras

    start = time.perf_counter()
    learner.fit(data, steps_per_epoch=1, epochs=1, verbose=0)
    first = time.perf_counter() - start
    times = []

    class Timer(keras.callbacks.Callback):
        def on_train_batch_begin(self, batch, logs=None):
            self.t0 = time.perf_counter()

        def on_train_batch_end(self, batch, logs=None):
            times.append(time.perf_counter() - self.t0)

    learner.fit(data, steps_per_epoch=steps, epochs=1, verbose=0, callbacks=[Timer()])
    return float(np.median(times)), first


def max_rss_mb():
    """Peak resident memory of this process so far, in MB."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run(command):
    """Run a benchmark process; return ``(median_s, peak MB or None, its output)`` from its RESULT line."""
    out = subprocess.run(command, check=True, capture_output=True, text=True).stdout
    rss = re.search(r"maxrss_mb=([0-9.]+)", out)
    return float(re.search(r"median_s=([0-9.]+)", out).group(1)), rss and float(rss.group(1)), out


def alternate(rounds, reference_command, our_command, unit):
    """Run the reference and ours alternately ``rounds`` times; print each round and the median ratio."""
    theirs, mine = [], []
    for r in range(rounds):
        t, t_rss, _ = run(reference_command)
        m, _, line = run(our_command)
        theirs.append(t), mine.append(m)
        extra = line.split("RESULT", 1)[1].split("median_s=")[1].split(" ", 1)[1].strip()
        print(f"round {r + 1}: torch {t:.3f} s/{unit} ({t_rss} MB peak), hands_on_meta {m:.3f} s/{unit} ({extra})",
              flush=True)
    t, m = np.median(theirs), np.median(mine)
    return t, m
