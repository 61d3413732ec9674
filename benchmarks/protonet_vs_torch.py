"""ProtoNet training speed against the PyTorch reference (../shared/bench/torch_reference.py).

    HANDS_ON_META_DATA=../shared/data python benchmarks/protonet_vs_torch.py --torch-python ../.venv-torch/bin/python

Setting (the reference's): conv4 encoder (64-d), 60-way 5-shot 5-query episodes of 28x28x1 images,
squared Euclidean distance, Adam 1e-3. Each round runs, in separate processes and alternating, the
reference and this project's ``ProtoNet.fit`` on real Omniglot episodes from the episode pipeline
(so the sampler is included on our side; the reference times the step on a fixed random batch).
Prints the median seconds per episode of each and their ratio (reference / ours: > 1 means faster).
"""
import argparse
import re
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

import hands_on_meta  # noqa: F401  (first: it turns TensorFlow's oneDNN kernels on before TensorFlow loads)

REFERENCE = Path(__file__).resolve().parents[2] / "shared" / "bench" / "torch_reference.py"


def ours(steps):
    """Median seconds per training episode of ProtoNet.fit on real 60-way 5-shot 5-query episodes."""
    import keras

    from hands_on_meta.datasets import load_omniglot
    from hands_on_meta.episodes import episode_dataset
    from hands_on_meta.layers import conv4
    from hands_on_meta.learners import ProtoNet

    keras.utils.set_random_seed(0)
    protonet = ProtoNet(conv4(batch_norm="fused"))
    protonet.compile(optimizer=keras.optimizers.Adam(1e-3))
    episodes = episode_dataset(load_omniglot("train", verbose=False), 60, 5, 5, seed=0)
    start = time.perf_counter()
    protonet.fit(episodes, steps_per_epoch=1, epochs=1, verbose=0)  # tracing
    first = time.perf_counter() - start
    times = []

    class Timer(keras.callbacks.Callback):
        def on_train_batch_begin(self, batch, logs=None):
            self.t0 = time.perf_counter()

        def on_train_batch_end(self, batch, logs=None):
            times.append(time.perf_counter() - self.t0)

    protonet.fit(episodes, steps_per_epoch=steps, epochs=1, verbose=0, callbacks=[Timer()])
    return float(np.median(times)), first


def run(command):
    out = subprocess.run(command, check=True, capture_output=True, text=True).stdout
    return float(re.search(r"median_s=([0-9.]+)", out).group(1)), out


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--torch-python", default=str(Path(__file__).resolve().parents[2] / ".venv-torch/bin/python"))
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        median, first = ours(args.steps)
        print(f"RESULT impl=hands_on_meta setting=protonet median_s={median:.4f} first_s={first:.1f}")
        return
    theirs, mine = [], []
    for r in range(args.rounds):
        t, _ = run([args.torch_python, str(REFERENCE), "protonet", "--steps", str(args.steps)])
        m, line = run([sys.executable, __file__, "--child", "--steps", str(args.steps)])
        theirs.append(t), mine.append(m)
        print(f"round {r + 1}: torch {t:.3f} s/episode, hands_on_meta {m:.3f} s/episode "
              f"({line.split('first_s=')[1].strip()} s first step)", flush=True)
    t, m = np.median(theirs), np.median(mine)
    print(f"RESULT protonet 60-way 5-shot 5-query: torch {t:.3f} s/episode, hands_on_meta {m:.3f} s/episode, "
          f"speed-up {t / m:.2f}x (median of {args.rounds} alternating rounds)")


if __name__ == "__main__":
    main()
