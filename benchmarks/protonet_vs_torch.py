"""ProtoNet training speed against the PyTorch reference (../shared/bench/torch_reference.py).

    HANDS_ON_META_DATA=../shared/data python benchmarks/protonet_vs_torch.py --torch-python ../.venv-torch/bin/python

Setting (the reference's): conv4 encoder (64-d), 60-way 5-shot 5-query episodes of 28x28x1 images,
squared Euclidean distance, Adam 1e-3. Each round runs, in separate processes and alternating, the
reference and this project's ``ProtoNet.fit`` on real Omniglot episodes from the episode pipeline
(so the sampler is included on our side; the reference times the step on a fixed random batch).
Prints the median seconds per episode of each and their ratio (reference / ours: > 1 means faster).
"""
import argparse
import sys

from common import REFERENCE, TORCH_PYTHON, alternate, timed_fit

import hands_on_meta  # noqa: F401  (first: it turns TensorFlow's oneDNN kernels on before TensorFlow loads)


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
    return timed_fit(protonet, episode_dataset(load_omniglot("train", verbose=False), 60, 5, 5, seed=0), steps)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--torch-python", default=TORCH_PYTHON)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        median, first = ours(args.steps)
        print(f"RESULT impl=hands_on_meta setting=protonet median_s={median:.4f} first_s={first:.1f}")
        return
    t, m = alternate(args.rounds, [args.torch_python, str(REFERENCE), "protonet", "--steps", str(args.steps)],
                     [sys.executable, __file__, "--child", "--steps", str(args.steps)], "episode")
    print(f"RESULT protonet 60-way 5-shot 5-query: torch {t:.3f} s/episode, hands_on_meta {m:.3f} s/episode, "
          f"speed-up {t / m:.2f}x (median of {args.rounds} alternating rounds)")


if __name__ == "__main__":
    main()
