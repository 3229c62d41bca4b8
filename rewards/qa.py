"""Short-answer QA rewards: `qa_two_way_substring` (LoongRL), `qa_exact_match`, `qa_f1`.

The predicted answer is the content of the last `\\boxed{}` after the last `</think>`: no
`</think>` scores 0 (unless `require_think=False`, which reads the whole completion), no
box scores 0. Texts are compared after SQuAD normalisation (lowercase, punctuation and the
articles a/an/the removed, whitespace collapsed), extended with Unicode compatibility
folding and accent stripping so that `Beyoncé` and `Ｂｅｙｏｎｃｅ` equal `beyonce`. The score
is the maximum over the gold's aliases.

Departures from LoongRL, all guards against reward hacking:
- containment is by whole words, not characters: `b` is not inside `barack obama`, and an
  empty or whitespace prediction never matches;
- two or more different boxed answers score 0 (all three rewards);
- a prediction more than `max_length_ratio` times the gold's word count scores 0 under the
  substring rule, so boxing a whole paragraph that happens to contain the answer earns nothing.
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from collections.abc import Callable
from typing import Any

from rewards.batch import per_completion, score_each
from rewards.extract import after_think, answer_aliases, boxed_contents, completion_texts

_PUNCTUATION = re.compile(r"[^\w\s]|_")
_ARTICLES = re.compile(r"\b(?:a|an|the)\b")


def normalize_answer(text: str) -> str:
    """SQuAD normalisation plus Unicode folding.

    >>> normalize_answer("  The  Eiffel-Tower! ")
    'eiffeltower'
    >>> normalize_answer("Beyoncé"), normalize_answer("Ｐａｒｉｓ")
    ('beyonce', 'paris')
    """
    if not text.isascii():
        text = unicodedata.normalize("NFKD", text)
        text = "".join(char for char in text if not unicodedata.combining(char))
    text = _PUNCTUATION.sub("", text.lower())
    text = _ARTICLES.sub(" ", text)
    return " ".join(text.split())


def predicted_answer(text: str, *, require_think: bool = True) -> str | None:
    """The normalised content of the last box after `</think>`; None when there is no answer
    or when two boxes disagree.

    >>> predicted_answer("<think>maybe Rome</think> It is \\\\boxed{Paris}.")
    'paris'
    >>> predicted_answer("\\\\boxed{Paris}") is None
    True
    """
    region = after_think(text)
    if region is None:
        if require_think:
            return None
        region = text
    boxes = [normalize_answer(box) for box in boxed_contents(region)]
    if not boxes or len(set(boxes)) > 1:
        return None
    return boxes[-1] or None


def _contains_words(outer: str, inner: str) -> bool:
    return f" {inner} " in f" {outer} "


def two_way_substring(predicted: str, gold: str, *, max_length_ratio: float = 5.0) -> float:
    """1.0 when one normalised answer is a whole-word part of the other, else 0.0."""
    if not predicted or not gold:
        return 0.0
    if len(predicted.split()) > max_length_ratio * len(gold.split()):
        return 0.0
    return float(_contains_words(predicted, gold) or _contains_words(gold, predicted))


def token_f1(predicted: str, gold: str) -> float:
    """SQuAD token F1 between two normalised answers.

    >>> round(token_f1("barack obama", "obama"), 3)
    0.667
    """
    predicted_tokens, gold_tokens = predicted.split(), gold.split()
    common = sum((Counter(predicted_tokens) & Counter(gold_tokens)).values())
    if common == 0:
        return 0.0
    precision, recall = common / len(predicted_tokens), common / len(gold_tokens)
    return 2 * precision * recall / (precision + recall)


def _best_over_aliases(
    text: str, gold: Any, compare: Callable[[str, str], float], require_think: bool
) -> float:
    predicted = predicted_answer(text, require_think=require_think)
    if predicted is None:
        return 0.0
    golds = [normalize_answer(alias) for alias in answer_aliases(gold)]
    return max((compare(predicted, g) for g in golds if g), default=0.0)


def _qa_reward(
    name: str,
    compare: Callable[[str, str], float],
    completions: Any,
    answer: Any,
    require_think: bool,
) -> list[float]:
    texts = completion_texts(completions)
    golds = per_completion(name, "answer", answer, len(texts))
    return score_each(
        name,
        lambda text, gold: _best_over_aliases(text, gold, compare, require_think),
        texts,
        golds,
    )


def qa_two_way_substring(
    prompts: Any = None,
    completions: Any = None,
    answer: Any = None,
    *,
    require_think: bool = True,
    max_length_ratio: float = 5.0,
    **columns: Any,
) -> list[float]:
    """1.0 when the boxed answer contains a gold alias or is contained in one (whole words).

    >>> qa_two_way_substring(
    ...     completions=["<think>...</think> \\\\boxed{Barack Obama}",
    ...                  "<think>...</think> \\\\boxed{Obama}",
    ...                  "<think>...</think> \\\\boxed{ }",
    ...                  "no think \\\\boxed{Obama}"],
    ...     answer=[["Obama", "Barack Obama"]] * 4)
    [1.0, 1.0, 0.0, 0.0]
    """

    def compare(predicted: str, gold: str) -> float:
        return two_way_substring(predicted, gold, max_length_ratio=max_length_ratio)

    return _qa_reward("qa_two_way_substring", compare, completions, answer, require_think)


def qa_two_way_substring_no_think(
    prompts: Any = None,
    completions: Any = None,
    answer: Any = None,
    *,
    max_length_ratio: float = 5.0,
    **columns: Any,
) -> list[float]:
    """`qa_two_way_substring` with `require_think=False`: the last box anywhere counts. The
    reward of records whose prompt asks for the boxed answer alone (synth's `think=False`).

    >>> qa_two_way_substring_no_think(completions=["It is \\\\boxed{Obama}."], answer=["Barack Obama"])
    [1.0]
    """
    return qa_two_way_substring(
        prompts, completions, answer, require_think=False, max_length_ratio=max_length_ratio
    )


def qa_exact_match(
    prompts: Any = None,
    completions: Any = None,
    answer: Any = None,
    *,
    require_think: bool = True,
    **columns: Any,
) -> list[float]:
    """1.0 when the normalised boxed answer equals a normalised gold alias.

    >>> qa_exact_match(completions=["<think></think>\\\\boxed{the Eiffel Tower}", "<think></think>\\\\boxed{Eiffel}"],
    ...                answer=["Eiffel Tower", "Eiffel Tower"])
    [1.0, 0.0]
    """

    def compare(predicted: str, gold: str) -> float:
        return float(predicted == gold)

    return _qa_reward("qa_exact_match", compare, completions, answer, require_think)


def qa_f1(
    prompts: Any = None,
    completions: Any = None,
    answer: Any = None,
    *,
    require_think: bool = True,
    **columns: Any,
) -> list[float]:
    """SQuAD token F1 of the boxed answer against the best gold alias.

    >>> qa_f1(completions=["<think></think>\\\\boxed{Barack Obama}"], answer=[["Obama"]])
    [0.6666666666666666]
    """
    return _qa_reward("qa_f1", token_f1, completions, answer, require_think)
