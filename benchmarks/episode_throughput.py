"""Episodes per second of the sampler on Omniglot, against what training consumes.

    HANDS_ON_META_DATA=../shared/data python benchmarks/episode_throughput.py

Prints the sampler's rate for 60-way 5-shot 5-query episodes (the ProtoNet training setting) and for
MAML meta-batches (32 x 5-way 1-shot 15-query), and the ratio to a ProtoNet training step on the same
episodes: the sampler must be many times faster than the step so it never starves it.
"""
import argparse
import time

import keras
import numpy as np

from hands_on_meta.datasets import load_omniglot
from hands_on_meta.episodes import episode_dataset
from hands_on_meta.layers import conv4
from hands_on_meta.learners import ProtoNet


def rate(dataset, n):
    iterator = iter(dataset)
    next(iterator)
    start = time.perf_counter()
    for _ in range(n):
        next(iterator)
    return n / (time.perf_counter() - start)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--episodes", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    train = load_omniglot("train", verbose=False)
    protonet = ProtoNet(conv4())
    protonet.compile(optimizer=keras.optimizers.Adam(1e-3))
    proto_data = episode_dataset(train, 60, 5, 5, seed=0)
    protonet.fit(proto_data, steps_per_epoch=3, epochs=1, verbose=0)  # trace once
    samples, steps, batches = [], [], []
    for _ in range(args.rounds):
        samples.append(rate(proto_data, args.episodes))
        batches.append(rate(episode_dataset(train, 5, 1, 15, seed=1, meta_batch=32), max(args.episodes // 10, 10)))
        start = time.perf_counter()
        protonet.fit(proto_data, steps_per_epoch=20, epochs=1, verbose=0)
        steps.append(20 / (time.perf_counter() - start))
    sample, step, batch = np.median(samples), np.median(steps), np.median(batches)
    print(f"RESULT sampler 60-way 5-shot 5-query: {sample:.0f} episodes/s (median of {args.rounds})")
    print(f"RESULT sampler MAML meta-batch 32 x 5-way 1-shot 15-query: {batch:.0f} meta-batches/s")
    print(f"RESULT ProtoNet training step, same episodes: {step:.2f} episodes/s")
    print(f"RESULT sampler / training step ratio: {sample / step:.0f}x")


if __name__ == "__main__":
    main()
