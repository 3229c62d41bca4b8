"""Seconds and peak memory of one DPO step, ours vs TRL's DPOTrainer, at 1K / 4K / 8K-token prompts.

    python benchmarks/dpo_step.py                          # all three lengths, both sides
    python benchmarks/dpo_step.py --prompt-tokens 4096 --steps 2

The same batch on both sides: the embedded SmolLM2-135M (fp32, 2 CPU threads), `--pairs` pairs
whose prompt is a Gutenberg passage of the given length (the "8K" point is 8192 minus the
completions: SmolLM2's context is 8192) and whose chosen / rejected completions are two other
passages of `--completion-tokens` tokens; sigmoid DPO, beta 0.1, AdamW. Ours: DPOLearner,
reference log-probs precomputed once (not in the step), each pair's prompt run once for both
completions, the vocabulary head in chunks. TRL: DPOTrainer with its defaults (a reference
model scores every batch; `--trl-precompute` times TRL's own precomputed reference too).
Gradient checkpointing is the same on both sides: on by default, as in TRL's DPOConfig (at 8K
without it the activations of two 8K sequences dominate memory); `--no-gradient-checkpointing`
turns it off on both.
Each side runs in a fresh process; its peak RSS (ru_maxrss) covers the model load and the steps,
so the memory ratio is of whole processes. Timed: `--steps` steps after one warm-up step.
Goal (issue #16): >= 1.5x faster at 4K and above, <= 0.7x TRL's peak memory.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from trl_timing import mean_step_seconds  # noqa: E402  (benchmarks/, the script's directory)

DATA = REPO.parent / "shared" / "data" / "prose" / "gutenberg_paragraphs.jsonl"


def batch_ids(tokenizer, prompt_tokens: int, completion_tokens: int, pairs: int) -> list[dict]:
    """Token ids: per pair a chat prompt of `prompt_tokens` and two completions."""
    text = " ".join(
        json.loads(line)["text"] for line, _ in zip(open(DATA), range(4000), strict=False)
    )
    words = tokenizer(text)["input_ids"]
    samples, cursor = [], 0
    for _ in range(pairs):
        body = tokenizer.decode(words[cursor : cursor + prompt_tokens])
        cursor += prompt_tokens
        prompt = tokenizer.apply_chat_template(
            [{"role": "user", "content": body}], add_generation_prompt=True, tokenize=True,
            return_dict=True)["input_ids"][:prompt_tokens]  # fmt: skip
        chosen = words[cursor : cursor + completion_tokens]
        rejected = words[cursor + completion_tokens : cursor + 2 * completion_tokens]
        cursor += 2 * completion_tokens
        samples.append({"prompt_token_ids": list(prompt), "chosen_token_ids": chosen,
                        "rejected_token_ids": rejected})  # fmt: skip
    return samples


def time_ours(
    model_path: str, samples: list[dict], steps: int, threads: int, checkpointing: bool
) -> float:
    import torch

    from rl.learners import DPOLearner
    from rl.learners.config import TrainerConfig

    torch.set_num_threads(threads)
    config = TrainerConfig(
        loss="dpo", dpo_beta=0.1, lr=1e-6, micro_batch_size=2, dtype="float32",
        gradient_checkpointing=checkpointing,
    )  # fmt: skip
    learner = DPOLearner(model_path, config, total_steps=steps + 2, seed=0)
    for sample in samples:
        sample["chosen_mask"] = [1] * len(sample["chosen_token_ids"])
        sample["rejected_mask"] = [1] * len(sample["rejected_token_ids"])
    for sample, (c, r) in zip(samples, learner.precompute_reference(samples), strict=True):
        sample["ref_chosen_logp"], sample["ref_rejected_logp"] = c, r
    learner.step(samples)  # warm-up
    started = time.perf_counter()
    for _ in range(steps):
        learner.step(samples)
    return (time.perf_counter() - started) / steps


def time_trl(
    model_path: str,
    samples: list[dict],
    steps: int,
    threads: int,
    precompute: bool,
    checkpointing: bool,
) -> float:
    import torch
    from datasets import Dataset
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl import DPOConfig, DPOTrainer

    torch.set_num_threads(threads)
    model = AutoModelForCausalLM.from_pretrained(model_path, dtype=torch.float32)
    tokenizer = AutoTokenizer.from_pretrained(model_path)
    rows = [{"prompt_ids": s["prompt_token_ids"], "chosen_ids": s["chosen_token_ids"],
             "rejected_ids": s["rejected_token_ids"]} for s in samples]  # fmt: skip
    config = DPOConfig(
        output_dir=tempfile.mkdtemp(), beta=0.1, loss_type=["sigmoid"], report_to=[],
        per_device_train_batch_size=len(rows), max_length=None, use_cpu=True, learning_rate=1e-6,
        max_steps=steps + 1, logging_steps=10_000, save_strategy="no", dataloader_num_workers=0,
        precompute_ref_log_probs=precompute, gradient_checkpointing=checkpointing,
    )  # fmt: skip
    dataset = Dataset.from_list(rows * (steps + 1))
    # The batch is already tokenized (the same ids ours gets): TRL's text preparation is skipped.
    DPOTrainer._prepare_dataset = lambda self, dataset, *args, **kwargs: dataset
    trainer = DPOTrainer(
        model=model, args=config, train_dataset=dataset, processing_class=tokenizer
    )
    return mean_step_seconds(trainer)


def one_side(args: argparse.Namespace) -> None:
    from transformers import AutoTokenizer

    from models import resolve_model

    path = resolve_model("embedded")
    samples = batch_ids(AutoTokenizer.from_pretrained(path), args.prompt_tokens,
                        args.completion_tokens, args.pairs)  # fmt: skip
    if args.side == "ours":
        seconds = time_ours(path, samples, args.steps, args.threads, args.gradient_checkpointing)
    else:
        precompute = args.side == "trl-precompute"
        seconds = time_trl(
            path, samples, args.steps, args.threads, precompute, args.gradient_checkpointing
        )
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    print(json.dumps({"seconds": seconds, "peak_bytes": peak}))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--prompt-tokens", type=int, nargs="+", default=[1024, 4096, 7936])
    parser.add_argument("--completion-tokens", type=int, default=128)
    parser.add_argument("--pairs", type=int, default=2)
    parser.add_argument("--steps", type=int, default=2)
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--trl-precompute", action="store_true", help="also time TRL's precompute")
    parser.add_argument(
        "--gradient-checkpointing", action=argparse.BooleanOptionalAction, default=True,
        help="on both sides (default on: TRL's DPOConfig default)",
    )  # fmt: skip
    parser.add_argument("--side", choices=("ours", "trl", "trl-precompute"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.side:
        args.prompt_tokens = args.prompt_tokens[0]
        one_side(args)
        return 0
    sides = ["ours", "trl"] + (["trl-precompute"] if args.trl_precompute else [])
    checkpointing = "on" if args.gradient_checkpointing else "off"
    print(f"pairs {args.pairs}, completions {args.completion_tokens} tokens, steps {args.steps}, "
          f"threads {args.threads}, gradient checkpointing {checkpointing} (both sides)")  # fmt: skip
    print("| prompt tokens | side | s/step | peak GiB | speed-up | memory ratio |")
    print("|---|---|---|---|---|---|")
    for tokens in args.prompt_tokens:
        results = {}
        for side in sides:
            command = [sys.executable, __file__, "--side", side, "--prompt-tokens", str(tokens),
                       "--completion-tokens", str(args.completion_tokens), "--pairs",
                       str(args.pairs), "--steps", str(args.steps), "--threads", str(args.threads),
                       "--gradient-checkpointing" if args.gradient_checkpointing
                       else "--no-gradient-checkpointing"]  # fmt: skip
            out = subprocess.run(command, capture_output=True, text=True, check=True, cwd=REPO)
            results[side] = json.loads(out.stdout.strip().splitlines()[-1])
        ours = results["ours"]
        for side, result in results.items():
            speed = result["seconds"] / ours["seconds"]
            memory = ours["peak_bytes"] / result["peak_bytes"]
            print(f"| {tokens} | {side} | {result['seconds']:.2f} | {result['peak_bytes'] / 2**30:.2f} | "
                  f"{speed:.2f}x | {memory:.2f} |", flush=True)  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
