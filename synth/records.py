"""records: train on Task records made earlier, epoch after epoch, in a seeded shuffled order.

    tasks:
      keychain:
        generator: records
        options: {path: data/loongrl/keychain_hotpotqa, shuffle: true, seed: 0}

`path` is a directory written by `python -m synth ... --out` (or `python -m synth filter`), a
JSONL file of Task records, or `hub:ID[:CONFIG][@SPLIT]` (synth/record_files.py). Each record
is returned as it was made: its id (so an item keeps its identity across epochs, which the
hard-subset tracker needs), prompt, answer and reward.

Levels: `level_axes: flat` (the default) puts every record on one level (axis `all`, value 1), so
the data and the stage schedule (rl/stages.py) decide what is trained, as in LoongRL's fixed
mix; the data is read when the run starts. `level_axes: records` makes the records' own `level`
fields the axes (values from the data, read when the config validates), so a curriculum can
move over them; each level then has its own walk.

State (`state_dict`, kept in the run's checkpoints): where each level's walk stands (epoch,
position) and the subset a hard-subset stage restricted the pool to. Departure from the
Generator protocol (synth/base.py): `sample(level, n, seed)` is not a pure function of its
arguments. It continues the walk and ignores `seed`; the walk is a pure function of (records,
options, state), which is what a resumed run needs to draw the same items.
"""

from __future__ import annotations

import logging
import random
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from synth.base import Axis
from synth.record_files import read_records
from synth.task import Task

log = logging.getLogger(__name__)
FLAT_AXIS = Axis("all", (1,))


class RecordsConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True)

    path: str
    """A dataset directory (`python -m synth ... --out DIR`), a JSONL file of Task records, or
    hub:ID[:CONFIG][@SPLIT]."""
    shuffle: bool = True
    """Walk each epoch in a new seeded order (False: the records' own order every epoch)."""
    seed: int = 0
    """Seeds the epochs' orders: the same seed and data give the same walk."""
    level_axes: Literal["flat", "records"] = "flat"
    """flat: one level for all records (axis `all`); records: the records' own level fields
    are the axes, and the curriculum's level picks the records drawn."""


class RecordsLevel(BaseModel):
    """No axis of its own: a dataset written from records keeps every record."""

    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True)


@lru_cache(maxsize=8)
def _load(path: str) -> tuple[tuple[Task, ...], tuple[tuple[str, int], ...]]:
    tasks, skipped = read_records(path)
    seen: dict[str, int] = {}
    for task in tasks:
        seen[task.id] = seen.get(task.id, 0) + 1
    repeated = [item for item, count in seen.items() if count > 1]
    if repeated:
        raise ValueError(
            f"records {path!r}: {len(repeated)} ids are shared by several records (e.g. "
            f"{repeated[0]!r}); a task source needs one id per item"
        )
    return tuple(tasks), tuple(skipped.items())


def path_problem(path: str) -> str | None:
    """Why a local `path` cannot be read yet (None: it exists, or it is on the Hub)."""
    if path.startswith("hub:") or Path(path).expanduser().exists():
        return None
    return f"{path} does not exist yet: make it first (python -m synth ... --out {path})"


def level_key(level: dict[str, int]) -> str:
    return ",".join(f"{axis}={value}" for axis, value in sorted(level.items()))


class RecordsGenerator:
    """Task records made earlier, walked epoch by epoch (a fixed dataset as a task source)."""

    name = "records"
    config_class = RecordsConfig
    level_class = RecordsLevel
    description = (
        "Task records read back from a dataset made earlier, each kept as it was made (id, "
        "prompt, answer, reward)."
    )

    def __init__(self, config: RecordsConfig | None = None, **fields: Any) -> None:
        self.config = config or RecordsConfig(**fields)
        self.subset: list[int] | None = None  # record indices a hard-subset stage kept
        self.generation = 0  # how many times the pool changed: each change starts a new walk
        self.cursors: dict[str, list[int]] = {}  # level key -> [epoch, position, pool size]

    # ------------------------------------------------------------ the data
    @property
    def records(self) -> tuple[Task, ...]:
        return _load(self.config.path)[0]

    def skip_counts(self) -> dict[str, int]:
        return {f"source: {reason}": count for reason, count in _load(self.config.path)[1]}

    def summary(self) -> str:
        return f"records {self.config.path}: {len(self.records):,} read"

    def axes(self) -> list[Axis]:
        if self.config.level_axes == "flat":
            return [FLAT_AXIS]
        names = {name for task in self.records for name in task.level}
        if not names:
            return [FLAT_AXIS]
        partial = [task.id for task in self.records if set(task.level) != names]
        if partial:
            raise ValueError(
                f"records {self.config.path!r}: level_axes: records needs every record on the same "
                f"axes {sorted(names)}; {partial[0]!r} has others (use level_axes: flat)"
            )
        return [
            Axis(name, tuple(sorted({task.level[name] for task in self.records})))
            for name in sorted(names)
        ]

    def pool_ids(self) -> list[str]:
        """The ids of the records drawn from now (a hard subset's, else all), in data order."""
        indices = range(len(self.records)) if self.subset is None else self.subset
        return [self.records[index].id for index in indices]

    def _pool(self, level: dict[str, int]) -> list[int]:
        indices = range(len(self.records)) if self.subset is None else self.subset
        if self.config.level_axes == "flat" or not level:
            return list(indices)
        return [
            index
            for index in indices
            if all(self.records[index].level.get(k) == v for k, v in level.items())
        ]

    # ------------------------------------------------------------ the walk
    def sample(self, level: dict[str, int], n: int, seed: int = 0) -> list[Task]:
        """The next `n` records of `level`'s walk (`seed` is not used: see the docstring)."""
        key = "" if self.config.level_axes == "flat" else level_key(level)
        pool = self._pool(level)
        if not pool:
            raise ValueError(f"records {self.config.path!r}: no record at level {level}")
        epoch, position = self.cursors.get(key, [0, 0])[:2]
        order = self._order(pool, key, epoch)
        drawn = []
        for _ in range(n):
            if position == len(order):
                epoch, position = epoch + 1, 0
                order = self._order(pool, key, epoch)
            drawn.append(self.records[order[position]])
            position += 1
        self.cursors[key] = [epoch, position, len(pool)]
        return drawn

    def _order(self, pool: list[int], key: str, epoch: int) -> list[int]:
        order = list(pool)
        if self.config.shuffle:
            tag = f"records/{self.config.seed}/{self.generation}/{key}/{epoch}"
            random.Random(tag).shuffle(order)
        return order

    def epochs(self) -> float:
        """Epochs walked so far (the furthest level's), as a fraction."""
        done = [epoch + position / size for epoch, position, size in self.cursors.values()]
        return max(done, default=0.0)

    def restrict(self, item_ids: list[str] | None) -> int:
        """Draw only these items from now on (None: all records again); a new walk starts.
        Returns the pool's size."""
        if item_ids is None:
            subset = None
        else:
            keep = set(item_ids)
            subset = [index for index, task in enumerate(self.records) if task.id in keep]
        if subset != self.subset:
            self.subset, self.generation, self.cursors = subset, self.generation + 1, {}
        return len(self.records) if subset is None else len(subset)

    # ------------------------------------------------------------ state
    def state_dict(self) -> dict[str, Any]:
        return {
            "records": len(self.records),
            "subset": self.subset,
            "generation": self.generation,
            "cursors": {key: list(cursor) for key, cursor in self.cursors.items()},
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if state["records"] != len(self.records):
            raise ValueError(
                f"records {self.config.path!r}: the checkpoint walked {state['records']:,} "
                f"records, the data now holds {len(self.records):,}; resume with the same data"
            )
        self.subset = None if state["subset"] is None else list(state["subset"])
        self.generation = int(state["generation"])
        self.cursors = {key: list(cursor) for key, cursor in state["cursors"].items()}
