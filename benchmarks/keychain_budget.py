"""Seconds per keychain example at 16K-128K tokens, against the naive construction, on one core.

    .venv/bin/python benchmarks/keychain_budget.py [--n 5] [--naive-n 2] [--num-chains 16]

Ours: the generator with cached per-document counts (synth/token_budget.py), timed with
verify_token_count="never" (the incremental count alone) and "always" (plus one full
tokenisation of every finished prompt). The filler corpus is counted once before timing, as a
dataset run pays it once; that one-time cost is printed too.

Naive (LoongRL's reference scripts): add filler documents and re-tokenise the whole rendered
prompt every 10 documents until it passes the budget, then drop documents one at a time, each
drop followed by another full tokenisation, until it fits. Same items, filler, chains and
tokenizer (SmolLM2) in the same run. The process is pinned to one CPU core and the Rust
tokenizer to one thread; figures are CPU seconds per example with wall seconds in brackets,
and the speed-up is the ratio of CPU seconds (steadier than wall time on a shared machine).
"""

from __future__ import annotations

import os

os.environ["TOKENIZERS_PARALLELISM"] = "false"  # before tokenizers is imported
os.environ["RAYON_NUM_THREADS"] = "1"

import argparse  # noqa: E402
import random  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

from synth.keychain import KeyChainGenerator  # noqa: E402
from synth.token_budget import passage_header  # noqa: E402

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
LEVELS = (16384, 32768, 65536, 131072)


def naive_example(generator: KeyChainGenerator, level: dict[str, int], seed: int, index: int):
    """One prompt built by re-tokenising the whole context every 10 documents."""
    rng = random.Random(f"naive/{seed}/{index}")
    item = generator.items[rng.randrange(len(generator.items))]
    head, tail, pairs, _ = generator._question_parts(level, item, rng)
    tokenizer, target = generator.counter.tokenizer, level["context_tokens"]
    documents = [f"{p.title}\n{p.text}" for p in item.paragraphs if p.text]
    for pair in pairs:  # where pairs sit does not change the cost; keep them in own documents
        doc = rng.randrange(len(documents))
        documents[doc] += pair
    filler = [generator.pool.bodies[i] for i in rng.sample(range(len(generator.pool)), 2000)]

    def tokens(docs: list[str]) -> int:
        passages = "".join(passage_header(n) + body for n, body in enumerate(docs, 1))
        messages = [
            {"role": "system", "content": generator.config.system_prompt},
            {"role": "user", "content": head + passages + "\n\n" + tail},
        ]
        ids = tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=True)
        return len(ids["input_ids"])

    count = tokens(documents)
    while count <= target:
        documents += [filler.pop() for _ in range(10)]
        count = tokens(documents)
    while count > target:
        documents.pop()
        count = tokens(documents)
    return count


class Clock:
    """CPU and wall seconds of a block: on a shared machine CPU time is the steadier figure
    (the process is pinned to one core, so CPU seconds are that core's work)."""

    def __enter__(self) -> Clock:
        self.cpu, self.wall = time.process_time(), time.perf_counter()
        return self

    def __exit__(self, *exc) -> None:
        self.cpu, self.wall = time.process_time() - self.cpu, time.perf_counter() - self.wall


def time_ours(generator: KeyChainGenerator, level: dict[str, int], n: int):
    with Clock() as clock:
        tasks = generator.sample(level, n, seed=0)
    fill = statistics.mean(t.meta_dict()["prompt_tokens"] / level["context_tokens"] for t in tasks)
    return clock.cpu / n, clock.wall / n, fill


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=5, help="examples per level (ours)")
    parser.add_argument("--naive-n", type=int, default=2, help="examples per level (naive)")
    parser.add_argument("--num-chains", type=int, default=16)
    args = parser.parse_args()
    os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})

    sources = {
        "source": f"hotpotqa:{DATA}/multihop/hotpotqa_dev_distractor_500.jsonl",
        "filler": str(DATA / "prose" / "gutenberg_paragraphs.jsonl"),
    }
    fast = KeyChainGenerator(verify_token_count="never", **sources)
    with Clock() as prepare:
        fast.prepare()
    checked = KeyChainGenerator(verify_token_count="always", **sources)
    checked.prepare()
    print(
        f"one core, SmolLM2 tokenizer, num_chains={args.num_chains}, keys_per_chain=4; "
        f"filler: {len(fast.pool)} Gutenberg paragraphs counted once in {prepare.cpu:.2f} s CPU"
    )
    print("seconds per example, CPU (wall)")
    print("context_tokens | ours | ours + full check | naive | speed-up (CPU) | fill")
    for context_tokens in LEVELS:
        level = {"context_tokens": context_tokens, "num_chains": args.num_chains}
        fast.sample(level, 1, seed=99)  # warm: lazily built header counts, imports
        ours, ours_wall, fill = time_ours(fast, level, args.n)
        checked_cpu, checked_wall, _ = time_ours(checked, level, args.n)
        with Clock() as naive:
            for index in range(args.naive_n):
                naive_example(fast, level, seed=0, index=index)
        naive_cpu, naive_wall = naive.cpu / args.naive_n, naive.wall / args.naive_n
        print(
            f"{context_tokens:>14} | {ours:.3f} ({ours_wall:.3f}) | "
            f"{checked_cpu:.3f} ({checked_wall:.3f}) | {naive_cpu:.2f} ({naive_wall:.2f}) | "
            f"{naive_cpu / ours:.0f}x | {100 * fill:.2f}%"
        )


if __name__ == "__main__":
    main()
