"""One step's metrics record: rewards by task and level, lengths, GRPO signal, timings."""

from __future__ import annotations

from collections import defaultdict
from statistics import fmean
from typing import Any

from rl.collect import Batch
from rl.stages import tracker_id


def level_key(level: dict[str, int]) -> str:
    return ",".join(f"{axis}={value}" for axis, value in sorted(level.items()))


def batch_metrics(train: Batch, observed: Batch) -> dict[str, Any]:
    """Reward by task and level (over every observed group), zero-variance shares, lengths."""
    record: dict[str, Any] = {}
    all_rewards = [r for group in observed.rewards for r in group]
    record["reward/mean"] = fmean(all_rewards) if all_rewards else 0.0
    by_task: dict[str, list[float]] = defaultdict(list)
    by_level: dict[str, list[float]] = defaultdict(list)
    zero_var: dict[str, list[bool]] = defaultdict(list)
    for (task, level), group in zip(observed.choices, observed.rewards, strict=True):
        by_task[task] += group
        by_level[f"{task}/{level_key(level)}"] += group
        zero_var[f"{task}/{level_key(level)}"].append(len(set(group)) <= 1)
    for task, values in by_task.items():
        record[f"reward/{task}/mean"] = fmean(values)
    for key, values in by_level.items():
        record[f"reward/{key}/mean"] = fmean(values)
        record[f"zero_var/{key}"] = fmean(zero_var[key])
    flags = [flag for values in zero_var.values() for flag in values]
    record["zero_var_frac"] = fmean(flags) if flags else 0.0
    lengths = [len(c.token_ids) for rollout in observed.rollouts for c in rollout.completions]
    truncated = [
        c.finish_reason == "length" for rollout in observed.rollouts for c in rollout.completions
    ]
    record["response_length/mean"] = fmean(lengths) if lengths else 0.0
    record["response_length/max"] = max(lengths, default=0)
    record["response_length/truncated_frac"] = fmean(truncated) if truncated else 0.0
    record["batch/task_ids"] = [task.id for task in observed.tasks]  # audit trail; resume tests
    record["groups/observed"] = len(observed.tasks)
    record["groups/trained"] = len(train.tasks)
    record["time/rollout"] = observed.seconds_rollout
    record["time/reward"] = observed.seconds_reward
    record["tokens_per_s/rollout"] = (
        sum(lengths) / observed.seconds_rollout if observed.seconds_rollout else 0.0
    )
    return record


def curriculum_results(observed: Batch) -> list[dict[str, Any]]:
    """What `curriculum.observe` takes: one dict per group. Item ids are the task's name and
    the record's id (`tracker_id`): two datasets made with the same seed share record ids."""
    return [
        {"task": task, "level": level, "rewards": list(group), "item_id": tracker_id(task, item.id)}
        for (task, level), group, item in zip(
            observed.choices, observed.rewards, observed.tasks, strict=True
        )
    ]
