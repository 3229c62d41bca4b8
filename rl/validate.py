"""Checks of a run config that need the registries: generator names and options, rewards.

Run before anything starts (`rl/run.py` calls it right after parsing), so a typo in a
generator option or a reward name costs a second, not an engine start. Generators expose
their pydantic options model as `config_class`; the options are validated against it here.
"""

from __future__ import annotations

from pydantic import ValidationError

from rl.config import RunConfig
from rl.config_io import ConfigError, format_error


def check_run_config(config: RunConfig) -> None:
    """Raise ConfigError (one line) for an unknown generator, option or reward."""
    from rewards import REWARDS
    from synth import GENERATORS

    for name, task in config.tasks.items():
        if task.generator not in GENERATORS:
            raise ConfigError(
                f"config error: tasks.{name}.generator: unknown generator {task.generator!r}; "
                f"registered: {', '.join(sorted(GENERATORS))}"
            )
        options_model = getattr(GENERATORS[task.generator], "config_class", None)
        if options_model is not None:
            try:
                options_model.model_validate(task.options)
            except ValidationError as error:
                line = format_error(options_model, error).removeprefix("config error: ")
                raise ConfigError(f"config error: tasks.{name}.options.{line}") from None
        if isinstance(task.reward, str) and task.reward not in REWARDS:
            raise ConfigError(
                f"config error: tasks.{name}.reward: unknown reward {task.reward!r}; "
                f"registered: {', '.join(sorted(REWARDS))}"
            )
        if isinstance(task.reward, dict | list):
            from rewards.combine import RewardSpec

            try:
                RewardSpec.model_validate(task.reward)
            except ValidationError as error:
                line = format_error(RewardSpec, error).removeprefix("config error: ")
                raise ConfigError(f"config error: tasks.{name}.reward.{line}") from None
