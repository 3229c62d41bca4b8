"""Resume equality: stop at step k, restore from JSON, continue; every choice matches."""

from __future__ import annotations

import json

from hypothesis import given, settings
from hypothesis import strategies as st

from curricula import CURRICULA, build_curriculum
from curricula.config import CurriculumConfig, HardSubsetConfig, TaskCurriculum, parse_config
from curricula.simulate import SimulatedLearner, SimulatedTask
from synth.base import Axis

AXES = {
    "h1": [Axis("horizon", tuple(range(1, 9)))],
    "keychain": [Axis("context_tokens", (4096, 8192, 16384)), Axis("num_chains", (1, 2, 4))],
}
TASKS = {"h1": TaskCurriculum(weight=2.0), "keychain": TaskCurriculum(weight=1.0)}


def _learner(seed: int) -> SimulatedLearner:
    return SimulatedLearner(
        {
            "h1": SimulatedTask(AXES["h1"], max_skill=4.0, learn_rate=0.02),
            "keychain": SimulatedTask(AXES["keychain"], max_skill=3.0, learn_rate=0.02),
        },
        seed=seed,
    )


def _step(curriculum, learner, step: int) -> tuple[list, list]:
    choices = curriculum.choose(12)
    results = learner.attempt(choices)
    for number, result in enumerate(results):
        result["item_id"] = f"item-{step}-{number % 3}"
    curriculum.observe(results)
    return choices, curriculum.pop_events()


def _run(config: CurriculumConfig, steps: int, stop_at: int | None, seed: int = 7) -> list:
    curriculum = build_curriculum(config, AXES, seed)
    learner = _learner(seed)
    trace = []
    for step in range(steps):
        if step == stop_at:
            saved = json.loads(
                json.dumps({"curriculum": curriculum.state_dict(), "learner": learner.state_dict()})
            )
            curriculum = build_curriculum(config, AXES, seed)
            learner = _learner(seed)
            curriculum.load_state_dict(saved["curriculum"])
            learner.load_state_dict(saved["learner"])
        trace.append(_step(curriculum, learner, step))
    trace.append(
        (curriculum.metrics(), curriculum.current_levels(), curriculum.hard_subset.state_dict())
    )
    return trace


def test_every_kind_resumes_exactly():
    for kind in CURRICULA:
        config = parse_config(
            {
                "schedule": {"kind": kind},
                "tasks": {name: task.model_dump() for name, task in TASKS.items()},
                "hard_subset": {"enabled": True, "samples_per_item": 4},
            }
        )
        if kind == "fixed_steps":
            config = parse_config(
                {**config.model_dump(), "schedule": {"kind": kind, "steps_per_level": 5}}
            )
        uninterrupted = _run(config, steps=60, stop_at=None)
        assert uninterrupted == _run(config, steps=60, stop_at=23), kind
        events = [event for _, events in uninterrupted[:-1] for event in events]
        if kind in ("adaptive", "fixed_steps"):
            assert events, f"{kind} never moved, so the test proves little"


@settings(max_examples=12, deadline=None)
@given(
    stop_at=st.integers(min_value=0, max_value=40), seed=st.integers(min_value=0, max_value=2**16)
)
def test_adaptive_resumes_exactly_at_any_step(stop_at, seed):
    config = CurriculumConfig(
        tasks=TASKS, replay_frac=0.2, probe_frac=0.2, hard_subset=HardSubsetConfig(enabled=True)
    )
    assert _run(config, steps=40, stop_at=stop_at, seed=seed) == _run(
        config, steps=40, stop_at=None, seed=seed
    )


def test_state_of_another_kind_is_refused():
    adaptive = build_curriculum(CurriculumConfig(), {"h1": AXES["h1"]}, seed=0)
    uniform = build_curriculum(
        parse_config({"schedule": {"kind": "uniform"}}), {"h1": AXES["h1"]}, seed=0
    )
    try:
        uniform.load_state_dict(adaptive.state_dict())
    except ValueError as error:
        assert "kind 'adaptive'" in str(error)
    else:
        raise AssertionError("loading an adaptive state into a uniform curriculum must fail")
