"""What a generator is: a config, a level, named difficulty axes and `sample(level, n, seed)`.

A generator is one module plus one line in `synth.GENERATORS`. Everything else reads what the
class declares: `python -m synth NAME` builds its flags from `config_class` and `level_class`
(types, defaults, field docstrings as help), `rl/config.py` validates `tasks.X.options` against
`config_class` and records them with defaults filled in, and the curriculum only sees `axes()`.

    class ToyConfig(BaseModel):
        model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True)
        words: int = 3
        '''Words per prompt.'''

    class ToyLevel(BaseModel):
        model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True)
        size: int = Field(ge=1)
        '''The difficulty axis.'''

    class ToyGenerator:
        name, config_class, level_class = "toy", ToyConfig, ToyLevel
        def __init__(self, config: ToyConfig | None = None, **fields): ...
        def axes(self): return [Axis("size", (1, 2, 3))]
        def sample(self, level, n, seed): ...

Optional methods the CLI uses when present: `iter_tasks(level, n, seed)` yields the same tasks
as `sample` one at a time (for a progress bar) and `summary()` returns a line on what the
generator read and skipped.

A generator that writes with a model (LongPO, Self-Lengthen) sets `needs_model = True` and
takes `complete=` (a `Complete`) when built. synth never starts one: the caller passes it in
(rl.completions makes one from the Ray rollout pool; `python -m synth` composes them in
synth/__main__.py), so synth knows nothing of Ray.

What a dataset card says about the generator (synth/card.py) comes from optional class
attributes and methods; a generator without them still publishes, with a plainer card:
  - `description: str`, a paragraph on what a record asks and how it is made;
  - `paper: str`, the work it follows, as "Title (year), URL";
  - `task_categories: tuple[str, ...]` and `tags: tuple[str, ...]`, Hub card metadata;
  - `sources() -> list[synth.provenance.SourceInfo]`, what the records are made from, with
    licences (the card declares the most restrictive; an unknown one makes it `other`);
  - `skip_counts() -> dict[str, int]`, counted skips by reason so far ("source: ..." for rows
    the source refused, "sampling: ..." for items passed over while making records);
  - a config field `purpose` equal to "eval" publishes the split as `test` (else `train`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar, Protocol

from pydantic import BaseModel

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
    name: ClassVar[str]
    """The registry name; also the `task` field of every record it makes."""
    config_class: ClassVar[type[BaseModel]]
    """Its options (pydantic, extra="forbid", a docstring per field)."""
    level_class: ClassVar[type[BaseModel]]
    """One point on its axes, as the CLI takes it (one field per axis, int values)."""

    def __init__(self, config: Any = None, **fields: Any) -> None: ...

    def axes(self) -> list[Axis]:
        """The difficulty axes, in the order a curriculum should raise them."""
        ...

    def sample(self, level: dict[str, int], n: int, seed: int) -> list[Task]:
        """n tasks at `level`; a pure function of (config, level, n, seed)."""
        ...


class Complete(Protocol):
    """Chat prompts in, `n` completion texts per prompt out (the same order). `sampling` holds
    cluster.config.SamplingConfig's fields: n, temperature, top_p, top_k, max_tokens,
    repetition_penalty, stop, seed. A prompt whose last message is the assistant's is
    continued from inside that message."""

    def __call__(
        self, prompts: list[list[dict[str, str]]], sampling: dict[str, Any]
    ) -> list[list[str]]: ...


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
