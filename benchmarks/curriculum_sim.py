"""Curriculum benchmark on simulated learners: adaptive vs reasoning-gym's rule vs fixed schedules.

    python benchmarks/curriculum_sim.py [--seeds 8] [--steps 400] [--prompts-per-step 16]

Each schedule drives an identical simulated GRPO learner (curricula/simulate.py: success
sigmoid(2 * (skill - difficulty)), skill grows with each group's reward variance, capped at
max_skill) on h1 (horizon 1..8) and on a two-axis KeyChain-like task. Per schedule, averaged
over seeds (a run that never gets there counts as --steps):
- reach: first step the curriculum's frontier is at the target level, the first level whose
  success at max_skill is not above 0.7 (where a curriculum should settle);
- mastery: first step the learner's skill is within 5% of max_skill (what a curriculum is for);
- moves: promotions + demotions (oscillation shows here);
- above: steps spent with the frontier above the target level.
Ratios are baseline / adaptive (above 1: adaptive is faster). Simplification: the simulated
learner never forgets, so replay only costs here.
"""

from __future__ import annotations

import argparse
import statistics
import time

from tqdm import tqdm

from curricula import build_curriculum, reasoning_gym_config
from curricula.config import CurriculumConfig, FixedStepsSchedule, TaskCurriculum, parse_config
from curricula.simulate import SimulatedLearner, SimulatedTask, frontier_level, run
from synth.base import Axis

TASKS = {
    "h1": ([Axis("horizon", tuple(range(1, 9)))], 4.0),
    "keychain": (
        [
            Axis("context_tokens", (4096, 8192, 16384, 32768, 65536, 131072)),
            Axis("num_chains", (1, 2, 4, 8)),
        ],
        6.0,
    ),
}


def schedules() -> dict[str, CurriculumConfig]:
    one = {"task": TaskCurriculum()}
    configs = {
        "adaptive": CurriculumConfig(tasks=one),
        "adaptive (no replay/probe)": CurriculumConfig(tasks=one, replay_frac=0.0, probe_frac=0.0),
        "reasoning-gym rule": reasoning_gym_config(one),
    }
    for budget in (10, 25, 50):
        configs[f"fixed_steps {budget}"] = CurriculumConfig(
            schedule=FixedStepsSchedule(steps_per_level=budget),
            tasks=one,
            replay_frac=0.0,
            probe_frac=0.0,
        )
    configs["uniform"] = parse_config({"schedule": {"kind": "uniform"}, "tasks": {"task": {}}})
    configs["fixed_level (start)"] = parse_config(
        {"schedule": {"kind": "fixed_level"}, "tasks": {"task": {}}}
    )
    return configs


def measure(
    config: CurriculumConfig,
    axes: list[Axis],
    max_skill: float,
    seed: int,
    steps: int,
    prompts: int,
) -> tuple:
    learner = SimulatedLearner({"task": SimulatedTask(axes, max_skill=max_skill)}, seed=seed)
    curriculum = build_curriculum(config, {"task": axes}, seed)
    history = run(curriculum, learner, steps, prompts)
    target = SimulatedTask(axes).difficulty(frontier_level(learner.tasks["task"], threshold=0.7))
    difficulty = [SimulatedTask(axes).difficulty(record["levels"]["task"]) for record in history]
    reach = next(
        (record["step"] for record, d in zip(history, difficulty, strict=True) if d == target),
        steps,
    )
    mastery = next((r["step"] for r in history if r["skills"]["task"] >= 0.95 * max_skill), steps)
    moves = sum(len(record["events"]) for record in history)
    above = sum(d > target for d in difficulty)
    return reach, mastery, moves, above


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=8)
    parser.add_argument("--steps", type=int, default=400)
    parser.add_argument("--prompts-per-step", type=int, default=16)
    args = parser.parse_args()
    started = time.time()
    configs = schedules()
    for task, (axes, max_skill) in TASKS.items():
        rows = {}
        for name, config in tqdm(configs.items(), desc=task, leave=False):
            runs = [
                measure(config, axes, max_skill, seed, args.steps, args.prompts_per_step)
                for seed in range(args.seeds)
            ]
            rows[name] = [statistics.mean(column) for column in zip(*runs, strict=True)]
        base_reach, base_mastery = rows["adaptive"][0], rows["adaptive"][1]
        print(
            f"\n{task}: {args.seeds} seeds, {args.steps} steps, {args.prompts_per_step} prompts x 8 completions per step"
        )
        print(
            f"{'schedule':<28} {'reach':>7} {'mastery':>8} {'moves':>6} {'above':>6} {'reach/adapt':>12} {'mastery/adapt':>14}"
        )
        for name, (reach, mastery, moves, above) in rows.items():
            # Uniform reports its ceiling as the frontier, so it has no reach step.
            reach_text = (
                f"{'n/a':>7} {'n/a':>12}"
                if name == "uniform"
                else f"{reach:7.1f} {reach / base_reach:12.2f}"
            )
            reach_cell, ratio_cell = reach_text[:7], reach_text[8:]
            print(
                f"{name:<28} {reach_cell} {mastery:8.1f} {moves:6.1f} {above:6.1f} "
                f"{ratio_cell} {mastery / base_mastery:14.2f}"
            )
    print(f"\n{time.time() - started:.1f} s")


if __name__ == "__main__":
    main()
