"""`python -m synth filter`: keep the records a model solves only sometimes, judged by its own
pass rate (LoongRL §3.1: 8 samples per item, items solved 0/8 or 8/8 dropped, 277K -> 72K).

    python -m synth filter --data data/kc --model embedded --samples 8 \\
        --drop-solved --drop-unsolved --out data/kc-filtered
    python -m rl.filter ...                                  # the same command

`--data` is anything the `records` source reads (synth/record_files.py): a dataset directory,
a JSONL file of Task records, or hub:ID. Every record's prompt is sampled `--samples` times
through the Ray rollout pool (cluster/pool.py), each completion scored with the record's own
reward (rl/scoring.py, as a run scores it) and counted solved when its reward reaches
`--solve-threshold`. The kept records are written unchanged but for `meta.filter` (model,
samples, solved), one config per level as `python -m synth --out` writes them, with a card
(synth/card.py) whose "Pass-rate filter" section holds the histogram of solved counts.

It lives in rl/ because it drives Ray and the scorer, which synth may not import;
synth/__main__.py (a composition root) routes `python -m synth filter` here.

Departures from LoongRL: the paper samples each seed question on its original short context
with Qwen2.5-32B-Instruct (T=1.0, 2,048 tokens) and scores "covered exact match"; this filters
records as they are (long context included) with the model and reward given.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections import Counter
from pathlib import Path
from typing import Any

log = logging.getLogger("rl.filter")


def build_parser() -> argparse.ArgumentParser:
    from synth.cli import add_model_flags

    parser = argparse.ArgumentParser(
        prog="python -m synth filter",
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    data = parser.add_argument_group("data")
    data.add_argument("--data", required=True, help="dataset directory, JSONL of records, hub:ID")
    data.add_argument("--out", required=True, help="directory for the kept records")
    data.add_argument("--overwrite", action="store_true", help="replace a dataset in --out")
    judge = parser.add_argument_group("pass rate")
    judge.add_argument("--samples", type=int, default=8, help="completions per record")
    judge.add_argument("--drop-solved", action="store_true", help="drop records solved n/n")
    judge.add_argument("--drop-unsolved", action="store_true", help="drop records solved 0/n")
    judge.add_argument(
        "--solve-threshold", type=float, default=1.0, help="a reward this high is solved"
    )
    judge.add_argument("--max-tokens", type=int, default=1024, help="tokens per completion")
    judge.add_argument("--temperature", type=float, default=1.0, help="sampling temperature")
    judge.add_argument("--top-p", type=float, default=1.0, help="nucleus mass")
    judge.add_argument("--seed", type=int, default=0, help="sampling seed")
    judge.add_argument("--batch-prompts", type=int, default=64, help="prompts per generate call")
    add_model_flags(parser.add_argument_group("model (served by the Ray rollout pool)"))
    return parser


def check_args(args: argparse.Namespace) -> None:
    """Every flag a user can get wrong, before Ray starts; ValueError: one line."""
    from synth.publish import check_out_dir

    if args.samples < 1 or args.batch_prompts < 1 or args.max_tokens < 1:
        raise ValueError("--samples, --batch-prompts and --max-tokens must be at least 1")
    if args.drop_solved and args.drop_unsolved and args.samples < 2:
        raise ValueError("--samples 1 with both --drop-solved and --drop-unsolved keeps nothing")
    if args.max_tokens >= args.max_model_len:
        raise ValueError(f"--max-tokens {args.max_tokens} leaves no room in --max-model-len")
    check_out_dir(Path(args.out), args.overwrite)


def solved_counts(pool: Any, tasks: list, args: argparse.Namespace) -> list[int]:
    """How many of each record's `--samples` completions its reward counts solved."""
    from tqdm import tqdm

    from cluster.config import SamplingConfig
    from rl.collect import reward_columns
    from rl.scoring import Scorer

    sampling = SamplingConfig(
        n=args.samples,
        max_tokens=args.max_tokens,
        temperature=args.temperature,
        top_p=args.top_p,
        seed=args.seed,
    )
    scorer, counts = Scorer({}), []
    for start in tqdm(range(0, len(tasks), args.batch_prompts), desc="filter", unit="batch"):
        chunk = tasks[start : start + args.batch_prompts]
        rollouts = pool.generate([task.prompt for task in chunk], sampling)
        for task, rollout in zip(chunk, rollouts, strict=True):
            texts = [completion.text for completion in rollout.completions]
            lengths = [len(completion.token_ids) for completion in rollout.completions]
            rewards = scorer.score(task.task, task, texts, lengths, **reward_columns(task))
            counts.append(sum(reward >= args.solve_threshold for reward in rewards))
    if scorer.errors or scorer.timeouts:
        log.warning("rewards raised %d and hung %d times", scorer.errors, scorer.timeouts)
    return counts


def kept(count: int, samples: int, args: argparse.Namespace) -> bool:
    return not (args.drop_solved and count == samples) and not (args.drop_unsolved and count == 0)


def histogram_section(counts: list[int], args: argparse.Namespace) -> list[str]:
    """The card's section: records by solved count, which were kept, the settings."""
    samples, tally = args.samples, Counter(counts)
    lines = [
        "## Pass-rate filter",
        "",
        f"Each record was sampled {samples} times with `{args.model}` (temperature "
        f"{args.temperature}, top-p {args.top_p}, {args.max_tokens} tokens, seed {args.seed}) "
        f"and scored with its own reward; a completion is solved at reward >= "
        f"{args.solve_threshold}. Read from `{args.data}`: {len(counts):,} records.",
        "",
        f"| solved of {samples} | records | kept |",
        "|---:|---:|---|",
    ]
    for count in range(samples + 1):
        lines.append(
            f"| {count} | {tally[count]:,} | {'yes' if kept(count, samples, args) else 'no'} |"
        )
    return [*lines, ""]


def write_kept(tasks: list, counts: list[int], args: argparse.Namespace, argv: list[str]) -> int:
    """The kept records to --out with their card; how many were kept."""
    from datasets import Dataset

    from synth.card import CardInputs, CardLevel, config_name, dataset_card
    from synth.publish import write_local
    from synth.records import RecordsGenerator

    levels: dict[str, CardLevel] = {}
    for task, count in zip(tasks, counts, strict=True):
        if not kept(count, args.samples, args):
            continue
        meta = task.meta_dict()
        meta["filter"] = {"model": args.model, "samples": args.samples, "solved": count}
        row = task.model_copy(update={"meta": json.dumps(meta)}).to_row()
        name = config_name(task.level)
        levels.setdefault(name, CardLevel(name, dict(task.level), [])).rows.append(row)
    total = sum(len(level.rows) for level in levels.values())
    if not total:
        return 0
    configs = {name: Dataset.from_list(level.rows) for name, level in levels.items()}
    inputs = CardInputs(
        RecordsGenerator(path=args.data),
        list(levels.values()),
        "train",
        total,
        args.seed,
        ["python", "-m", "synth", "filter", *argv],
        datasets=configs,
        notes=histogram_section(counts, args),
    )
    write_local(Path(args.out), configs, dataset_card(inputs), args.overwrite)
    return total


def main(argv: list[str] | None = None) -> int:
    from rl.completions import pool_session, settings_from_flags
    from synth.cli import MODEL_FLAGS
    from synth.record_files import read_records

    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser().parse_args(argv)
    try:
        check_args(args)
        settings = settings_from_flags({key: getattr(args, key) for key in MODEL_FLAGS})
        tasks, skipped = read_records(args.data)
    except ValueError as error:
        print(f"filter: {error}", file=sys.stderr)
        return 2
    if skipped:
        log.warning("%s: skipped %s", args.data, skipped)
    with pool_session(settings) as pool:
        counts = solved_counts(pool, tasks, args)
    total = write_kept(tasks, counts, args, argv)
    tally = ", ".join(f"{k}/{args.samples}: {v}" for k, v in sorted(Counter(counts).items()))
    print(f"solved counts: {tally}")
    if not total:
        print(f"filter: no record kept of {len(tasks):,}; nothing written", file=sys.stderr)
        return 2
    print(f"kept {total:,} of {len(tasks):,} records in {args.out}")
    return 0


if __name__ == "__main__":
    from rl.cli_guard import run_cli

    sys.exit(run_cli(main, "rl.filter"))
