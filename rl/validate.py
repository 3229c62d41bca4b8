"""Checks of a run config that need the registries: generators, their options and axes, rewards.

`RunConfig` calls `check_registries` while it validates, so a config that loads is one the run
accepts: a typo in a generator option, an unknown reward, or a curriculum start that is not a
value of its axis is one line at load time (`--dry-run` included), not an error after Ray and the
model have started. Building a generator is cheap (sources are read on first use), so this
costs milliseconds. Each task's options come back validated with every default filled in, which
is what the run's config.yaml records.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ValidationError


def _one_line(model: type[BaseModel], error: ValidationError) -> str:
    from rl.config_io import format_error

    return format_error(model, error).removeprefix("config error: ")


def validated_options(name: str, generator: str, options: dict[str, Any]) -> dict[str, Any]:
    """`tasks.<name>.options` checked against the generator's config_class, defaults filled."""
    from synth import GENERATORS

    if generator not in GENERATORS:
        raise ValueError(
            f"tasks.{name}.generator: unknown generator {generator!r}; "
            f"registered: {', '.join(sorted(GENERATORS))}"
        )
    if getattr(GENERATORS[generator], "needs_model", False):
        raise ValueError(
            f"tasks.{name}.generator: {generator} writes its records with a model, they are "
            "not RL tasks; run it with its own algorithm (e.g. algorithm=longpo)"
        )
    options_model = GENERATORS[generator].config_class
    try:
        return options_model.model_validate(options).model_dump(mode="json")
    except ValidationError as error:
        raise ValueError(f"tasks.{name}.options.{_one_line(options_model, error)}") from None


def check_reward(name: str, reward: Any) -> None:
    from rewards import REWARDS
    from rewards.combine import RewardSpec

    if isinstance(reward, str) and reward not in REWARDS:
        raise ValueError(
            f"tasks.{name}.reward: unknown reward {reward!r}; "
            f"registered: {', '.join(sorted(REWARDS))}"
        )
    if isinstance(reward, dict | list):
        try:
            RewardSpec.model_validate(reward)
        except ValidationError as error:
            raise ValueError(f"tasks.{name}.reward.{_one_line(RewardSpec, error)}") from None


def check_curriculum(config: Any) -> None:
    """The curriculum's starts and bounds against the generators' axes (built, never sampled)."""
    from curricula import build_curriculum
    from synth import get_generator

    axes = {}
    for name, task in config.tasks.items():
        try:
            axes[name] = get_generator(task.generator, **task.options).axes()
        except ValueError as error:  # a source that cannot exist (missing file, test split)
            raise ValueError(f"tasks.{name}.options: {error}") from None
    try:
        build_curriculum(config.curriculum, axes, seed=config.seed)
    except ValueError as error:
        raise ValueError(f"curriculum: {error}") from None


def check_eval_sets(config: Any) -> None:
    """A generator spec in eval.sets names a registered generator, its axes and options (the
    set itself is sampled when the run starts); a path must exist."""
    from pathlib import Path

    from rl.eval_data import EvalDataError, parse_spec
    from synth import GENERATORS

    for name, spec in config.eval.sets.items():
        try:
            parsed = parse_spec(spec, config.tasks)
        except EvalDataError as error:
            raise ValueError(f"eval.sets.{name}: {error}") from None
        if parsed is None:
            if not Path(spec).expanduser().exists():
                raise ValueError(
                    f"eval.sets.{name}: {spec!r} is neither a path nor NAME:axis=value,... for "
                    f"a generator ({', '.join(sorted(GENERATORS))})"
                )
            continue
        generator, values = parsed
        cls = GENERATORS[generator]
        known = {*cls.level_class.model_fields, *cls.config_class.model_fields, "n", "seed"}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(
                f"eval.sets.{name}: unknown keys {unknown} for {generator}; "
                f"axes: {sorted(cls.level_class.model_fields)}, and n, seed, or an option"
            )


def check_registries(config: Any) -> None:
    """Every registry-level check of a RunConfig, in the order a user would fix them; fills
    each task's options with its generator's defaults."""
    for name, task in config.tasks.items():
        task.options = validated_options(name, task.generator, task.options)
        check_reward(name, task.reward)
    check_curriculum(config)
    check_eval_sets(config)


def check_grpo_only_placement(config: Any, algorithm: str) -> None:
    """learner.nodes places the learner relative to a GRPO run's rollout workers; the LongPO
    and Self-Lengthen runs start their learners while generation is stopped."""
    if config.learner.nodes != "any":
        raise ValueError(
            f"learner.nodes={config.learner.nodes}: a {algorithm} run trains while its rollout "
            "workers are stopped, so there is nothing to place it by; leave learner.nodes=any"
        )


def check_longpo(config: Any) -> None:
    """A longpo run's pair options, levels (values of the chunk_tokens axis, the curriculum's
    bounds) and eval sets; fills the options with the generator's defaults."""
    from pydantic import ValidationError

    from curricula import build_curriculum
    from synth.longpo import LongPOConfig

    check_grpo_only_placement(config, "longpo")

    try:
        options = LongPOConfig.model_validate(config.data.options)
    except ValidationError as error:
        raise ValueError(f"data.options.{_one_line(LongPOConfig, error)}") from None
    config.data.options = options.model_dump(mode="json")
    axis = options.chunk_tokens_values
    unknown = [level for level in config.data.levels if level not in axis]
    if unknown or not config.data.levels:
        raise ValueError(
            f"data.levels {config.data.levels}: each must be a chunk_tokens value of "
            f"data.options.chunk_tokens_values {list(axis)}"
        )
    longest = int(max(config.data.levels) * options.max_chunk_factor) * options.chunks_per_document
    if longest + options.answer_max_tokens > config.rollout.max_model_len:
        raise ValueError(
            f"rollout.max_model_len={config.rollout.max_model_len} cannot hold a document of up to "
            f"{longest} tokens and a {options.answer_max_tokens}-token answer: raise it or lower "
            "data.levels"
        )
    try:
        build_curriculum(config.curriculum, {"longpo": longpo_axes(config)}, seed=config.seed)
    except ValueError as error:
        raise ValueError(f"curriculum: {error}") from None
    check_eval_sets(config)


def longpo_axes(config: Any) -> list:
    """The run's curriculum axis: chunk_tokens over the levels it writes pairs at."""
    from synth.base import Axis

    return [Axis("chunk_tokens", tuple(sorted(config.data.levels)))]


def check_self_lengthen(config: Any) -> None:
    """A self_lengthen run's generator options, its max_tokens (a value of the axis), the seed
    instructions and the LonGen file; fills the options with the generator's defaults."""
    from pathlib import Path

    from pydantic import ValidationError

    from synth.self_lengthen import SelfLengthenConfig
    from synth.self_lengthen_prompts import load_seed_instructions

    check_grpo_only_placement(config, "self_lengthen")

    try:
        options = SelfLengthenConfig.model_validate(config.data.options)
    except ValidationError as error:
        raise ValueError(f"data.options.{_one_line(SelfLengthenConfig, error)}") from None
    config.data.options = options.model_dump(mode="json")
    if config.data.max_tokens not in options.max_tokens_values:
        raise ValueError(
            f"data.max_tokens={config.data.max_tokens} is not a value of "
            f"data.options.max_tokens_values {list(options.max_tokens_values)}"
        )
    try:
        load_seed_instructions(options.seed_source)
    except ValueError as error:
        raise ValueError(f"data.options.seed_source: {error}") from None
    if config.eval.queries and not Path(config.eval.source).is_file():
        raise ValueError(
            f"eval.source {config.eval.source}: no such file; point it at LonGen.jsonl or set "
            "eval.queries=0"
        )
