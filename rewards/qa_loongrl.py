"""`loongrl_qa_two_way_substring`: LoongRL's QA reward as published (paper Eq. 3, its verl scorer).

r = 1 when (a ⊆ y) or (y ⊆ a) as *character* substrings, else 0, where y is the content of the
last `\\boxed{}` after the last `</think>` and a a gold answer, both after SQuAD's
`normalize_answer` (lowercase, ASCII punctuation removed, the articles a/an/the removed,
whitespace collapsed); the score is the maximum over the gold's aliases. This is LoongRL's
`sub_em` in `rStar-RL/LoongRL:verl/verl/utils/reward_score/longcontext_qa_llm_judge.py`
(see ../shared/METHODS.md §1b): no `</think>` scores 0, `*` is stripped before the box is read,
no box scores 0; its optional LLM judge (off by default) is not reproduced.

It sits beside the project's own `qa_two_way_substring` (rewards/qa.py), which guards against
reward hacking where this one, faithfully, does not: here `b` is inside `barack obama`, a box
holding a whole paragraph that contains the gold scores 1, and two disagreeing boxes are judged
by the last one. One reading is ours: an empty normalised prediction scores 0 (the reference
would find `""` inside every gold; what its box parser returns for an empty box is not known).
"""

from __future__ import annotations

import re
import string
from typing import Any

from rewards.batch import per_completion, score_each
from rewards.extract import after_think, answer_aliases, completion_texts, last_boxed

_PUNCTUATION = frozenset(string.punctuation)
_ARTICLES = re.compile(r"\b(a|an|the)\b")


def squad_normalize(text: str) -> str:
    """SQuAD v1.1's `normalize_answer`: lower, drop ASCII punctuation, drop articles, collapse
    whitespace (no Unicode folding, unlike rewards.qa.normalize_answer).

    >>> squad_normalize("  The Eiffel-Tower! "), squad_normalize("Beyoncé")
    ('eiffeltower', 'beyoncé')
    """
    text = "".join(char for char in text.lower() if char not in _PUNCTUATION)
    text = _ARTICLES.sub(" ", text)
    return " ".join(text.split())


def sub_em(predicted: str, gold: str) -> float:
    """1.0 when one normalised string is a character substring of the other; empty never matches.

    >>> sub_em("b", "barack obama"), sub_em("barack obama was president", "obama")
    (1.0, 1.0)
    """
    if not predicted or not gold:
        return 0.0
    return float(gold in predicted or predicted in gold)


def _score_one(text: str, gold: Any) -> float:
    region = after_think(text)
    if region is None:
        return 0.0
    box = last_boxed(region.replace("*", ""))
    if box is None:
        return 0.0
    predicted = squad_normalize(box)
    return max(
        (sub_em(predicted, squad_normalize(alias)) for alias in answer_aliases(gold)), default=0.0
    )


def loongrl_qa_two_way_substring(
    prompts: Any = None,
    completions: Any = None,
    answer: Any = None,
    **columns: Any,
) -> list[float]:
    """LoongRL's reward: character two-way substring of the last box after `</think>`.

    >>> loongrl_qa_two_way_substring(
    ...     completions=["<think>..</think> \\\\boxed{**Obama**}",
    ...                  "<think>..</think> \\\\boxed{Bama}",
    ...                  "<think>..</think> \\\\boxed{Bush} \\\\boxed{Obama}",
    ...                  "\\\\boxed{Obama}"],
    ...     answer=[["Barack Obama"]] * 4)
    [1.0, 1.0, 1.0, 0.0]
    """
    texts = completion_texts(completions)
    golds = per_completion("loongrl_qa_two_way_substring", "answer", answer, len(texts))
    return score_each("loongrl_qa_two_way_substring", _score_one, texts, golds)
