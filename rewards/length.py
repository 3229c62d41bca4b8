"""`length_following`: how well a long-form completion meets a length constraint (LonGen scoring).

Self-Lengthen's LonGen turns a constraint into an interval [a, b]: "about X" -> [0.8X, 1.2X],
"range a-b" -> [a, b], "above X" -> [X, 1.5X], "below X" -> [0.5X, X]. A completion of length L
scores 1 inside, max(2L/a - 1, 0) below and max(3 - 2L/b, 0) above. Length counts words for
English and, for Chinese, CJK characters plus any Latin words among them. The text measured
is what follows the last `</think>` when there is one, else the whole completion.

The `length_constraint` column holds one constraint per completion, any of:
- a LonGen row or its subset: `{"type": "about", "constraint": "around 2000 words",
  "language": "en"}`; the number(s) are read from `constraint` ("2000-3000 words",
  "2000字至3000字", "more than 2000 words", "小于5000字", ...);
- explicit numbers: `{"type": "about", "length": 2000}` or `{"type": "range", "min": 2000,
  "max": 3000}`, with an optional `"language": "en" | "zh"` (default en);
- a string such as `"around 2000 words"` or `"大约2000字"` (type and language inferred);
- a number, or a whole LongBench-Write row (whose `type` is a genre): its `length` read as
  "about" that many English words.
A constraint that none of these fit raises one ValueError naming it: that is a data bug.
"""

from __future__ import annotations

import re
from typing import Any, Literal, NamedTuple

from rewards.batch import per_completion, score_each
from rewards.extract import after_think, completion_texts

ConstraintType = Literal["about", "range", "above", "below"]
_KINDS = ("about", "range", "above", "below")
_CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
_LATIN_WORD = re.compile(r"[A-Za-z0-9]+(?:['’-][A-Za-z0-9]+)*")
_NUMBERS = re.compile(r"\d[\d,]*(?:\.\d+)?")
_TYPE_WORDS: list[tuple[ConstraintType, tuple[str, ...]]] = [
    ("above", ("more than", "at least", "over", "above", "no less than", "大于", "超过", "不少于")),
    (
        "below",
        (
            "less than",
            "at most",
            "under",
            "below",
            "no more than",
            "fewer than",
            "小于",
            "少于",
            "不超过",
        ),
    ),
    ("about", ("around", "about", "approximately", "roughly", "大约", "左右", "约")),
]


class LengthInterval(NamedTuple):
    """The accepted length range and what is counted."""

    low: float
    high: float
    unit: Literal["words", "chars"]


def interval_for(kind: ConstraintType, numbers: list[float]) -> tuple[float, float]:
    """LonGen's interval for a constraint type and its number(s).

    >>> interval_for("about", [2000]), interval_for("below", [2000])
    ((1600.0, 2400.0), (1000.0, 2000))
    """
    if kind == "range":
        if len(numbers) != 2:
            raise ValueError(f"a range constraint needs two numbers, got {numbers}")
        return min(numbers), max(numbers)
    target = numbers[0]
    if kind == "about":
        return 0.8 * target, 1.2 * target
    if kind == "above":
        return target, 1.5 * target
    return 0.5 * target, target


def _language_of(text: str) -> Literal["en", "zh"]:
    return "zh" if ("字" in text or _CJK.search(text)) else "en"


def _type_of(text: str) -> ConstraintType | None:
    lowered = text.lower()
    for kind, words in _TYPE_WORDS:
        if any(word in lowered for word in words):
            return kind
    if len(_NUMBERS.findall(text)) == 2:
        return "range"
    return None


def parse_length_constraint(constraint: Any) -> LengthInterval:
    """A `length_constraint` column item as the interval it accepts.

    >>> parse_length_constraint({"type": "range", "constraint": "2000字至3000字", "language": "zh"})
    LengthInterval(low=2000.0, high=3000.0, unit='chars')
    >>> parse_length_constraint("more than 300 words")
    LengthInterval(low=300.0, high=450.0, unit='words')
    """
    if isinstance(constraint, bool):
        raise ValueError(f"length constraint {constraint!r} is not a length")
    if isinstance(constraint, int | float):
        kind, numbers, language = "about", [float(constraint)], "en"
    elif isinstance(constraint, str):
        kind, numbers, language = (
            _type_of(constraint),
            _numbers(constraint),
            _language_of(constraint),
        )
    elif isinstance(constraint, dict):
        kind, numbers, language = _from_dict(constraint)
    else:
        raise ValueError(f"length constraint {constraint!r}: expected a dict, a string or a number")
    if kind not in _KINDS or not numbers:
        raise ValueError(
            f"length constraint {constraint!r}: could not read a type (about/range/above/below) "
            "and its number(s); see rewards/length.py for the accepted forms"
        )
    if any(number <= 0 for number in numbers):
        raise ValueError(f"length constraint {constraint!r}: lengths must be positive")
    low, high = interval_for(kind, numbers)
    return LengthInterval(float(low), float(high), "chars" if language == "zh" else "words")


def _numbers(text: str) -> list[float]:
    return [float(number.replace(",", "")) for number in _NUMBERS.findall(text)]


def _from_dict(constraint: dict) -> tuple[Any, list[float], str]:
    text = str(constraint.get("constraint", ""))
    kind = constraint.get("type") or _type_of(text)
    if kind not in _KINDS and "length" in constraint and "constraint" not in constraint:
        kind = "about"  # a LongBench-Write row: its `type` is a genre, its `length` a target
    language = constraint.get("language") or (_language_of(text) if text else "en")
    if language not in ("en", "zh"):
        raise ValueError(f"length constraint {constraint!r}: language must be 'en' or 'zh'")
    if "min" in constraint or "max" in constraint:
        numbers = [float(constraint[key]) for key in ("min", "max") if key in constraint]
    elif "length" in constraint:
        numbers = [float(constraint["length"])]
    else:
        numbers = _numbers(text)
    return kind, numbers, language


def count_length(text: str, unit: Literal["words", "chars"]) -> int:
    """Words (whitespace-separated) for English; CJK characters plus Latin words for Chinese.

    >>> count_length("one two  three", "words"), count_length("我们用 GPU 训练", "chars")
    (3, 6)
    """
    if unit == "words":
        return len(text.split())
    return len(_CJK.findall(text)) + len(_LATIN_WORD.findall(text))


def length_score(length: float, interval: LengthInterval) -> float:
    """1 inside [low, high]; max(2L/low - 1, 0) below; max(3 - 2L/high, 0) above.

    >>> interval = LengthInterval(1600, 2400, "words")
    >>> length_score(2000, interval), length_score(1200, interval), length_score(3000, interval)
    (1.0, 0.5, 0.5)
    """
    if length < interval.low:
        return max(2 * length / interval.low - 1, 0.0)
    if length > interval.high:
        return max(3 - 2 * length / interval.high, 0.0)
    return 1.0


def length_following(
    prompts: Any = None,
    completions: Any = None,
    length_constraint: Any = None,
    **columns: Any,
) -> list[float]:
    """LonGen's length-following score of each completion under its `length_constraint`.

    >>> length_following(completions=["word " * 100, "word " * 300],
    ...                  length_constraint=[{"type": "about", "length": 100}, "less than 200 words"])
    [1.0, 0.0]
    """
    texts = completion_texts(completions)
    constraints = per_completion(
        "length_following", "length_constraint", length_constraint, len(texts)
    )
    intervals = [parse_length_constraint(constraint) for constraint in constraints]

    def score_one(text: str, interval: LengthInterval) -> float:
        answer = after_think(text)
        return length_score(
            count_length(text if answer is None else answer, interval.unit), interval
        )

    return score_each("length_following", score_one, texts, intervals)
