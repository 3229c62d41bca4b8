"""`ruler_match_all`: RULER's string_match_all on the boxed answer, for synth/ruler.py's records.

RULER (Hsieh et al., 2024) scores retrieval and variable tracking by the share of the gold
items (needle values, variable names) that occur in the prediction, case-insensitively. Here the
prediction is the last `\\boxed{}` after the last `</think>` (no `</think>` or no box scores 0;
`ruler_match_all_no_think` reads the last box anywhere), and the `answer` column holds the gold
items, every one of which is asked for (not aliases).

Departures from RULER, guards against reward hacking: an item counts when it occurs as a whole
token (`1234567` is not found inside `91234567`), and a box listing more than twice as many
items as the gold holds scores 0, so copying every number of the context earns nothing.
"""

from __future__ import annotations

import re
from typing import Any

from rewards.batch import per_completion, score_each
from rewards.extract import after_think, answer_aliases, completion_texts, last_boxed

_ITEM = re.compile(r"[A-Za-z0-9]+(?:[-_][A-Za-z0-9]+)*")


def match_all(box: str, golds: list[str]) -> float:
    """Share of `golds` found as whole tokens in `box`; 0 when the box lists too many items.

    >>> match_all("1234567, 7654321", ["1234567", "7654321", "1111111"])
    0.6666666666666666
    >>> match_all("91234567", ["1234567"])
    0.0
    """
    items = [item.lower() for item in _ITEM.findall(box)]
    wanted = [gold.lower() for gold in golds if gold.strip()]
    if not wanted or not items or len(items) > 2 * len(wanted):
        return 0.0
    present = set(items)
    return sum(gold in present for gold in wanted) / len(wanted)


def _score(text: str, gold: Any, require_think: bool) -> float:
    region = after_think(text)
    if region is None:
        if require_think:
            return 0.0
        region = text
    box = last_boxed(region)
    return 0.0 if box is None else match_all(box, answer_aliases(gold))


def ruler_match_all(
    prompts: Any = None,
    completions: Any = None,
    answer: Any = None,
    *,
    require_think: bool = True,
    **columns: Any,
) -> list[float]:
    """The share of the gold items in the last box after `</think>`.

    >>> ruler_match_all(completions=["<think>..</think> \\\\boxed{1234567 and 7654321}",
    ...                              "<think>..</think> \\\\boxed{1234567}", "\\\\boxed{1234567}"],
    ...                 answer=[["1234567", "7654321"]] * 3)
    [1.0, 0.5, 0.0]
    """
    texts = completion_texts(completions)
    golds = per_completion("ruler_match_all", "answer", answer, len(texts))
    return score_each(
        "ruler_match_all", lambda text, gold: _score(text, gold, require_think), texts, golds
    )


def ruler_match_all_no_think(
    prompts: Any = None, completions: Any = None, answer: Any = None, **columns: Any
) -> list[float]:
    """`ruler_match_all` with `require_think=False`: the last box anywhere counts.

    >>> ruler_match_all_no_think(completions=["\\\\boxed{XKQZP, ABCDE}"], answer=[["abcde", "xkqzp"]])
    [1.0]
    """
    return ruler_match_all(prompts, completions, answer, require_think=False)
