"""Verifiable outcome rewards with TRL's signature and the one registry that names them.

Every reward is `f(prompts, completions, **columns) -> list[float]`, values in [0, 1]:
completions are strings or TRL chat messages; the gold arrives as the `answer` column (a
string or a list of aliases per completion); unknown columns are ignored; keyword-only
options (e.g. `require_think`) are set per task through rewards.combine.RewardSpec.
Adding a reward is one new module plus one line in REWARDS. See docs/rewards.md.
"""

from __future__ import annotations

from collections.abc import Callable

from rewards.combine import OverlongPenalty, RewardSpec, RewardTerm, build_reward, score_terms
from rewards.format import format_reward
from rewards.length import length_following
from rewards.math_reward import math_reward
from rewards.qa import (
    qa_exact_match,
    qa_f1,
    qa_two_way_substring,
    qa_two_way_substring_no_think,
)
from rewards.qa_loongrl import loongrl_qa_two_way_substring
from rewards.ruler import ruler_match_all, ruler_match_all_no_think

RewardFunction = Callable[..., list[float]]

REWARDS: dict[str, RewardFunction] = {
    "math": math_reward,
    "qa_two_way_substring": qa_two_way_substring,
    "qa_two_way_substring_no_think": qa_two_way_substring_no_think,
    "qa_exact_match": qa_exact_match,
    "qa_f1": qa_f1,
    "loongrl_qa_two_way_substring": loongrl_qa_two_way_substring,
    "ruler_match_all": ruler_match_all,
    "ruler_match_all_no_think": ruler_match_all_no_think,
    "format": format_reward,
    "length_following": length_following,
}


def get_reward(name: str) -> RewardFunction:
    """The reward registered as `name`.

    >>> get_reward("math")(completions=["\\\\boxed{42}"], answer=["42"])
    [1.0]
    """
    if name not in REWARDS:
        raise ValueError(f"unknown reward {name!r}; registered: {sorted(REWARDS)}")
    return REWARDS[name]


__all__ = [
    "REWARDS",
    "OverlongPenalty",
    "RewardFunction",
    "RewardSpec",
    "RewardTerm",
    "build_reward",
    "get_reward",
    "score_terms",
]
