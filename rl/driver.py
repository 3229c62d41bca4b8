"""The GRPO loop: curriculum -> generators -> rollout workers -> rewards -> learner -> weights.

Components, none of which knows this module:
  - synth generators make Task records at the levels the curriculum chooses (rl/collect.py);
  - a cluster.RolloutPool of Ray actors (vLLM, or HF) samples `sampling.n` completions a prompt;
  - rl.scoring.Scorer applies each task's reward; rl.learners.advantages centres them per group;
  - a learner Ray actor (rl/learners/) takes one optimizer step per batch and hands back its
    weights; the pool loads them, and the curriculum observes every group's rewards.
With `max_staleness=1`, rollouts for step t+1 are sampled while step t trains (one step off
policy); `Prefetch` (rl/prefetch.py) owns that overlap. Checkpoints (rl/checkpoints.py, at the
`Cadence` of `checkpoint.*`) hold the learner, the curriculum, the step and the next step's
choices and prefetched rollouts, so a resumed run makes exactly the data choices of an
uninterrupted one; rl/resume.py cuts the run's records back to the checkpoint first.
rl/lifetime.py starts Ray, builds the components, runs a Driver and stops everything again.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import ray
from tqdm import tqdm

from cluster.pool import RolloutPool
from curricula import Curriculum, build_curriculum
from models import resolve_model
from rl import checkpoints, rollout_log
from rl.collect import Batch, Collector
from rl.config import RunConfig
from rl.eval_loop import Evaluator, flat_metrics
from rl.graceful import GracefulStop
from rl.learner_actor import loads_with_engines, start_learner
from rl.learners.advantages import group_advantages
from rl.prefetch import Prefetch
from rl.rundir import MetricsLogger
from rl.scoring import Scorer
from rl.stages import Stages
from rl.step_metrics import batch_metrics, curriculum_results, level_key
from synth import get_generator

log = logging.getLogger(__name__)


def learner_samples(batch: Batch, scale: bool) -> list[dict[str, Any]]:
    """The learner's batch: one sample per completion, with its group-relative advantage."""
    if not batch.rewards:
        return []
    advantages = group_advantages(batch.rewards, scale=scale).tolist()  # (groups, G)
    samples = []
    for rollout, group in zip(batch.rollouts, advantages, strict=True):
        for completion, advantage in zip(rollout.completions, group, strict=True):
            if completion.token_ids:  # an empty completion has no token to score
                samples.append(
                    {
                        "prompt_token_ids": list(rollout.prompt_token_ids),
                        "completion_token_ids": list(completion.token_ids),
                        "rollout_logprobs": list(completion.logprobs),
                        "advantage": float(advantage),
                    }
                )
    return samples


def make_learner(config: RunConfig, model_path: str, pool: RolloutPool | None = None):
    """The GRPO learner as a Ray actor (rl/learner_actor.py), with the rollout's settings,
    placed by learner.nodes relative to `pool`'s workers."""
    placed = config.learner.nodes != "any" and pool is not None
    return start_learner(
        config,
        model_path,
        rollout_nodes=pool.node_ids() if placed else None,
        max_completion_length=config.sampling.max_tokens,
        temperature=config.sampling.temperature,
    )


@dataclass
class Components:
    """What a run drives, built once by `build` in dependency order."""

    collector: Collector
    curriculum: Curriculum
    scorer: Scorer
    pool: RolloutPool
    learner: Any  # a Ray actor handle of a rl.learners learner
    evaluator: Evaluator


def build(config: RunConfig) -> Components:
    """Every component of a run, in dependency order (Ray must be up: rl.lifetime.start_ray)."""
    model_path = resolve_model(config.model)
    generators = {
        name: get_generator(task.generator, **task.options) for name, task in config.tasks.items()
    }
    curriculum = build_curriculum(
        config.curriculum, {name: g.axes() for name, g in generators.items()}, seed=config.seed
    )
    scorer = Scorer(
        {name: task.reward for name, task in config.tasks.items()}, config.reward_timeout_s
    )
    evaluator = Evaluator(
        config, model_path, generators
    )  # before engines start: bad sets fail fast
    # The learner loads its model while the engines start (each takes seconds, the 135M
    # model's vLLM engine ~30 s); a group, or one placed by the workers' nodes, waits for them.
    learner = make_learner(config, model_path) if loads_with_engines(config) else None
    pool = RolloutPool(config.rollout, model_path)
    if learner is None:
        learner = make_learner(config, model_path, pool)
    stages = Stages(config.stages, curriculum, generators)
    collector = Collector(config, generators, curriculum, scorer, pool, stages)
    return Components(collector, curriculum, scorer, pool, learner, evaluator)


class Driver:
    def __init__(
        self, config: RunConfig, run_dir: Path, parts: Components, metrics: MetricsLogger
    ) -> None:
        self.config = config
        self.run_dir = run_dir
        self.collector = parts.collector
        self.curriculum = parts.curriculum
        self.scorer = parts.scorer
        self.pool = parts.pool
        self.learner = parts.learner
        self.evaluator = parts.evaluator
        self.metrics = metrics
        self.start_step = 0
        self.pending_choices: list | None = None  # step start_step's choices, from a checkpoint
        self.pending_batches = None  # and their rollouts, sampled ahead (max_staleness=1)
        self.cadence = checkpoints.Cadence(
            config.checkpoint.every, config.checkpoint.every_minutes, config.steps
        )

    # ------------------------------------------------------------ resume and checkpoints
    def resume(self) -> None:
        latest = checkpoints.latest_checkpoint(self.run_dir / "checkpoints")
        if latest is None:
            log.info("no checkpoint in %s: starting from step 0", self.run_dir)
            return
        state = checkpoints.read_driver_state(latest)
        ray.get(self.learner.load.remote(str(latest)))
        self.curriculum.load_state_dict(state["curriculum"])
        self.collector.stages.load_state_dict(state.get("stages"))
        self.scorer.errors = state.get("reward_errors", 0)
        self.scorer.timeouts = state.get("reward_timeouts", 0)
        self.evaluator.load_state_dict(state.get("eval"))
        self.pending_choices = state.get("pending_choices")
        self.pending_batches = checkpoints.read_prefetched(latest)
        self.start_step = state["step"] + 1
        version = self.sync_weights(state["policy_version"])
        log.info("resumed from %s at step %d (policy version %s)", latest, self.start_step, version)

    def save(self, step: int, policy_version: int, prefetch: Prefetch) -> None:
        root = self.run_dir / "checkpoints"
        best = self.evaluator.best
        keep = {best["step"]} if best and self.config.checkpoint.keep_best else set()
        with checkpoints.staging(root, step) as tmp:
            ray.get(self.learner.save.remote(str(tmp)))
            checkpoints.write_prefetched(tmp, prefetch.ready())
            state = {
                "step": step,
                "policy_version": policy_version,
                "curriculum": self.curriculum.state_dict(),
                "stages": self.collector.stages.state_dict(),
                "reward_errors": self.scorer.errors,
                "reward_timeouts": self.scorer.timeouts,
                "eval": self.evaluator.state_dict(),
                "pending_choices": prefetch.pending_choices(),
            }
            checkpoints.commit(root, tmp, step, state, self.config.checkpoint.keep_last, keep)
        self.cadence.saved()

    def sync_weights(self, version: int) -> list[int]:
        """Learner weights into every rollout engine; returns the workers' policy versions.

        Already in the engines' dtype: a bfloat16 engine would round the float32 weights the
        same way on load, so half the bytes travel (cluster.pool.publish_from: from the
        learner's actor through the object store, or its GPU over NCCL).
        """
        dtype = self.config.rollout.engine_dtype()
        return self.pool.publish_from(self.learner, version, None if dtype == "float32" else dtype)

    # ------------------------------------------------------------ the loop
    def run(self) -> None:
        config = self.config
        prefetch = Prefetch(self.collector, bool(config.max_staleness), config.prompts_per_step)
        prefetch.restore(self.start_step, self.pending_choices, self.pending_batches)
        bar = tqdm(
            range(self.start_step, config.steps),
            desc="grpo",
            disable=not config.logging.progress,
            initial=self.start_step,
            total=config.steps,
        )
        base = self.evaluate_base()
        with GracefulStop() as stop:  # SIGINT/SIGTERM: finish the step, save, then exit
            try:
                for step in bar:
                    record = self.train_step(step, prefetch)
                    if step == self.start_step:
                        record.update(base)
                    self.log_step(step, record, bar)
                    if self.cadence.due(step) or stop.requested:
                        self.save(step, step + 1, prefetch)
                    if stop.requested:
                        raise stop.exit()
            finally:
                prefetch.close()

    def evaluate_base(self) -> dict[str, float]:
        """The starting model's held-out scores (once, at step 0), as `eval_base/...` metrics."""
        if self.start_step != 0 or not self.evaluator.enabled:
            return {}
        base = self.evaluator.evaluate_base(self.pool)
        return flat_metrics(base, prefix="eval_base") if base else {}

    def evaluate(self, step: int) -> dict[str, Any]:
        """Held-out scores of the policy after update `step`; a new best is written to best/."""
        if not self.evaluator.due(step, self.config.steps):
            return {}
        timer = time.perf_counter()
        metrics, improved = self.evaluator.evaluate(self.pool, step)
        if improved:
            ray.get(self.learner.save_policy.remote(str(self.run_dir / "best")))
            best = {key: self.evaluator.best[key] for key in ("step", "updates", "value")}
            (self.run_dir / "best" / "best.json").write_text(json.dumps(best) + "\n")
        log.info("eval after step %d: %.3f%s", step, metrics["eval/select"], " (best)" * improved)
        return {**metrics, "time/eval": time.perf_counter() - timer}

    def train_step(self, step: int, prefetch: Prefetch) -> dict[str, Any]:
        """Roll out (or take the prefetched batch), update, publish weights, observe; the record."""
        started = time.perf_counter()
        train, observed = prefetch.take(step)
        if step + 1 < self.config.steps:
            prefetch.start(step + 1)
        samples = learner_samples(train, scale=self.config.trainer.scale_advantages)
        timer = time.perf_counter()
        learner_metrics = ray.get(self.learner.step.remote(samples)) if samples else {}
        seconds_train = time.perf_counter() - timer
        prefetch.wait()  # the pool must be idle before its weights move
        timer = time.perf_counter()
        versions = self.sync_weights(step + 1)
        seconds_sync = time.perf_counter() - timer
        self.curriculum.observe(curriculum_results(observed))
        rollout_log.append(self.run_dir, step, observed, self.config.logging)  # for the dashboard
        evaluation = self.evaluate(step)  # the pool is idle and holds the new weights

        record = batch_metrics(train, observed)
        record.update(evaluation)
        record.update({f"train/{key}": value for key, value in learner_metrics.items()})
        record.update(self.curriculum.metrics())
        record.update(self.collector.stages.metrics(step))
        levels = self.curriculum.current_levels()
        record.update({f"frontier/{task}": level for task, level in levels.items()})
        record.update(
            {
                "curriculum/events": self.curriculum.pop_events(),
                "policy_version": min(versions),
                "reward/errors": self.scorer.errors,
                "reward/timeouts": self.scorer.timeouts,
                "samples/trained": len(samples),
                "time/train": seconds_train,
                "time/sync": seconds_sync,
                "time/step": time.perf_counter() - started,
            }
        )
        return record

    def log_step(self, step: int, record: dict[str, Any], bar: tqdm) -> None:
        self.metrics.log(step, record)
        levels = _levels_text(self.curriculum.current_levels())
        bar.set_postfix_str(f"reward {record['reward/mean']:.2f} | {levels}")
        log.info(
            "step %d | reward %.3f | %s | %.1f s",
            step,
            record["reward/mean"],
            levels,
            record["time/step"],
        )


def _levels_text(levels: dict[str, dict[str, int]]) -> str:
    return " ".join(f"{task}:{level_key(level)}" for task, level in levels.items())
