"""`math`: is the completion's final answer equal to the gold? For h1 and GSM8K-style tasks.

The final answer is the last `\\boxed{...}`, else `#### N`, else "the answer is N", read
after the last `</think>` when the completion has one (rewards/extract.py). Comparison:

1. A fast exact path for plain numbers, which is nearly every GSM8K answer: `$`, `\\$`,
   thousands separators (`1,000`, `1{,}000`), a trailing `%` or unit (`18 dollars`,
   `5 \\text{cm}`), `\\frac{a}{b}`, `a/b` and decimals become Fractions compared exactly; a
   decimal with 3 or more places also matches the gold rounded to its places (0.333 ~ 1/3).
2. Otherwise math-verify (sympy), under a per-item time limit (rewards/timeout.py).

Guards against reward hacking: two or more different boxed answers score 0; an answer more
than `max_answer_ratio` times longer than the longest gold (and over `min_answer_cap`
characters) scores 0 without being parsed. Where the time limit cannot be armed (off the
main thread) an answer using `^`, `!`, `\\sum`, `\\prod`, `\\int` or `\\lim` that the gold
lacks scores 0 unparsed: those are the inputs that make sympy run for minutes.
"""

from __future__ import annotations

import logging
import re
from fractions import Fraction
from functools import lru_cache
from typing import Any

from rewards.batch import per_completion, score_each
from rewards.extract import after_think, answer_aliases, boxed_contents, completion_texts
from rewards.extract import final_answer as extract_final_answer
from rewards.timeout import RewardTimeout, time_limit

log = logging.getLogger(__name__)

_TEXT_WRAPPER = re.compile(
    r"\\(?:text|textbf|textrm|mathrm|mathbf|mbox|operatorname)\s*\{([^{}]*)\}"
)
_LATEX_SPACING = re.compile(r"\\[,;:! ]|~|\\quad|\\qquad")
_DEGREES = re.compile(r"\^\s*\{?\s*\\circ\s*\}?|°")
_LEADING_VARIABLE = re.compile(r"^[A-Za-z]\s*=\s*")
_NUMBER = r"[-+]?(?:\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?|\.\d+)"
_UNIT = r"(?:\s*[A-Za-z][A-Za-z./ ]{0,30})?"
_PLAIN = re.compile(rf"({_NUMBER})\s*%?{_UNIT}")
_SLASH = re.compile(rf"({_NUMBER})\s*/\s*({_NUMBER}){_UNIT}")
_FRAC = re.compile(
    rf"([-+]?)\\[dt]?frac\s*\{{\s*({_NUMBER})\s*\}}\s*\{{\s*({_NUMBER})\s*\}}{_UNIT}"
)
_SLOW_OPERATORS = ("^", "!", "\\sum", "\\prod", "\\int", "\\lim")


class _MathVerifyTimeoutFilter(logging.Filter):
    """Drops math-verify's notice that its own signal timeout is off: ours replaces it."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "Timeout is disabled" not in record.getMessage()


def parse_number(text: str) -> tuple[Fraction, int] | None:
    """A plain number written any common way, as (value, decimal places written); else None.

    >>> parse_number(r"\\$1,000.50")
    (Fraction(2001, 2), 2)
    >>> parse_number(r"\\frac{7}{2} \\text{ dollars}")
    (Fraction(7, 2), 0)
    >>> parse_number("x + 1") is None
    True
    """
    text = text.strip().replace("\u2212", "-").replace("{,}", ",")
    if len(text) > 200:
        return None
    text = _TEXT_WRAPPER.sub(r" \1", text)
    text = _LATEX_SPACING.sub(" ", text)
    text = _DEGREES.sub("", text).replace("\\%", "%").replace("\\$", "").replace("$", "")
    text = _LEADING_VARIABLE.sub("", text.strip()).strip()
    if match := _PLAIN.fullmatch(text):
        return _fraction(match.group(1)), _decimals(match.group(1))
    if match := _SLASH.fullmatch(text):
        denominator = _fraction(match.group(2))
        return (_fraction(match.group(1)) / denominator, 0) if denominator else None
    if match := _FRAC.fullmatch(text):
        denominator = _fraction(match.group(3))
        if not denominator:
            return None
        value = _fraction(match.group(2)) / denominator
        return (-value if match.group(1) == "-" else value), 0
    return None


def _fraction(number: str) -> Fraction:
    return Fraction(number.replace(",", ""))


def _decimals(number: str) -> int:
    return len(number.split(".", 1)[1]) if "." in number else 0


def _numbers_match(gold: Fraction, predicted: Fraction, predicted_decimals: int) -> bool:
    if gold == predicted:
        return True
    return predicted_decimals >= 3 and round(gold, predicted_decimals) == predicted


@lru_cache(maxsize=4096)
def _parse_gold(gold: str) -> tuple:
    from math_verify import parse

    return tuple(parse(f"\\boxed{{{gold}}}", parsing_timeout=None))


def _math_verify_equal(gold: str, predicted: str) -> bool:
    from math_verify import parse, verify

    gold_parsed = list(_parse_gold(gold))
    if not gold_parsed:
        return False
    predicted_parsed = parse(f"\\boxed{{{predicted}}}", parsing_timeout=None)
    if not predicted_parsed:
        predicted_parsed = parse(predicted, parsing_timeout=None)
    return bool(predicted_parsed) and verify(gold_parsed, predicted_parsed, timeout_seconds=None)


def _install_log_filter() -> None:
    for name in ("math_verify.parser", "math_verify.grader"):
        logger = logging.getLogger(name)
        if not any(isinstance(f, _MathVerifyTimeoutFilter) for f in logger.filters):
            logger.addFilter(_MathVerifyTimeoutFilter())


def answers_equal(gold: str, predicted: str, *, time_limit_s: float = 1.0) -> bool:
    """Whether `predicted` is the same mathematical answer as `gold`.

    >>> answers_equal("7/2", r"\\frac{7}{2}"), answers_equal("1000", "1,000")
    (True, True)
    >>> answers_equal("0.5", "1/2"), answers_equal("18", "18 dollars"), answers_equal("42", "41")
    (True, True, False)
    """
    gold_number = parse_number(gold)
    predicted_number = parse_number(predicted)
    if gold_number is not None and predicted_number is not None:
        return _numbers_match(gold_number[0], *predicted_number)
    with time_limit(time_limit_s) as armed:
        if not armed and any(op in predicted and op not in gold for op in _SLOW_OPERATORS):
            return False
        try:
            return _math_verify_equal(gold, predicted)
        except RewardTimeout:
            log.debug(
                "math: comparing %r with gold %r ran past %s s", predicted[:80], gold, time_limit_s
            )
            return False


def _answer_key(box: str) -> str:
    number = parse_number(box)
    return str(number[0]) if number is not None else "".join(box.split())


def score_math(
    text: str,
    golds: list[str],
    *,
    time_limit_s: float = 1.0,
    max_answer_ratio: float = 8.0,
    min_answer_cap: int = 64,
) -> float:
    """1.0 when the final answer of `text` equals one of `golds`, else 0.0."""
    region = after_think(text)
    if region is None:
        region = text
    if len({_answer_key(box) for box in boxed_contents(region)}) > 1:
        return 0.0
    predicted = extract_final_answer(region)
    if not predicted or not golds:
        return 0.0
    cap = max(min_answer_cap, max_answer_ratio * max(len(gold) for gold in golds))
    if len(predicted) > cap:
        return 0.0
    return float(any(answers_equal(g, predicted, time_limit_s=time_limit_s) for g in golds))


def math_reward(
    prompts: Any = None,
    completions: Any = None,
    answer: Any = None,
    *,
    time_limit_s: float = 1.0,
    max_answer_ratio: float = 8.0,
    min_answer_cap: int = 64,
    **columns: Any,
) -> list[float]:
    """1.0 per completion whose final answer equals the gold (or one of its aliases), else 0.0.

    `answer`: one gold per completion, a string or a list of aliases. `time_limit_s` bounds
    one completion's sympy work; other columns are ignored.

    >>> math_reward(completions=["... so \\\\boxed{42}", "\\\\boxed{41}", "#### 1,000"],
    ...             answer=["42", "42", "1000"])
    [1.0, 0.0, 1.0]
    """
    texts = completion_texts(completions)
    golds = per_completion("math", "answer", answer, len(texts))
    _install_log_filter()
    return score_each(
        "math",
        lambda text, gold: score_math(
            text,
            answer_aliases(gold),
            time_limit_s=time_limit_s,
            max_answer_ratio=max_answer_ratio,
            min_answer_cap=min_answer_cap,
        ),
        texts,
        golds,
    )
