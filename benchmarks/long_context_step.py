"""GRPO steps on long KeyChain prompts, 2K to 32K tokens: our loop vs TRL's GRPOTrainer.

    python benchmarks/long_context_step.py                              # 2K..32K, both sides
    python benchmarks/long_context_step.py --lengths 2048 8192 --out /tmp/lc

For each prompt length, both sides train on the same `--prompts` KeyChain prompts a step
(HotpotQA questions behind UUID key chains among a distractor chain, Gutenberg filler, the
length counted exactly with SmolLM2's tokenizer), G = `--group-size` completions of
`--completion-tokens` tokens each, Dr.GRPO without a reference (beta 0), and the cheap
length-parity reward (the step's cost is the point, not what it learns).

The model: `--model tiny-long` (the default) is the tests' 2-layer random model (SmolLM2's
tokenizer and vocabulary head) with max_position_embeddings raised to 40,960, so every length
up to 32K runs on this machine in minutes; `--model embedded` is SmolLM2-135M itself, whose
context is 8,192 tokens (a 32K-token step of the 135M model on 2 cores would take hours).
Random weights rarely stop early, so both sides sample the full completion length.

- ours: rl/run.py's driver, one vLLM CPU worker (its prefix cache prefills a group's prompt
  once), the learner with shared prompts and gradient checkpointing, max_staleness 0 so
  rollout and update are timed apart (metrics time/rollout, time/train + time/sync).
- TRL: GRPOTrainer with HF generation and its defaults (gradient checkpointing on); rollout is
  the time inside its `_generate`, update the rest of the step.

Each side runs in a fresh process; its peak memory is the summed PSS of its whole process tree
(benchmarks/peak_memory.py: driver, Ray, the engine, the learner). A side killed for memory
(the VM has ~23 GB) is reported as such. Timed: `--steps` steps after `--warmup-steps`.
Goals (issue #24): >= 3x TRL's speed at 8K and above, <= 0.5x its peak memory, a 32K step.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"

DATA = REPO.parent / "shared" / "data"
HOTPOTQA = DATA / "multihop" / "hotpotqa_dev_distractor_500.jsonl"
FILLER = DATA / "prose" / "gutenberg_paragraphs.jsonl"
LONG_POSITIONS = 40960


def model_path(name: str) -> str:
    """The model directory for `name`: embedded, or tiny-long (made once next to the tiny one)."""
    from models import provision_tiny, resolve_model

    if name != "tiny-long":
        return resolve_model(name)
    tiny = provision_tiny()
    target = tiny.parent / f"{tiny.name}-long"
    if not (target / "config.json").exists():
        import shutil

        staging = Path(tempfile.mkdtemp(prefix="tiny-long-", dir=tiny.parent))
        shutil.copytree(tiny, staging, dirs_exist_ok=True)
        config = json.loads((staging / "config.json").read_text())
        config["max_position_embeddings"] = LONG_POSITIONS
        (staging / "config.json").write_text(json.dumps(config, indent=2))
        staging.rename(target)
    return str(target)


def keychain_options(length: int, tokenizer: str) -> dict:
    return {
        "source": f"hotpotqa:{HOTPOTQA}",
        "filler": str(FILLER),
        "tokenizer": tokenizer,
        "context_tokens_values": [length],
        "num_chains_values": [2],
        "think": False,
    }


def drawn_prompts(length: int, tokenizer: str, steps: int, per_step: int, seed: int = 0):
    """The chat prompts our loop draws at this level (rl.collect's seeds), in order."""
    from rl.collect import task_seed
    from synth import get_generator

    generator = get_generator("keychain", **keychain_options(length, tokenizer))
    level = {"context_tokens": length, "num_chains": 2}
    prompts = []
    for step in range(steps):
        for task in generator.sample(level, per_step, task_seed(seed, step, "keychain", level)):
            prompts.append(task.prompt)
    return prompts


def time_ours(args, path: str, length: int) -> dict:
    from grpo_step import TIMED_RUN, length_parity

    import rewards
    from rl.config import RunConfig
    from rl.config_io import load_config
    from rl.context_check import resolve_kv_cache
    from rl.lifetime import running
    from rl.rundir import MetricsLogger, make_run_dir, read_metrics

    rewards.REWARDS["length_parity"] = length_parity
    group, completion = args.group_size, args.completion_tokens
    options = keychain_options(length, path)
    task = {"generator": "keychain", "options": options, "reward": "length_parity"}
    overrides = [
        f"model={path}",
        "name=ours",
        f"steps={args.warmup_steps + args.steps}",
        f"prompts_per_step={args.prompts}",
        f"tasks={json.dumps({'keychain': task})}",
        f"sampling.n={group}",
        f"sampling.max_tokens={completion}",
        "sampling.temperature=1.0",
        "rollout.backend=vllm",
        "rollout.dtype=float32",
        f"rollout.max_model_len={length + completion + 64}",
        "rollout.kv_cache_gib=auto",
        "trainer.loss=dr_grpo",
        "trainer.beta=0",
        "trainer.dtype=float32",
        "trainer.gradient_checkpointing=true",
        f"trainer.micro_batch_size={args.prompts * group}",
        *TIMED_RUN,
        "max_staleness=0",
    ]
    config, kv_line = resolve_kv_cache(load_config(RunConfig, None, overrides))
    print(kv_line, file=sys.stderr)
    with tempfile.TemporaryDirectory(prefix="long-context-") as output_dir:
        config.output_dir = output_dir
        run_dir = make_run_dir(output_dir, "ours", resume=False)
        metrics = MetricsLogger(run_dir, {}, "disabled", "bench", "ours")
        with running(config, run_dir, metrics) as driver:
            driver.run()
        records = read_metrics(run_dir / "metrics.jsonl")[args.warmup_steps :]
    rollout = sum(r["time/rollout"] for r in records) / len(records)
    update = sum(r["time/train"] + r.get("time/sync", 0.0) for r in records) / len(records)
    return {"rollout_s": rollout, "update_s": update, "step_s": rollout + update}


def time_trl(args, path: str, length: int) -> dict:
    from grpo_step_trl import time_trl_grpo_steps

    prompts = drawn_prompts(length, path, args.warmup_steps + args.steps, args.prompts)
    result = time_trl_grpo_steps(
        path,
        prompts,
        group_size=args.group_size,
        max_completion_length=args.completion_tokens,
        batch_size=args.prompts * args.group_size,
        steps=args.steps,
        warmup_steps=args.warmup_steps,
        gradient_checkpointing=True,
    )
    rollout = result["rollout_seconds_per_step"]
    step = result["seconds_per_step"]
    return {"rollout_s": rollout, "update_s": step - rollout, "step_s": step}


def one_side(args) -> None:
    from peak_memory import TreeMemory

    path = model_path(args.model)
    with TreeMemory() as memory:
        started = time.perf_counter()
        timed = (time_ours if args.side == "ours" else time_trl)(args, path, args.length)
        timed["wall_s"] = time.perf_counter() - started
    timed["peak_bytes"] = memory.peak_pss
    print("RESULT " + json.dumps(timed), flush=True)
    for values, pid, name in memory.breakdown[:8]:  # where the peak sits, for the curious
        print(f"  PSS {values['Pss'] / 2**20:6.0f} MiB  pid {pid} {name}", file=sys.stderr)


def run_side(args, side: str, length: int) -> dict:
    """One side at one length in a fresh process: its result, or why there is none."""
    command = [
        sys.executable, __file__, "--side", side, "--length", str(length), "--model", args.model,
        "--prompts", str(args.prompts), "--group-size", str(args.group_size),
        "--completion-tokens", str(args.completion_tokens), "--steps", str(args.steps),
        "--warmup-steps", str(args.warmup_steps),
    ]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, cwd=REPO)
    for line in reversed(done.stdout.splitlines()):
        if line.startswith("RESULT "):
            return json.loads(line[len("RESULT ") :])
    killed = done.returncode in (-9, 137) or "MemoryError" in done.stderr
    reason = "killed: out of memory" if killed else f"failed (exit {done.returncode})"
    tail = done.stderr.strip().splitlines()[-3:]
    return {"error": reason, "detail": " | ".join(tail)}


def plot(results: dict, out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, (time_axis, memory_axis) = plt.subplots(1, 2, figsize=(10, 4))
    for side, marker in (("ours", "o"), ("trl", "s")):
        points = [(int(n), r[side]) for n, r in results.items() if "step_s" in r[side]]
        if not points:
            continue
        lengths = [n for n, _ in points]
        time_axis.plot(lengths, [r["step_s"] for _, r in points], marker=marker, label=side)
        memory_axis.plot(lengths, [r["peak_bytes"] / 2**30 for _, r in points], marker=marker,
                         label=side)  # fmt: skip
    for axis, label in ((time_axis, "seconds per GRPO step"), (memory_axis, "peak GiB (PSS)")):
        axis.set_xscale("log", base=2)
        axis.set_xlabel("prompt tokens")
        axis.set_ylabel(label)
        axis.legend()
    figure.tight_layout()
    figure.savefig(out / "long_context_step.png", dpi=120)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--lengths", type=int, nargs="+", default=[2048, 4096, 8192, 16384, 32768])
    parser.add_argument("--model", default="tiny-long", help="tiny-long | embedded | a path")
    parser.add_argument("--prompts", type=int, default=1, help="prompts per step")
    parser.add_argument("--group-size", type=int, default=8)
    parser.add_argument("--completion-tokens", type=int, default=64)
    parser.add_argument("--steps", type=int, default=1)
    parser.add_argument("--warmup-steps", type=int, default=1)
    parser.add_argument("--out", type=Path, help="also write results.json and the plot here")
    parser.add_argument("--side", choices=("ours", "trl"), help=argparse.SUPPRESS)
    parser.add_argument("--length", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    if args.side:
        one_side(args)
        return 0
    print(f"model {args.model}, {args.prompts} prompt(s) x G={args.group_size} x "
          f"{args.completion_tokens} tokens a step; {args.steps} step(s) timed after "
          f"{args.warmup_steps}")  # fmt: skip
    print("| prompt tokens | side | rollout s | update s | step s | peak GiB | speed-up | memory |")
    print("|---|---|---:|---:|---:|---:|---:|---:|")
    results: dict[str, dict] = {}
    for length in args.lengths:
        results[str(length)] = row = {
            side: run_side(args, side, length) for side in ("ours", "trl")
        }
        ours, trl = row["ours"], row["trl"]
        for side, result in row.items():
            if "error" in result:
                print(f"| {length} | {side} | {result['error']}: {result['detail'][:120]} |||||||")
                continue
            speed = memory = "-"
            if "error" not in ours and "error" not in trl:
                speed = f"{trl['step_s'] / result['step_s']:.2f}x"
                memory = f"{result['peak_bytes'] / trl['peak_bytes']:.2f}"
            print(f"| {length} | {side} | {result['rollout_s']:.1f} | {result['update_s']:.1f} | "
                  f"{result['step_s']:.1f} | {result['peak_bytes'] / 2**30:.2f} | {speed} | "
                  f"{memory} |", flush=True)  # fmt: skip
    if args.out:
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "results.json").write_text(json.dumps(vars(args) | {"results": results},
                                                          default=str, indent=2))  # fmt: skip
        plot(results, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
