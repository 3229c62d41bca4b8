"""Typed configuration: YAML + dotted overrides, one clear line per mistake, shipped configs load."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from rl.config import RunConfig
from rl.config_io import ConfigError, apply_overrides, dump_config, load_config, parse_override

REPO = Path(__file__).resolve().parents[1]


def test_overrides_parse_yaml_scalars_into_nested_keys():
    assert parse_override("trainer.lr=1e-6") == (["trainer", "lr"], 1e-6)
    assert parse_override("logging.progress=false") == (["logging", "progress"], False)
    data = apply_overrides({"trainer": {"lr": 1.0}}, ["trainer.lr=2e-6", "tasks.h1.generator=h1"])
    assert data == {"trainer": {"lr": 2e-6}, "tasks": {"h1": {"generator": "h1"}}}
    with pytest.raises(ConfigError, match="dotted.key=value"):
        parse_override("trainer.lr")


def test_defaults_are_the_embedded_run():
    config = RunConfig()
    assert config.model == "embedded"
    assert config.tasks["h1"].generator == "h1"
    assert config.rollout.backend == "vllm"


@pytest.mark.parametrize(
    ("override", "expected"),
    [
        ("trainer.lrr=1", "config error: trainer.lrr: unknown key; allowed keys: loss,"),
        ("trainer.lr=abc", "config error: trainer.lr: Input should be a valid number"),
        ("trainer.lr=-1", "config error: trainer.lr: Input should be greater than 0"),
        (
            "trainer.loss=ppo",
            "config error: trainer.loss: Input should be 'grpo', 'dr_grpo', 'dapo', 'dpo', "
            "'longpo' or 'sft'",
        ),
        ("sampling.n=1", "sampling.n must be >= 2"),
        ("tasks.h1.options.horizonn=3", "config error: tasks.h1.options.horizonn"),
        ("tasks.h1.generator=nope", "unknown generator 'nope'"),
        ("tasks.h1.reward=nope", "unknown reward 'nope'"),
        ("curriculum.replay_frac=2", "replay_frac must lie in [0, 1]"),
        ("logging.push_to_hub=h1-grpo", "config error: logging.push_to_hub: must be ORG/NAME"),
    ],
)
def test_bad_values_give_one_line_naming_the_key(override, expected):
    with pytest.raises(ConfigError) as error:
        load_config(RunConfig, None, [override])
    message = str(error.value)
    assert expected in message
    assert "\n" not in message


def test_yaml_file_round_trips_and_rejects_garbage(tmp_path):
    config = load_config(RunConfig, None, ["steps=3", "trainer.lr=2e-6"])
    path = tmp_path / "run.yaml"
    path.write_text(dump_config(config))
    assert load_config(RunConfig, path) == config
    (tmp_path / "bad.yaml").write_text("steps: [1, 2\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(RunConfig, tmp_path / "bad.yaml")
    with pytest.raises(ConfigError, match="not found"):
        load_config(RunConfig, tmp_path / "missing.yaml")


@pytest.mark.parametrize("path", sorted((REPO / "configs").glob("*.yaml")), ids=lambda p: p.name)
def test_every_shipped_config_loads_and_validates(path):
    from rl.run import CONFIGS, algorithm_of

    config = load_config(CONFIGS[algorithm_of(str(path), [])], path)
    if hasattr(config, "curriculum"):  # self_lengthen runs rounds, not a curriculum
        assert set(config.curriculum.tasks) <= set(config.tasks) | {"longpo"}


def test_cli_help_dry_run_and_bad_key_exit_code():
    run = [sys.executable, str(REPO / "rl" / "run.py")]
    help_text = subprocess.run([*run, "--help"], capture_output=True, text=True, check=True).stdout
    assert "--dry-run" in help_text and "--resume" in help_text
    dry = subprocess.run(
        [*run, "--dry-run", "steps=2"], capture_output=True, text=True, check=True
    ).stdout
    assert "steps: 2" in dry and "127.0.0.1" in dry and "h1" in dry
    bad = subprocess.run([*run, "--dry-run", "trainer.lrr=1"], capture_output=True, text=True)
    assert bad.returncode == 2
    assert bad.stderr.strip().splitlines() == [bad.stderr.strip()]  # exactly one line
    assert "trainer.lrr" in bad.stderr


def test_embedded_yaml_spells_out_the_defaults():
    assert load_config(RunConfig, REPO / "configs" / "embedded.yaml") == RunConfig()


def test_override_into_a_missing_section_rederives_its_defaults():
    config = load_config(RunConfig, None, ["trainer.loss=dapo"])
    assert config.trainer.dynamic_sampling and config.trainer.epsilon_high == 0.28
    config = load_config(RunConfig, None, ["tasks.h1.options.max_horizon=3"])
    assert config.tasks["h1"].generator == "h1" and config.tasks["h1"].options["max_horizon"] == 3


def test_an_override_changes_its_key_and_nothing_else(tmp_path):
    default = RunConfig()
    config = load_config(RunConfig, None, ["sampling.n=8"])
    assert config.sampling.n == 8
    assert config.sampling.model_dump(exclude={"n"}) == default.sampling.model_dump(exclude={"n"})
    # The run's own choices (not SamplingConfig's class defaults: T=1.0, 256 tokens) stay.
    assert config.sampling.temperature == 0.7 and config.sampling.max_tokens == 64
    # A file's section merges into the run's defaults the same way.
    (tmp_path / "run.yaml").write_text("sampling: {n: 6}\nrollout: {num_workers: 2}\n")
    from_file = load_config(RunConfig, tmp_path / "run.yaml")
    assert (from_file.sampling.n, from_file.sampling.temperature) == (6, 0.7)
    assert (from_file.rollout.num_workers, from_file.rollout.kv_cache_gib) == (2, 0.5)
    assert load_config(RunConfig, None, ["rollout.backend=hf"]).rollout.kv_cache_gib == 0.5
    # Another member of a tagged union starts clean: the adaptive schedule's fields do not stay.
    fixed = load_config(RunConfig, None, ["curriculum.schedule.kind=fixed_steps"])
    assert fixed.curriculum.schedule.kind == "fixed_steps"
    (tmp_path / "steps.yaml").write_text(
        "curriculum: {schedule: {kind: fixed_steps, steps_per_level: 3}}\n"
    )
    from_file = load_config(RunConfig, tmp_path / "steps.yaml")
    assert from_file.curriculum.schedule.steps_per_level == 3


def test_generator_options_are_recorded_with_their_defaults(tmp_path):
    from synth.h1 import H1Config

    config = load_config(RunConfig, None, ["tasks.h1.options.max_horizon=3"])
    defaults = RunConfig().tasks["h1"].options  # the run's own h1 options, validated
    assert config.tasks["h1"].options == H1Config(**{**defaults, "max_horizon": 3}).model_dump(
        mode="json"
    )
    dumped = dump_config(config)
    assert "builtin_pool_size: 5000" in dumped and "options: {}" not in dumped


@pytest.mark.parametrize(
    ("override", "expected"),
    [
        ("trainer.warmup_steps=10", "trainer.warmup_steps=10 >= the 10 steps"),
        ("sampling.temperature=0", "sampling.temperature must be > 0"),
        ("sampling.max_tokens=4096", "raise max_model_len"),
        ("curriculum.tasks.h1.start.horizon=9", "curriculum: task 'h1': start horizon=9"),
        ("tasks.h1.options.source=/no/such.jsonl", "tasks.h1.options: h1 source"),
        ("trainer.loss=longpo", "a grpo run trains one of grpo, dr_grpo, dapo"),
        ("tasks.x.generator=longpo", "writes its records with a model"),
    ],
)
def test_dry_run_catches_every_cross_field_mistake(override, expected):
    run = [sys.executable, str(REPO / "rl" / "run.py"), "--dry-run", override]
    result = subprocess.run(run, capture_output=True, text=True)
    assert result.returncode == 2, result.stdout
    assert result.stderr.strip().splitlines() == [result.stderr.strip()]
    assert expected in result.stderr
