"""h1 throughput and GSM8K acceptance, measured in one run on one core.

    .venv/bin/python benchmarks/h1_chains.py [--n 3000] [--repeats 3]

Prints chains per second at h = 1, 3, 5, 8 for the built-in source and GSM8K train (goal:
>= 5,000/s at h = 5), best of `--repeats` runs, as wall-clock and as CPU time of this process
(the CPU figure is steadier on a shared machine), plus the acceptance report of GSM8K train
and test. Source parsing is timed separately: it happens once, when a generator is built.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from synth.gsm8k import SourceStats, problems_from_rows, read_jsonl_rows
from synth.h1 import H1Generator
from synth.h1_verify import verify_chain

GSM8K = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "gsm8k"
HORIZONS = (1, 3, 5, 8)


def chains_per_second(generator: H1Generator, horizon: int, n: int, repeats: int):
    generator.sample({"horizon": horizon}, 200, seed=10_000)  # warm the per-problem memos
    best_wall = best_cpu = 0.0
    for repeat in range(repeats):
        wall, cpu = time.perf_counter(), time.process_time()
        tasks = generator.sample({"horizon": horizon}, n, seed=repeat)
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        best_wall, best_cpu = max(best_wall, n / wall), max(best_cpu, n / cpu)
    for task in tasks[:200]:
        verify_chain(task.meta)
    return best_wall, best_cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=3000, help="chains per timed run")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    print("## GSM8K acceptance (program reproduces the gold answer)")
    for split in ("train", "test"):
        stats = SourceStats(f"{split}.jsonl")
        start = time.perf_counter()
        problems_from_rows(read_jsonl_rows(GSM8K / f"{split}.jsonl", stats), stats, split)
        print(f"- {stats.summary()} [{time.perf_counter() - start:.2f} s to parse]")

    print(f"\n## chains per second (one core, n = {args.n}, best of {args.repeats})")
    print("| source | h | chains/s (wall) | chains/s (CPU) |")
    print("|---|---|---|---|")
    for source in ("builtin", f"gsm8k:{GSM8K / 'train.jsonl'}"):
        start = time.perf_counter()
        generator = H1Generator(source=source)
        build_s = time.perf_counter() - start
        label = "builtin" if source == "builtin" else "gsm8k train"
        for horizon in HORIZONS:
            wall, cpu = chains_per_second(generator, horizon, args.n, args.repeats)
            print(f"| {label} | {horizon} | {wall:,.0f} | {cpu:,.0f} |")
        print(f"| {label} | (build generator) | {build_s:.2f} s | |")


if __name__ == "__main__":
    main()
