"""`python -m synth <generator> ...`: sample a generator's tasks into a dataset on disk.

    python -m synth h1 --horizon 5 --n 1000 --seed 0 --source builtin --out runs/h1_h5
    python -m synth h1 --horizon 3 --n 200 --source gsm8k:../shared/data/gsm8k/train.jsonl --out D
    python -m synth h1 --horizon 1 --n 500 --source gsm8k:../shared/data/gsm8k/test.jsonl \
        --purpose eval --out D

`--out DIR` holds a dataset that `datasets.load_from_disk(DIR)` reads (Task rows, see
synth/task.py); `--push-to-hub REPO` also publishes it. Adding a generator's subcommand is one
entry in SUBCOMMANDS: name -> (add_arguments(parser), make_tasks(args) -> list[Task]); the
common options --n, --seed, --out, --push-to-hub are added here for every subcommand.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable

from synth import keychain_cli
from synth.task import Task

log = logging.getLogger("synth")

CHUNK_TASKS = 500


def sample_with_progress(generator, level: dict[str, int], n: int, seed: int) -> list[Task]:
    """`generator.sample(level, n, seed)` behind a tqdm bar (chunked when it has sample_range)."""
    from tqdm import tqdm

    if not hasattr(generator, "sample_range"):
        with tqdm(total=n, desc=generator.name, unit="task") as bar:
            tasks = generator.sample(level, n, seed)
            bar.update(n)
        return tasks
    tasks: list[Task] = []
    with tqdm(total=n, desc=f"{generator.name} {level}", unit="task") as bar:
        for start in range(0, n, CHUNK_TASKS):
            stop = min(n, start + CHUNK_TASKS)
            tasks.extend(generator.sample_range(level, start, stop, seed))
            bar.update(stop - start)
    return tasks


# ---------------------------------------------------------------- h1
def _h1_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--horizon", type=int, required=True, help="problems per chain (>= 1)")
    parser.add_argument(
        "--source",
        default="builtin",
        help="builtin | gsm8k:PATH (or a plain JSONL path) | hub:ID[:CONFIG]",
    )
    parser.add_argument(
        "--purpose",
        choices=("train", "eval"),
        default="train",
        help="train refuses test splits; eval builds evaluation chains from them",
    )
    parser.add_argument("--split", default=None, help="Hub split (default train / test)")
    parser.add_argument("--limit", type=int, default=None, help="read only this many rows")
    parser.add_argument("--magnitude-ratio", type=float, default=3.0)
    parser.add_argument("--system-prompt", default=None)


def _h1_tasks(args: argparse.Namespace) -> list[Task]:
    from synth.h1 import H1Config, H1Generator

    config = H1Config(
        source=args.source,
        purpose=args.purpose,
        split=args.split,
        limit=args.limit,
        max_horizon=max(8, args.horizon),
        magnitude_ratio=args.magnitude_ratio,
        system_prompt=args.system_prompt,
    )
    generator = H1Generator(config)  # logs the source's acceptance summary
    return sample_with_progress(generator, {"horizon": args.horizon}, args.n, args.seed)


Subcommand = tuple[
    Callable[[argparse.ArgumentParser], None], Callable[[argparse.Namespace], list[Task]]
]
SUBCOMMANDS: dict[str, Subcommand] = {
    "h1": (_h1_arguments, _h1_tasks),
    "keychain": (keychain_cli.add_keychain_arguments, keychain_cli.keychain_tasks),
    "multihop": (keychain_cli.add_multihop_arguments, keychain_cli.multihop_tasks),
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m synth", description=__doc__.split("\n")[0])
    subparsers = parser.add_subparsers(dest="generator", required=True)
    for name, (add_arguments, _) in SUBCOMMANDS.items():
        sub = subparsers.add_parser(name, help=f"sample {name} tasks")
        sub.add_argument("--n", type=int, required=True, help="how many tasks")
        sub.add_argument("--seed", type=int, default=0)
        sub.add_argument("--out", required=True, help="directory for datasets.save_to_disk")
        sub.add_argument("--push-to-hub", default=None, metavar="REPO", help="also publish")
        add_arguments(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    args = build_parser().parse_args(argv)
    if args.n < 1:
        print(f"--n must be at least 1, got {args.n}", file=sys.stderr)
        return 2
    try:
        tasks = SUBCOMMANDS[args.generator][1](args)
    except ValueError as error:  # bad config or source: one line, no traceback
        print(f"{args.generator}: {error}", file=sys.stderr)
        return 2
    from synth.task import tasks_to_dataset

    dataset = tasks_to_dataset(tasks)
    dataset.save_to_disk(args.out)
    print(f"wrote {len(dataset)} {args.generator} tasks to {args.out}")
    if args.push_to_hub:
        dataset.push_to_hub(args.push_to_hub)
        print(f"pushed to https://huggingface.co/datasets/{args.push_to_hub}")
    return 0
