"""Evaluation sets: what `--data` and `eval.sets` name, loaded as Task records.

A set is one of
  - a directory written by `python -m synth ... --out` (`datasets.load_from_disk`; all of its
    levels when it holds several);
  - a JSONL file of Task records (one per line);
  - a generator at a fixed level: `NAME:axis=value,...,n=N,seed=S,option=value`, e.g.
    `h1:horizon=3,n=200,seed=100000` or `keychain:context_tokens=1024,num_chains=2,n=50,
    source=hotpotqa:../shared/data/multihop/hotpotqa_dev_distractor_500.jsonl`. Keys that are
    level fields set the level, `n` (default 100) and `seed` (default 100000) the sample, the
    rest are generator options (values are YAML; quote a value that holds a comma). NAME is a
    generator, or a task of the run being evaluated: its generator and options (prompt format
    included) are then the defaults, so the set is that task on held-out items. Such a set is
    held out by construction: generators with a `purpose` option are built with purpose="eval"
    (h1: test splits or a built-in pool without any training problem; keychain/multihop: the
    held-out part of the source's items).

Every record must name a registered reward. Bad input is one `EvalDataError` line: a missing
path, an empty set, unknown axes or options, a record that is not a Task, an unknown reward.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError

DEFAULT_N = 100
DEFAULT_SEED = 100_000


class EvalDataError(ValueError):
    """A data set that cannot be evaluated; the message is one line for the user."""


@dataclass
class EvalSet:
    name: str
    spec: str
    tasks: list[Any]  # synth.Task
    generator: Any = None  # the generator that made a spec set (its source ids, its options)
    skipped: dict[str, int] = field(default_factory=dict)


def parse_spec(spec: str, tasks: dict[str, Any] | None = None) -> tuple[str, dict[str, Any]] | None:
    """`NAME:k=v,...` -> (generator, {k: v}) when NAME is a registered generator or one of
    `tasks` (name -> rl.config.TaskConfig, whose options come first), else None."""
    import yaml

    from synth import GENERATORS

    name, sep, rest = spec.partition(":")
    tasks = tasks or {}
    if not sep or (name not in GENERATORS and name not in tasks):
        return None
    values: dict[str, Any] = {}
    for item in filter(None, (part.strip() for part in _split_top_level(rest))):
        key, eq, raw = item.partition("=")
        if not eq or not key:
            raise EvalDataError(f"eval set {spec!r}: {item!r} is not key=value")
        try:
            values[key.strip()] = yaml.safe_load(raw)
        except yaml.YAMLError:
            values[key.strip()] = raw
    if name in tasks:  # the run's task: its generator, its options under the spec's own
        inherited = {k: v for k, v in tasks[name].options.items() if k != "purpose"}
        return tasks[name].generator, {**inherited, **values}
    return name, values


def _split_top_level(text: str) -> list[str]:
    """Split on commas outside brackets and quotes: `a=[1,2],b=x` -> ["a=[1,2]", "b=x"]."""
    parts, depth, quote, current = [], 0, "", []
    for char in text:
        if quote:
            quote = "" if char == quote else quote
        elif char in "\"'":
            quote = char
        elif char in "[{":
            depth += 1
        elif char in "]}":
            depth -= 1
        elif char == "," and depth == 0:
            parts.append("".join(current))
            current = []
            continue
        current.append(char)
    parts.append("".join(current))
    return parts


def generator_set(spec: str, name: str, values: dict[str, Any]) -> EvalSet:
    from synth import GENERATORS

    cls = GENERATORS[name]
    level_fields, option_fields = cls.level_class.model_fields, cls.config_class.model_fields
    n = int(values.pop("n", DEFAULT_N))
    seed = int(values.pop("seed", DEFAULT_SEED))
    unknown = sorted(set(values) - set(level_fields) - set(option_fields))
    if unknown:
        raise EvalDataError(
            f"eval set {spec!r}: unknown keys {unknown}; axes: {sorted(level_fields)}, "
            f"options: {sorted(option_fields)}, and n, seed"
        )
    options = {k: v for k, v in values.items() if k not in level_fields}
    if "purpose" in option_fields:
        if options.get("purpose", "eval") != "eval":
            raise EvalDataError(f"eval set {spec!r}: evaluation sets are made with purpose=eval")
        options["purpose"] = "eval"
    try:
        level = cls.level_class.model_validate(
            {k: v for k, v in values.items() if k in level_fields}
        ).model_dump(exclude_none=True)
        generator = cls(cls.config_class.model_validate(options))
        tasks = generator.sample(level, n, seed)
    except (ValidationError, ValueError) as error:
        first = error.errors()[0]["msg"] if isinstance(error, ValidationError) else str(error)
        raise EvalDataError(f"eval set {spec!r}: {first}") from None
    return EvalSet(spec, spec, tasks, generator)


def jsonl_set(spec: str, path: Path) -> EvalSet:
    from synth.record_files import MALFORMED, jsonl_records

    tasks, skipped, first_bad = jsonl_records(path)
    if skipped and not tasks:
        raise EvalDataError(f"eval set {spec!r}: no line is a Task record (line {first_bad} ...)")
    return EvalSet(path.stem, spec, tasks, skipped={MALFORMED: skipped} if skipped else {})


def disk_set(spec: str, path: Path) -> EvalSet:
    from synth.record_files import RecordsError, disk_records

    try:
        tasks = disk_records(path)
    except RecordsError as error:
        raise EvalDataError(f"eval set {spec!r}: {error}") from None
    return EvalSet(path.name, spec, tasks)


def load_eval_set(spec: str, tasks: dict[str, Any] | None = None) -> EvalSet:
    """The set `spec` names (`tasks`: the run's, for task-name specs), checked: non-empty,
    every reward registered."""
    from rewards import REWARDS

    parsed = parse_spec(spec, tasks)
    path = Path(spec).expanduser()
    if parsed is not None:
        loaded = generator_set(spec, *parsed)
    elif path.is_dir():
        loaded = disk_set(spec, path)
    elif path.is_file():
        loaded = jsonl_set(spec, path)
    else:
        raise EvalDataError(
            f"eval set {spec!r} is neither a dataset directory, a JSONL file, nor "
            "NAME:axis=value,... for a registered generator"
        )
    if not loaded.tasks:
        raise EvalDataError(f"eval set {spec!r} is empty")
    unknown = sorted({task.reward for task in loaded.tasks} - set(REWARDS))
    if unknown:
        raise EvalDataError(
            f"eval set {spec!r}: records name unknown rewards {unknown}; "
            f"registered: {', '.join(sorted(REWARDS))}"
        )
    return loaded


def task_source_ids(task: Any) -> set[str]:
    """The source items a task was made from: h1's problems, a multi-hop item."""
    meta = task.meta_dict()
    ids = {entry["source_id"] for entry in meta.get("problems", []) if "source_id" in entry}
    if "source_id" in meta:
        ids.add(str(meta["source_id"]))
    return ids


def check_held_out(eval_set: EvalSet, training: dict[str, Any]) -> None:
    """Refuse an eval set that shares an item id or a source item with a training generator
    of the same run (`training`: task name -> generator)."""
    for name, generator in training.items():
        if not hasattr(generator, "source_ids"):
            continue
        seen = generator.source_ids()
        shared = {
            task.id for task in eval_set.tasks if task.task == generator.name
            and (task_source_ids(task) & seen)
        }  # fmt: skip
        if shared:
            raise EvalDataError(
                f"eval set {eval_set.name!r} shares source items with the training task "
                f"{name!r} ({len(shared)} of {len(eval_set.tasks)} records, e.g. "
                f"{sorted(shared)[0]}): evaluate on held-out data (purpose=eval, a test split)"
            )
