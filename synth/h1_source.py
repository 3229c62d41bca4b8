"""h1's problem sources, read once per process: builtin, a local GSM8K-format JSONL, the Hub.

`check_source` says what can be known without reading (the file exists, a test split is for
evaluation only); `load_source` parses every problem once (cached on the config fields that
matter) and keeps those that can take a dependency (`targets`).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

from synth.atomic import AtomicProblem

if TYPE_CHECKING:
    from synth.h1 import H1Config

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class LoadedSource:
    """A source read once: all accepted problems, those that can carry a dependency, stats."""

    tag: str
    problems: tuple[AtomicProblem, ...]
    targets: tuple[AtomicProblem, ...]
    stats: object | None


def check_source(config: H1Config) -> None:
    """What can be known of the source without reading it: the file exists, and a test split
    is used for evaluation only. One ValueError line otherwise."""
    from synth import gsm8k

    source = config.source
    if source == "builtin":
        return
    if source.startswith("hub:"):
        split = config.split or ("train" if config.purpose == "train" else "test")
        gsm8k.check_split_allowed(f"{source[4:].partition(':')[0]} split {split}", config.purpose)
        return
    path = Path(source.removeprefix("gsm8k:")).expanduser()
    if not path.is_file():
        raise ValueError(
            f"h1 source {source!r}: {path} is not a file; use builtin, gsm8k:PATH, hub:ID"
        )
    gsm8k.check_split_allowed(path.name, config.purpose)


def load_source(config: H1Config) -> LoadedSource:
    """The config's problems, parsed once per process (cached on the fields that matter)."""
    check_source(config)
    return _load_source(
        config.source,
        config.purpose,
        config.split,
        config.limit,
        config.builtin_pool_size,
        config.builtin_one_step_fraction,
        config.builtin_seed,
    )


@lru_cache(maxsize=8)
def _load_source(source, purpose, split, limit, pool_size, one_step_fraction, builtin_seed):
    from synth import gsm8k
    from synth.builtin_problems import generate_pool

    if source == "builtin":
        problems = generate_pool(limit or pool_size, builtin_seed, one_step_fraction)
        tag, stats = "builtin", None
        if purpose == "eval":  # another pool, without any problem of the training pool
            seen = {problem.id for problem in problems}
            drawn = generate_pool(limit or pool_size, f"{builtin_seed}/eval", one_step_fraction)
            problems = [problem for problem in drawn if problem.id not in seen]
            tag = "builtin-eval"
    elif source.startswith("hub:"):
        dataset_id, _, hub_config = source[4:].partition(":")
        split = split or ("train" if purpose == "train" else "test")
        tag = f"{dataset_id.replace('/', '_')}-{split}"
        stats = gsm8k.SourceStats(f"{dataset_id}[{split}]")
        rows = gsm8k.read_hub_rows(dataset_id, hub_config or None, split)
        problems = gsm8k.problems_from_rows(_limited(rows, limit), stats, tag)
    else:
        path = Path(source.removeprefix("gsm8k:")).expanduser()
        tag, stats = path.stem, gsm8k.SourceStats(path.name)
        rows = gsm8k.read_jsonl_rows(path, stats)
        problems = gsm8k.problems_from_rows(_limited(rows, limit), stats, tag)
    if not problems:  # the error line carries the summary
        raise ValueError(
            f"h1 source {source!r} gave no usable problems: {stats and stats.summary()}"
        )
    if stats is not None:
        log.info("h1 source %s", stats.summary())
    targets = tuple(problem for problem in problems if problem.target_slots)
    return LoadedSource(tag, tuple(problems), targets, stats)


def _limited(rows, limit):
    for count, row in enumerate(rows):
        if limit is not None and count >= limit:
            return
        yield row
