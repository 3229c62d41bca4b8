"""What a generator is: named difficulty axes plus `sample(level, n, seed) -> list[Task]`.

The curriculum only sees `axes()`; it never needs to know how a task is made.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from synth.task import Task


@dataclass(frozen=True)
class Axis:
    """One difficulty axis: its values listed from easiest to hardest.

    The list is the order and the step: promoting moves one index up.
    """

    name: str
    values: tuple[int, ...]

    def __post_init__(self) -> None:
        if not self.values:
            raise ValueError(f"axis {self.name!r} has no values")
        if len(set(self.values)) != len(self.values):
            raise ValueError(f"axis {self.name!r} repeats a value: {self.values}")


class Generator(Protocol):
    name: str

    def axes(self) -> list[Axis]:
        """The difficulty axes, in the order a curriculum should raise them."""
        ...

    def sample(self, level: dict[str, int], n: int, seed: int) -> list[Task]:
        """n tasks at `level`; a pure function of (config, level, n, seed)."""
        ...


def check_level(generator: Generator, level: dict[str, int]) -> None:
    """Raise one clear ValueError when `level` is not a point on the generator's axes."""
    names = {axis.name for axis in generator.axes()}
    unknown = set(level) - names
    if unknown:
        raise ValueError(
            f"{generator.name}: unknown level axis {sorted(unknown)}; axes are {sorted(names)}"
        )
    for key, value in level.items():
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise ValueError(f"{generator.name}: level {key}={value!r} must be a positive integer")
