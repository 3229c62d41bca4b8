"""The supervised example record (Self-Lengthen): chat prompt in, one target response out.

One row of a `datasets.Dataset`, like synth.task.Task. Self-Lengthen writes two rows per
extended response, one per role:
  - `generator`: prompt = the instruction; response = the extended text;
  - `extender`: prompt = the extend template over the instruction and the initial response
    with lines dropped; response = the same extended text.
`instruction`, `initial` and `extended` keep the pieces the prompt was built from; `words` counts
the response (synth.self_lengthen_filters.count_words); `meta` is JSON provenance.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from synth.task import ChatMessages, MetaJSON, WithMeta

Role = Literal["generator", "extender"]


class SFTExample(WithMeta, BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, use_attribute_docstrings=True)

    id: str
    """Deterministic: the same generator, seed, round, level and index give the same id."""
    task: str
    """Generator name, e.g. `self_lengthen`."""
    level: dict[str, int]
    """The point on the generator's axes, e.g. {"max_tokens": 512}."""
    role: Role
    """Which model learns from the row: the generator or the extender."""
    round: int
    """The Self-Lengthen round (1-based) that wrote it."""
    prompt: ChatMessages
    """Chat messages the model reads (TRL's conversational format)."""
    response: str
    """The assistant message the model learns to write."""
    instruction: str
    """The self-instructed long-writing instruction."""
    initial: str
    """The generator's initial response."""
    extended: str
    """The extender's accepted expansion (the target of both roles)."""
    initial_words: int
    """Words of `initial`."""
    words: int
    """Words of `response`."""
    meta: MetaJSON = "{}"
    """JSON: provenance (seed, model calls' settings, extension micro-rounds)."""


def examples_from_dataset(dataset) -> list[SFTExample]:
    fields = SFTExample.model_fields
    return [SFTExample(**{name: row[name] for name in fields if name in row}) for row in dataset]


def save_examples(
    out, generator: Any, rows: list[SFTExample], level: dict[str, int], n: int, seed: int,
    command: list[str],
) -> None:  # fmt: skip
    """`rows` as a dataset directory with its card, as `python -m synth --out` writes one
    (`python -m synth.publish OUT --repo ORG/NAME` publishes it); skips from the generator."""
    from datasets import Dataset

    from synth.card import CardInputs, CardLevel, config_name, dataset_card
    from synth.publish import write_local

    dumped = [row.model_dump() for row in rows]
    config = config_name(level)
    datasets = {config: Dataset.from_list(dumped)}
    skips = generator.skip_counts() if hasattr(generator, "skip_counts") else {}
    made = [CardLevel(config, level, dumped, skips)]
    card = dataset_card(CardInputs(generator, made, "train", n, seed, command, datasets=datasets))
    write_local(out, datasets, card)
