"""A task's level space: its generator's axes, bounded by the config, walked one step at a time.

Levels are held internally as index tuples (one index per axis, in raising order) and shown
to the outside as value dicts, `{"horizon": 3}`. Promotion raises exactly one axis by one
index; which axis follows `axis_policy`. Axes that `axis_order` leaves out are held at their
start value. Bounds and start are checked here, against the axes the driver passes in.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import Protocol

from curricula.config import TaskCurriculum

Index = tuple[int, ...]


class Axis(Protocol):
    """What a curriculum needs of a difficulty axis: its name and its values, easiest first.

    Generators declare theirs (synth.base.Axis fits); the driver passes them in, so nothing
    here imports a generator.
    """

    name: str
    values: Sequence[int]


def _short_names(names: Sequence[str]) -> dict[str, str]:
    """Initials of each axis name (horizon -> h, context_tokens -> ct), unless they collide."""
    initials = {name: "".join(part[:1] for part in name.split("_") if part) for name in names}
    if len(set(initials.values())) == len(names):
        return initials
    return {name: name for name in names}


class LevelSpace:
    """One task's axes in raising order with floor, ceiling and start as indices."""

    def __init__(self, task: str, axes: Sequence[Axis], settings: TaskCurriculum) -> None:
        if not axes:
            raise ValueError(
                f"task {task!r} declares no axes; its generator must return at least one Axis"
            )
        by_name = {axis.name: axis for axis in axes}
        if len(by_name) != len(axes):
            raise ValueError(
                f"task {task!r} declares an axis twice: {[axis.name for axis in axes]}"
            )
        self.task = task
        order = settings.axis_order or [axis.name for axis in axes]
        unknown = [name for name in order if name not in by_name]
        if unknown:
            raise ValueError(
                f"task {task!r}: axis_order names unknown axes {unknown}; axes are {sorted(by_name)}"
            )
        # Held axes come after the raised ones; floor == ceiling == start pins them.
        held = [axis.name for axis in axes if axis.name not in order]
        self.names: list[str] = list(order) + held
        self.raisable = len(order)
        self.values: list[tuple[int, ...]] = [tuple(by_name[name].values) for name in self.names]
        self.short = _short_names(self.names)
        for key, bound in (
            ("start", settings.start),
            ("floor", settings.floor),
            ("ceiling", settings.ceiling),
        ):
            extra = sorted(set(bound) - set(by_name))
            if extra:
                raise ValueError(
                    f"task {task!r}: {key} names unknown axes {extra}; axes are {sorted(by_name)}"
                )
        floor = self._bound(settings.floor, "floor", default_last=False)
        ceiling = self._bound(settings.ceiling, "ceiling", default_last=True)
        start = tuple(
            self._index(name, settings.start[name], "start") if name in settings.start else floor[i]
            for i, name in enumerate(self.names)
        )
        for i, name in enumerate(self.names):
            if floor[i] > ceiling[i]:
                raise ValueError(
                    f"task {task!r}: floor {name}={self.values[i][floor[i]]} is above ceiling "
                    f"{name}={self.values[i][ceiling[i]]}; swap them"
                )
            if not floor[i] <= start[i] <= ceiling[i]:
                raise ValueError(
                    f"task {task!r}: start {name}={self.values[i][start[i]]} lies outside "
                    f"[{self.values[i][floor[i]]}, {self.values[i][ceiling[i]]}]; move start or the bounds"
                )
        held_floor = list(floor)
        held_ceiling = list(ceiling)
        for i in range(self.raisable, len(self.names)):
            held_floor[i] = held_ceiling[i] = start[i]
        self.floor: Index = tuple(held_floor)
        self.ceiling: Index = tuple(held_ceiling)
        self.start: Index = start

    def _index(self, name: str, value: int, what: str) -> int:
        values = self.values[self.names.index(name)]
        if value not in values:
            raise ValueError(
                f"task {self.task!r}: {what} {name}={value} is not a value of the axis {values}"
            )
        return values.index(value)

    def _bound(self, bound: dict[str, int], what: str, default_last: bool) -> Index:
        return tuple(
            self._index(name, bound[name], what)
            if name in bound
            else (len(self.values[i]) - 1 if default_last else 0)
            for i, name in enumerate(self.names)
        )

    # -- conversions ---------------------------------------------------------------------------

    def to_dict(self, index: Index) -> dict[str, int]:
        return {name: self.values[i][index[i]] for i, name in enumerate(self.names)}

    def to_index(self, level: dict[str, int]) -> Index:
        """The index of a value dict; one clear error when it is not a point of this space."""
        if set(level) != set(self.names):
            raise ValueError(
                f"task {self.task!r}: level {level} must name exactly the axes {sorted(self.names)}"
            )
        return tuple(self._index(name, level[name], "level") for name in self.names)

    def label(self, index: Index) -> str:
        """Short metric label, e.g. `h=3` or `ct=4096,nc=2`."""
        return ",".join(
            f"{self.short[name]}={self.values[i][index[i]]}" for i, name in enumerate(self.names)
        )

    # -- moves ---------------------------------------------------------------------------------

    def raise_order(self, last_axis: int | None, policy: str) -> list[int]:
        """Axes to try raising, first choice first."""
        axes = list(range(self.raisable))
        if policy == "round_robin" and last_axis is not None:
            return axes[last_axis + 1 :] + axes[: last_axis + 1]
        return axes

    def up(self, index: Index, last_axis: int | None, policy: str) -> tuple[Index, int] | None:
        """One step up on the first axis (in policy order) below its ceiling, and that axis."""
        for axis in self.raise_order(last_axis, policy):
            if index[axis] < self.ceiling[axis]:
                return index[:axis] + (index[axis] + 1,) + index[axis + 1 :], axis
        return None

    def down(self, index: Index, raised: Sequence[int]) -> tuple[Index, int] | None:
        """One step down: undo the most recent raise still above floor, else the last raisable
        axis above floor."""
        candidates = list(reversed(raised)) + list(reversed(range(self.raisable)))
        for axis in candidates:
            if index[axis] > self.floor[axis]:
                return index[:axis] + (index[axis] - 1,) + index[axis + 1 :], axis
        return None

    def lattice(self) -> list[Index]:
        """Every level between floor and ceiling, easiest first."""
        ranges = [range(lo, hi + 1) for lo, hi in zip(self.floor, self.ceiling, strict=True)]
        return sorted(itertools.product(*ranges), key=lambda index: (sum(index), index))

    def below(self, index: Index) -> list[Index]:
        """Levels at or above floor that are easier than `index` on every axis (replay levels)."""
        ranges = [range(lo, hi + 1) for lo, hi in zip(self.floor, index, strict=True)]
        return [level for level in itertools.product(*ranges) if level != index]
