"""Sample completions for the dashboard: a few groups per task and level per step, in
runs/<name>/rollouts.jsonl.

One JSON line per sampled group: `{step, task, level, level_key, id, policy_version, prompt,
answer, completions: [{text, reward, tokens, finish_reason}]}`. The prompt is the last user
message and long texts keep their head and tail (a KeyChain prompt is 128K tokens; an answer
sits at the end of a completion). The file is bounded: once it would pass half of
`max_bytes`, it becomes rollouts.1.jsonl (replacing the previous one) and a new file starts,
so the two together stay under `max_bytes` and the oldest samples go first.
curricula/run_tail.py reads them.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

from rl.collect import Batch
from rl.config import LoggingConfig
from rl.step_metrics import level_key

FILE = "rollouts.jsonl"
ROTATED_SUFFIX = ".1.jsonl"
PROMPT_CHARS = (600, 1400)  # kept from the head and the tail
COMPLETION_CHARS = (2500, 1500)


def clip(text: str, keep: tuple[int, int]) -> str:
    """`text` with its middle cut when longer than head + tail characters."""
    head, tail = keep
    if len(text) <= head + tail:
        return text
    cut = len(text) - head - tail
    return f"{text[:head]}\n[… {cut} characters cut …]\n{text[-tail:]}"


def prompt_text(messages: list[dict[str, str]]) -> str:
    users = [m["content"] for m in messages if m.get("role") == "user"]
    return users[-1] if users else messages[-1]["content"]


def sample_records(step: int, batch: Batch, per_level: int) -> list[dict[str, Any]]:
    """The first `per_level` groups of each (task, level) in the batch (its order is shuffled)."""
    taken: Counter = Counter()
    records = []
    for (task, level), item, rollout, rewards in zip(
        batch.choices, batch.tasks, batch.rollouts, batch.rewards, strict=True
    ):
        key = (task, level_key(level))
        if taken[key] >= per_level:
            continue
        taken[key] += 1
        records.append(
            {
                "step": step,
                "task": task,
                "level": dict(level),
                "level_key": key[1],
                "id": item.id,
                "policy_version": rollout.policy_version,
                "prompt": clip(prompt_text(item.prompt), PROMPT_CHARS),
                "answer": item.answer,
                "completions": [
                    {
                        "text": clip(completion.text, COMPLETION_CHARS),
                        "reward": float(reward),
                        "tokens": len(completion.token_ids),
                        "finish_reason": completion.finish_reason,
                    }
                    for completion, reward in zip(rollout.completions, rewards, strict=True)
                ],
            }
        )
    return records


def write(path: Path, step: int, batch: Batch, per_level: int, max_bytes: int) -> int:
    """Append step `step`'s samples to `path`, rotating first if it would pass max_bytes / 2;
    the number of groups written (0 when per_level is 0)."""
    if per_level <= 0 or not batch.rollouts:
        return 0
    lines = "".join(
        json.dumps(record) + "\n" for record in sample_records(step, batch, per_level)
    ).encode()
    if path.exists() and path.stat().st_size + len(lines) > max_bytes // 2:
        path.replace(path.with_name(path.name.removesuffix(".jsonl") + ROTATED_SUFFIX))
    with path.open("ab") as handle:
        handle.write(lines)
    return lines.count(b"\n")


def append(run_dir: Path, step: int, batch: Batch, config: LoggingConfig) -> int:
    """`write` to run_dir/rollouts.jsonl with the run's `logging` settings."""
    max_bytes = int(config.samples_max_mb * 2**20)
    return write(Path(run_dir) / FILE, step, batch, config.samples_per_level, max_bytes)
