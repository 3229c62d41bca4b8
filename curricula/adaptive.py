"""The adaptive schedule: promote or demote each task from its rolling reward window.

After every `observe`, for each task independently, the frontier level's evidence is read:
- promote when the mean reward is above `promote_above`, or when at least
  `all_solved_promote` of the groups were solved by every completion (GRPO gets no gradient
  from them: too easy);
- demote when the mean is below `demote_below`, or when at least `all_failed_demote` of the
  groups were failed by every completion (too hard);
- either condition must hold on `patience` consecutive steps, over at least `min_samples`.

Evidence is what the window holds at the frontier level since the last move (reasoning-gym
clears its window after a change). With `probe_head_start`, after a promotion the probe
rewards earned at the new level during the previous stage also count towards promoting
again, never towards demoting: a learner already good at the probe level moves on, while a
demotion needs rewards earned while training at the level.

Simplifications: one move per task per step; moves go one index on one axis.
"""

from __future__ import annotations

from curricula.base import Curriculum
from curricula.config import AdaptiveSchedule, CurriculumConfig, TaskCurriculum
from curricula.window import WindowStats


def reasoning_gym_schedule() -> AdaptiveSchedule:
    """reasoning-gym's published rule in this interface: mean of the last 20 samples above
    0.7 raises, below 0.1 lowers, the window clears after each change."""
    return AdaptiveSchedule(
        window=20,
        unit="completion",
        min_samples=20,
        promote_above=0.7,
        demote_below=0.1,
        patience=1,
        all_solved_promote=None,
        all_failed_demote=None,
        probe_head_start=False,
    )


def reasoning_gym_config(tasks: dict[str, TaskCurriculum]) -> CurriculumConfig:
    """A full config for the reasoning-gym rule: no replay, no probes, the given tasks."""
    return CurriculumConfig(
        schedule=reasoning_gym_schedule(), tasks=tasks, replay_frac=0.0, probe_frac=0.0
    )


def _promote_reason(stats: WindowStats, schedule: AdaptiveSchedule, unit: str) -> str | None:
    if stats.mean > schedule.promote_above:
        return f"mean {stats.mean:.3f} > {schedule.promote_above:g} over {stats.amount} {unit}s"
    if (
        schedule.all_solved_promote is not None
        and stats.groups
        and stats.solved_frac >= schedule.all_solved_promote
    ):
        return f"{stats.solved_frac:.0%} of {stats.groups} groups all solved (no GRPO signal)"
    return None


def _demote_reason(stats: WindowStats, schedule: AdaptiveSchedule, unit: str) -> str | None:
    if stats.mean < schedule.demote_below:
        return f"mean {stats.mean:.3f} < {schedule.demote_below:g} over {stats.amount} {unit}s"
    if (
        schedule.all_failed_demote is not None
        and stats.groups
        and stats.failed_frac >= schedule.all_failed_demote
    ):
        return f"{stats.failed_frac:.0%} of {stats.groups} groups all failed (no GRPO signal)"
    return None


class AdaptiveCurriculum(Curriculum):
    """Windowed promotion and demotion per task, with zero-variance evidence."""

    kind = "adaptive"

    def _decide(self, task: str) -> None:
        schedule: AdaptiveSchedule = self.config.schedule
        state = self.states[task]
        fresh = self.window_stats(task, state.frontier, since_step=state.last_change + 1)
        promote_since = state.last_change + 1
        if schedule.probe_head_start and state.last_event == "promote":
            promote_since = state.prev_change + 1
        ahead = self.window_stats(task, state.frontier, since_step=promote_since)

        promote = (
            _promote_reason(ahead, schedule, schedule.unit)
            if ahead.amount >= schedule.min_samples
            else None
        )
        demote = (
            _demote_reason(fresh, schedule, schedule.unit)
            if fresh.amount >= schedule.min_samples
            else None
        )
        if promote:
            state.promote_streak += 1
            state.demote_streak = 0
        elif demote:
            state.demote_streak += 1
            state.promote_streak = 0
        else:
            state.promote_streak = state.demote_streak = 0

        if promote and state.promote_streak >= schedule.patience:
            if not self._move(task, "promote", promote):
                state.promote_streak = 0  # at the ceiling: stay, and keep watching
        elif demote and state.demote_streak >= schedule.patience:
            if not self._move(task, "demote", demote):
                state.demote_streak = 0  # at the floor
