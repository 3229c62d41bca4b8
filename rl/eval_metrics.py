"""Held-out scores from sampled completions: pass@1 as avg@K, unbiased pass@k, lengths, truncation.

For each item, K completions are sampled and each is scored by the item's own reward (a value
in [0, 1]). Then:
  - pass@1 is avg@K: the mean reward over the K samples, averaged over items (LoongRL's protocol:
    8 samples at T=0.6). For a 0/1 reward it equals the unbiased pass@1 estimate;
  - pass@k for k <= K (powers of two and K itself) is the unbiased estimator of Chen et al.
    (2021), 1 - C(K - c, k) / C(K, k), with c the item's samples that solve it (reward >=
    `solved_at`, 1.0 by default), averaged over items;
  - mean response length in tokens and the share of completions cut at max_tokens.
Scores are kept per data set, and inside each per task and per level.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass, field
from statistics import fmean
from typing import Any


def pass_at_k(num_samples: int, num_correct: int, k: int) -> float:
    """Unbiased pass@k of one item: the chance that k samples drawn without replacement from
    the n taken include a correct one."""
    if not 0 <= num_correct <= num_samples or not 1 <= k <= num_samples:
        raise ValueError(f"pass@k needs 0 <= c <= n and 1 <= k <= n, got n={num_samples}, "
                         f"c={num_correct}, k={k}")  # fmt: skip
    if num_samples - num_correct < k:
        return 1.0
    # 1 - prod_{i = n-c+1}^{n} (1 - k / i): stable for large n, no huge binomials.
    return 1.0 - math.prod(
        1.0 - k / i for i in range(num_samples - num_correct + 1, num_samples + 1)
    )


def ks_for(samples: int) -> list[int]:
    """The k reported for K samples: 1, 2, 4, ... up to K, and K itself."""
    ks = [1 << i for i in range(samples.bit_length()) if (1 << i) <= samples]
    return sorted(set(ks) | {samples})


@dataclass
class ItemResult:
    """One evaluated item: its task and level, each sample's reward, length and finish."""

    task: str
    level: dict[str, int]
    rewards: list[float]
    lengths: list[int]
    truncated: list[bool]


@dataclass
class Scores:
    """Aggregates over a group of items (a set, one task of it, or one level)."""

    items: list[ItemResult] = field(default_factory=list)

    def summary(self, solved_at: float = 1.0) -> dict[str, Any]:
        if not self.items:
            return {"n": 0}
        samples = min(len(item.rewards) for item in self.items)
        rewards = [r for item in self.items for r in item.rewards]
        lengths = [n for item in self.items for n in item.lengths]
        truncated = [t for item in self.items for t in item.truncated]
        by_k = {}
        for k in ks_for(samples):
            by_k[str(k)] = fmean(
                pass_at_k(len(item.rewards), sum(r >= solved_at for r in item.rewards), k)
                for item in self.items
            )
        return {
            "n": len(self.items),
            "samples": samples,
            "pass@1": fmean(fmean(item.rewards) for item in self.items),
            "pass@k": by_k,
            "mean_reward": fmean(rewards),
            "response_length": fmean(lengths) if lengths else 0.0,
            "truncated": fmean(truncated) if truncated else 0.0,
        }


def level_key(level: dict[str, int]) -> str:
    return ",".join(f"{axis}={value}" for axis, value in sorted(level.items()))


def summarize_set(items: list[ItemResult], solved_at: float = 1.0) -> dict[str, Any]:
    """A data set's summary with `by_task` and `by_level` (task/level key) breakdowns."""
    by_task: dict[str, Scores] = defaultdict(Scores)
    by_level: dict[str, Scores] = defaultdict(Scores)
    for item in items:
        by_task[item.task].items.append(item)
        by_level[f"{item.task}/{level_key(item.level)}"].items.append(item)
    result = Scores(list(items)).summary(solved_at)
    result["by_task"] = {name: s.summary(solved_at) for name, s in sorted(by_task.items())}
    result["by_level"] = {name: s.summary(solved_at) for name, s in sorted(by_level.items())}
    return result


def render_table(sets: dict[str, dict[str, Any]]) -> str:
    """One row per set, task and level: n, pass@1, pass@k, mean length, truncated share."""
    rows = [["set", "task/level", "n", "pass@1", "pass@k", "length", "truncated"]]
    for name, summary in sets.items():
        entries = [("(all)", summary)]
        entries += sorted(summary.get("by_level", {}).items())
        for label, scores in entries:
            if not scores.get("n"):
                continue
            ks = " ".join(f"@{k}={v:.3f}" for k, v in scores["pass@k"].items() if k != "1")
            rows.append(
                [
                    name,
                    label,
                    str(scores["n"]),
                    f"{scores['pass@1']:.3f}",
                    ks or "-",
                    f"{scores['response_length']:.1f}",
                    f"{scores['truncated']:.2f}",
                ]
            )
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return "\n".join(
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in rows
    )
