"""What every curriculum shares: frontiers, batch mixing, windows, events, metrics, state.

A schedule (adaptive, fixed_steps, ...) subclasses `Curriculum` and overrides `_decide(task)`,
called once per task after every `observe`; it moves the frontier with `_move`. Mixing:
each batch is split across tasks by weight, then each task's share into frontier prompts,
replay prompts (a uniformly drawn easier level) and probe prompts (the next level up).
Splits use largest-remainder rounding with random tie-breaks, so shares hold on small
batches in expectation and each batch is close to them. All randomness comes from one
`random.Random(seed)` stored in `state_dict`, so a resumed run repeats every choice.
"""

from __future__ import annotations

import logging
import math
import random
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from curricula.config import CurriculumConfig
from curricula.hard_subset import HardSubset
from curricula.levels import Axis, Index, LevelSpace
from curricula.window import LevelWindow, WindowStats, group_entry

logger = logging.getLogger(__name__)

# Per-task metric names that are not axes (the dashboard tells them apart by these).
TASK_COUNTERS = ("promotions", "demotions")


def apportion(total: int, weights: Sequence[float], rng: random.Random) -> list[int]:
    """`total` split in proportion to `weights`: floors, then the remaining units to entries
    drawn by their fractional parts, without replacement."""
    weight_sum = sum(weights)
    quotas = [total * weight / weight_sum for weight in weights]
    counts = [math.floor(quota) for quota in quotas]
    remainders = [quota - count for quota, count in zip(quotas, counts, strict=True)]
    for _ in range(total - sum(counts)):
        # A zero weight never receives a unit (a stage that leaves a task out draws none).
        floor = [1e-12 if weight > 0 else 0.0 for weight in weights]
        pick = rng.choices(
            range(len(weights)), weights=[r + f for r, f in zip(remainders, floor, strict=True)]
        )[0]
        counts[pick] += 1
        remainders[pick] = 0.0
    return counts


@dataclass
class TaskState:
    """Where one task stands; `last_change`/`prev_change` are steps of the last two moves."""

    frontier: Index
    raised: list[int] = field(default_factory=list)
    last_axis: int | None = None
    last_change: int = 0
    prev_change: int = 0
    last_event: str | None = None
    promote_streak: int = 0
    demote_streak: int = 0
    promotions: int = 0
    demotions: int = 0


class Curriculum:
    """Base schedule: never moves on its own; subclasses decide in `_decide`."""

    kind = "base"
    mixes = True  # whether replay/probe shares apply

    def __init__(
        self, config: CurriculumConfig, axes_by_task: dict[str, list[Axis]], seed: int
    ) -> None:
        missing = sorted(set(config.tasks) - set(axes_by_task))
        if missing:
            raise ValueError(
                f"curriculum tasks {missing} have no axes; the driver passed axes for {sorted(axes_by_task)}"
            )
        self.config = config
        self.seed = seed
        self.spaces = {
            task: LevelSpace(task, axes_by_task[task], config.tasks[task]) for task in config.tasks
        }
        self.task_names = list(config.tasks)
        self.weights = [config.tasks[task].weight for task in self.task_names]
        self.rng = random.Random(seed)
        self.step = 0
        self.states = {task: TaskState(frontier=space.start) for task, space in self.spaces.items()}
        window = getattr(config.schedule, "window", 16)
        unit = getattr(config.schedule, "unit", "group")
        self._window_args = (window, unit)
        self.windows: dict[tuple[str, Index], LevelWindow] = {}
        self.events: list[dict[str, Any]] = []
        self.hard_subset = HardSubset(config.hard_subset)

    # -- choosing ------------------------------------------------------------------------------

    def choose(self, n: int) -> list[tuple[str, dict[str, int]]]:
        """(task, level) for each of the next batch's n prompts, in a shuffled order."""
        if n < 0:
            raise ValueError(f"choose(n) needs n >= 0, got {n}")
        choices: list[tuple[str, dict[str, int]]] = []
        for task, count in zip(self.task_names, apportion(n, self.weights, self.rng), strict=True):
            space = self.spaces[task]
            choices.extend((task, space.to_dict(index)) for index in self._levels_for(task, count))
        self.rng.shuffle(choices)
        return choices

    def _levels_for(self, task: str, count: int) -> list[Index]:
        state = self.states[task]
        space = self.spaces[task]
        if not self.mixes or count == 0:
            return [state.frontier] * count
        replay_levels = space.below(state.frontier)
        probe = space.up(state.frontier, state.last_axis, self.config.axis_policy)
        # A missing replay or probe level gives its share back to the frontier.
        replay_share = self.config.replay_frac if replay_levels else 0.0
        probe_share = self.config.probe_frac if probe else 0.0
        shares = [max(0.0, 1.0 - replay_share - probe_share), replay_share, probe_share]
        frontier_count, replay_count, probe_count = apportion(count, shares, self.rng)
        levels = [state.frontier] * frontier_count
        levels += [self.rng.choice(replay_levels) for _ in range(replay_count)]
        if probe_count:
            levels += [probe[0]] * probe_count
        return levels

    def set_weights(self, weights: dict[str, float]) -> None:
        """Each task's share of the next batches (a stage's mix, rl/stages.py); a task left
        out draws no prompt. The weights are the stage schedule's, not this state's."""
        unknown = sorted(set(weights) - set(self.task_names))
        if unknown or sum(weights.values()) <= 0:
            raise ValueError(
                f"set_weights: {weights} must weigh tasks among {self.task_names} above 0"
            )
        self.weights = [float(weights.get(task, 0.0)) for task in self.task_names]

    # -- observing -----------------------------------------------------------------------------

    def observe(self, results: list[dict[str, Any]]) -> None:
        """Record one step's prompt groups, then let the schedule move each task's frontier."""
        self.step += 1
        for number, result in enumerate(results):
            task, index, rewards = self._parse(number, result)
            key = (task, index)
            if key not in self.windows:
                self.windows[key] = LevelWindow(*self._window_args)
            self.windows[key].add(group_entry(self.step, rewards))
            if self.config.hard_subset.enabled and result.get("item_id") is not None:
                self.hard_subset.observe(str(result["item_id"]), rewards)
        for task in self.task_names:
            self._decide(task)

    def _parse(self, number: int, result: dict[str, Any]) -> tuple[str, Index, list[float]]:
        task = result.get("task")
        if task not in self.spaces:
            raise ValueError(
                f"observe: result {number} has task {task!r}; known tasks are {self.task_names}"
            )
        rewards = result.get("rewards")
        if not isinstance(rewards, list | tuple) or not rewards:
            raise ValueError(
                f"observe: result {number} ({task}) needs a non-empty list 'rewards', got {rewards!r}"
            )
        values = [float(reward) for reward in rewards]
        if any(math.isnan(value) for value in values):
            raise ValueError(
                f"observe: result {number} ({task}) has a NaN reward; fix the reward function"
            )
        level = result.get("level")
        if not isinstance(level, dict):
            raise ValueError(
                f"observe: result {number} ({task}) needs a dict 'level', got {level!r}"
            )
        return task, self.spaces[task].to_index(level), values

    def _decide(self, task: str) -> None:
        """Move `task`'s frontier if the schedule says so; the base schedule never does."""

    def window_stats(self, task: str, index: Index, since_step: int = 0) -> WindowStats:
        window = self.windows.get((task, index))
        if window is None:
            return LevelWindow(*self._window_args).stats()
        return window.stats(since_step)

    def _move(self, task: str, event: str, reason: str) -> bool:
        """Promote or demote `task` by one step; False when a bound stops it."""
        state = self.states[task]
        space = self.spaces[task]
        if event == "promote":
            moved = space.up(state.frontier, state.last_axis, self.config.axis_policy)
        else:
            moved = space.down(state.frontier, state.raised)
        if moved is None:
            return False
        new_index, axis = moved
        if event == "promote":
            state.raised.append(axis)
            state.last_axis = axis
            state.promotions += 1
        else:
            if axis in state.raised:
                del state.raised[len(state.raised) - 1 - state.raised[::-1].index(axis)]
            state.demotions += 1
        record = {
            "step": self.step,
            "task": task,
            "event": event,
            "from": space.to_dict(state.frontier),
            "to": space.to_dict(new_index),
            "reason": reason,
        }
        logger.info(
            "curriculum: %s %s %s -> %s (%s)",
            task,
            event,
            space.label(state.frontier),
            space.label(new_index),
            reason,
        )
        state.frontier = new_index
        state.prev_change, state.last_change = state.last_change, self.step
        state.last_event = event
        state.promote_streak = state.demote_streak = 0
        self.events.append(record)
        return True

    # -- reporting -----------------------------------------------------------------------------

    def current_levels(self) -> dict[str, dict[str, int]]:
        """The frontier level of every task."""
        return {
            task: self.spaces[task].to_dict(state.frontier) for task, state in self.states.items()
        }

    def pop_events(self) -> list[dict[str, Any]]:
        """Promotions and demotions since the last call."""
        events, self.events = self.events, []
        return events

    def metrics(self) -> dict[str, float]:
        """Flat keys: frontier value per axis, per-level window success and zero-variance shares."""
        out: dict[str, float] = {"curriculum/step": float(self.step)}
        for task, state in self.states.items():
            for name, value in self.spaces[task].to_dict(state.frontier).items():
                out[f"curriculum/{task}/{name}"] = float(value)
            out[f"curriculum/{task}/promotions"] = float(state.promotions)
            out[f"curriculum/{task}/demotions"] = float(state.demotions)
        for (task, index), window in sorted(self.windows.items()):
            stats = window.stats()
            prefix = f"curriculum/{task}/{self.spaces[task].label(index)}"
            out[f"{prefix}/success"] = stats.mean
            out[f"{prefix}/zero_var_frac"] = stats.zero_var_frac
            out[f"{prefix}/all_solved_frac"] = stats.solved_frac
            out[f"{prefix}/all_failed_frac"] = stats.failed_frac
            out[f"{prefix}/groups"] = float(window.total_groups)
        if self.config.hard_subset.enabled:
            out.update(self.hard_subset.metrics())
        return out

    # -- state ---------------------------------------------------------------------------------

    def state_dict(self) -> dict[str, Any]:
        """JSON-serialisable: RNG, step, per-task state (levels as values), windows, events."""
        version, internal, gauss = self.rng.getstate()
        tasks = {}
        for task, state in self.states.items():
            entry = asdict(state)
            entry["frontier"] = self.spaces[task].to_dict(state.frontier)
            tasks[task] = entry
        windows = [
            {"task": task, "level": self.spaces[task].to_dict(index), **window.state_dict()}
            for (task, index), window in self.windows.items()
        ]
        return {
            "kind": self.kind,
            "seed": self.seed,
            "step": self.step,
            "rng": [version, list(internal), gauss],
            "tasks": tasks,
            "windows": windows,
            "events": list(self.events),
            "hard_subset": self.hard_subset.state_dict(),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if state.get("kind") != self.kind:
            raise ValueError(
                f"curriculum state is of kind {state.get('kind')!r}, this curriculum is {self.kind!r}"
            )
        if set(state["tasks"]) != set(self.states):
            raise ValueError(
                f"curriculum state has tasks {sorted(state['tasks'])}, config has {sorted(self.states)}"
            )
        version, internal, gauss = state["rng"]
        self.rng.setstate((version, tuple(internal), gauss))
        self.step = int(state["step"])
        for task, entry in state["tasks"].items():
            fields = dict(entry)
            fields["frontier"] = self.spaces[task].to_index(entry["frontier"])
            fields["raised"] = list(entry["raised"])
            self.states[task] = TaskState(**fields)
        self.windows = {}
        for entry in state["windows"]:
            window = LevelWindow(*self._window_args)
            window.load_state_dict(entry)
            self.windows[(entry["task"], self.spaces[entry["task"]].to_index(entry["level"]))] = (
                window
            )
        self.events = list(state["events"])
        self.hard_subset.load_state_dict(state["hard_subset"])
