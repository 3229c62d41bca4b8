"""Seconds per GRPO step: our loop (Ray + vLLM CPU worker + Learner actor) vs TRL's GRPOTrainer.

Run: `python benchmarks/grpo_step.py [--steps 2] [--warmup-steps 1]` (about 15 minutes on 2
cores). Same model (the embedded SmolLM2-135M), same prompts (h1 horizon-1 chains from the
built-in source, exactly the ones our loop draws), same group size, completion length, batch
and loss (Dr.GRPO), same cheap length-parity reward. A step is: generate, score, one optimizer
update, and for ours also the weight sync into the engine. Engine/model start-up is excluded
for both. It also reports the peak memory (summed PSS, benchmarks/peak_memory.py) of our whole
process tree (driver, Ray, worker, learner) at this shape; the embedded default's is measured by
benchmarks/peak_memory.py.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import tempfile
from contextlib import nullcontext
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from peak_memory import TreeMemory  # noqa: E402  (benchmarks/ is on sys.path above)

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"


# Overrides for a timed run: one fixed level, no replay or probe prompts, no evaluation, no
# wandb, no progress bar, so every step is the same work on both sides of a comparison.
TIMED_RUN = [
    "eval.sets={}",
    "curriculum.schedule.kind=fixed_level",
    "curriculum.replay_frac=0",
    "curriculum.probe_frac=0",
    "logging.wandb=disabled",
    "logging.progress=false",
]


def length_parity(prompts, completions, **columns) -> list[float]:
    """The reward TRL's side uses too (benchmarks/grpo_step_trl.py)."""
    texts = [c[-1]["content"] if isinstance(c, list) else c for c in completions]
    return [float(len(text) % 2 == 0) for text in texts]


def drawn_prompts(steps: int, per_step: int, seed: int = 0) -> list[str]:
    """The user messages our loop draws under a fixed level (rl.collect's seeds), in order."""
    from rl.collect import task_seed
    from synth import get_generator

    generator, level = get_generator("h1"), {"horizon": 1}
    prompts = []
    for step in range(steps):
        for task in generator.sample(level, per_step, task_seed(seed, step, "h1", level)):
            prompts.append(task.prompt[-1]["content"])
    return prompts


PRECISION = {  # ours: vLLM engine dtype and learner compute dtype; TRL: GRPOConfig(bf16=...)
    "fp32": (["rollout.dtype=float32", "trainer.dtype=float32"], False),
    "bf16": (["rollout.dtype=bfloat16", "trainer.dtype=bfloat16"], True),
}


def ours(
    args, output_dir: str, max_staleness: int, precision: str = "fp32"
) -> tuple[float, list[str], float | None]:
    """(seconds per step, the prompts our loop drew, peak summed PSS bytes of the tree)."""
    import rewards
    from rl.config import RunConfig
    from rl.config_io import load_config
    from rl.lifetime import running
    from rl.rundir import MetricsLogger, make_run_dir, read_metrics

    rewards.REWARDS["length_parity"] = length_parity
    total = args.warmup_steps + args.steps
    config = load_config(
        RunConfig,
        None,
        [
            f"output_dir={output_dir}",
            "name=ours",
            f"steps={total}",
            f"prompts_per_step={args.batch_size // args.group_size}",
            f"sampling.n={args.group_size}",
            f"sampling.max_tokens={args.max_completion_length}",
            "sampling.temperature=1.0",  # TRL's default, used on its side
            "trainer.loss=dr_grpo",
            f"trainer.micro_batch_size={args.batch_size}",
            "tasks.h1.reward=length_parity",
            "tasks.h1.options={}",  # plain h1 prompts at horizon 1, as TRL gets them
            *TIMED_RUN,
            f"max_staleness={max_staleness}",
            *PRECISION[precision][0],
            *args.extra,
        ],
    )
    run_dir = make_run_dir(output_dir, "ours", resume=False)
    # Sampling the memory of every process costs ~15 % of a core (reading smaps): only on request.
    with TreeMemory() if args.memory else nullcontext() as memory:
        metrics = MetricsLogger(run_dir, {}, "disabled", "bench", "ours")
        with running(config, run_dir, metrics) as driver:
            driver.run()
    records = read_metrics(run_dir / "metrics.jsonl")
    timed = [r["time/step"] for r in records[args.warmup_steps :]]
    prompts = drawn_prompts(total, config.prompts_per_step, config.seed)
    drawn_ids = [r["batch/task_ids"] for r in records]
    if len(drawn_ids[0]) != config.prompts_per_step:
        raise RuntimeError(
            "our loop drew more prompts than planned; the comparison would be unfair"
        )
    return sum(timed) / len(timed), prompts, memory.peak_pss if memory else None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--group-size", type=int, default=4)
    parser.add_argument("--batch-size", type=int, default=8, help="completions per step")
    parser.add_argument("--max-completion-length", type=int, default=64)
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--warmup-steps", type=int, default=1)
    parser.add_argument(
        "--precision",
        nargs="+",
        choices=tuple(PRECISION),
        default=["fp32"],
        help="bf16: vLLM in bfloat16 and bf16 autocast in both learners (fast on CPUs with AMX)",
    )
    parser.add_argument("--memory", action="store_true", help="also sample our tree's memory")
    parser.add_argument(
        "extra",
        nargs="*",
        help="dotted overrides for our run config, e.g. rollout.cpus_per_worker=2",
    )
    parser.add_argument(
        "--max-staleness",
        type=int,
        nargs="+",
        choices=(0, 1),
        default=[0, 1],
        help="our loop once per value; 1: it samples step t+1 while step t trains",
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    from grpo_step_trl import time_trl_grpo_steps

    from models import resolve_model

    lines = []
    for precision in args.precision:
        results = {}
        for max_staleness in args.max_staleness:
            with tempfile.TemporaryDirectory(prefix="grpo-bench-") as output_dir:
                results[max_staleness] = ours(args, output_dir, max_staleness, precision)
        prompts = results[args.max_staleness[0]][1]
        trl = time_trl_grpo_steps(
            resolve_model("embedded"),
            prompts,
            group_size=args.group_size,
            max_completion_length=args.max_completion_length,
            batch_size=args.batch_size,
            steps=args.steps,
            warmup_steps=args.warmup_steps,
            bf16=PRECISION[precision][1],
        )["seconds_per_step"]
        lines.append(f"{precision}: TRL GRPOTrainer {trl:.2f} s/step")
        for max_staleness, (seconds, _, peak) in results.items():
            memory = f" | peak {peak / 2**30:.2f} GiB summed PSS" if peak else ""
            lines.append(
                f"{precision}: ours max_staleness={max_staleness} {seconds:.2f} s/step | "
                f"speed-up {trl / seconds:.2f}x (goal >= 1.5x){memory}"
            )
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
