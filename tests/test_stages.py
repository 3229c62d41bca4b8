"""The stage schedule (rl/stages.py): config checks, the mix per stage, the hard subset, state."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from curricula import build_curriculum
from curricula.base import apportion
from rl.config import RunConfig
from rl.config_io import ConfigError, load_config
from rl.stages import Stages, stage_at, tracker_id
from synth import get_generator


@pytest.fixture
def records_path(tmp_path):
    tasks = get_generator("h1").sample({"horizon": 1}, 10, seed=5)
    path = tmp_path / "records.jsonl"
    path.write_text("\n".join(task.model_dump_json() for task in tasks) + "\n")
    return str(path)


def staged_config(records_path: str, *overrides: str) -> RunConfig:
    base = [
        "tasks.kc.generator=records",
        f"tasks.kc.options.path={records_path}",
        "tasks.h1.generator=h1",
        "eval.sets={}",
        "stages=[{steps: 2, tasks: {kc: 1, h1: 1}}, {steps: 3, tasks: {kc: 1}, hard_subset: true}]",
    ]
    return load_config(RunConfig, None, base + list(overrides))


def test_stage_config_checks_are_one_line(records_path):
    config = staged_config(records_path)
    assert config.steps == 5 and config.curriculum.hard_subset.enabled
    assert [stage_at(config.stages, step) for step in range(7)] == [0, 0, 1, 1, 1, 1, 1]
    bad = {
        "steps=4": "the stages add up to 5",
        "stages=[{steps: 1, tasks: {nope: 1}}]": "['nope'] are not in tasks",
        "stages=[{steps: 1, tasks: {kc: 1}, hard_subset: true}]": "has no stage before it",
        "stages=[{steps: 1, tasks: {kc: 1}}, {steps: 1, tasks: {h1: 1}, hard_subset: true}]": (
            "not `records` sources"
        ),
        "curriculum.hard_subset.enabled=false": "a stage has hard_subset: true",
        "stages=[{steps: 1, tasks: {kc: 0}}]": "at least one above 0",
    }
    for override, message in bad.items():
        with pytest.raises(ConfigError, match=message.replace("[", r"\[").replace("]", r"\]")):
            staged_config(records_path, override)


def test_a_zero_weight_never_receives_a_share():
    rng = random.Random(0)
    assert all(apportion(5, [1.0, 0.0, 1.0], rng)[1] == 0 for _ in range(500))


def parts(config: RunConfig):
    generators = {n: get_generator(t.generator, **t.options) for n, t in config.tasks.items()}
    axes = {name: generator.axes() for name, generator in generators.items()}
    curriculum = build_curriculum(config.curriculum, axes, seed=config.seed)
    return generators, curriculum, Stages(config.stages, curriculum, generators)


def observe(curriculum, generators, task: str, count: int, solved: set[str]) -> list[str]:
    """Draw `count` items of `task` and report 8 completions each: all solved for ids in
    `solved`, half solved otherwise."""
    items = generators[task].sample({"all": 1}, count)
    curriculum.observe(
        [
            {"task": task, "level": {"all": 1}, "item_id": tracker_id(task, item.id),
             "rewards": [1.0] * 8 if item.id in solved else [1.0, 0.0] * 4}
            for item in items
        ]
    )  # fmt: skip
    return [item.id for item in items]


def test_stages_set_the_mix_and_the_hard_stage_keeps_the_unsolved(records_path):
    config = staged_config(records_path)
    generators, curriculum, stages = parts(config)
    stages.enter(0)
    assert {task for task, _ in curriculum.choose(40)} == {"kc", "h1"}
    every_id = generators["kc"].pool_ids()
    solved = set(every_id[:4])
    seen = observe(curriculum, generators, "kc", 10, solved)  # one epoch: every item judged
    assert sorted(seen) == sorted(every_id)
    stages.enter(1)  # still stage 0: nothing changes
    assert generators["kc"].pool_ids() == every_id
    stages.enter(2)
    assert {task for task, _ in curriculum.choose(40)} == {"kc"}
    assert generators["kc"].pool_ids() == every_id[4:]
    assert curriculum.hard_subset.outcomes == {}  # the new stage judges with its own outcomes
    assert not {t.id for t in generators["kc"].sample({"all": 1}, 12)} & solved
    assert stages.metrics(2)["stage"] == 1 and stages.metrics(1)["stage"] == 0

    state = stages.state_dict()
    generators2, curriculum2, stages2 = parts(config)
    curriculum2.load_state_dict(curriculum.state_dict())
    stages2.load_state_dict(state)
    assert curriculum2.weights == curriculum.weights
    assert generators2["kc"].sample({"all": 1}, 9) == generators["kc"].sample({"all": 1}, 9)
    stages2.enter(3)  # the stage it resumed in is not entered again
    assert generators2["kc"].pool_ids() == every_id[4:]


def test_a_recipe_without_its_data_dry_runs_with_warnings_and_refuses_to_run(capsys):
    from rl.run import main

    recipe = str(Path(__file__).resolve().parents[1] / "configs" / "loongrl.yaml")
    assert main(["--config", recipe, "--dry-run"]) == 0
    warnings = capsys.readouterr().err.strip().splitlines()
    assert len(warnings) == 8 and all("does not exist yet" in line for line in warnings)
    assert main(["--config", recipe, "output_dir=/tmp/never"]) == 2
    error = capsys.readouterr().err.strip()
    assert error.startswith("config error: tasks.kc_hotpotqa.options.path:")
    assert error.endswith("(and 7 more)") and "\n" not in error
