"""Scoring rollouts: each task's reward (a registered name or a `rewards.combine` spec).

Reward functions speak TRL's signature, `f(prompts, completions, **columns)`. The registered
ones never raise, but a user's reward might: a batch call that raises is retried item by
item, each item that still raises scores 0, and the failures are counted (`reward/errors` in
the step's metrics) instead of stopping a long run.

A reward may also hang (a loop that never ends on a model's output, a verifier waiting on a
lock). Each call has a time limit of `timeout_s` per completion; a batch past its limit is
retried item by item, an item past it scores 0 and is counted (`reward/timeouts`). On the
main thread the limit is SIGALRM (it interrupts Python code, not a C call such as one regex
match); elsewhere the call runs in a daemon thread that is abandoned, not killed, when late
(Python cannot stop a thread) and goes with the process.
"""

from __future__ import annotations

import logging
import math
import threading
from collections.abc import Callable
from typing import Any

from rewards.timeout import RewardTimeout as LimitReached
from rewards.timeout import time_limit
from synth.task import Task

log = logging.getLogger(__name__)
RewardFn = Callable[..., list[float]]
RewardSetting = str | dict[str, Any] | list[Any] | None


def build_task_reward(setting: RewardSetting) -> RewardFn | None:
    """A task's configured reward: a registry name, a weighted spec, or None (use each Task's)."""
    from rewards import get_reward
    from rewards.combine import build_reward

    if setting is None:
        return None
    if isinstance(setting, str):
        return get_reward(setting)
    return build_reward(setting)


class RewardTooSlow(Exception):
    """A reward call ran past its time limit (its thread is abandoned)."""


class Scorer:
    """Scores the completions of one prompt at a time; counts rewards that raised or hung."""

    def __init__(self, settings: dict[str, RewardSetting], timeout_s: float = 30.0):
        self._configured = {name: build_task_reward(setting) for name, setting in settings.items()}
        self._by_name: dict[str, RewardFn] = {}
        self.timeout_s = timeout_s
        self.errors = 0
        self.timeouts = 0

    def _call(self, fn: RewardFn, items: int, **arguments: Any) -> list[Any]:
        """fn(**arguments) within `timeout_s` per item, else RewardTooSlow."""
        seconds = self.timeout_s * items
        if threading.current_thread() is threading.main_thread():
            # SIGALRM (rewards/timeout.py), so that `math` keeps its own signal-based limit,
            # which works on the main thread only and re-arms this one when it is done
            try:
                with time_limit(seconds):
                    return fn(**arguments)
            except LimitReached:
                raise RewardTooSlow(f"no result in {seconds:g} s") from None
        # Off the main thread (the prefetch thread under max_staleness=1): a daemon thread per
        # call. A pool's worker that hangs would be joined, for ever, at interpreter exit.
        box: dict[str, Any] = {}

        def target() -> None:
            try:
                box["value"] = fn(**arguments)
            except BaseException as error:  # noqa: BLE001 - handed back to the caller below
                box["error"] = error

        thread = threading.Thread(target=target, name="reward", daemon=True)
        thread.start()
        thread.join(seconds)
        if thread.is_alive():  # it cannot be stopped: leave it behind and score on
            raise RewardTooSlow(f"no result in {seconds:g} s")
        if "error" in box:
            raise box["error"]
        return box["value"]

    def function(self, task_name: str, task: Task) -> RewardFn:
        configured = self._configured.get(task_name)
        if configured is not None:
            return configured
        if task.reward not in self._by_name:
            from rewards import get_reward

            self._by_name[task.reward] = get_reward(task.reward)
        return self._by_name[task.reward]

    def score(
        self,
        task_name: str,
        task: Task,
        completions: list[str],
        completion_lengths: list[int],
        **extra: Any,
    ) -> list[float]:
        """One reward per completion of `task`'s prompt, in [0, 1] or the reward's declared range."""
        fn = self.function(task_name, task)
        count = len(completions)
        columns = {"answer": [task.answer] * count, "completion_lengths": completion_lengths}
        columns.update({key: [value] * count for key, value in extra.items()})
        prompts = [task.prompt] * count
        low, high = getattr(fn, "reward_range", (0.0, 1.0))
        try:
            return [
                _as_score(v, low, high)
                for v in self._call(fn, count, prompts=prompts, completions=completions, **columns)
            ]
        except Exception:  # a user's reward raised or hung on the batch: find the items
            log.debug(
                "reward for %s raised on a batch; scoring item by item", task_name, exc_info=True
            )
        values = []
        for index in range(count):
            row = {key: column[index : index + 1] for key, column in columns.items()}
            try:
                [value] = self._call(
                    fn,
                    1,
                    prompts=prompts[index : index + 1],
                    completions=completions[index : index + 1],
                    **row,
                )
                values.append(_as_score(value, low, high))
            except RewardTooSlow as error:
                self.timeouts += 1
                log.warning("reward for %s hung on one completion, scored 0: %s", task_name, error)
                values.append(0.0)
            except Exception as error:
                self.errors += 1
                log.warning(
                    "reward for %s raised on one completion, scored 0: %s",
                    task_name,
                    f"{type(error).__name__}: {error}"[:200],
                )
                values.append(0.0)
        return values


def _as_score(value: Any, low: float = 0.0, high: float = 1.0) -> float:
    """None (TRL's "does not apply") and NaN count as 0; values are clipped to the reward's
    range: [0, 1] unless the function declares `reward_range` (DAPO's signed total)."""
    if value is None or math.isnan(value := float(value)):
        return 0.0
    return min(max(value, low), high)
