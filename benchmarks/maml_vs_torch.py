"""MAML meta-training speed and memory against the PyTorch reference (../shared/bench/torch_reference.py).

    HANDS_ON_META_DATA=../shared/data python benchmarks/maml_vs_torch.py --order so fo --rounds 3
    HANDS_ON_META_DATA=../shared/data python benchmarks/maml_vs_torch.py --flat 100 1000   # memory growth

Setting (the reference's): conv4 (64 filters, batch norm on batch statistics) with a 5-way head,
5-way 1-shot episodes with 15 queries per class, meta-batch 32, one inner SGD step of lr 0.4,
Adam 1e-3; second-order (``so``) or first-order (``fo``). Ours: ``MAML.fit`` on real Omniglot
episodes from the episode pipeline; ``--jit`` compiles the step with XLA. Each round runs the
reference and ours alternately in separate processes. Prints median seconds per meta-step, the
ratio (reference / ours: > 1 means faster), our first meta-step (tracing included) and both peak
resident memories. ``--flat A B`` instead trains ours for B meta-steps and prints the resident
memory after A and after B.
"""
import argparse
import sys

from common import REFERENCE, TORCH_PYTHON, alternate, max_rss_mb, timed_fit

import hands_on_meta  # noqa: F401  (first: it turns TensorFlow's oneDNN kernels on before TensorFlow loads)


def learner_and_data(first_order, jit=False, parallel=None, strategy=None):
    import keras

    from hands_on_meta.datasets import load_omniglot
    from hands_on_meta.episodes import episode_dataset
    from hands_on_meta.layers import conv4
    from hands_on_meta.learners import MAML

    keras.utils.set_random_seed(0)
    options = {"parallel_tasks": parallel} if parallel else {}
    if strategy:
        options["meta_gradients"] = strategy
    maml = MAML(conv4(outputs=5), inner_lr=0.4, inner_steps=1, first_order=first_order, **options)
    maml.compile(optimizer=keras.optimizers.Adam(1e-3), jit_compile=jit)
    return maml, episode_dataset(load_omniglot("train", verbose=False), 5, 1, 15, seed=0, meta_batch=32)


def resident_mb():
    """Current resident memory of this process in MB (Linux)."""
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("VmRSS")) / 1024


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--torch-python", default=TORCH_PYTHON)
    parser.add_argument("--order", nargs="+", default=["so", "fo"], choices=["so", "fo"])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--jit", action="store_true", help="XLA-compile our meta-step")
    parser.add_argument("--parallel", type=int, help="tasks processed at once (default: MAML's parallel_tasks)")
    parser.add_argument("--strategy", choices=["per_task", "one_tape"],
                        help="how meta-gradients are taken (default: MAML's meta_gradients)")
    parser.add_argument("--flat", nargs=2, type=int, metavar=("A", "B"), help="resident memory after A and B steps")
    parser.add_argument("--child", choices=["so", "fo"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.flat:
        maml, data = learner_and_data(first_order=False, jit=args.jit, parallel=args.parallel, strategy=args.strategy)
        first, total = args.flat
        maml.fit(data, steps_per_epoch=first, epochs=1, verbose=0)
        after_first = resident_mb()
        maml.fit(data, steps_per_epoch=total - first, epochs=1, verbose=0)
        after_total = resident_mb()
        print(f"RESULT resident memory after {first} meta-steps {after_first:.0f} MB, after {total} "
              f"{after_total:.0f} MB, ratio {after_total / after_first:.3f}")
        return
    if args.child:
        maml, data = learner_and_data(args.child == "fo", args.jit, args.parallel, args.strategy)
        median, first = timed_fit(maml, data, args.steps)
        print(f"RESULT impl=hands_on_meta setting=maml-{args.child} median_s={median:.4f} first_s={first:.1f} "
              f"maxrss_mb={max_rss_mb():.0f}")
        return
    for order in args.order:
        ours = ([sys.executable, __file__, "--child", order, "--steps", str(args.steps)] + (["--jit"] if args.jit else [])
                + (["--parallel", str(args.parallel)] if args.parallel else [])
                + (["--strategy", args.strategy] if args.strategy else []))
        t, m = alternate(args.rounds, [args.torch_python, str(REFERENCE), f"maml-{order}", "--steps", str(args.steps)],
                         ours, "meta-step")
        print(f"RESULT maml-{order} 5-way 1-shot meta-batch 32{' (XLA)' if args.jit else ''}: torch {t:.3f} s/meta-step, "
              f"hands_on_meta {m:.3f} s/meta-step, speed-up {t / m:.2f}x (median of {args.rounds} alternating rounds)",
              flush=True)


if __name__ == "__main__":
    main()
