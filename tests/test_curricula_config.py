"""Curriculum configs: defaults build, bad configs fail with one line naming the fix."""

from __future__ import annotations

import pytest

from curricula import CURRICULA, build_curriculum
from curricula.config import AdaptiveSchedule, CurriculumConfig, TaskCurriculum, parse_config
from synth.base import Axis

HORIZON = [Axis("horizon", tuple(range(1, 9)))]


def test_default_config_is_adaptive_h1_from_horizon_1():
    curriculum = build_curriculum(CurriculumConfig(), {"h1": HORIZON}, seed=0)
    assert curriculum.kind == "adaptive"
    assert curriculum.current_levels() == {"h1": {"horizon": 1}}


def test_every_kind_is_registered_and_builds():
    for kind in CURRICULA:
        config = parse_config({"schedule": {"kind": kind}})
        assert build_curriculum(config, {"h1": HORIZON}, seed=0).kind == kind


def test_schedule_without_kind_is_adaptive():
    assert parse_config({"schedule": {"window": 40}}).schedule.window == 40


@pytest.mark.parametrize(
    ("data", "names"),
    [
        ({"schedule": {"promote_above": 0.1, "demote_below": 0.5}}, "demote_below"),
        ({"schedule": {"window": 0}}, "window"),
        ({"schedule": {"window": 4, "min_samples": 8}}, "min_samples"),
        ({"schedule": {"patience": 0}}, "patience"),
        ({"tasks": {"h1": {"weight": 0.0}}}, "weights sum to 0"),
        ({"tasks": {}}, "tasks is empty"),
        ({"tasks": {"h1": {"weight": -1}}}, "weight"),
        ({"replay_frac": 0.7, "probe_frac": 0.5}, "replay_frac + probe_frac"),
        ({"schedule": {"kind": "cosine"}}, "kind must be one of"),
        ({"schedule": {"kind": "fixed_steps", "steps_per_level": 0}}, "steps_per_level"),
        ({"replay": 0.1}, "replay"),
        ({"tasks": {"h1": {"axis_order": ["horizon", "horizon"]}}}, "repeats"),
    ],
)
def test_bad_config_fails_with_one_line(data, names):
    with pytest.raises(ValueError) as error:
        parse_config(data)
    message = str(error.value)
    assert "\n" not in message
    assert names in message


@pytest.mark.parametrize(
    ("axes", "settings", "names"),
    [
        ([], TaskCurriculum(), "declares no axes"),
        (HORIZON, TaskCurriculum(start={"horizon": 9}), "start horizon=9"),
        (HORIZON, TaskCurriculum(floor={"horizon": 5}, ceiling={"horizon": 3}), "swap"),
        (HORIZON, TaskCurriculum(start={"horizon": 2}, floor={"horizon": 3}), "outside"),
        (HORIZON, TaskCurriculum(ceiling={"depth": 3}), "unknown axes ['depth']"),
        (HORIZON, TaskCurriculum(axis_order=["depth"]), "axis_order names unknown"),
    ],
)
def test_config_that_does_not_fit_the_axes_fails_with_one_line(axes, settings, names):
    config = CurriculumConfig(tasks={"h1": settings})
    with pytest.raises(ValueError) as error:
        build_curriculum(config, {"h1": axes}, seed=0)
    assert "\n" not in str(error.value)
    assert names in str(error.value)


def test_empty_axis_is_rejected_by_the_axis_itself():
    with pytest.raises(ValueError, match="has no values"):
        Axis("horizon", ())


def test_task_without_axes_from_the_driver_is_rejected():
    config = CurriculumConfig(tasks={"h1": TaskCurriculum(), "keychain": TaskCurriculum()})
    with pytest.raises(ValueError, match=r"\['keychain'\] have no axes"):
        build_curriculum(config, {"h1": HORIZON}, seed=0)


def test_adaptive_schedule_round_trips_through_json():
    config = CurriculumConfig(
        schedule=AdaptiveSchedule(window=20, unit="completion", min_samples=20)
    )
    assert CurriculumConfig.model_validate_json(config.model_dump_json()) == config
