"""Held-out scores of a model or a run: `python -m rl.eval --model M --data D [--data D2 ...]`.

    python -m rl.eval --model embedded --data h1:horizon=1,n=200 --samples 4
    python -m rl.eval --model runs/my-run --data data/h1-eval --data keychain:context_tokens=1024,\
num_chains=2,n=50,source=hotpotqa:../shared/data/multihop/hotpotqa_dev_distractor_500.jsonl \
        --samples 8 --temperature 0.6 --json scores.json

M is `embedded`, a Hub id, a model directory, a checkpoint directory, or a run directory (its
best policy, else its last checkpoint; rl/checkpoints.py). Each D is a data set (rl/eval_data.py).
Completions are sampled through the Ray rollout pool (vLLM workers; `--backend hf` for
transformers), scored with each record's own reward, and summarised per set, task and level
(rl/eval_metrics.py): pass@1 as avg@K, unbiased pass@k, mean response length, truncated share.
The training loop calls `evaluate` on its own pool (rl/eval_loop.py).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from rl.eval_data import EvalDataError, EvalSet, load_eval_set  # noqa: E402
from rl.eval_metrics import ItemResult, render_table, summarize_set  # noqa: E402

log = logging.getLogger("rl.eval")


def evaluate(
    pool: Any, sets: list[EvalSet], sampling: Any, solved_at: float = 1.0, show: int = 0
) -> dict:
    """Every set's summary: one generate call over all sets' prompts, each completion scored by
    its record's own reward (a reward that raises scores 0 and is counted in `reward_errors`).
    `show` prints the completions of each set's first items (a CLI aid)."""
    from rl.scoring import Scorer

    tasks = [task for eval_set in sets for task in eval_set.tasks]
    rollouts = iter(pool.generate([task.prompt for task in tasks], sampling))
    results = {}
    for eval_set in sets:
        scorer = Scorer({})  # no task overrides: each record's own reward
        items = []
        for index, task in enumerate(eval_set.tasks):
            rollout = next(rollouts)
            items.append(_score(scorer, task, rollout))
            if index < show:
                _print_item(task, rollout, items[-1])
        results[eval_set.name] = summarize_set(items, solved_at)
        results[eval_set.name]["reward_errors"] = scorer.errors
        results[eval_set.name]["reward_timeouts"] = scorer.timeouts
    return results


def _score(scorer: Any, task: Any, rollout: Any) -> ItemResult:
    from rl.collect import reward_columns

    completions = rollout.completions
    lengths = [len(c.token_ids) for c in completions]
    rewards = scorer.score(
        task.task, task, [c.text for c in completions], lengths, **reward_columns(task)
    )
    return ItemResult(
        task=task.task,
        level=dict(task.level),
        rewards=rewards,
        lengths=lengths,
        truncated=[c.finish_reason == "length" for c in completions],
    )


def _print_item(task: Any, rollout: Any, item: ItemResult) -> None:
    print(f"--- {task.id} (answer {task.answer!r})\n{task.prompt[-1]['content'][-300:]}")
    for completion, reward in zip(rollout.completions, item.rewards, strict=True):
        print(f"  [reward {reward:.2f}] {completion.text!r}")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m rl.eval",
        description=__doc__.split("\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--model", required=True, help="embedded | Hub id | model, checkpoint or run dir"
    )
    parser.add_argument(
        "--data",
        action="append",
        required=True,
        metavar="D",
        help="dataset dir | tasks.jsonl | NAME:axis=value,...,n=N,seed=S (repeat)",
    )
    parser.add_argument("--samples", type=int, default=4, help="completions per item (K)")
    parser.add_argument("--temperature", type=float, default=0.7)
    parser.add_argument("--top-p", type=float, default=1.0)
    parser.add_argument("--max-tokens", type=int, default=256, help="most new tokens per sample")
    parser.add_argument(
        "--seed", type=int, default=0, help="sampling seed (same seed, same samples)"
    )
    parser.add_argument(
        "--solved-at",
        type=float,
        default=1.0,
        help="a sample counts as solved for pass@k when its reward reaches this",
    )
    parser.add_argument("--backend", choices=("vllm", "hf"), default="vllm")
    parser.add_argument("--workers", type=int, default=1, help="rollout workers")
    parser.add_argument(
        "--cpus-per-worker",
        type=int,
        default=None,
        help="threads per CPU engine (default: every core, split over workers)",
    )
    parser.add_argument(
        "--show",
        type=int,
        default=0,
        metavar="N",
        help="print the completions of the first N items of each set",
    )
    parser.add_argument("--max-model-len", type=int, default=4096)
    parser.add_argument("--kv-cache-gib", type=float, default=0.5)
    parser.add_argument(
        "--tasks-from",
        metavar="RUN",
        default=None,
        help="a run directory whose tasks NAME:... specs may name (default: "
        "--model, when it is a run directory)",
    )
    parser.add_argument("--json", metavar="FILE", help="also write the scores as JSON")
    return parser.parse_args(argv)  # fmt: skip


def check_args(args: argparse.Namespace) -> None:
    """Numbers in range, as one ValueError line naming the flag."""
    if args.samples < 1:
        raise ValueError(f"--samples must be at least 1, got {args.samples}")
    if not 0 < args.temperature:
        raise ValueError(
            f"--temperature must be > 0 for sampled evaluation, got {args.temperature}"
        )
    if not 0 < args.top_p <= 1:
        raise ValueError(f"--top-p must lie in (0, 1], got {args.top_p}")
    if args.max_tokens < 1 or args.max_tokens >= args.max_model_len:
        raise ValueError(f"--max-tokens must lie in [1, --max-model-len), got {args.max_tokens}")
    if args.workers < 1:
        raise ValueError(f"--workers must be at least 1, got {args.workers}")
    if args.json:  # checked now, not after the whole evaluation
        from synth.paths import writable_folder

        target = Path(args.json)
        if target.is_dir() or not writable_folder(target.absolute().parent):
            raise ValueError(
                f"--json {args.json} cannot be written (give a file in a writable folder)"
            )


def run_eval(args: argparse.Namespace, model_path: str, sets: list[EvalSet]) -> dict:
    from cluster.config import RolloutConfig, SamplingConfig
    from cluster.pool import RolloutPool
    from cluster.ray_setup import init_ray, object_store_bytes, shutdown_ray

    cpus = args.cpus_per_worker or max(1, (os.cpu_count() or 1) // args.workers)
    rollout = RolloutConfig(
        backend=args.backend,
        num_workers=args.workers,
        cpus_per_worker=cpus,
        max_model_len=args.max_model_len,
        kv_cache_gib=args.kv_cache_gib,
    )
    sampling = SamplingConfig(
        n=args.samples,
        temperature=args.temperature,
        top_p=args.top_p,
        max_tokens=args.max_tokens,
        seed=args.seed,
    )
    started = init_ray(
        None, num_cpus=cpus * args.workers, object_store_memory=object_store_bytes(model_path)
    )
    try:
        with RolloutPool(rollout, model_path) as pool:
            return evaluate(pool, sets, sampling, args.solved_at, show=args.show)
    finally:
        shutdown_ray(started)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s",
                        datefmt="%H:%M:%S")  # fmt: skip
    from rl.checkpoints import model_directory

    try:
        check_args(args)
        model_path = model_directory(args.model)
        tasks = run_tasks(args.tasks_from or args.model, required=args.tasks_from is not None)
        sets = [load_eval_set(spec, tasks) for spec in args.data]
    except (EvalDataError, ValueError) as error:
        print(f"rl.eval: {error}", file=sys.stderr)
        return 2
    for eval_set in sets:
        if eval_set.skipped:
            log.warning("%s: skipped %s", eval_set.name, eval_set.skipped)
        log.info("%s: %d items", eval_set.name, len(eval_set.tasks))
    try:
        results = run_eval(args, model_path, sets)
    except ValueError as error:  # a request the engines refuse (a prompt longer than the context)
        print(f"rl.eval: {error}", file=sys.stderr)
        return 2
    print(f"model: {model_path}")
    print(render_table(results))
    if args.json:
        payload = {"model": model_path, "sampling": _sampling_record(args), "sets": results}
        Path(args.json).write_text(json.dumps(payload, indent=2) + "\n")
        print(f"scores written to {args.json}")
    return 0


def run_tasks(run: str, required: bool = False) -> dict[str, Any]:
    """The tasks of a run directory's config.yaml (so `--data h1:...` means its h1 task)."""
    path = Path(run).expanduser() / "config.yaml"
    if not path.is_file():
        if required:
            raise ValueError(f"--tasks-from {run}: no config.yaml there (not a run directory)")
        return {}
    from rl.config import RunConfig
    from rl.config_io import ConfigError, load_config

    try:
        return dict(load_config(RunConfig, path).tasks)
    except ConfigError as error:
        raise ValueError(f"{path}: {error}") from None


def _sampling_record(args: argparse.Namespace) -> dict[str, Any]:
    return {
        "samples": args.samples,
        "temperature": args.temperature,
        "top_p": args.top_p,
        "max_tokens": args.max_tokens,
        "seed": args.seed,
    }


if __name__ == "__main__":
    from rl.cli_guard import run_cli

    sys.exit(run_cli(main, "rl.eval"))
