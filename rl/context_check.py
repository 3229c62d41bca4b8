"""Will the curriculum's hardest level still fit the rollout engine? Checked before a GRPO run
starts (and by `--dry-run`), as warnings.

An adaptive curriculum climbs on its own; a run that reaches a level whose prompts are longer
than `rollout.max_model_len` would fail hours in, at the first such prompt. So each task's top
level (its curriculum ceiling on every axis, else the axis's hardest value) is measured: a
`context_tokens` axis is the prompt's length in tokens by construction (KeyChain, multi-hop,
RULER fill to it); other generators sample one task there, its length estimated as
characters / 4 (synth/data_warnings.py: no tokenizer load). A prompt plus
`sampling.max_tokens` that does not fit is one warning line naming the knobs. Sources on the
Hub are not fetched for this (the run loads them at start), and a generator that cannot sample
its top level here is passed over with a debug line: the run reports that when it gets there.
"""

from __future__ import annotations

import logging
import math
from typing import Any

log = logging.getLogger(__name__)


def top_level(axes: list, ceiling: dict[str, int]) -> dict[str, int]:
    """The hardest point a task's curriculum may reach: its ceiling, else each axis's last value."""
    return {axis.name: ceiling.get(axis.name, axis.values[-1]) for axis in axes}


def top_prompts(config: Any) -> dict[str, tuple[dict[str, int], int | None]]:
    """Task name -> (its top level, about how many tokens its prompts take there); None tokens
    when that is not known here (a Hub source, or a generator that cannot sample there)."""
    from synth import get_generator
    from synth.data_warnings import CHARS_PER_TOKEN, prompt_chars

    found: dict[str, tuple[dict[str, int], int | None]] = {}
    for name, task in config.tasks.items():
        generator = get_generator(task.generator, **task.options)
        bounds = config.curriculum.tasks.get(name)
        level = top_level(generator.axes(), bounds.ceiling if bounds else {})
        found[name] = (level, None)
        if "context_tokens" in level:
            found[name] = (level, level["context_tokens"])
        elif not any(str(value).startswith("hub:") for value in task.options.values()):
            try:
                [sample] = generator.sample(level, n=1, seed=0)
            except Exception as error:  # noqa: BLE001 - a warning pass must never stop a run
                log.debug("tasks.%s: top level %s not sampled here: %s", name, level, error)
                continue
            found[name] = (level, prompt_chars(sample.prompt) // CHARS_PER_TOKEN)
    return found


def prompt_length_warnings(config: Any, prompts: dict | None = None) -> list[str]:
    """One line per task whose top-level prompts leave no room for `sampling.max_tokens`
    (`prompts`: top_prompts(config), when already measured)."""
    limit, answer = config.rollout.max_model_len, config.sampling.max_tokens
    warnings = []
    for name, (level, tokens) in (top_prompts(config) if prompts is None else prompts).items():
        if tokens is None or tokens + answer <= limit:
            continue
        shown = ", ".join(f"{axis}={value}" for axis, value in level.items())
        warnings.append(
            f"tasks.{name}: at its top level ({shown}) prompts run to ~{tokens:,} tokens, "
            f"which with sampling.max_tokens={answer} exceeds rollout.max_model_len={limit}: "
            f"set a lower curriculum.tasks.{name}.ceiling or raise rollout.max_model_len"
        )
    return warnings


def kv_bytes_per_token(model: str, dtype: str) -> int | None:
    """Bytes of KV cache one token takes (keys and values of every layer, in the engine's
    dtype; rl/memory.py's shape); None when the shape is unknown here."""
    from rl.memory import load_shape

    shape = load_shape(model)
    return None if shape is None else shape.kv_bytes_per_token(4 if dtype == "float32" else 2)


def kv_cache_tokens(model: str, kv_cache_gib: float, dtype: str) -> int | None:
    """How many tokens `kv_cache_gib` of KV cache holds for the model; None when its shape is
    unknown here."""
    per_token = kv_bytes_per_token(model, dtype)
    return None if per_token is None else int(kv_cache_gib * 2**30 // per_token)


def kv_cache_error(model: str, rollout: Any) -> str | None:
    """One line when `rollout.kv_cache_gib` cannot hold one sequence of `max_model_len` tokens
    (vLLM would refuse at engine start, after Ray and the model have loaded)."""
    if rollout.kv_cache_gib in (None, "auto") or rollout.backend != "vllm":
        return None
    tokens = kv_cache_tokens(model, rollout.kv_cache_gib, rollout.engine_dtype())
    if tokens is None or tokens >= rollout.max_model_len:
        return None
    return (
        f"rollout.kv_cache_gib={rollout.kv_cache_gib:g} holds {tokens:,} tokens of this model's "
        f"KV cache, fewer than one sequence of rollout.max_model_len={rollout.max_model_len:,}: "
        f"raise kv_cache_gib to at least {rollout.kv_cache_gib * rollout.max_model_len / tokens:.2f}"
        " or lower max_model_len"
    )


AUTO_MEMORY_SHARE = 0.5
"""At most this share of the memory available at start goes to the engines' KV caches (all
workers together): the learner, Ray's object store and the engines' weights need the rest."""
BLOCK_TOKENS = 16
"""vLLM's KV block: every sequence (and each group's shared prompt) rounds up to whole blocks."""


def auto_kv_cache(
    config: Any, prompts: dict, available_bytes: int | None = None
) -> tuple[float | None, str]:
    """rollout.kv_cache_gib=auto for a GRPO run: GiB per worker that hold the worker's share of
    one rollout batch at once (vLLM's prefix cache keeps each group's prompt once: prompts x
    (longest prompt + n x max_tokens)), at least one max_model_len sequence, at most
    AUTO_MEMORY_SHARE of `available_bytes` (the memory free now) split over the workers. A
    batch larger than that runs in waves (vLLM schedules what fits). Returns the GiB (None on a
    GPU: vLLM sizes from gpu_memory_utilization there) and a plan line; ValueError (one line)
    when one sequence of max_model_len cannot fit."""
    rollout, sampling = config.rollout, config.sampling
    if rollout.on_gpu:
        return None, "kv cache:   auto on GPU: vLLM sizes it from rollout.gpu_memory_utilization"
    per_token = kv_bytes_per_token(config.model, rollout.engine_dtype())
    if per_token is None:
        return 0.5, "kv cache:   auto: the model's shape is not known here, 0.5 GiB per worker"
    limit, answer = rollout.max_model_len, sampling.max_tokens
    lengths = [tokens for _, tokens in prompts.values()]
    # A task whose prompts cannot be measured here may fill the context.
    longest = (
        limit - answer if None in lengths or not lengths else min(max(lengths), limit - answer)
    )
    per_worker = math.ceil(config.prompts_per_step / rollout.num_workers)
    tokens = per_worker * (longest + BLOCK_TOKENS + sampling.n * (answer + BLOCK_TOKENS))
    tokens = max(tokens, limit + BLOCK_TOKENS)
    if available_bytes is None:
        import psutil

        available_bytes = psutil.virtual_memory().available
    room = available_bytes * AUTO_MEMORY_SHARE / rollout.num_workers
    one = (limit + BLOCK_TOKENS) * per_token
    if one > room:
        raise ValueError(
            f"rollout.kv_cache_gib=auto: one sequence of rollout.max_model_len={limit:,} tokens "
            f"needs {one / 2**30:.2f} GiB of KV cache per worker, more than the "
            f"{room / 2**30:.2f} GiB that {AUTO_MEMORY_SHARE:.0%} of the "
            f"{available_bytes / 2**30:.1f} GiB available allows: lower max_model_len or "
            "rollout.num_workers"
        )
    need = tokens * per_token
    gib = math.ceil(min(need, room) / 2**30 * 100) / 100
    line = (
        f"kv cache:   auto: {gib:.2f} GiB per worker for ~{tokens:,} tokens ({per_worker} prompts "
        f"x (~{longest:,} prompt + {sampling.n} x {answer} completion tokens))"
    )
    if need > room:
        line += (
            f", capped at {AUTO_MEMORY_SHARE:.0%} of the memory available: the batch runs in waves"
        )
    return gib, line


def resolve_kv_cache(config: Any, prompts: dict | None = None) -> tuple[Any, str | None]:
    """The GRPO run's config with kv_cache_gib=auto replaced by its size (auto_kv_cache) and the
    plan line; the config as it is (and None) when it names a size or runs the hf backend."""
    if config.rollout.kv_cache_gib != "auto" or config.rollout.backend != "vllm":
        return config, None
    gib, line = auto_kv_cache(config, top_prompts(config) if prompts is None else prompts)
    rollout = config.rollout.model_copy(update={"kv_cache_gib": gib})
    return config.model_copy(update={"rollout": rollout}), line
