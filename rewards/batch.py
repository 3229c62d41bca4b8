"""The batch edge shared by every reward: reading columns and scoring items without raising.

TRL calls a reward with one list per dataset column, one item per completion, all by
keyword. `per_completion` checks a column's length once (a mismatch is a caller's bug and
raises one clear ValueError), and `score_each` turns whatever one item's scoring raises into
a 0 that is counted and logged: garbled model output must never stop a batch.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Sequence
from typing import Any

from rewards.timeout import RewardTimeout

log = logging.getLogger(__name__)


def per_completion(
    reward_name: str, column_name: str, column: Any, completions_count: int
) -> list[Any]:
    """The column as one item per completion; a lone non-list value is given to every completion.

    >>> per_completion("math", "answer", "42", 2)
    ['42', '42']
    """
    if column is None:
        raise ValueError(
            f"reward {reward_name!r} needs the {column_name!r} column; "
            f"pass {column_name}=[...] with one item per completion"
        )
    if isinstance(column, str | bytes | dict) or not hasattr(column, "__len__"):
        return [column] * completions_count
    if len(column) != completions_count:
        raise ValueError(
            f"reward {reward_name!r}: column {column_name!r} has {len(column)} items for "
            f"{completions_count} completions; give one item per completion"
        )
    return list(column)


def score_each(
    reward_name: str, score_one: Callable[..., float], *columns: Sequence[Any]
) -> list[float]:
    """score_one(*items) for each row of the columns, as floats in [0, 1].

    An item whose scoring raises scores 0; the count is logged once per batch.

    >>> score_each("demo", lambda text: len(text) / 4, ["ab", "abcdefgh"])
    [0.5, 1.0]
    """
    scores: list[float] = []
    failures = 0
    first_failure = ""
    for items in zip(*columns, strict=True):
        try:
            value = float(score_one(*items))
        except (Exception, RewardTimeout) as error:  # the edge: model output must not stop a batch
            failures += 1
            if not first_failure:
                first_failure = f"{type(error).__name__}: {error}"[:200]
            log.debug("reward %s: scoring one completion raised", reward_name, exc_info=True)
            value = 0.0
        scores.append(clip_unit(value))
    if failures:
        log.warning(
            "reward %s: %d of %d completions raised while scoring and score 0 (first: %s)",
            reward_name,
            failures,
            len(scores),
            first_failure,
        )
    return scores


def clip_unit(value: float) -> float:
    """value clipped to [0, 1]; NaN becomes 0."""
    if math.isnan(value):
        return 0.0
    return min(max(value, 0.0), 1.0)
