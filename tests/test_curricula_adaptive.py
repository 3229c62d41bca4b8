"""The adaptive schedule against simulated learners (known success per level)."""

from __future__ import annotations

from curricula import build_curriculum
from curricula.config import AdaptiveSchedule, CurriculumConfig, TaskCurriculum
from curricula.simulate import SimulatedLearner, SimulatedTask, frontier_level, run
from synth.base import Axis

HORIZON = [Axis("horizon", tuple(range(1, 9)))]
KEYCHAIN = [Axis("context_tokens", (4096, 8192, 16384, 32768)), Axis("num_chains", (1, 2, 4))]


def _horizons(history, task="h1"):
    return [record["levels"][task]["horizon"] for record in history]


def test_climbs_to_the_frontier_and_stays_around_it():
    learner = SimulatedLearner({"h1": SimulatedTask(HORIZON, max_skill=4.0)}, seed=1)
    curriculum = build_curriculum(CurriculumConfig(), {"h1": HORIZON}, seed=1)
    history = run(curriculum, learner, steps=250, prompts_per_step=16)
    target = frontier_level(learner.tasks["h1"], threshold=0.7)["horizon"]
    assert target == 5
    path = _horizons(history)
    assert path[0] == 1
    assert max(path) <= target + 1
    settled = path[150:]
    assert all(target - 1 <= horizon <= target for horizon in settled)
    assert sum(horizon == target for horizon in settled) >= 0.9 * len(settled)


def test_demotes_when_the_learner_degrades():
    learner = SimulatedLearner({"h1": SimulatedTask(HORIZON, max_skill=5.0)}, seed=2)
    curriculum = build_curriculum(CurriculumConfig(), {"h1": HORIZON}, seed=2)
    before = _horizons(run(curriculum, learner, steps=200, prompts_per_step=16))[-1]
    learner.degrade("h1", drop=3.0)
    history = run(curriculum, learner, steps=100, prompts_per_step=16)
    demotions = [e for record in history for e in record["events"] if e["event"] == "demote"]
    assert demotions
    assert all(e["to"]["horizon"] == e["from"]["horizon"] - 1 for e in demotions)
    assert _horizons(history)[-1] <= before - 2
    assert "mean" in demotions[0]["reason"] or "all failed" in demotions[0]["reason"]


def test_two_tasks_escalate_independently():
    learner = SimulatedLearner(
        {
            "h1": SimulatedTask(HORIZON, max_skill=6.0),
            "keychain": SimulatedTask(KEYCHAIN, max_skill=2.0),
        },
        seed=3,
    )
    config = CurriculumConfig(
        tasks={"h1": TaskCurriculum(weight=1.0), "keychain": TaskCurriculum(weight=1.0)}
    )
    curriculum = build_curriculum(config, {"h1": HORIZON, "keychain": KEYCHAIN}, seed=3)
    history = run(curriculum, learner, steps=300, prompts_per_step=16)
    final = history[-1]["levels"]
    assert final["h1"]["horizon"] in (6, 7)
    # Sequential raising: context first, to its ceiling, before chains.
    assert final["keychain"] in (
        {"context_tokens": 16384, "num_chains": 1},
        {"context_tokens": 8192, "num_chains": 1},
    )
    events = [e for record in history for e in record["events"]]
    assert {e["task"] for e in events} == {"h1", "keychain"}
    assert sum(e["task"] == "h1" for e in events) > sum(e["task"] == "keychain" for e in events)


def test_ceiling_and_floor_bound_the_walk():
    config = CurriculumConfig(
        tasks={
            "h1": TaskCurriculum(start={"horizon": 3}, floor={"horizon": 2}, ceiling={"horizon": 4})
        }
    )
    curriculum = build_curriculum(config, {"h1": HORIZON}, seed=0)
    for _ in range(5):
        curriculum.observe(
            [{"task": "h1", "level": curriculum.current_levels()["h1"], "rewards": [1.0] * 8}] * 16
        )
    assert curriculum.current_levels()["h1"] == {"horizon": 4}
    for _ in range(8):
        curriculum.observe(
            [{"task": "h1", "level": curriculum.current_levels()["h1"], "rewards": [0.0] * 8}] * 16
        )
    assert curriculum.current_levels()["h1"] == {"horizon": 2}


def test_zero_variance_groups_promote_before_the_mean_does():
    # Mean 0.65 stays below 0.7, but 65% of the groups are all solved: no GRPO signal.
    config = CurriculumConfig(schedule=AdaptiveSchedule(window=20, all_solved_promote=0.6))
    curriculum = build_curriculum(config, {"h1": HORIZON}, seed=0)
    groups = [[1.0] * 8] * 13 + [[0.0] * 8] * 7
    curriculum.observe(
        [{"task": "h1", "level": {"horizon": 1}, "rewards": rewards} for rewards in groups]
    )
    events = curriculum.pop_events()
    assert [e["event"] for e in events] == ["promote"]
    assert "all solved" in events[0]["reason"]
    metrics = curriculum.metrics()
    assert metrics["curriculum/h1/h=1/zero_var_frac"] == 1.0
    assert metrics["curriculum/h1/h=1/all_solved_frac"] == 0.65


def test_without_zero_variance_evidence_the_same_rewards_do_not_promote():
    config = CurriculumConfig(schedule=AdaptiveSchedule(window=20, all_solved_promote=None))
    curriculum = build_curriculum(config, {"h1": HORIZON}, seed=0)
    groups = [[1.0] * 8] * 13 + [[0.0] * 8] * 7
    curriculum.observe(
        [{"task": "h1", "level": {"horizon": 1}, "rewards": rewards} for rewards in groups]
    )
    assert curriculum.pop_events() == []


def test_patience_waits_for_consecutive_steps():
    config = CurriculumConfig(schedule=AdaptiveSchedule(patience=3, window=16, min_samples=4))
    curriculum = build_curriculum(config, {"h1": HORIZON}, seed=0)
    good = [{"task": "h1", "level": {"horizon": 1}, "rewards": [1.0, 1.0, 1.0, 0.0]}] * 4
    curriculum.observe(good)
    curriculum.observe(good)
    assert curriculum.current_levels()["h1"] == {"horizon": 1}
    curriculum.observe(good)
    assert curriculum.current_levels()["h1"] == {"horizon": 2}


def test_demotion_needs_evidence_earned_after_the_move():
    config = CurriculumConfig(schedule=AdaptiveSchedule(window=16, min_samples=8))
    curriculum = build_curriculum(config, {"h1": HORIZON}, seed=0)
    # Bad probe results at horizon 2 arrive in the same step as the promotion from 1.
    batch = [{"task": "h1", "level": {"horizon": 1}, "rewards": [1.0] * 4}] * 8
    batch += [{"task": "h1", "level": {"horizon": 2}, "rewards": [0.0] * 4}] * 8
    curriculum.observe(batch)
    assert curriculum.current_levels()["h1"] == {"horizon": 2}
    curriculum.observe([])
    assert curriculum.current_levels()["h1"] == {"horizon": 2}


def test_round_robin_alternates_axes():
    config = CurriculumConfig(axis_policy="round_robin", tasks={"keychain": TaskCurriculum()})
    curriculum = build_curriculum(config, {"keychain": KEYCHAIN}, seed=0)
    seen = []
    for _ in range(4):
        level = curriculum.current_levels()["keychain"]
        curriculum.observe([{"task": "keychain", "level": level, "rewards": [1.0] * 4}] * 8)
        seen.append(curriculum.current_levels()["keychain"])
    assert seen == [
        {"context_tokens": 8192, "num_chains": 1},
        {"context_tokens": 8192, "num_chains": 2},
        {"context_tokens": 16384, "num_chains": 2},
        {"context_tokens": 16384, "num_chains": 4},
    ]


def test_axis_order_raises_the_named_axis_first_and_holds_the_rest():
    config = CurriculumConfig(
        tasks={
            "keychain": TaskCurriculum(axis_order=["num_chains"], start={"context_tokens": 8192})
        }
    )
    curriculum = build_curriculum(config, {"keychain": KEYCHAIN}, seed=0)
    for _ in range(5):
        level = curriculum.current_levels()["keychain"]
        curriculum.observe([{"task": "keychain", "level": level, "rewards": [1.0] * 4}] * 8)
    assert curriculum.current_levels()["keychain"] == {"context_tokens": 8192, "num_chains": 4}
    assert {level["context_tokens"] for _, level in curriculum.choose(64)} == {8192}


def test_metrics_and_events_are_flat_and_named_as_the_driver_expects():
    curriculum = build_curriculum(CurriculumConfig(), {"h1": HORIZON}, seed=0)
    curriculum.observe([{"task": "h1", "level": {"horizon": 1}, "rewards": [1.0, 0.0]}] * 4)
    metrics = curriculum.metrics()
    assert metrics["curriculum/h1/horizon"] == 1.0
    assert metrics["curriculum/h1/h=1/success"] == 0.5
    assert metrics["curriculum/h1/h=1/zero_var_frac"] == 0.0
    assert all(isinstance(value, float) for value in metrics.values())
    curriculum.observe([{"task": "h1", "level": {"horizon": 1}, "rewards": [1.0, 1.0]}] * 16)
    (event,) = curriculum.pop_events()
    assert event["step"] == 2 and event["task"] == "h1" and event["event"] == "promote"
    assert event["from"] == {"horizon": 1} and event["to"] == {"horizon": 2}
    assert curriculum.pop_events() == []
