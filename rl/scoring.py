"""Scoring rollouts: each task's reward (a name or a weighted sum) over its completions.

Reward functions speak TRL's signature, `f(prompts, completions, **columns)`. The registered
ones never raise, but a user's reward might: a batch call that raises is retried item by
item, each item that still raises scores 0, and the failures are counted in the step's
metrics (`reward/errors`) instead of stopping a long run.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from rewards import get_reward
from synth.task import Task

log = logging.getLogger(__name__)
RewardFn = Callable[..., list[float]]


def reward_terms(spec: str | dict[str, float] | None, task: Task) -> dict[str, float]:
    """{reward name: weight} for a task: the config's spec, else the Task's own reward name."""
    if spec is None:
        return {task.reward: 1.0}
    if isinstance(spec, str):
        return {spec: 1.0}
    return dict(spec)


class Scorer:
    """Scores (task, completions) pairs; holds the per-run error count."""

    def __init__(
        self,
        specs: dict[str, str | dict[str, float] | None],
        registry: Callable[[str], RewardFn] = get_reward,
    ):
        self.specs = specs
        self._lookup = registry
        self._functions: dict[str, RewardFn] = {}
        self.errors = 0

    def function(self, name: str) -> RewardFn:
        if name not in self._functions:
            self._functions[name] = self._lookup(name)
        return self._functions[name]

    def score(
        self, task_name: str, task: Task, completions: list[str], **extra: Any
    ) -> list[float]:
        """One reward per completion of one prompt, in [0, 1] after weighting."""
        terms = reward_terms(self.specs.get(task_name), task)
        total_weight = sum(terms.values()) or 1.0
        columns = {
            "answer": [task.answer] * len(completions),
            "task": [task.task] * len(completions),
        }
        columns.update({key: [value] * len(completions) for key, value in extra.items()})
        totals = [0.0] * len(completions)
        for name, weight in terms.items():
            values = self._call(name, [task.prompt] * len(completions), completions, columns)
            totals = [t + weight * v for t, v in zip(totals, values, strict=True)]
        return [min(max(t / total_weight, 0.0), 1.0) for t in totals]

    def _call(
        self, name: str, prompts: list, completions: list[str], columns: dict[str, list]
    ) -> list[float]:
        fn = self.function(name)
        try:
            return [_as_score(v) for v in fn(prompts=prompts, completions=completions, **columns)]
        except Exception:  # a user's reward raised on the batch: isolate the bad items
            log.debug("reward %s raised on a batch; scoring item by item", name, exc_info=True)
        values = []
        for index in range(len(completions)):
            try:
                row = {key: column[index : index + 1] for key, column in columns.items()}
                values.append(
                    _as_score(
                        fn(
                            prompts=prompts[index : index + 1],
                            completions=completions[index : index + 1],
                            **row,
                        )[0]
                    )
                )
            except Exception as error:
                self.errors += 1
                log.warning(
                    "reward %s raised on one completion, scored 0: %s",
                    name,
                    f"{type(error).__name__}: {error}"[:200],
                )
                values.append(0.0)
        return values


def _as_score(value: Any) -> float:
    """None (TRL's "does not apply") and NaN count as 0."""
    if value is None:
        return 0.0
    value = float(value)
    return 0.0 if value != value else value
