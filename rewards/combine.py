"""A task's reward as a weighted sum of named rewards, declared in config, plus DAPO's overlong penalty.

A `RewardSpec` is written as `{name: weight}`, as a list of `{name, weight, kwargs}`, or as
`{terms: <either>, overlong: {...}}`. Weights are non-negative and sum to 1, so the sum
stays in [0, 1]. `build_reward(spec)` returns one function with TRL's signature, named
after its terms (TRL logs rewards under `__name__`).

The overlong penalty is DAPO's soft one: with L_max = max_completion_tokens and
L_cache = cache_tokens, a completion of |y| tokens gets 0 up to L_max - L_cache, then
(L_max - L_cache - |y|) / L_cache down to -1 at L_max, and -1 beyond. It is added to the
weighted sum and the total clipped to [0, 1] (the project's choice: every reward lives in
[0, 1], so a wrong overlong answer is not penalised further). Token lengths come from TRL's
`completion_ids` column, else from a `completion_lengths` column (one int per completion).

`reward_scale: plus_minus_one` is DAPO as published (verl's DAPO reward manager): the
weighted sum s in [0, 1] becomes 2s - 1 (a correct/incorrect term gives +1/-1), the penalty
`min(-(|y| - (L_max - L_cache)) / L_cache * penalty_factor, 0)` is added, and nothing is
clipped: the total lies in [-1 - penalty_factor, 1]. The built function says its range in a
`reward_range` attribute, which rl/scoring.py clips to instead of [0, 1].

This module imports pydantic only; the registry is read when a spec is validated.
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

_WEIGHT_SUM_TOLERANCE = 1e-6


class RewardTerm(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str
    """Name in `rewards.REWARDS`, e.g. "math" or "format"."""
    weight: float = 1.0
    """Non-negative share of the total; a spec's weights sum to 1."""
    kwargs: dict[str, Any] = Field(default_factory=dict)
    """Keyword options of that reward, e.g. {"require_think": false} for the QA rewards."""

    @field_validator("weight")
    @classmethod
    def _finite_non_negative(cls, weight: float) -> float:
        if not math.isfinite(weight) or weight < 0:
            raise ValueError(f"weight {weight} must be a finite number >= 0")
        return weight

    @model_validator(mode="after")
    def _known_reward_and_options(self) -> RewardTerm:
        from rewards import get_reward

        function = get_reward(self.name)
        options = {
            name
            for name, parameter in inspect.signature(function).parameters.items()
            if parameter.kind is inspect.Parameter.KEYWORD_ONLY
        }
        unknown = sorted(set(self.kwargs) - options)
        if unknown:
            raise ValueError(
                f"reward {self.name!r} has no option {unknown}; its options are {sorted(options)}"
            )
        return self


class OverlongPenalty(BaseModel):
    model_config = ConfigDict(extra="forbid")

    max_completion_tokens: int = Field(gt=0)
    """L_max: the generation limit; a completion this long or longer gets the full -1."""
    cache_tokens: int = Field(gt=0)
    """L_cache: the soft zone before L_max over which the penalty grows from 0 to -1."""
    penalty_factor: float = Field(default=1.0, gt=0)
    """The penalty at L_max and beyond (verl's `overlong_buffer.penalty_factor`): the soft
    zone runs from 0 down to -penalty_factor."""

    @model_validator(mode="after")
    def _cache_inside_limit(self) -> OverlongPenalty:
        if self.cache_tokens >= self.max_completion_tokens:
            raise ValueError(
                f"cache_tokens ({self.cache_tokens}) must be below max_completion_tokens "
                f"({self.max_completion_tokens}); DAPO uses a cache of about a fifth of the limit"
            )
        return self

    def penalty(self, completion_tokens: int) -> float:
        """DAPO's soft overlong penalty in [-1, 0].

        >>> rule = OverlongPenalty(max_completion_tokens=100, cache_tokens=20)
        >>> rule.penalty(80), rule.penalty(90), rule.penalty(120)
        (0.0, -0.5, -1.0)
        """
        soft_start = self.max_completion_tokens - self.cache_tokens
        if completion_tokens <= soft_start:
            return 0.0
        if completion_tokens > self.max_completion_tokens:
            return -self.penalty_factor
        return (soft_start - completion_tokens) / self.cache_tokens * self.penalty_factor


class RewardSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    terms: list[RewardTerm]
    """The named rewards and their weights; `{name: weight}` is accepted as shorthand."""
    overlong: OverlongPenalty | None = None
    """DAPO's soft overlong penalty, or None for none."""
    reward_scale: Literal["unit", "plus_minus_one"] = "unit"
    """`unit`: the total (penalty included) clipped to [0, 1], the project's choice.
    `plus_minus_one`: DAPO's 2s - 1 plus the unclipped penalty, in [-1 - penalty_factor, 1]."""

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, data: Any) -> Any:
        if isinstance(data, list) or (isinstance(data, dict) and "terms" not in data):
            data = {"terms": data}
        if isinstance(data, dict) and isinstance(data.get("terms"), dict):
            data = {**data, "terms": [{"name": n, "weight": w} for n, w in data["terms"].items()]}
        return data

    @field_validator("terms")
    @classmethod
    def _weights_sum_to_one(cls, terms: list[RewardTerm]) -> list[RewardTerm]:
        if not terms:
            raise ValueError("a reward spec needs at least one term, e.g. {math: 1.0}")
        names = [term.name for term in terms]
        if len(set(names)) != len(names):
            raise ValueError(f"reward spec names a reward twice: {names}; merge their weights")
        total = sum(term.weight for term in terms)
        if abs(total - 1.0) > _WEIGHT_SUM_TOLERANCE:
            scaled = {term.name: round(term.weight / total, 4) for term in terms} if total else {}
            raise ValueError(
                f"reward weights sum to {total:g}, not 1; scale them, e.g. {scaled}"
                if total
                else "reward weights are all 0; give at least one a positive weight"
            )
        return terms


def _completion_token_counts(columns: dict[str, Any], completions_count: int) -> list[int]:
    if columns.get("completion_ids") is not None:
        counts = [len(ids) for ids in columns["completion_ids"]]
    elif columns.get("completion_lengths") is not None:
        counts = [int(length) for length in columns["completion_lengths"]]
    else:
        raise ValueError(
            "the overlong penalty needs token lengths: pass completion_lengths=[...] "
            "(one int per completion) or TRL's completion_ids"
        )
    if len(counts) != completions_count:
        raise ValueError(f"{len(counts)} token lengths for {completions_count} completions")
    return counts


def score_terms(
    spec: RewardSpec, prompts: Any, completions: Any, **columns: Any
) -> dict[str, list[float]]:
    """Each term's unweighted scores by name, for logging beside the combined reward."""
    from rewards import get_reward

    return {
        term.name: get_reward(term.name)(prompts, completions, **term.kwargs, **columns)
        for term in spec.terms
    }


def build_reward(spec: RewardSpec | dict | list) -> Callable[..., list[float]]:
    """The spec as one reward function `f(prompts, completions, **columns) -> list[float]`.

    >>> reward = build_reward({"math": 0.9, "format": 0.1})
    >>> reward(None, ["<think>6*7</think> \\\\boxed{42}", "\\\\boxed{42}", "<think>?</think> \\\\boxed{41}"],
    ...        answer=["42", "42", "42"])
    [1.0, 0.9, 0.1]
    """
    spec = spec if isinstance(spec, RewardSpec) else RewardSpec.model_validate(spec)
    low, high = reward_range(spec)

    def combined(prompts: Any = None, completions: Any = None, **columns: Any) -> list[float]:
        completions = list(completions) if completions is not None else []
        by_term = score_terms(spec, prompts, completions, **columns)
        totals = [0.0] * len(completions)
        for term in spec.terms:
            for index, score in enumerate(by_term[term.name]):
                totals[index] += term.weight * score
        if spec.reward_scale == "plus_minus_one":
            totals = [2 * total - 1 for total in totals]
        if spec.overlong is not None:
            counts = _completion_token_counts(columns, len(completions))
            totals = [t + spec.overlong.penalty(n) for t, n in zip(totals, counts, strict=True)]
        return [round(min(max(total, low), high), 12) for total in totals]

    combined.__name__ = "+".join(term.name for term in spec.terms)
    combined.__doc__ = f"Weighted reward {[(t.name, t.weight) for t in spec.terms]}."
    combined.reward_range = (low, high)
    return combined


def reward_range(spec: RewardSpec) -> tuple[float, float]:
    """The interval a spec's total lies in: [0, 1], or DAPO's [-1 - penalty_factor, 1].

    >>> reward_range(RewardSpec.model_validate({"terms": {"math": 1.0}, "reward_scale": "plus_minus_one",
    ...     "overlong": {"max_completion_tokens": 100, "cache_tokens": 20, "penalty_factor": 0.5}}))
    (-1.5, 1.0)
    """
    if spec.reward_scale == "unit":
        return 0.0, 1.0
    return -1.0 - (spec.overlong.penalty_factor if spec.overlong else 0.0), 1.0
