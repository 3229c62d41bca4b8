"""Seconds and peak memory of one SFT step, ours vs TRL's SFTTrainer, at 1K and 4K-token rows.

    python benchmarks/sft_step.py                          # 1K and 4K tokens, both sides
    python benchmarks/sft_step.py --tokens 4096 --steps 2 --lora

The same batch on both sides: the embedded SmolLM2-135M (fp32, every CPU thread), `--rows`
rows of `--tokens` tokens each: a chat prompt holding a Gutenberg passage (a quarter of the
row) and a response of further passages (the rest), the loss on the response tokens only,
AdamW, lr 1e-5. Ours: SFTLearner (one micro-batch, the vocabulary head in chunks). TRL:
SFTTrainer on the same token ids with -100 labels on the prompt (its own masking), its
defaults otherwise (gradient checkpointing off on both sides, no packing). `--lora`: both
train a rank-8 adapter on every linear layer (needs peft). Each side runs in a fresh process;
its peak RSS (ru_maxrss) covers the model load and the steps. Timed: `--steps` steps after one
warm-up step. Goal (issue #17): >= 1.3x faster.
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


def batch_ids(tokenizer, tokens: int, rows: int) -> list[dict]:
    """Per row: a chat prompt of tokens // 4 and a response of the rest."""
    text = " ".join(
        json.loads(line)["text"] for line, _ in zip(open(DATA), range(4000), strict=False)
    )
    words = tokenizer(text)["input_ids"]
    prompt_tokens = tokens // 4
    samples, cursor = [], 0
    for _ in range(rows):
        body = tokenizer.decode(words[cursor : cursor + prompt_tokens])
        cursor += prompt_tokens
        prompt = tokenizer.apply_chat_template(
            [{"role": "user", "content": body}], add_generation_prompt=True, tokenize=True,
            return_dict=True)["input_ids"][:prompt_tokens]  # fmt: skip
        response = words[cursor : cursor + tokens - len(prompt)]
        cursor += len(response)
        samples.append({"prompt_token_ids": list(prompt), "completion_token_ids": response,
                        "loss_mask": [1] * len(response)})  # fmt: skip
    return samples


def time_ours(model_path: str, samples: list[dict], steps: int, threads: int, lora: bool) -> float:
    import torch

    from rl.learners import SFTLearner
    from rl.learners.config import TrainerConfig

    torch.set_num_threads(threads)
    config = TrainerConfig(loss="sft", lr=1e-5, micro_batch_size=len(samples), dtype="float32")
    adapter = {"rank": 8, "alpha": 16.0} if lora else None
    learner = SFTLearner(model_path, config, total_steps=steps + 2, seed=0, lora=adapter)
    learner.step(samples)  # warm-up
    started = time.perf_counter()
    for _ in range(steps):
        learner.step(samples)
    return (time.perf_counter() - started) / steps


def time_trl(model_path: str, samples: list[dict], steps: int, threads: int, lora: bool) -> float:
    import torch
    from datasets import Dataset
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl import SFTConfig, SFTTrainer

    torch.set_num_threads(threads)
    model = AutoModelForCausalLM.from_pretrained(model_path, dtype=torch.float32)
    tokenizer = AutoTokenizer.from_pretrained(model_path)
    rows = [{"input_ids": s["prompt_token_ids"] + s["completion_token_ids"],
             "labels": [-100] * len(s["prompt_token_ids"]) + s["completion_token_ids"]}
            for s in samples]  # fmt: skip
    config = SFTConfig(
        output_dir=tempfile.mkdtemp(), report_to=[], per_device_train_batch_size=len(rows),
        max_length=None, use_cpu=True, learning_rate=1e-5, max_steps=steps + 1,
        logging_steps=10_000, save_strategy="no", dataloader_num_workers=0,
        gradient_checkpointing=False, packing=False, padding_free=False, bf16=False,
    )  # fmt: skip
    peft_config = None
    if lora:
        from peft import LoraConfig

        peft_config = LoraConfig(r=8, lora_alpha=16, lora_dropout=0.0,
                                 target_modules="all-linear", task_type="CAUSAL_LM")  # fmt: skip
    trainer = SFTTrainer(model=model, args=config, processing_class=tokenizer,
                         train_dataset=Dataset.from_list(rows * (steps + 1)),
                         peft_config=peft_config)  # fmt: skip
    return mean_step_seconds(trainer)


def one_side(args: argparse.Namespace) -> None:
    from transformers import AutoTokenizer

    from models import resolve_model

    path = resolve_model("embedded")
    samples = batch_ids(AutoTokenizer.from_pretrained(path), args.tokens, args.rows)
    timer = time_ours if args.side == "ours" else time_trl
    seconds = timer(path, samples, args.steps, args.threads, args.lora)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    print(json.dumps({"seconds": seconds, "peak_bytes": peak}))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--tokens", type=int, nargs="+", default=[1024, 4096])
    parser.add_argument("--rows", type=int, default=2)
    parser.add_argument("--steps", type=int, default=2)
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--lora", action="store_true", help="a rank-8 adapter on both sides")
    parser.add_argument("--side", choices=("ours", "trl"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.side:
        args.tokens = args.tokens[0]
        one_side(args)
        return 0
    print("| tokens per row | side | s/step | peak GiB | speed-up | memory ratio |")
    print("|---|---|---|---|---|---|")
    for tokens in args.tokens:
        results = {}
        for side in ("ours", "trl"):
            command = [sys.executable, __file__, "--side", side, "--tokens", str(tokens),
                       "--rows", str(args.rows), "--steps", str(args.steps),
                       "--threads", str(args.threads)] + (["--lora"] if args.lora else [])  # fmt: skip
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
