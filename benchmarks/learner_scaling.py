"""Learner step throughput with 1 and 2 gloo ranks (Ray actors), and one weight publish's cost.

    python benchmarks/learner_scaling.py                       # embedded model, ddp and fsdp
    python benchmarks/learner_scaling.py --model tiny --steps 2 --parallel ddp

The same GRPO batch on every side: `--prompts` GSM8K questions x `--group` completions of
`--completion` tokens (the start of each gold answer, repeated), float32. One learner actor (the
single-actor path, rl/learner_actor.py) against a LearnerGroup of 2 ranks (rl/learner_group.py)
with `--threads` torch threads per rank (default: the machine's cores / 2, so 1 rank x all cores
competes with 2 ranks x half). Timed: `--steps` steps after one warm-up; tokens/s counts
completion tokens trained. The publish is `packed_weights` as the driver asks for it (float32)
plus one ray.get of it, from the group's rank 0 (FSDP: a full-state gather first). Prints the
ratios. Runs on a local Ray of `--cpus` CPUs on 127.0.0.1.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

GSM8K = REPO.parent / "shared" / "data" / "gsm8k" / "train.jsonl"


def make_batch(tokenizer, prompts: int, group: int, completion: int) -> list[dict]:
    rows = [json.loads(line) for line, _ in zip(open(GSM8K), range(prompts), strict=False)]
    samples = []
    for index, row in enumerate(rows):
        prompt = tokenizer.apply_chat_template(
            [{"role": "user", "content": row["question"]}], add_generation_prompt=True,
            tokenize=True, return_dict=True)["input_ids"]  # fmt: skip
        answer = tokenizer(row["answer"])["input_ids"] * 8
        for member in range(group):
            tokens = answer[member : member + completion]
            samples.append({"prompt_token_ids": list(prompt), "completion_token_ids": tokens,
                            "rollout_logprobs": [-1.0] * len(tokens),
                            "advantage": 1.0 if (index + member) % 2 else -1.0})  # fmt: skip
    return samples


def run_config(model: str, workers: int, parallel: str, threads: int):
    from rl.config import LearnerResources, RunConfig
    from rl.learners.config import TrainerConfig

    return RunConfig(
        model=model,
        steps=100,
        trainer=TrainerConfig(lr=1e-6, micro_batch_size=8, dtype="float32"),
        learner=LearnerResources(num_workers=workers, parallel=parallel, torch_threads=threads),
    )


def measure(config, model_path: str, batch: list[dict], steps: int, completion: int) -> dict:
    import ray

    from rl.learner_actor import start_learner

    learner = start_learner(config, model_path, max_completion_length=completion, temperature=1.0)
    ray.get(learner.step.remote(batch))  # warm-up
    started = time.perf_counter()
    for _ in range(steps):
        ray.get(learner.step.remote(batch))
    step_seconds = (time.perf_counter() - started) / steps
    started = time.perf_counter()
    ray.get(learner.packed_weights.remote(None))
    publish_seconds = time.perf_counter() - started
    if hasattr(learner, "shutdown"):
        learner.shutdown()
    else:
        ray.kill(learner)
    tokens = sum(len(sample["completion_token_ids"]) for sample in batch)
    return {"step_s": step_seconds, "tokens_per_s": tokens / step_seconds,
            "publish_s": publish_seconds}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="embedded")
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--prompts", type=int, default=4)
    parser.add_argument("--group", type=int, default=4)
    parser.add_argument("--completion", type=int, default=64)
    parser.add_argument("--parallel", choices=["ddp", "fsdp", "both"], default="both")
    parser.add_argument("--threads", type=int, default=max(1, (os.cpu_count() or 2) // 2))
    parser.add_argument("--cpus", type=int, default=os.cpu_count() or 2)
    args = parser.parse_args()
    os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import ray
    from transformers import AutoTokenizer

    from models import resolve_model

    model_path = resolve_model(args.model)
    batch = make_batch(AutoTokenizer.from_pretrained(model_path), args.prompts, args.group,
                       args.completion)  # fmt: skip
    ray.init(address="local", num_cpus=args.cpus, include_dashboard=False,
             _node_ip_address="127.0.0.1", log_to_driver=False,
             runtime_env={"env_vars": {"PYTHONPATH": str(REPO)}})  # fmt: skip
    try:
        one = measure(run_config(args.model, 1, "ddp", 2 * args.threads), model_path, batch,
                      args.steps, args.completion)  # fmt: skip
        print(f"1 rank  x {2 * args.threads} threads: {one['step_s']:.2f} s/step, "
              f"{one['tokens_per_s']:.0f} tok/s, publish {one['publish_s']:.2f} s")  # fmt: skip
        modes = ["ddp", "fsdp"] if args.parallel == "both" else [args.parallel]
        for parallel in modes:
            two = measure(run_config(args.model, 2, parallel, args.threads), model_path, batch,
                          args.steps, args.completion)  # fmt: skip
            print(f"2 ranks x {args.threads} threads ({parallel}): {two['step_s']:.2f} s/step, "
                  f"{two['tokens_per_s']:.0f} tok/s ({two['tokens_per_s'] / one['tokens_per_s']:.2f}x"
                  f"), publish {two['publish_s']:.2f} s ({two['publish_s'] / one['publish_s']:.2f}x)")  # fmt: skip
    finally:
        ray.shutdown()


if __name__ == "__main__":
    main()
