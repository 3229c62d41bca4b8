"""Completions scored per second, one core, batches of 1,000 realistic completions.

Run: `python benchmarks/rewards_throughput.py [--data ../shared/data] [--repeats 3]`.
Goals (issue 5): >= 2,000/s for the QA rewards, >= 500/s for math.

Completions are built from real data: GSM8K test solutions (their worked steps inside
`<think>`, then a final answer that is right, wrong, in `####` form, a LaTeX fraction, an
expression only sympy can settle, or missing) and HotpotQA dev answers (supporting
sentences inside `<think>`, then a boxed answer that is right, partial, wrong or absent).
Each figure is the best of `--repeats` runs after one warm-up call (which imports sympy).
"""

from __future__ import annotations

import argparse
import json
import random
import time
from pathlib import Path

from rewards import REWARDS, build_reward

BATCH = 1_000


def math_batch(data: Path, rng: random.Random) -> tuple[list[str], list[str]]:
    rows = [json.loads(line) for line in open(data / "gsm8k" / "test.jsonl")]
    completions, golds = [], []
    for row in rng.sample(rows, BATCH):
        steps, gold = row["answer"].rsplit("####", 1)
        gold = gold.strip()
        number = int(gold.replace(",", ""))
        style = rng.random()
        if style < 0.45:
            final = f"The answer is \\boxed{{{gold}}}."
        elif style < 0.70:
            final = f"So the answer is \\boxed{{{number + rng.randint(1, 9)}}}."
        elif style < 0.80:
            final = f"#### {gold}"
        elif style < 0.88:
            final = f"\\boxed{{\\frac{{{2 * number}}}{{2}}}}"
        elif style < 0.95:
            final = f"\\boxed{{{number - 1} + 1}}"  # not a plain number: math-verify settles it
        else:
            final = "I am not sure."
        thinking = f"{row['question']}\n{steps.strip()}\nLet me double-check.\n{steps.strip()}"
        completions.append(f"<think>{thinking}</think>\n{final}")
        golds.append(gold)
    return completions, golds


def qa_batch(data: Path, rng: random.Random) -> tuple[list[str], list[str]]:
    path = data / "multihop" / "hotpotqa_dev_distractor_500.jsonl"
    rows = [json.loads(line) for line in open(path)]
    completions, golds = [], []
    for _ in range(BATCH):
        row = rng.choice(rows)
        paragraphs = {title: sentences for title, sentences in row["context"]}
        # The thinking walks through every supporting paragraph in full, as a model would.
        titles = dict.fromkeys(title for title, _ in row["supporting_facts"])
        evidence = "\n".join("".join(paragraphs.get(title, [])) for title in titles)
        style = rng.random()
        if style < 0.5:
            boxed = row["answer"]
        elif style < 0.65:
            boxed = f"the {row['answer']}"
        elif style < 0.9:
            boxed = rng.choice(rows)["answer"]
        else:
            boxed = None
        final = f"The answer is \\boxed{{{boxed}}}." if boxed is not None else "I cannot tell."
        completions.append(
            f"<think>Question: {row['question']} Evidence: {evidence}</think>\n{final}"
        )
        golds.append(row["answer"])
    return completions, golds


def per_second(reward, completions, golds, repeats: int) -> tuple[float, float]:
    reward(completions=completions[:20], answer=golds[:20])  # warm-up: imports, caches
    best = float("inf")
    for _ in range(repeats):
        started = time.process_time()
        scores = reward(completions=completions, answer=golds)
        best = min(best, time.process_time() - started)
    return len(completions) / best, sum(scores) / len(scores)


def _mean_length(texts: list[str]) -> float:
    return sum(map(len, texts)) / len(texts)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--data", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "data"
    )
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    rng = random.Random(0)
    math_completions, math_golds = math_batch(args.data, rng)
    qa_completions, qa_golds = qa_batch(args.data, rng)
    sympy_only = [
        c.rsplit("\n", 1)[0] + f"\n\\boxed{{{g.replace(',', '')} - 0}}"
        for c, g in zip(math_completions, math_golds, strict=True)
    ]
    print(
        f"batch {BATCH} completions; mean characters: math {_mean_length(math_completions):.0f}, "
        f"qa {_mean_length(qa_completions):.0f}; CPU time of one process, best of {args.repeats}"
    )
    cases = [
        ("math", REWARDS["math"], math_completions, math_golds, 500),
        ("math, all via sympy", REWARDS["math"], sympy_only, math_golds, None),
        ("format", REWARDS["format"], math_completions, math_golds, None),
        (
            "math 0.9 + format 0.1",
            build_reward({"math": 0.9, "format": 0.1}),
            math_completions,
            math_golds,
            None,
        ),
    ] + [
        (name, REWARDS[name], qa_completions, qa_golds, 2_000)
        for name in ("qa_two_way_substring", "qa_exact_match", "qa_f1")
    ]
    for name, reward, completions, golds, goal in cases:
        rate, mean = per_second(reward, completions, golds, args.repeats)
        verdict = (
            ""
            if goal is None
            else f" | goal {goal:,}/s: {rate / goal:.1f}x {'met' if rate >= goal else 'MISSED'}"
        )
        print(f"{name:24s} {rate:10,.0f} completions/s | mean reward {mean:.3f}{verdict}")


if __name__ == "__main__":
    main()
