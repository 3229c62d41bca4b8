"""Simulated learners for tests and benchmarks/curriculum_sim.py.

Each task has a skill in units of difficulty, where a level's difficulty is the sum of its
axis indices (horizon 1 -> 0, horizon 2 -> 1, ...). A completion at difficulty d succeeds
with probability sigmoid(slope * (skill - d)). Practice teaches as GRPO does: a group moves
the skill by `learn_rate` times its reward variance (4 * share * (1 - share), in [0, 1]),
so groups that are all solved or all failed teach nothing; the skill never exceeds
`max_skill`. The frontier a curriculum should find is therefore the first level whose
success at `max_skill` falls below the promotion threshold.

Simplifications: success depends on the level only (not the item); no transfer between tasks;
forgetting happens only through `degrade`.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from typing import Any

from curricula.levels import Axis


@dataclass
class SimulatedTask:
    """One task's learner: ability now, ability at best, how fast practice helps."""

    axes: list[Axis]
    skill: float = 0.0
    max_skill: float = 4.0
    learn_rate: float = 0.005
    slope: float = 2.0

    def difficulty(self, level: dict[str, int]) -> int:
        return sum(axis.values.index(level[axis.name]) for axis in self.axes)

    def success(self, level: dict[str, int], skill: float | None = None) -> float:
        ability = self.skill if skill is None else skill
        return 1.0 / (1.0 + math.exp(-self.slope * (ability - self.difficulty(level))))


class SimulatedLearner:
    """Answers a curriculum's choices with Bernoulli rewards and learns from them."""

    def __init__(self, tasks: dict[str, SimulatedTask], group_size: int = 8, seed: int = 0) -> None:
        self.tasks = tasks
        self.group_size = group_size
        self.rng = random.Random(f"learner/{seed}")

    def attempt(self, choices: list[tuple[str, dict[str, int]]]) -> list[dict[str, Any]]:
        """One GRPO step: a group of rewards per choice, then the skill update."""
        results = []
        for task, level in choices:
            probability = self.tasks[task].success(level)
            rewards = [
                1.0 if self.rng.random() < probability else 0.0 for _ in range(self.group_size)
            ]
            results.append({"task": task, "level": level, "rewards": rewards})
        for result in results:
            learner = self.tasks[result["task"]]
            share = sum(result["rewards"]) / self.group_size
            learner.skill = min(
                learner.max_skill, learner.skill + learner.learn_rate * 4 * share * (1 - share)
            )
        return results

    def degrade(self, task: str, drop: float) -> None:
        """Forgetting, or a broken reward: the task's skill and its best both fall by `drop`."""
        self.tasks[task].skill -= drop
        self.tasks[task].max_skill -= drop

    def state_dict(self) -> dict[str, Any]:
        version, internal, gauss = self.rng.getstate()
        return {
            "rng": [version, list(internal), gauss],
            "skills": {task: [t.skill, t.max_skill] for task, t in self.tasks.items()},
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        version, internal, gauss = state["rng"]
        self.rng.setstate((version, tuple(internal), gauss))
        for task, (skill, max_skill) in state["skills"].items():
            self.tasks[task].skill = skill
            self.tasks[task].max_skill = max_skill


def frontier_level(task: SimulatedTask, threshold: float) -> dict[str, int]:
    """The easiest level (raising axes in order) whose success at `max_skill` is not above
    `threshold`: where a curriculum should settle."""
    level = {axis.name: axis.values[0] for axis in task.axes}
    for axis in task.axes:
        for value in axis.values:
            level[axis.name] = value
            if task.success(level, task.max_skill) <= threshold:
                return dict(level)
    return level


def run(
    curriculum, learner: SimulatedLearner, steps: int, prompts_per_step: int
) -> list[dict[str, Any]]:
    """Drive `curriculum` with `learner` for `steps`; one record per step: frontier levels,
    learner skills and the step's events."""
    history = []
    for _ in range(steps):
        results = learner.attempt(curriculum.choose(prompts_per_step))
        curriculum.observe(results)
        history.append(
            {
                "step": curriculum.step,
                "levels": curriculum.current_levels(),
                "skills": {task: t.skill for task, t in learner.tasks.items()},
                "events": curriculum.pop_events(),
            }
        )
    return history
