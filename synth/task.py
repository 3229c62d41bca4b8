"""The Task record: one row that every generator emits and every consumer reads.

Fields follow ../shared/ARCHITECTURE.md. `meta` is a JSON string so that records of
different generators share one Arrow schema for it and stay re-verifiable from the row alone.
"""

from __future__ import annotations

import json
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict

TASK_FIELDS = ("id", "task", "level", "prompt", "answer", "reward", "meta")


def _chat_messages(prompt: list[dict[str, str]]) -> list[dict[str, str]]:
    if not prompt:
        raise ValueError("prompt must hold at least one chat message")
    for message in prompt:
        if set(message) != {"role", "content"}:
            raise ValueError(f"a chat message has keys role and content, got {sorted(message)}")
    return prompt


def _json_object(meta: str) -> str:
    json.loads(meta)
    return meta


# The field types every record of synth/ shares (Task, SFTExample, PreferencePair).
ChatMessages = Annotated[list[dict[str, str]], AfterValidator(_chat_messages)]
MetaJSON = Annotated[str, AfterValidator(_json_object)]


class WithMeta:
    """`meta_dict()` for a record with a `meta` JSON string (no annotation here: pydantic would
    take it for a field and put `meta` first in the record's columns)."""

    def meta_dict(self) -> dict[str, Any]:
        return json.loads(self.meta)


class Task(WithMeta, BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, use_attribute_docstrings=True)

    id: str
    """Deterministic: the same generator, seed, level and index give the same id."""
    task: str
    """Generator name: `h1`, `keychain`, `multihop`, `self_lengthen`, ..."""
    level: dict[str, int]
    """The point on the generator's difficulty axes, e.g. {"horizon": 3}."""
    prompt: ChatMessages
    """Chat messages in TRL's conversational format: [{"role": ..., "content": ...}]."""
    answer: str | list[str]
    """Gold answer, or a list of accepted aliases."""
    reward: str
    """Name in `rewards.REWARDS`."""
    meta: MetaJSON = "{}"
    """JSON: provenance and the trace needed to re-verify the record."""

    def to_row(self) -> dict[str, Any]:
        return self.model_dump()


def tasks_to_dataset(tasks: list[Task]):
    """Tasks as a `datasets.Dataset` (one row each, columns in TASK_FIELDS order)."""
    from datasets import Dataset

    return Dataset.from_list([task.to_row() for task in tasks])


def tasks_from_dataset(dataset) -> list[Task]:
    """The inverse of `tasks_to_dataset`; rows carry exactly the Task fields."""
    return [Task(**{field: row[field] for field in TASK_FIELDS}) for row in dataset]


def records_to_dataset(records: list[BaseModel]):
    """Any generator's records (Task, PreferencePair, ...) as a `datasets.Dataset`."""
    from datasets import Dataset

    return Dataset.from_list([record.model_dump() for record in records])
