"""The GRPO loop: curriculum -> generators -> rollout workers -> rewards -> learner -> weights.

Components, none of which knows this module:
  - synth generators make Task records at the levels the curriculum chooses (rl/collect.py);
  - a cluster.RolloutPool of Ray actors (vLLM, or HF) samples `sampling.n` completions a prompt;
  - rl.scoring.Scorer applies each task's reward; rl.learners.advantages centres them per group;
  - a Learner Ray actor takes one optimizer step per batch and hands back its weights;
  - the pool loads the weights, and the curriculum observes every group's rewards.
With `max_staleness=1`, rollouts for step t+1 are sampled while step t trains (one step off
policy). Checkpoints hold the learner, the curriculum and the step; with `max_staleness=0` a
resumed run makes exactly the data choices of an uninterrupted one.
"""

from __future__ import annotations

import logging
import os
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from rl import checkpoints
from rl.collect import Batch, Collector
from rl.config import RunConfig
from rl.config_io import dump_config
from rl.rundir import MetricsLogger, default_run_name, make_run_dir, read_metrics
from rl.scoring import Scorer
from rl.step_metrics import batch_metrics, curriculum_results, level_key

log = logging.getLogger(__name__)


def learner_samples(batch: Batch, scale: bool) -> list[dict[str, Any]]:
    """The learner's batch: one sample per completion, with its group-relative advantage."""
    from rl.learners.advantages import group_advantages

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


def make_learner(config: RunConfig, model_path: str):
    """The Learner as a Ray actor, on a GPU when the cluster has one."""
    import ray

    from rl.learners.base import Learner

    threads = config.learner.torch_threads or os.cpu_count() or 1

    class LearnerActor(Learner):
        def __init__(self, *args, **kwargs):
            import torch

            torch.set_num_threads(threads)  # Ray pins actors to 1 thread by default
            super().__init__(*args, **kwargs)

    num_gpus = config.learner.num_gpus
    if num_gpus is None:
        num_gpus = 1 if ray.cluster_resources().get("GPU", 0) >= 1 else 0
    actor = ray.remote(LearnerActor).options(num_cpus=config.learner.num_cpus, num_gpus=num_gpus)
    return actor.remote(
        model_path,
        config.trainer,
        total_steps=config.steps,
        seed=config.seed,
        max_completion_length=config.sampling.max_tokens,
        temperature=config.sampling.temperature,
    )


class Driver:
    def __init__(
        self,
        config: RunConfig,
        run_dir: Path,
        collector: Collector,
        learner,
        metrics: MetricsLogger,
    ):
        self.config = config
        self.run_dir = run_dir
        self.collector = collector
        self.curriculum = collector.curriculum
        self.pool = collector.pool
        self.learner = learner
        self.metrics = metrics
        self.start_step = 0
        self.pending_choices: list | None = None  # step t+1's choices, made before a checkpoint

    # ------------------------------------------------------------ resume
    def resume(self) -> None:
        import ray

        latest = checkpoints.latest_checkpoint(self.run_dir / "checkpoints")
        if latest is None:
            log.info("no checkpoint in %s: starting from step 0", self.run_dir)
            return
        state = checkpoints.read_driver_state(latest)
        ray.get(self.learner.load.remote(str(latest / "learner")))
        self.curriculum.load_state_dict(state["curriculum"])
        self.collector.scorer.errors = state.get("reward_errors", 0)
        self.pending_choices = state.get("pending_choices")
        self.start_step = state["step"] + 1
        version = self.sync_weights(state["policy_version"])
        log.info("resumed from %s at step %d (policy version %s)", latest, self.start_step, version)
        _truncate_metrics(self.metrics.path, state["step"])

    def sync_weights(self, version: int) -> list[int]:
        """Learner weights into every rollout engine; returns the workers' policy versions.

        Object-store transport: the learner's packed weights go from its actor straight to the
        workers (one put, many gets), already in the engines' dtype: a bfloat16 engine would
        round the float32 weights the same way on load, so half the bytes travel. The NCCL path
        broadcasts tensors, so it fetches them.
        """
        import ray

        if self.config.rollout.weight_transport == "nccl":
            return self.pool.load_weights(ray.get(self.learner.weights.remote()), version)
        dtype = self.config.rollout.engine_dtype()
        wire = None if dtype == "float32" else dtype
        # The pool is idle here; without its old copy the store reuses those pages for the new.
        self.pool.release_weights()
        return self.pool.load_weights(self.learner.packed_weights.remote(wire), version)

    def save(self, step: int, policy_version: int, pending: Batch | None) -> None:
        import ray

        root = self.run_dir / "checkpoints"
        tmp = checkpoints.staging_dir(root, step)
        ray.get(self.learner.save.remote(str(tmp / "learner")))
        state = {
            "step": step,
            "policy_version": policy_version,
            "curriculum": self.curriculum.state_dict(),
            "reward_errors": self.collector.scorer.errors,
            "pending_choices": pending.choices if pending is not None else None,
        }
        checkpoints.commit(root, tmp, step, state, self.config.checkpoint.keep_last)

    # ------------------------------------------------------------ the loop
    def run(self) -> None:
        import ray
        from tqdm import tqdm

        config = self.config
        executor = ThreadPoolExecutor(max_workers=1) if config.max_staleness else None
        prefetched: tuple[Batch, Batch] | None = None
        next_chosen: Batch | None = None
        if self.pending_choices is not None:
            # Overlap mode: step t+1's choices were made before the checkpoint; rebuild its tasks.
            choices = [(name, dict(level)) for name, level in self.pending_choices]
            next_chosen = self.collector.make_tasks(self.start_step, choices)
        bar = tqdm(
            range(self.start_step, config.steps),
            desc="grpo",
            disable=not config.logging.progress,
            initial=self.start_step,
            total=config.steps,
        )
        for step in bar:
            started = time.perf_counter()
            if prefetched is not None:
                train, observed = prefetched
            else:
                train, observed = self.collector.collect(step, next_chosen)
            prefetched, next_chosen, future = None, None, None
            if executor is not None and step + 1 < config.steps:
                # Choices for t+1 are made now, before observe(t): the order is fixed, so runs repeat.
                next_chosen = self.collector.choose(step + 1, config.prompts_per_step)
                future = executor.submit(self.collector.collect, step + 1, next_chosen)

            samples = learner_samples(train, scale=config.trainer.scale_advantages)
            t_train = time.perf_counter()
            learner_metrics = ray.get(self.learner.step.remote(samples)) if samples else {}
            t_train = time.perf_counter() - t_train
            if future is not None:
                prefetched = future.result()  # the pool must be idle before its weights move
            t_sync = time.perf_counter()
            versions = self.sync_weights(step + 1)
            t_sync = time.perf_counter() - t_sync
            self.curriculum.observe(curriculum_results(observed))

            record = batch_metrics(train, observed)
            record.update({f"train/{key}": value for key, value in learner_metrics.items()})
            record.update(self.curriculum.metrics())
            levels = self.curriculum.current_levels()
            record.update({f"frontier/{task}": level for task, level in levels.items()})
            record.update(
                {
                    "curriculum/events": self.curriculum.pop_events(),
                    "policy_version": min(versions),
                    "reward/errors": self.collector.scorer.errors,
                    "samples/trained": len(samples),
                    "time/train": t_train,
                    "time/sync": t_sync,
                    "time/step": time.perf_counter() - started,
                }
            )
            self.metrics.log(step, record)
            bar.set_postfix_str(f"reward {record['reward/mean']:.2f} | {_levels_text(levels)}")
            log.info(
                "step %d | reward %.3f | %s | %.1f s",
                step,
                record["reward/mean"],
                _levels_text(levels),
                record["time/step"],
            )
            every = config.checkpoint.every
            if step + 1 == config.steps or (every and (step + 1) % every == 0):
                self.save(step, step + 1, next_chosen)
        if executor is not None:
            executor.shutdown()


def _levels_text(levels: dict[str, dict[str, int]]) -> str:
    return " ".join(f"{task}:{level_key(level)}" for task, level in levels.items())


def _truncate_metrics(path: Path, last_step: int) -> None:
    """Drop records written after the checkpoint we resume from (they will be redone)."""
    if not path.exists():
        return
    import json

    kept = [r for r in read_metrics(path) if r["step"] <= last_step]
    path.write_text("".join(json.dumps(r) + "\n" for r in kept))


def build(config: RunConfig, run_dir: Path):
    """Every component of a run, in dependency order."""
    from cluster.pool import RolloutPool
    from curricula import build_curriculum
    from models import resolve_model
    from synth import get_generator

    model_path = resolve_model(config.model)
    generators = {
        name: get_generator(task.generator, **task.options) for name, task in config.tasks.items()
    }
    curriculum = build_curriculum(
        config.curriculum, {name: g.axes() for name, g in generators.items()}, seed=config.seed
    )
    scorer = Scorer({name: task.reward for name, task in config.tasks.items()})
    pool = RolloutPool(config.rollout, model_path)
    learner = make_learner(config, model_path)
    return Collector(config, generators, curriculum, scorer, pool), learner


def start_ray(config: RunConfig) -> bool:
    """Join `config.ray.address` (or $RAY_ADDRESS), or start a local Ray sized for the run:
    dashboard as configured, object store from the policy's weights (object_store_bytes).
    Returns what cluster.ray_setup.init_ray returns: pass it to shutdown_ray."""
    from cluster.ray_setup import init_ray, object_store_bytes
    from models import resolve_model

    ray_config = config.ray
    store = object_store_bytes(resolve_model(config.model), ray_config.object_store_gib)
    return init_ray(ray_config.address, ray_config.num_cpus, ray_config.dashboard, store)


def run(config: RunConfig, resume: bool = False) -> int:
    """Run the whole training; returns a process exit code."""
    from cluster.ray_setup import shutdown_ray
    from rl.summary import render_summary

    name = config.name or default_run_name()
    run_dir = make_run_dir(config.output_dir, name, resume)
    (run_dir / "config.yaml").write_text(dump_config(config.model_copy(update={"name": name})))
    log.info("run directory: %s", run_dir)
    started = start_ray(config)
    metrics = collector = None
    try:
        collector, learner = build(config, run_dir)
        metrics = MetricsLogger(
            run_dir,
            config.model_dump(mode="json"),
            config.logging.wandb,
            config.logging.project,
            name,
        )
        driver = Driver(config, run_dir, collector, learner, metrics)
        if resume:
            driver.resume()
        driver.run()
    finally:
        if metrics is not None:
            metrics.close()
        if collector is not None:
            collector.pool.shutdown()
        shutdown_ray(started)
    print(render_summary(read_metrics(run_dir / "metrics.jsonl"), str(run_dir)))
    return 0
