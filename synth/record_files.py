"""Reading Task records made earlier: a `python -m synth ... --out` directory, a JSONL file of
records, or a Hub dataset (`hub:ID[:CONFIG][@SPLIT]`).

The `records` task source (synth/records.py), the dataset filter (rl/filter.py) and evaluation
sets (rl/eval_data.py) all read records here. A malformed JSONL line is a counted skip; a
directory that does not hold Task records, a Hub dataset that cannot be loaded, or a source
with no record at all is one `RecordsError` line.
"""

from __future__ import annotations

import json
from pathlib import Path

from pydantic import ValidationError

from synth.task import Task, tasks_from_dataset

MALFORMED = "malformed records"


class RecordsError(ValueError):
    """Records that cannot be read; the message is one line for the user."""


def jsonl_records(path: Path) -> tuple[list[Task], int, int | None]:
    """(the records, how many lines were not a Task record, the first such line number)."""
    tasks, skipped, first_bad = [], 0, None
    with Path(path).open(encoding="utf-8", errors="replace") as lines:
        for number, line in enumerate(lines, 1):
            if not line.strip():
                continue
            try:
                tasks.append(Task.model_validate(json.loads(line)))
            except (json.JSONDecodeError, ValidationError, TypeError):
                skipped += 1
                first_bad = first_bad or number
    return tasks, skipped, first_bad


def dataset_records(dataset) -> list[Task]:
    """A `datasets.Dataset`, or a DatasetDict of one config per level, as Task records."""
    parts = dataset.values() if isinstance(dataset, dict) else [dataset]
    return [task for part in parts for task in tasks_from_dataset(part)]


def disk_records(path: Path) -> list[Task]:
    """What `datasets.load_from_disk(path)` holds (all levels of a DatasetDict, in order)."""
    from datasets import load_from_disk

    try:
        return dataset_records(load_from_disk(str(path)))
    except (FileNotFoundError, KeyError, ValidationError, ValueError) as error:
        raise RecordsError(
            f"not a dataset of Task records written by `python -m synth --out` "
            f"({type(error).__name__}: {str(error).splitlines()[0][:120]})"
        ) from None


def hub_records(spec: str) -> list[Task]:
    """`hub:ID[:CONFIG][@SPLIT]` (split train by default) through synth/hub.py."""
    from synth.hub_source import load_hub, parse_hub

    try:
        dataset = load_hub(spec)
    except ValueError as error:
        raise RecordsError(str(error)) from None
    try:
        return dataset_records(dataset)
    except (KeyError, ValidationError, ValueError, TypeError) as error:
        raise RecordsError(
            f"Hub dataset {parse_hub(spec).dataset_id!r} does not hold Task records "
            f"({type(error).__name__})"
        ) from None


def read_records(spec: str) -> tuple[list[Task], dict[str, int]]:
    """The records `spec` names and the skips counted while reading them, by reason."""
    path = Path(spec).expanduser()
    skipped = 0
    try:
        if spec.startswith("hub:"):
            tasks = hub_records(spec)
        elif path.is_dir():
            tasks = disk_records(path)
        elif path.is_file():
            tasks, skipped, first_bad = jsonl_records(path)
            if skipped and not tasks:
                raise RecordsError(f"no line is a Task record (line {first_bad} ...)")
        else:
            raise RecordsError(
                "no such file or directory: give a dataset directory (`python -m synth ... "
                "--out DIR`), a JSONL file of Task records, or hub:ID"
            )
    except RecordsError as error:
        raise RecordsError(f"records {spec!r}: {error}") from None
    if not tasks:
        raise RecordsError(f"records {spec!r}: empty")
    return tasks, {MALFORMED: skipped} if skipped else {}
