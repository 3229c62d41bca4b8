"""Completions for model-driven generators (LongPO, Self-Lengthen, the dataset filter), from the
Ray rollout pool.

synth knows nothing of Ray: a generator that needs a model takes a `complete` function
(synth.base.Complete: chat prompts and sampling settings in, n texts per prompt out). This
module makes one from a cluster.RolloutPool, and `pool_completer` starts a pool (and a local
Ray when none is running) for a command-line run, e.g. `python -m synth longpo`:

    with pool_completer(ModelSettings(model="embedded")) as complete:
        texts = complete([[{"role": "user", "content": "Hi"}]], {"n": 2, "max_tokens": 16})
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class ModelSettings(BaseModel):
    """The model a generator calls and the engines that serve it."""

    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True)

    model: str = "embedded"
    """embedded, tiny, a local model directory, a run directory or a Hub id."""
    backend: Literal["vllm", "hf"] = "vllm"
    """vllm (CPU or CUDA build) or hf (transformers generate)."""
    workers: int = Field(1, ge=1)
    """Rollout workers (Ray actors), each with its own engine."""
    cpus_per_worker: int | None = Field(None, ge=1)
    """Threads per CPU engine; None: every core, split over the workers."""
    max_model_len: int = Field(4096, ge=64)
    """Longest prompt plus completion, in tokens."""
    kv_cache_gib: float = Field(0.5, gt=0)
    """KV cache per worker."""
    dtype: Literal["auto", "float32", "bfloat16"] = "auto"
    """Engine dtype: auto (float32 on CPU, bfloat16 on GPU), float32, bfloat16."""


def pool_complete(pool: Any) -> Callable[[list[list[dict[str, str]]], dict[str, Any]], list]:
    """A synth.base.Complete over `pool`: one batched generate call per request."""
    from cluster.config import SamplingConfig

    def complete(prompts: list[list[dict[str, str]]], sampling: dict[str, Any]) -> list[list[str]]:
        if not prompts:
            return []
        rollouts = pool.generate(prompts, SamplingConfig(**sampling))
        return [[completion.text for completion in rollout.completions] for rollout in rollouts]

    return complete


def settings_from_flags(flags: dict[str, Any]) -> ModelSettings:
    """ModelSettings from command-line values, or one ValueError line naming the flag."""
    from pydantic import ValidationError

    try:
        return ModelSettings.model_validate(flags)
    except ValidationError as error:
        item = error.errors()[0]
        name = "--" + str(item["loc"][0]).replace("_", "-") if item["loc"] else "--model"
        raise ValueError(f"{name}: {item['msg']} (got {item.get('input')!r})") from None


@contextmanager
def pool_completer(settings: ModelSettings | dict[str, Any]) -> Iterator[Callable]:
    """A `complete` function backed by a fresh rollout pool; the pool (and a local Ray this
    started) stops on exit."""
    with pool_session(settings) as pool:
        yield pool_complete(pool)


@contextmanager
def pool_session(settings: ModelSettings | dict[str, Any]) -> Iterator[Any]:
    """A fresh cluster.RolloutPool for `settings` (and a local Ray when none runs); both stop
    on exit."""
    from cluster.config import RolloutConfig
    from cluster.pool import RolloutPool
    from cluster.ray_setup import init_ray, object_store_bytes, shutdown_ray
    from rl.checkpoints import model_directory

    if isinstance(settings, dict):
        settings = settings_from_flags(settings)
    path = model_directory(settings.model)
    cpus = settings.cpus_per_worker or max(1, (os.cpu_count() or 1) // settings.workers)
    rollout = RolloutConfig(
        backend=settings.backend,
        num_workers=settings.workers,
        cpus_per_worker=cpus,
        max_model_len=settings.max_model_len,
        kv_cache_gib=settings.kv_cache_gib,
        dtype=settings.dtype,
    )
    started = init_ray(
        None, num_cpus=cpus * settings.workers, object_store_memory=object_store_bytes(path)
    )
    try:
        with RolloutPool(rollout, path) as pool:
            yield pool
    finally:
        shutdown_ray(started)
