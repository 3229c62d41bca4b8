"""Seconds per GRPO step of TRL's GRPOTrainer (HF generation), the baseline for our loop.

Run: `python benchmarks/grpo_step_trl.py [--model embedded] [--prompts 8] [--group-size 4]
[--max-completion-length 64] [--batch-size 8] [--steps 3]`; prints seconds per step.
`benchmarks/grpo_step.py` calls `time_trl_grpo_steps` with the same prompts, group size,
lengths and batch as our own loop.

A step is one optimizer update: TRL generates `batch_size` completions (batch_size / group_size
prompts, `group_size` each) with `model.generate`, scores them, computes the reference-free
Dr.GRPO loss and steps AdamW. The first `warmup_steps` steps are timed but not counted (kernel
and allocator warm-up). CPU, float32, no wandb. The reward is a cheap deterministic function of
the completion's length, so groups are rarely all equal; its cost is negligible.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import tempfile
import time
from pathlib import Path

log = logging.getLogger(__name__)

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def _length_reward(completions, **columns) -> list[float]:
    """1.0 for completions of even character length: cheap, deterministic, varied."""
    texts = [c[-1]["content"] if isinstance(c, list) else c for c in completions]
    return [float(len(text) % 2 == 0) for text in texts]


def time_trl_grpo_steps(
    model_path: str,
    prompts: list[str],
    group_size: int,
    max_completion_length: int,
    batch_size: int,
    steps: int = 3,
    warmup_steps: int = 1,
    loss_type: str = "dr_grpo",
    learning_rate: float = 1e-6,
    bf16: bool = False,
    gradient_checkpointing: bool = False,
) -> dict[str, float]:
    """Time `steps` GRPOTrainer steps after `warmup_steps`; returns seconds per step, the
    seconds of it spent generating (`rollout_seconds_per_step`) and totals.

    batch_size counts completions per optimizer step and must be a multiple of group_size;
    prompts are user messages or whole chat prompts (lists of messages; chat template applied by
    TRL), cycled as the trainer samples them.
    """
    os.environ.setdefault("WANDB_DISABLED", "true")
    os.environ.setdefault("WANDB_MODE", "disabled")
    from datasets import Dataset
    from transformers import TrainerCallback
    from trl import GRPOConfig, GRPOTrainer

    if batch_size % group_size:
        raise ValueError(f"batch_size={batch_size} is not a multiple of group_size={group_size}")
    durations: list[float] = []

    class StepTimer(TrainerCallback):
        def on_step_begin(self, args, state, control, **kwargs):
            self.started = time.perf_counter()

        def on_step_end(self, args, state, control, **kwargs):
            durations.append(time.perf_counter() - self.started)

    rows = [
        {"prompt": [{"role": "user", "content": p}] if isinstance(p, str) else p} for p in prompts
    ]
    with tempfile.TemporaryDirectory(prefix="trl-grpo-bench-") as output_dir:
        args = GRPOConfig(
            output_dir=output_dir,
            report_to="none",
            use_cpu=True,
            bf16=bf16,  # mixed precision (bf16 autocast) through accelerate, also on CPU
            max_steps=warmup_steps + steps,
            per_device_train_batch_size=batch_size,
            num_generations=group_size,
            max_completion_length=max_completion_length,
            steps_per_generation=1,
            gradient_accumulation_steps=1,
            learning_rate=learning_rate,
            loss_type=loss_type,
            beta=0.0,
            temperature=1.0,
            # GRPOConfig turns gradient checkpointing on by default; our learner's default is
            # off, and timing both without it compares the same computation.
            gradient_checkpointing=gradient_checkpointing,
            logging_strategy="no",
            save_strategy="no",
            disable_tqdm=True,
            seed=0,
        )
        trainer = GRPOTrainer(
            model=model_path,
            reward_funcs=_length_reward,
            args=args,
            train_dataset=Dataset.from_list(rows),
            callbacks=[StepTimer()],
        )
        generating: list[float] = []
        generate = trainer._generate  # TRL's rollout (HF generate), timed apart from the update

        def timed_generate(*args, **kwargs):
            started = time.perf_counter()
            try:
                return generate(*args, **kwargs)
            finally:
                generating.append(time.perf_counter() - started)

        trainer._generate = timed_generate
        trainer.train()
    timed = durations[warmup_steps:]
    rollouts = generating[-len(timed) :] if len(generating) >= len(timed) else [0.0]
    return {
        "seconds_per_step": sum(timed) / len(timed),
        "rollout_seconds_per_step": sum(rollouts) / len(rollouts),
        "steps": float(len(timed)),
        "completions_per_step": float(batch_size),
        "warmup_seconds": sum(durations[:warmup_steps]),
    }


def gsm8k_prompts(count: int, data: Path = DATA) -> list[str]:
    """The first `count` GSM8K train questions from the reference data."""
    with open(data / "gsm8k" / "train.jsonl") as handle:
        return [json.loads(next(handle))["question"] for _ in range(count)]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", default="embedded", help="embedded | tiny | path")
    parser.add_argument("--data", type=Path, default=DATA, help="reference data (GSM8K prompts)")
    parser.add_argument("--prompts", type=int, default=8)
    parser.add_argument("--group-size", type=int, default=4)
    parser.add_argument("--max-completion-length", type=int, default=64)
    parser.add_argument("--batch-size", type=int, default=8, help="completions per step")
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--warmup-steps", type=int, default=1)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")

    from models import resolve_model

    result = time_trl_grpo_steps(
        resolve_model(args.model),
        gsm8k_prompts(args.prompts, args.data),
        group_size=args.group_size,
        max_completion_length=args.max_completion_length,
        batch_size=args.batch_size,
        steps=args.steps,
        warmup_steps=args.warmup_steps,
    )
    print(
        f"TRL GRPOTrainer ({args.model}, CPU): {result['seconds_per_step']:.2f} s/step over "
        f"{int(result['steps'])} steps, {args.batch_size} completions/step "
        f"(group {args.group_size}, max {args.max_completion_length} tokens)"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
