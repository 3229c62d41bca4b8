"""Curriculum configuration: which schedule, which tasks at what weight, how batches mix.

Pydantic only (no torch, no generators), so validating a YAML file stays cheap. The schedule
is a tagged union on `kind`; `curricula.CURRICULA` maps each tag to its class. Checks that
need the generators' axes (is `start` a value of the axis?) run in `curricula.levels`, when
`build_curriculum` receives the axes.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Discriminator,
    Tag,
    ValidationError,
    field_validator,
    model_validator,
)


class AdaptiveSchedule(BaseModel):
    """Promote or demote each task's frontier from a rolling window of its rewards."""

    model_config = ConfigDict(extra="forbid")

    kind: Literal["adaptive"] = "adaptive"
    """Tag selecting `curricula.adaptive.AdaptiveCurriculum`."""
    window: int = 16
    """Rolling window length per (task, level), counted in `unit`s."""
    unit: Literal["group", "completion"] = "group"
    """What the window counts: GRPO groups (one mean reward per prompt) or single completions
    (reasoning-gym counts samples)."""
    min_samples: int = 8
    """Evidence needed at the frontier (in `unit`s, since the last change) before a decision."""
    promote_above: float = 0.7
    """Promote when the window's mean reward is above this."""
    demote_below: float = 0.1
    """Demote when the window's mean reward is below this."""
    patience: int = 1
    """Consecutive `observe` calls on which a condition must hold before it acts."""
    all_solved_promote: float | None = 0.6
    """Promote when at least this share of the window's groups were solved by every completion
    (zero reward variance, so no GRPO gradient); None ignores that evidence."""
    all_failed_demote: float | None = 0.9
    """Demote when at least this share of the window's groups were failed by every completion;
    None ignores that evidence."""
    probe_head_start: bool = True
    """After a promotion, probe rewards already earned at the new level count towards the next
    promotion (never towards a demotion), so a learner that is already good there moves on."""

    @field_validator("window", "min_samples", "patience")
    @classmethod
    def _positive(cls, value: int, info) -> int:
        if value < 1:
            raise ValueError(f"{info.field_name} must be at least 1, got {value}")
        return value

    @field_validator("promote_above", "demote_below")
    @classmethod
    def _unit_interval(cls, value: float, info) -> float:
        if not 0.0 <= value <= 1.0:
            raise ValueError(f"{info.field_name} must lie in [0, 1], got {value}")
        return value

    @field_validator("all_solved_promote", "all_failed_demote")
    @classmethod
    def _share(cls, value: float | None, info) -> float | None:
        if value is not None and not 0.0 < value <= 1.0:
            raise ValueError(f"{info.field_name} must lie in (0, 1] or be null, got {value}")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> AdaptiveSchedule:
        if self.demote_below >= self.promote_above:
            raise ValueError(
                f"demote_below ({self.demote_below}) must be below promote_above "
                f"({self.promote_above}); lower demote_below or raise promote_above"
            )
        if self.min_samples > self.window:
            raise ValueError(
                f"min_samples ({self.min_samples}) exceeds window ({self.window}); "
                "raise window or lower min_samples"
            )
        return self


class FixedStepsSchedule(BaseModel):
    """h1's baseline: move one step up the axes every `steps_per_level` steps, whatever the
    rewards."""

    model_config = ConfigDict(extra="forbid")

    kind: Literal["fixed_steps"] = "fixed_steps"
    """Tag selecting `curricula.schedules.FixedStepsCurriculum`."""
    steps_per_level: int = 50
    """Training steps (calls to `observe`) spent at each level before the next."""

    @field_validator("steps_per_level")
    @classmethod
    def _positive(cls, value: int) -> int:
        if value < 1:
            raise ValueError(f"steps_per_level must be at least 1, got {value}")
        return value


class FixedLevelSchedule(BaseModel):
    """Stay at each task's `start` level for the whole run."""

    model_config = ConfigDict(extra="forbid")

    kind: Literal["fixed_level"] = "fixed_level"
    """Tag selecting `curricula.schedules.FixedLevelCurriculum`."""


class UniformSchedule(BaseModel):
    """Draw every prompt's level uniformly from all levels between floor and ceiling."""

    model_config = ConfigDict(extra="forbid")

    kind: Literal["uniform"] = "uniform"
    """Tag selecting `curricula.schedules.UniformCurriculum`."""


def _schedule_kind(value: object) -> str | None:
    """A schedule written without `kind` is adaptive."""
    if isinstance(value, dict):
        return value.get("kind", "adaptive")
    return getattr(value, "kind", None)


Schedule = Annotated[
    Annotated[AdaptiveSchedule, Tag("adaptive")]
    | Annotated[FixedStepsSchedule, Tag("fixed_steps")]
    | Annotated[FixedLevelSchedule, Tag("fixed_level")]
    | Annotated[UniformSchedule, Tag("uniform")],
    Discriminator(
        _schedule_kind,
        custom_error_type="schedule_kind",
        custom_error_message="kind must be one of adaptive, fixed_steps, fixed_level, uniform",
    ),
]


class TaskCurriculum(BaseModel):
    """One task's place in the mixture and its bounds on each axis (values, not indices)."""

    model_config = ConfigDict(extra="forbid")

    weight: float = 1.0
    """Share of each batch, relative to the other tasks' weights."""
    start: dict[str, int] = {}
    """Starting value per axis; an axis left out starts at its floor."""
    floor: dict[str, int] = {}
    """Lowest value per axis a demotion may reach; left out: the axis's easiest value."""
    ceiling: dict[str, int] = {}
    """Highest value per axis a promotion may reach; left out: the axis's hardest value."""
    axis_order: list[str] | None = None
    """Order in which axes are raised; None keeps the generator's declared order."""

    @field_validator("weight")
    @classmethod
    def _non_negative(cls, value: float) -> float:
        if value < 0:
            raise ValueError(f"weight must be non-negative, got {value}")
        return value

    @field_validator("axis_order")
    @classmethod
    def _distinct(cls, value: list[str] | None) -> list[str] | None:
        if value is not None and len(set(value)) != len(value):
            raise ValueError(f"axis_order repeats an axis: {value}")
        return value


class HardSubsetConfig(BaseModel):
    """LoongRL stage II: keep only items the current policy does not solve in all samples."""

    model_config = ConfigDict(extra="forbid")

    enabled: bool = False
    """Track per-item results (needs `item_id` in observed results)."""
    samples_per_item: int = 8
    """Completions an item needs before it can be judged solved; fewer keeps the item."""
    solve_threshold: float = 1.0
    """A completion counts as solved when its reward is at least this."""

    @field_validator("samples_per_item")
    @classmethod
    def _positive(cls, value: int) -> int:
        if value < 1:
            raise ValueError(f"samples_per_item must be at least 1, got {value}")
        return value


class CurriculumConfig(BaseModel):
    """The whole curriculum; `CurriculumConfig()` is the embedded default (adaptive h1)."""

    model_config = ConfigDict(extra="forbid")

    schedule: Schedule = AdaptiveSchedule()
    """How each task's frontier level moves: adaptive, fixed_steps, fixed_level or uniform."""
    tasks: dict[str, TaskCurriculum] = {"h1": TaskCurriculum()}
    """Tasks in the mixture by generator name, with weights and axis bounds."""
    replay_frac: float = 0.05
    """Share of each task's prompts drawn from levels below the frontier (against forgetting)."""
    probe_frac: float = 0.05
    """Share of each task's prompts drawn at the next level up (evidence before promoting)."""
    axis_policy: Literal["sequential", "round_robin"] = "sequential"
    """Which axis a promotion raises: the first in order not at its ceiling (sequential), or
    the next one after the axis raised last (round_robin)."""
    hard_subset: HardSubsetConfig = HardSubsetConfig()
    """Per-item tracking for the hard-subset stage."""

    @field_validator("replay_frac", "probe_frac")
    @classmethod
    def _share(cls, value: float, info) -> float:
        if not 0.0 <= value <= 1.0:
            raise ValueError(f"{info.field_name} must lie in [0, 1], got {value}")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> CurriculumConfig:
        if not self.tasks:
            raise ValueError("tasks is empty; name at least one generator, e.g. tasks: {h1: {}}")
        if sum(task.weight for task in self.tasks.values()) <= 0:
            raise ValueError("task weights sum to 0; give at least one task a positive weight")
        if self.replay_frac + self.probe_frac > 1.0:
            raise ValueError(
                f"replay_frac + probe_frac = {self.replay_frac + self.probe_frac} exceeds 1; "
                "lower one of them"
            )
        return self


def parse_config(data: dict) -> CurriculumConfig:
    """Validate a plain dict (e.g. a YAML section); a bad config fails with one line naming
    the field and the fix."""
    try:
        return CurriculumConfig.model_validate(data)
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "curriculum"
        message = first["msg"].removeprefix("Value error, ")
        more = f" (and {error.error_count() - 1} more)" if error.error_count() > 1 else ""
        raise ValueError(f"curriculum config: {where}: {message}{more}") from None
