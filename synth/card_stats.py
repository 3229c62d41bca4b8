"""Per-level statistics for a dataset card: prompt tokens, answers, a fingerprint of the records.

Prompt tokens are counted the way a model receives the prompt (chat template applied, the
generation prompt added) with one tokenizer, the generator's own when its config names one
(`tokenizer`), else the embedded SmolLM2's. A record whose `meta` already holds
`prompt_tokens` counted by that same tokenizer (multihop, keychain) is not tokenised again.
The fingerprint is a sha256 over the records as canonical JSON, so a regenerated copy can be
compared with the published one without downloading it twice.
"""

from __future__ import annotations

import hashlib
import json
import logging
import statistics
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class LevelStats:
    """What one level's records look like, for the card's table."""

    rows: int
    prompt_tokens: tuple[int, int, float, int] | None
    """(min, median, mean, max) prompt tokens; None when no tokenizer could count them."""
    numeric_share: float
    """Share of records whose (first) answer is a number."""
    numeric_range: tuple[str, str, str] | None
    """(min, median, max) of the numeric answers, as written."""
    distinct_answers: int
    answer_chars: float
    """Mean length of the (first) answer in characters."""
    aliases: float
    """Mean accepted answers per record (1 for a single gold answer)."""
    rewards: tuple[str, ...]
    fingerprint: str


def fingerprint(rows: list[dict[str, Any]]) -> str:
    """sha256 of the records as canonical JSON lines (key order and spacing fixed)."""
    digest = hashlib.sha256()
    for row in rows:
        digest.update(json.dumps(row, sort_keys=True, ensure_ascii=False).encode() + b"\n")
    return digest.hexdigest()


def _number(text: str) -> Fraction | None:
    try:
        return Fraction(text.replace(",", "").strip())
    except (ValueError, ZeroDivisionError):
        return None


class PromptCounter:
    """Prompt token counts with one tokenizer, loaded once; `None` counts when it cannot load."""

    def __init__(self, tokenizer: str) -> None:
        self.tokenizer = tokenizer
        self.error: str | None = None
        self._counter = None

    def _load(self):
        if self._counter is None and self.error is None:
            from synth.token_budget import TokenCounter, load_counting_tokenizer

            try:
                self._counter = TokenCounter(load_counting_tokenizer(self.tokenizer))
            except (OSError, ValueError) as error:  # not provisioned, offline: no token column
                self.error = f"{type(error).__name__}: {str(error).splitlines()[0][:160]}"
                log.warning("card: prompt tokens not counted (%s)", self.error)
        return self._counter

    def counts(self, rows: list[dict[str, Any]]) -> list[int] | None:
        """Prompt tokens of every row (one batch through the tokenizer for the rows whose meta
        does not hold them); None when the tokenizer cannot be loaded."""
        known = []
        for row in rows:
            meta = json.loads(row.get("meta") or "{}")
            count = meta.get("prompt_tokens") if meta.get("tokenizer") == self.tokenizer else None
            known.append(count if type(count) is int else None)
        missing = [index for index, count in enumerate(known) if count is None]
        if missing:
            counter = self._load()
            if counter is None:
                return None
            template = counter.tokenizer.apply_chat_template
            texts = [
                template(rows[i]["prompt"], add_generation_prompt=True, tokenize=False)
                for i in missing
            ]
            for index, count in zip(missing, counter.counts(texts), strict=True):
                known[index] = count
        return known


def level_stats(rows: list[dict[str, Any]], counter: PromptCounter) -> LevelStats:
    """The statistics of one level's records (Task rows or preference pairs)."""
    tokens = counter.counts(rows)
    token_stats = None
    if rows and tokens is not None:
        token_stats = (
            min(tokens),
            int(statistics.median(tokens)),
            statistics.fmean(tokens),
            max(tokens),
        )
    answers = [_answers(row) for row in rows]
    firsts = [answer[0] for answer in answers]
    numbers = sorted(value for value in map(_number, firsts) if value is not None)
    numeric_range = None
    if numbers:
        middle = numbers[len(numbers) // 2]
        numeric_range = tuple(_format(value) for value in (numbers[0], middle, numbers[-1]))
    accepted = [len(answer) for answer in answers]
    return LevelStats(
        rows=len(rows),
        prompt_tokens=token_stats,
        numeric_share=len(numbers) / len(rows) if rows else 0.0,
        numeric_range=numeric_range,
        distinct_answers=len(set(firsts)),
        answer_chars=statistics.fmean(map(len, firsts)) if rows else 0.0,
        aliases=statistics.fmean(accepted) if rows else 0.0,
        rewards=tuple(sorted({row["reward"] for row in rows if row.get("reward")})),
        fingerprint=fingerprint(rows),
    )


def _answers(row: dict[str, Any]) -> list[str]:
    """The accepted answers of a Task row; of a preference pair (no `answer`), the chosen
    first reply, of an SFT example its response, so the table still says how long the targets
    are."""
    if "answer" not in row:
        if "response" in row:  # an SFT example: its target
            return [row["response"]]
        return [row["chosen"][0]["content"]] if row.get("chosen") else [""]
    return [row["answer"]] if isinstance(row["answer"], str) else list(row["answer"]) or [""]


def _format(value: Fraction) -> str:
    return str(value.numerator) if value.denominator == 1 else f"{float(value):g}"


def stats_table(stats: dict[str, LevelStats], tokenizer: str) -> list[str]:
    """Markdown lines: one row per config."""
    lines = [
        f"| config | rows | prompt tokens ({tokenizer}) min / median / mean / max | numeric "
        "answers | numeric min / median / max | distinct answers | answer chars | answers "
        "per record |",
        "|---|---:|---|---:|---|---:|---:|---:|",
    ]
    for name, item in stats.items():
        tokens = "n/a"
        if item.prompt_tokens:
            low, median, mean, high = item.prompt_tokens
            tokens = f"{low:,} / {median:,} / {mean:,.0f} / {high:,}"
        numeric = " / ".join(item.numeric_range) if item.numeric_range else "-"
        lines.append(
            f"| `{name}` | {item.rows:,} | {tokens} | {100 * item.numeric_share:.0f} % | "
            f"{numeric} | {item.distinct_answers:,} | {item.answer_chars:.1f} | "
            f"{item.aliases:.2f} |"
        )
    return lines
