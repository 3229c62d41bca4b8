"""Synthetic task generators and the one registry that names them.

Adding a generator is one new module plus one line in GENERATORS.
"""

from __future__ import annotations

from typing import Any

from synth.base import Axis, Generator
from synth.h1 import H1Generator
from synth.keychain import KeyChainGenerator
from synth.longpo import LongPOGenerator
from synth.multihop import MultiHopGenerator
from synth.records import RecordsGenerator
from synth.ruler import RulerGenerator
from synth.self_lengthen import SelfLengthenGenerator
from synth.task import Task, tasks_from_dataset, tasks_to_dataset

# name -> factory(**config) -> Generator. Factories import their heavy dependencies lazily,
# so importing synth stays cheap for `--help` and config validation.
GENERATORS: dict[str, Any] = {
    "h1": H1Generator,
    "keychain": KeyChainGenerator,
    "multihop": MultiHopGenerator,
    "records": RecordsGenerator,
    "longpo": LongPOGenerator,
    "ruler": RulerGenerator,
    "self_lengthen": SelfLengthenGenerator,
}


def get_generator(name: str, **config: Any) -> Generator:
    """The generator registered as `name`, built from its config keyword arguments."""
    if name not in GENERATORS:
        raise ValueError(f"unknown generator {name!r}; registered: {sorted(GENERATORS)}")
    return GENERATORS[name](**config)


__all__ = [
    "Axis",
    "GENERATORS",
    "Generator",
    "Task",
    "get_generator",
    "tasks_from_dataset",
    "tasks_to_dataset",
]
