"""LonGen: Self-Lengthen's length-following evaluation of a model's long answers.

The queries (`{language, range, type, constraint, query}`) ask for 2,000-8,000 words under an
about / range / above / below constraint; rewards/length.py's `length_following` turns each
constraint into an interval and scores an answer's length against it (1 inside, falling
linearly to 0 outside). Words are also reported with Self-Lengthen's own count
(synth.self_lengthen_filters.count_words), which is what the rounds lengthen.
"""

from __future__ import annotations

import json
import statistics
from collections import defaultdict
from pathlib import Path
from typing import Any


def load_queries(source: str, language: str, count: int) -> list[dict[str, Any]]:
    """`count` rows of the file in `language` (all: both), spread evenly over its order so every
    type and range keeps its share; count 0: every row."""
    rows = [json.loads(line) for line in Path(source).read_text().splitlines() if line.strip()]
    rows = [row for row in rows if language == "all" or row.get("language") == language]
    if not rows:
        raise ValueError(f"{source}: no LonGen rows in language {language!r}")
    if not count or count >= len(rows):
        return rows
    return [rows[index * len(rows) // count] for index in range(count)]


def score_answers(rows: list[dict[str, Any]], answers: list[str]) -> dict[str, Any]:
    """Mean length-following score (overall and per constraint type), words per answer."""
    from rewards.length import length_following
    from synth.self_lengthen_filters import count_words

    scores = length_following(completions=answers, length_constraint=rows)
    words = [count_words(answer) for answer in answers]
    by_type: dict[str, list[float]] = defaultdict(list)
    for row, score in zip(rows, scores, strict=True):
        by_type[row["type"]].append(score)
    return {
        "score": statistics.fmean(scores),
        "score_by_type": {kind: statistics.fmean(values) for kind, values in by_type.items()},
        "words_median": float(statistics.median(words)),
        "words_mean": statistics.fmean(words),
        "queries": len(rows),
        "per_query": [
            {"type": row["type"], "constraint": row["constraint"], "words": count, "score": score}
            for row, count, score in zip(rows, words, scores, strict=True)
        ],
    }
