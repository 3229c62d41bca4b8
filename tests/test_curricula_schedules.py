"""Batch mixing (tasks by weight, replay, probes) and the baseline schedules."""

from __future__ import annotations

import random
from collections import Counter

import pytest

from curricula import build_curriculum
from curricula.base import apportion
from curricula.config import CurriculumConfig, FixedStepsSchedule, TaskCurriculum, parse_config
from synth.base import Axis

HORIZON = [Axis("horizon", tuple(range(1, 9)))]
KEYCHAIN = [Axis("context_tokens", (4096, 8192, 16384)), Axis("num_chains", (1, 2))]


def test_apportion_is_exact_and_fair():
    rng = random.Random(0)
    assert apportion(10, [3.0, 1.0, 1.0], rng) == [6, 2, 2]
    totals = Counter()
    for _ in range(2000):
        counts = apportion(3, [1.0, 1.0, 0.5], rng)
        assert sum(counts) == 3
        # Each count is its quota (1.2, 1.2, 0.6) rounded down or up.
        assert counts[0] in (1, 2) and counts[1] in (1, 2) and counts[2] in (0, 1)
        totals.update(dict(enumerate(counts)))
    assert totals[0] / 6000 == pytest.approx(0.4, abs=0.03)
    assert totals[2] / 6000 == pytest.approx(0.2, abs=0.03)
    assert apportion(5, [1.0, 0.0], rng) == [5, 0]


def test_tasks_share_batches_by_weight():
    config = CurriculumConfig(
        tasks={"h1": TaskCurriculum(weight=3.0), "keychain": TaskCurriculum(weight=1.0)}
    )
    curriculum = build_curriculum(config, {"h1": HORIZON, "keychain": KEYCHAIN}, seed=0)
    counts = Counter(task for task, _ in curriculum.choose(64))
    assert counts == {"h1": 48, "keychain": 16}


def test_zero_weight_task_is_never_chosen():
    config = CurriculumConfig(
        tasks={"h1": TaskCurriculum(weight=1.0), "keychain": TaskCurriculum(weight=0.0)}
    )
    curriculum = build_curriculum(config, {"h1": HORIZON, "keychain": KEYCHAIN}, seed=0)
    assert {task for task, _ in curriculum.choose(50)} == {"h1"}


def test_replay_and_probe_shares_around_the_frontier():
    config = CurriculumConfig(
        tasks={"h1": TaskCurriculum(start={"horizon": 4})}, replay_frac=0.25, probe_frac=0.125
    )
    curriculum = build_curriculum(config, {"h1": HORIZON}, seed=0)
    horizons = Counter(level["horizon"] for _, level in curriculum.choose(80))
    assert horizons[5] == 10
    assert horizons[4] == 50
    assert sum(horizons[h] for h in (1, 2, 3)) == 20
    assert set(horizons) <= {1, 2, 3, 4, 5}


def test_shares_fall_back_to_the_frontier_at_the_bounds():
    config = CurriculumConfig(
        tasks={"h1": TaskCurriculum(ceiling={"horizon": 1})}, replay_frac=0.3, probe_frac=0.3
    )
    curriculum = build_curriculum(config, {"h1": HORIZON}, seed=0)
    assert {level["horizon"] for _, level in curriculum.choose(40)} == {1}


def test_fixed_steps_promotes_on_its_budget_whatever_the_rewards():
    config = CurriculumConfig(
        schedule=FixedStepsSchedule(steps_per_level=3),
        tasks={"h1": TaskCurriculum(ceiling={"horizon": 3})},
    )
    curriculum = build_curriculum(config, {"h1": HORIZON}, seed=0)
    path = []
    for _ in range(10):
        level = curriculum.current_levels()["h1"]
        curriculum.observe([{"task": "h1", "level": level, "rewards": [0.0] * 4}] * 4)
        path.append(curriculum.current_levels()["h1"]["horizon"])
    assert path == [1, 1, 2, 2, 2, 3, 3, 3, 3, 3]
    assert [e["reason"] for e in curriculum.pop_events()] == ["fixed budget of 3 steps"] * 2


def test_fixed_level_never_moves_nor_mixes():
    config = parse_config(
        {
            "schedule": {"kind": "fixed_level"},
            "tasks": {"h1": {"start": {"horizon": 3}}},
            "replay_frac": 0.5,
        }
    )
    curriculum = build_curriculum(config, {"h1": HORIZON}, seed=0)
    for _ in range(5):
        assert {level["horizon"] for _, level in curriculum.choose(20)} == {3}
        curriculum.observe([{"task": "h1", "level": {"horizon": 3}, "rewards": [1.0] * 4}] * 20)
    assert curriculum.pop_events() == []


def test_uniform_covers_every_level_in_bounds_evenly():
    config = parse_config(
        {
            "schedule": {"kind": "uniform"},
            "tasks": {"keychain": {"ceiling": {"context_tokens": 8192}}},
        }
    )
    curriculum = build_curriculum(config, {"keychain": KEYCHAIN}, seed=0)
    counts = Counter(tuple(level.values()) for _, level in curriculum.choose(4000))
    assert set(counts) == {(4096, 1), (4096, 2), (8192, 1), (8192, 2)}
    assert min(counts.values()) > 900
    assert curriculum.current_levels() == {"keychain": {"context_tokens": 8192, "num_chains": 2}}


def test_observe_rejects_malformed_results_with_one_line():
    curriculum = build_curriculum(CurriculumConfig(), {"h1": HORIZON}, seed=0)
    bad = [
        ({"task": "h2", "level": {"horizon": 1}, "rewards": [1.0]}, "known tasks"),
        ({"task": "h1", "level": {"horizon": 9}, "rewards": [1.0]}, "horizon=9"),
        ({"task": "h1", "level": {"depth": 1}, "rewards": [1.0]}, "exactly the axes"),
        ({"task": "h1", "level": {"horizon": 1}, "rewards": []}, "non-empty"),
        ({"task": "h1", "level": {"horizon": 1}, "rewards": [float("nan")]}, "NaN"),
    ]
    for result, names in bad:
        with pytest.raises(ValueError, match=names) as error:
            curriculum.observe([result])
        assert "\n" not in str(error.value)
