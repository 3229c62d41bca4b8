"""The preference-pair record (LongPO, DPO): a long prompt, chosen and rejected continuations,
and the short prompts the reference model reads.

One row of a `datasets.Dataset`, like synth.task.Task:
  - `prompt`: chat messages up to the first answer (LongPO: the whole document and question 1);
  - `chosen` / `rejected`: the rest of the conversation, one assistant message per turn with
    the user's next question between them (the same user turns in both);
  - `short_prompts`: per turn, the prompt the reference model answers from (LongPO: the chunk
    that turn's question was asked about, and the question), for the short-to-long constraint;
  - `meta`: JSON with provenance and what re-checks the row (chunk offsets, token counts).
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, model_validator

from synth.task import ChatMessages, MetaJSON, WithMeta

Messages = list[dict[str, str]]


class PreferencePair(WithMeta, BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str
    """Deterministic: the same generator, seed, level and index give the same id."""
    task: str
    """Generator name, e.g. `longpo`."""
    level: dict[str, int]
    """The point on the generator's axes, e.g. {"chunk_tokens": 1024}."""
    prompt: ChatMessages
    """Chat messages up to the first answer."""
    chosen: Messages
    """The preferred continuation: assistant, (user, assistant)* messages."""
    rejected: Messages
    """The other continuation, with the same user messages."""
    short_prompts: list[Messages] = []
    """Per assistant turn, the prompt the reference model reads (empty: the long one)."""
    meta: MetaJSON = "{}"
    """JSON: provenance and what re-checks the record."""

    @model_validator(mode="after")
    def _turns_match(self) -> PreferencePair:
        roles = [[m["role"] for m in side] for side in (self.chosen, self.rejected)]
        if not roles[0] or roles[0] != roles[1] or roles[0][0] != "assistant":
            raise ValueError("chosen and rejected must alternate the same turns, assistant first")
        users = [
            [m["content"] for m in side if m["role"] == "user"]
            for side in (self.chosen, self.rejected)
        ]
        if users[0] != users[1]:
            raise ValueError("chosen and rejected must share their user messages")
        if self.short_prompts and len(self.short_prompts) != roles[0].count("assistant"):
            raise ValueError("short_prompts needs one prompt per assistant turn")
        return self

    def turns(self) -> int:
        return sum(m["role"] == "assistant" for m in self.chosen)


def pairs_from_dataset(dataset) -> list[PreferencePair]:
    fields = PreferencePair.model_fields
    return [
        PreferencePair(**{name: row[name] for name in fields if name in row}) for row in dataset
    ]
