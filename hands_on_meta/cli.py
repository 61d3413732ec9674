"""``hands-on-meta``: data, training, evaluation and reproduction from the shell.

    hands-on-meta data list                 # where each dataset is found
    hands-on-meta data verify omniglot      # structure and checksum checks
    hands-on-meta data fetch omniglot       # mirror/cache, else download
    hands-on-meta train sine-maml --out runs/sine
    hands-on-meta evaluate sine-maml --out runs/sine
    hands-on-meta reproduce sine-maml       # train + evaluate + record in results/ + plot
    hands-on-meta reproduce maml-omniglot --only maml-1shot   # one model of a recipe
    hands-on-meta results                   # regenerate RESULTS.md from results/*.jsonl
"""
import argparse
import json
import os
import shlex
import sys
import zipfile
from pathlib import Path


def _data(args):
    from hands_on_meta.datasets import registry

    if args.action == "list":
        for name, entry in registry.DATASETS.items():
            print(f"{name:10s} {entry.description}")
            for resource in entry.resources():
                print(f"{'':10s}   {resource.relpath:45s} {registry.where(resource)}")
        return 0
    if not args.name:
        raise ValueError(f"data {args.action} needs a dataset name, one of {sorted(registry.DATASETS)}")
    entry = registry.get(args.name)
    summary = entry.verify(download=args.action == "fetch")
    for key, value in summary.items():
        print(f"{key}: {value}")
    print(f"{args.name}: OK")
    return 0


def _recipe_args(args):
    overrides = {}
    for item in args.set or []:
        key, sep, value = item.partition("=")
        if not sep:
            raise ValueError(f"--set takes KEY=VALUE, got {item!r}")
        try:
            overrides[key] = json.loads(value)
        except json.JSONDecodeError:
            overrides[key] = value
    if getattr(args, "steps", None) is not None:
        overrides["steps"] = args.steps
    if getattr(args, "seed", None) is not None:
        overrides["seed"] = args.seed
    return overrides


def _config(recipe, args):
    cfg = recipe.config(args.quick, **_recipe_args(args))
    return recipe.select(cfg, args.only) if args.only else cfg


def _out_dir(args):
    return Path(args.out or Path("runs") / args.recipe)


def _train(args):
    from hands_on_meta import recipes

    recipe = recipes.get(args.recipe)
    cfg = _config(recipe, args)
    _, walls = recipe.train(cfg, _out_dir(args))
    for name, wall in walls.items():
        print(f"trained {name} in {wall:.0f} s -> {_out_dir(args) / (name + '.keras')}")
    return 0


def _evaluate(args):
    from hands_on_meta import recipes

    recipe = recipes.get(args.recipe)
    cfg = _config(recipe, args)
    recipe.evaluate(recipe.load(_out_dir(args), cfg), cfg)
    return 0


def _reproduce(args):
    from hands_on_meta import recipes
    from hands_on_meta.records import write_results_md

    command = shlex.join(["hands-on-meta", *args.argv])
    records, plot = recipes.reproduce(args.recipe, _out_dir(args), args.results, args.quick, command=command,
                                      only=args.only, **_recipe_args(args))
    print(f"recorded {len(records)} result(s) in {args.results}/")
    if plot:
        print(f"plot: {plot}")
    if not args.quick:
        print(f"table: {write_results_md(args.results, args.table)}")
    return 0


def _results(args):
    from hands_on_meta.records import write_results_md

    print(write_results_md(args.results, args.table))
    return 0


def build_parser():
    parser = argparse.ArgumentParser(prog="hands-on-meta", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    data = sub.add_parser("data", help="list, verify or fetch datasets")
    data.add_argument("action", choices=["list", "verify", "fetch"])
    data.add_argument("name", nargs="?", help="omniglot, faces, fsdd or esc10")
    data.set_defaults(func=_data)
    for name, func, text in [("train", _train, "train a recipe's models"),
                             ("evaluate", _evaluate, "meta-test a recipe's trained models"),
                             ("reproduce", _reproduce, "train, evaluate, record the result and plot")]:
        cmd = sub.add_parser(name, help=text)
        cmd.add_argument("recipe", help="a registered recipe, e.g. sine-maml")
        cmd.add_argument("--out", help="folder for models, logs and plots (default runs/RECIPE)")
        cmd.add_argument("--steps", type=int, help="meta-training steps (default: the recipe's)")
        cmd.add_argument("--seed", type=int, help="random seed (default 0)")
        cmd.add_argument("--quick", action="store_true", help="a small smoke-run budget")
        cmd.add_argument("--set", action="append", metavar="KEY=VALUE", help="override a recipe setting")
        cmd.add_argument("--only", action="append", metavar="MODEL",
                         help="only this model of the recipe (repeatable), e.g. maml-1shot of maml-omniglot")
        cmd.add_argument("--results", default="results", help="folder of result records (reproduce)")
        cmd.add_argument("--table", default="RESULTS.md", help="table regenerated after a full reproduce")
        cmd.set_defaults(func=func)
    results = sub.add_parser("results", help="regenerate RESULTS.md from results/*.jsonl")
    results.add_argument("--results", default="results")
    results.add_argument("--table", default="RESULTS.md")
    results.set_defaults(func=_results)
    sub.add_parser("recipes", help="list registered recipes").set_defaults(func=_recipes)
    return parser


def _recipes(args):
    from hands_on_meta import recipes

    recipes.load_all()
    for name, recipe in sorted(recipes.RECIPES.items()):
        print(f"{name:16s} {recipe.description}")
    return 0


def main(argv=None):
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    argv = sys.argv[1:] if argv is None else list(argv)
    args = build_parser().parse_args(argv)
    args.argv = argv
    try:
        return args.func(args)
    except (ValueError, OSError, FloatingPointError, zipfile.BadZipFile) as err:  # errors a user can act on
        kind = "" if isinstance(err, ValueError | FileNotFoundError) else f"{type(err).__name__}: "
        print(f"hands-on-meta: error: {kind}{err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("hands-on-meta: interrupted; the same command goes on from the last finished epoch", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
