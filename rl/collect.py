"""The data side of a GRPO step: choose levels, make tasks, roll out, score.

The curriculum picks (task, level) for each prompt; each generator is asked once per level
with a seed derived from (run seed, step, task, level), so a resumed run redraws the same
tasks. With DAPO's dynamic sampling, groups whose rewards are all equal are dropped from the
training batch and more prompts are drawn (at most `refill_rounds` times); every group, kept
or dropped, is returned for the curriculum to observe.
"""

from __future__ import annotations

import time
import zlib
from dataclasses import dataclass, field
from typing import Any


def task_seed(run_seed: int, step: int, task: str, level: dict[str, int], round_: int = 0) -> int:
    """A stable seed for one (step, round, task, level) draw, independent of Python's hash salt."""
    key = f"{run_seed}/{step}/{round_}/{task}/{sorted(level.items())}"
    return zlib.crc32(key.encode())


@dataclass
class Batch:
    """Prompts with their rollouts and rewards, one entry per GRPO group."""

    choices: list[tuple[str, dict[str, int]]] = field(default_factory=list)
    tasks: list[Any] = field(default_factory=list)  # synth.Task per prompt
    rollouts: list[Any] = field(default_factory=list)  # cluster Rollout per prompt
    rewards: list[list[float]] = field(default_factory=list)  # (prompts, G)
    seconds_rollout: float = 0.0
    seconds_reward: float = 0.0

    def select(self, keep: list[bool]) -> Batch:
        pick = [i for i, flag in enumerate(keep) if flag]
        return Batch(
            [self.choices[i] for i in pick],
            [self.tasks[i] for i in pick],
            [self.rollouts[i] for i in pick],
            [self.rewards[i] for i in pick],
            self.seconds_rollout,
            self.seconds_reward,
        )

    def extend(self, other: Batch) -> None:
        self.choices += other.choices
        self.tasks += other.tasks
        self.rollouts += other.rollouts
        self.rewards += other.rewards
        self.seconds_rollout += other.seconds_rollout
        self.seconds_reward += other.seconds_reward

    def informative(self) -> list[bool]:
        """True for groups whose rewards differ (they carry a GRPO gradient)."""
        return [len(set(group)) > 1 for group in self.rewards]


def reward_columns(task: Any) -> dict[str, Any]:
    """Extra reward columns from a task's meta (e.g. `length_constraint`), as TRL passes them."""
    return dict(task.meta_dict().get("reward_columns", {}))


class Collector:
    """Turns curriculum choices into a scored batch of rollouts."""

    def __init__(self, config, generators: dict[str, Any], curriculum, scorer, pool, stages=None):
        self.config = config
        self.generators = generators
        self.curriculum = curriculum
        self.scorer = scorer
        self.pool = pool
        self.stages = stages  # rl.stages.Stages: the step's task mix and hard subset

    def choose(self, step: int, count: int, round_: int = 0) -> Batch:
        """Levels from the curriculum (in `step`'s stage), then their tasks (`make_tasks`)."""
        if self.stages is not None:
            self.stages.enter(step)
        return self.make_tasks(step, self.curriculum.choose(count), round_)

    def make_tasks(
        self, step: int, choices: list[tuple[str, dict[str, int]]], round_: int = 0
    ) -> Batch:
        """The tasks for `choices`: one seeded sample call per (task, level), so the same
        choices at the same step always give the same tasks (a resume rebuilds them here)."""
        wanted: dict[tuple[str, tuple], int] = {}
        for task_name, level in choices:
            key = (task_name, tuple(sorted(level.items())))
            wanted[key] = wanted.get(key, 0) + 1
        made = {}
        for (task_name, level_items), how_many in wanted.items():
            seed = task_seed(self.config.seed, step, task_name, dict(level_items), round_)
            made[(task_name, level_items)] = list(
                self.generators[task_name].sample(dict(level_items), how_many, seed)
            )
        tasks = [made[(name, tuple(sorted(level.items())))].pop(0) for name, level in choices]
        return Batch(choices=list(choices), tasks=tasks)

    def roll_out(self, batch: Batch, sampling_seed: int | None) -> Batch:
        sampling = self.config.sampling
        if sampling.seed is not None and sampling_seed is not None:
            sampling = sampling.model_copy(update={"seed": sampling_seed})
        started = time.perf_counter()
        batch.rollouts = self.pool.generate([task.prompt for task in batch.tasks], sampling)
        batch.seconds_rollout = time.perf_counter() - started
        started = time.perf_counter()
        batch.rewards = [
            self.scorer.score(
                name,
                task,
                [c.text for c in rollout.completions],
                [len(c.token_ids) for c in rollout.completions],
                **reward_columns(task),
            )
            for (name, _), task, rollout in zip(
                batch.choices, batch.tasks, batch.rollouts, strict=True
            )
        ]
        batch.seconds_reward = time.perf_counter() - started
        return batch

    def sampling_seed(self, step: int, round_: int) -> int | None:
        base = self.config.sampling.seed
        return None if base is None else base + 1000 * step + round_

    def collect(self, step: int, chosen: Batch | None = None) -> tuple[Batch, Batch]:
        """(training batch, every group observed this step). `chosen` skips the first choose."""
        batch = chosen or self.choose(step, self.config.prompts_per_step)
        batch = self.roll_out(batch, self.sampling_seed(step, 0))
        observed = Batch()
        observed.extend(batch)
        if not self.config.trainer.dynamic_sampling:
            return batch, observed
        kept = batch.select(batch.informative())
        for round_ in range(1, self.config.refill_rounds + 1):
            missing = self.config.prompts_per_step - len(kept.tasks)
            if missing <= 0:
                break
            extra = self.roll_out(
                self.choose(step, missing, round_), self.sampling_seed(step, round_)
            )
            observed.extend(extra)
            kept.extend(extra.select(extra.informative()))
        return kept, observed
