"""The LongPO run: the short model writes short-to-long pairs, then learns from them with DPO.

    python rl/run.py --config configs/longpo.yaml

Components: a cluster.RolloutPool serving the starting (short-context) model; the `longpo`
generator (synth/longpo.py) writing pairs through it at every chunk size in `data.levels`
(held-out pairs apart), saved under runs/<name>/pairs/ so a resumed run reuses them; a
DPOLearner actor (rl/learners/dpo.py) whose reference log-probs are computed once, before the
first update, by the policy itself (trainer.reference=precompute); a curriculum over chunk_tokens
that picks each step's levels; and the Evaluator (rl/eval_loop.py) for held-out task sets, with
the held-out pairs' preference accuracy, margin and NLL beside it. Checkpoints hold the learner,
the curriculum and the evaluation state, as the GRPO run's do.
"""

from __future__ import annotations

import json
import logging
import random
import time
from pathlib import Path
from typing import Any

import ray
from tqdm import tqdm

from cluster.pool import RolloutPool
from cluster.ray_setup import shutdown_ray
from curricula import build_curriculum
from models import resolve_model
from rl import checkpoints
from rl.completions import pool_complete
from rl.config_io import dump_config
from rl.eval_loop import Evaluator, flat_metrics
from rl.graceful import GracefulStop
from rl.learner_actor import loads_with_engines, start_learner
from rl.lifetime import start_ray
from rl.longpo_config import LongPORunConfig
from rl.preference_batches import pair_sample
from rl.resume import prepare as prepare_resume
from rl.rundir import MetricsLogger, default_run_name, make_run_dir, read_metrics
from rl.summary import render_summary
from rl.validate import longpo_axes
from rl.watch import failure_logged

log = logging.getLogger(__name__)


def make_pairs(config: LongPORunConfig, pool: RolloutPool, run_dir: Path) -> dict[int, tuple]:
    """{chunk_tokens: (training pairs, held-out pairs)}, written once and reused on resume."""
    from datasets import load_from_disk

    from synth.longpo import LongPOConfig, LongPOGenerator
    from synth.preference import pairs_from_dataset
    from synth.task import records_to_dataset

    data = config.data
    generator = LongPOGenerator(LongPOConfig(**data.options), complete=pool_complete(pool))
    made = {}
    for level in data.levels:
        where = run_dir / "pairs" / f"chunk_tokens={level}"
        if (where / "dataset_info.json").exists():
            pairs = pairs_from_dataset(load_from_disk(str(where)))
        else:
            count = data.pairs_per_level + data.held_out_per_level
            pairs = generator.sample({"chunk_tokens": level}, count, data.seed)
            records_to_dataset(pairs).save_to_disk(str(where))
            log.info("%s", generator.summary())
        made[level] = (pairs[: data.pairs_per_level], pairs[data.pairs_per_level :])
    return made


class LongPORun:
    """The loop over DPO steps; built by `run`."""

    def __init__(self, config: LongPORunConfig, run_dir: Path, pool, learner, metrics) -> None:
        self.config, self.run_dir, self.pool, self.learner = config, run_dir, pool, learner
        self.metrics = metrics
        self.curriculum = build_curriculum(
            config.curriculum, {"longpo": longpo_axes(config)}, seed=config.seed
        )
        self.evaluator = Evaluator(config, pool.model, {})
        self.start_step = 0
        self.cadence = checkpoints.Cadence(
            config.checkpoint.every, config.checkpoint.every_minutes, config.steps
        )

    def prepare(self, pairs: dict[int, tuple]) -> None:
        """Token samples of every pair, with their reference log-probs (computed once)."""
        from transformers import AutoTokenizer

        tokenizer = AutoTokenizer.from_pretrained(self.pool.model)
        self.train = {lv: [pair_sample(tokenizer, p) for p in pairs[lv][0]] for lv in pairs}
        self.held = {lv: [pair_sample(tokenizer, p) for p in pairs[lv][1]] for lv in pairs}
        everything = [s for group in (self.train, self.held) for ss in group.values() for s in ss]
        cache = self.run_dir / "pairs" / "reference_logps.json"
        if cache.exists():
            scored = json.loads(cache.read_text())
        else:  # before any update: the policy is the reference
            scored = ray.get(self.learner.precompute_reference.remote(everything))
            cache.write_text(json.dumps(scored))
        for sample, (chosen, rejected) in zip(everything, scored, strict=True):
            sample["ref_chosen_logp"], sample["ref_rejected_logp"] = chosen, rejected

    def batch(self, step: int) -> tuple[list[dict], list[tuple[str, dict]]]:
        """This step's pairs at the levels the curriculum chooses, each level's list in a
        seeded order that cycles (a pure function of the step, so a resume redraws them)."""
        choices = self.curriculum.choose(self.config.pairs_per_step)
        batch = []
        for position, (_, level) in enumerate(choices):
            pool = self.train[level["chunk_tokens"]]
            cycle, index = divmod(step * self.config.pairs_per_step + position, len(pool))
            order = list(range(len(pool)))
            random.Random(f"{self.config.seed}/{cycle}").shuffle(order)
            batch.append(pool[order[index]])
        return batch, choices

    def held_out(self, prefix: str) -> dict[str, float]:
        results = {}
        for level, samples in self.held.items():
            if samples:
                scores = ray.get(self.learner.evaluate_pairs.remote(samples))
                results.update({f"{prefix}/chunk_tokens={level}/{k}": v for k, v in scores.items()})
        return results

    def evaluate(self, step: int) -> dict[str, Any]:
        every = self.config.eval.every_steps
        if step + 1 != self.config.steps and not (every and (step + 1) % every == 0):
            return {}
        record = self.held_out("pairs")
        if self.evaluator.enabled:
            self.pool.publish_from(self.learner, step + 1)
            metrics, improved = self.evaluator.evaluate(self.pool, step)
            record.update(metrics)
            if improved:
                ray.get(self.learner.save_policy.remote(str(self.run_dir / "best")))
        return record

    def save(self, step: int) -> None:
        root = self.run_dir / "checkpoints"
        state = {"step": step, "curriculum": self.curriculum.state_dict(),
                 "eval": self.evaluator.state_dict()}  # fmt: skip
        best = self.evaluator.best
        keep = {best["step"]} if best and self.config.checkpoint.keep_best else set()
        with checkpoints.staging(root, step) as tmp:
            ray.get(self.learner.save.remote(str(tmp)))
            checkpoints.commit(root, tmp, step, state, self.config.checkpoint.keep_last, keep)
        self.cadence.saved()

    def resume(self) -> None:
        latest = checkpoints.latest_checkpoint(self.run_dir / "checkpoints")
        if latest is None:
            return
        state = checkpoints.read_driver_state(latest)
        ray.get(self.learner.load.remote(str(latest)))
        self.curriculum.load_state_dict(state["curriculum"])
        self.evaluator.load_state_dict(state.get("eval"))
        self.start_step = state["step"] + 1

    def run(self) -> None:
        config = self.config
        first: dict[str, Any] = {}
        if self.start_step == 0:
            first = self.held_out("pairs_base")
            base = self.evaluator.evaluate_base(self.pool)
            first.update(flat_metrics(base, prefix="eval_base") if base else {})
        bar = tqdm(range(self.start_step, config.steps), desc="longpo", initial=self.start_step,
                   total=config.steps, disable=not config.logging.progress)  # fmt: skip
        with GracefulStop() as stop:  # SIGINT/SIGTERM: finish the step, save, then exit
            self._loop(bar, first, stop)

    def _loop(self, bar, first: dict[str, Any], stop: GracefulStop) -> None:
        for step in bar:
            started = time.perf_counter()
            batch, choices = self.batch(step)
            metrics = ray.get(self.learner.step.remote(batch))
            accuracy = metrics.get("accuracy_mean", 0.0)
            self.curriculum.observe(
                [{"task": "longpo", "level": level, "rewards": [accuracy]} for _, level in choices]
            )
            record = {f"train/{k}": v for k, v in metrics.items()} | first
            first = {}
            record.update(self.evaluate(step))
            record.update(self.curriculum.metrics())
            record["curriculum/events"] = self.curriculum.pop_events()
            record["frontier/longpo"] = self.curriculum.current_levels()["longpo"]
            record["reward/mean"] = accuracy  # the summary's curve: preference accuracy
            record["time/step"] = time.perf_counter() - started
            self.metrics.log(step, record)
            bar.set_postfix_str(f"loss {metrics['loss']:.3f} | acc {accuracy:.2f}")
            log.info("step %d | loss %.4f | accuracy %.2f | %.1f s", step, metrics["loss"],
                     accuracy, record["time/step"])  # fmt: skip
            if self.cadence.due(step) or stop.requested:
                self.save(step)
            if stop.requested:  # SIGINT/SIGTERM: the step finished and saved, now exit
                raise stop.exit()


def run(config: LongPORunConfig, resume: bool = False) -> int:
    """Make pairs, train, evaluate; returns a process exit code."""
    name = config.name or default_run_name("longpo")
    run_dir = make_run_dir(config.output_dir, name, resume)
    (run_dir / "config.yaml").write_text(dump_config(config.model_copy(update={"name": name})))
    resume_step = prepare_resume(run_dir) if resume else None  # records cut to the checkpoint
    metrics = MetricsLogger(run_dir, config.model_dump(mode="json"), config.logging.wandb,
                            config.logging.project, name, resume_step)  # fmt: skip
    started = start_ray(config)
    pool = None
    try:
        with failure_logged(run_dir):
            model_path = resolve_model(config.model)
            early = loads_with_engines(config)  # then it loads while the engines start
            learner = start_learner(config, model_path) if early else None
            pool = RolloutPool(config.rollout, model_path)
            if learner is None:
                learner = start_learner(config, model_path)
            loop = LongPORun(config, run_dir, pool, learner, metrics)
            pairs = make_pairs(config, pool, run_dir)
            loop.prepare(pairs)
            if resume:
                loop.resume()
            loop.run()
            evaluation = loop.evaluator.summary()
    finally:
        metrics.close()
        if pool is not None:
            pool.shutdown()
        shutdown_ray(started)
    print(render_summary(read_metrics(run_dir / "metrics.jsonl"), str(run_dir)))
    if evaluation:
        print(evaluation)
    return 0
