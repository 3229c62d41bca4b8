"""Warnings on a dataset that was made but may not be what was meant (issue #23, point 5).

- Repeats: fewer distinct prompts than records, when a level asks for more tasks than its
  source has distinct items (20 tasks from a 5-problem file are 5 prompts, each 4 times).
- Length: prompts longer than the model that will read them. Tokens are estimated as
  characters / 4 (English text under SmolLM2's and Llama's tokenizers runs 4-5 characters per
  token), so the warning fires at about the real length, never on a tokenizer load.

Each warning is one line; `python -m synth` logs them after sampling, before writing.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

CHARS_PER_TOKEN = 4


def prompt_chars(prompt: list[dict[str, str]]) -> int:
    return sum(len(message.get("content", "")) for message in prompt)


def level_warnings(
    generator: str, config: str, rows: Iterable[dict[str, Any]], context_tokens: int, reader: str
) -> list[str]:
    """The warnings of one level's records; `reader` names the model whose context is
    `context_tokens` (e.g. "the embedded model")."""
    rows = list(rows)
    warnings = []
    distinct = len({json.dumps(row["prompt"], sort_keys=True) for row in rows})
    if rows and distinct < len(rows):
        warnings.append(
            f"{generator} {config}: {len(rows)} tasks but only {distinct} distinct prompts (the "
            "source has too few items for this level): lower --n or use a larger source"
        )
    longest = max((prompt_chars(row["prompt"]) for row in rows), default=0)
    tokens = longest // CHARS_PER_TOKEN
    if tokens > context_tokens:
        warnings.append(
            f"{generator} {config}: prompts up to ~{tokens:,} tokens ({longest:,} characters), "
            f"longer than the {context_tokens:,} tokens {reader} reads: lower the level or "
            "train a model with a longer context"
        )
    return warnings
