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
tokenizer to one thread.
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


def time_ours(generator: KeyChainGenerator, level: dict[str, int], n: int) -> tuple[float, float]:
    start = time.perf_counter()
    tasks = generator.sample(level, n, seed=0)
    seconds = (time.perf_counter() - start) / n
    fill = statistics.mean(t.meta_dict()["prompt_tokens"] / level["context_tokens"] for t in tasks)
    return seconds, fill


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
    start = time.perf_counter()
    fast.prepare()
    prepare_seconds = time.perf_counter() - start
    checked = KeyChainGenerator(verify_token_count="always", **sources)
    checked.prepare()
    print(
        f"one core, SmolLM2 tokenizer, num_chains={args.num_chains}, keys_per_chain=4; "
        f"filler: {len(fast.pool)} Gutenberg paragraphs counted once in {prepare_seconds:.2f} s"
    )
    print("context_tokens | ours s/ex | ours+full check s/ex | naive s/ex | speed-up | fill")
    for context_tokens in LEVELS:
        level = {"context_tokens": context_tokens, "num_chains": args.num_chains}
        fast.sample(level, 1, seed=99)  # warm: lazily built header counts, imports
        ours, fill = time_ours(fast, level, args.n)
        ours_checked, _ = time_ours(checked, level, args.n)
        start = time.perf_counter()
        for index in range(args.naive_n):
            naive_example(fast, level, seed=0, index=index)
        naive = (time.perf_counter() - start) / args.naive_n
        print(
            f"{context_tokens:>14} | {ours:9.3f} | {ours_checked:20.3f} | {naive:10.2f} | "
            f"{naive / ours:7.0f}x | {100 * fill:.2f}%"
        )


if __name__ == "__main__":
    main()
