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
from typing import Any

log = logging.getLogger(__name__)


def top_level(axes: list, ceiling: dict[str, int]) -> dict[str, int]:
    """The hardest point a task's curriculum may reach: its ceiling, else each axis's last value."""
    return {axis.name: ceiling.get(axis.name, axis.values[-1]) for axis in axes}


def prompt_length_warnings(config: Any) -> list[str]:
    """One line per task whose top-level prompts leave no room for `sampling.max_tokens`."""
    from synth import get_generator
    from synth.data_warnings import CHARS_PER_TOKEN, prompt_chars

    limit, answer = config.rollout.max_model_len, config.sampling.max_tokens
    warnings = []
    for name, task in config.tasks.items():
        generator = get_generator(task.generator, **task.options)
        bounds = config.curriculum.tasks.get(name)
        level = top_level(generator.axes(), bounds.ceiling if bounds else {})
        if "context_tokens" in level:
            tokens = level["context_tokens"]
        elif any(str(value).startswith("hub:") for value in task.options.values()):
            continue
        else:
            try:
                [sample] = generator.sample(level, n=1, seed=0)
            except Exception as error:  # noqa: BLE001 - a warning pass must never stop a run
                log.debug("tasks.%s: top level %s not sampled here: %s", name, level, error)
                continue
            tokens = prompt_chars(sample.prompt) // CHARS_PER_TOKEN
        if tokens + answer > limit:
            shown = ", ".join(f"{axis}={value}" for axis, value in level.items())
            warnings.append(
                f"tasks.{name}: at its top level ({shown}) prompts run to ~{tokens:,} tokens, "
                f"which with sampling.max_tokens={answer} exceeds rollout.max_model_len={limit}: "
                f"set a lower curriculum.tasks.{name}.ceiling or raise rollout.max_model_len"
            )
    return warnings


def kv_cache_tokens(model: str, kv_cache_gib: float, dtype: str) -> int | None:
    """How many tokens `kv_cache_gib` of KV cache holds for the model (keys and values of every
    layer, in the engine's dtype); None when the model's config is not on this machine (a Hub
    id, an alias not provisioned yet: nothing is fetched for a check)."""
    from transformers import AutoConfig

    from models import local_model_path

    model_path = local_model_path(model)
    if model_path is None:
        return None
    try:
        config = AutoConfig.from_pretrained(model_path)
    except (OSError, ValueError):
        return None
    config = getattr(config, "text_config", config)
    heads = getattr(config, "num_key_value_heads", None) or config.num_attention_heads
    head_dim = getattr(config, "head_dim", None) or config.hidden_size // config.num_attention_heads
    width = 4 if dtype == "float32" else 2
    per_token = 2 * config.num_hidden_layers * heads * head_dim * width
    return int(kv_cache_gib * 2**30 // per_token)


def kv_cache_error(model: str, rollout: Any) -> str | None:
    """One line when `rollout.kv_cache_gib` cannot hold one sequence of `max_model_len` tokens
    (vLLM would refuse at engine start, after Ray and the model have loaded)."""
    if rollout.kv_cache_gib is None or rollout.backend != "vllm":
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
