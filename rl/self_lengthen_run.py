"""The Self-Lengthen run: R rounds of long responses the model writes and expands for itself,
then SFT of the generator and the extender on them.

    python rl/run.py --config configs/self_lengthen.yaml

Components: one cluster.RolloutPool that serves every model call, with the weights of whichever
role calls (the base model for self-instruct and its judge, the generator G, the extender E),
switched by loading weights only when the role changes; the `self_lengthen` generator
(synth/self_lengthen.py) writing a round's rows through it; two SFTLearner actors
(rl/learners/sft.py), G and E, each with its own LoRA adapter on the original base model (or its
own full copy), a fresh AdamW and cosine schedule per round (each round of the paper is its own
LLaMA-Factory run resumed from the previous adapter); and LonGen's length-following score of G
(rl/longen_eval.py) before round 1 and after each round.

runs/<name>/rounds/round-<r>/ holds the round's rows (`data/`, a datasets dataset with its card:
`python -m synth.publish runs/<name>/rounds/round-<r>/data --repo ORG/NAME`), each role's
adapter (`generator/adapter`, `extender/adapter`; full fine-tuning: `*/model`), `longen.json` and
`round.json` (its metrics), written last: a round with round.json is complete, and `--resume`
starts after the last complete one, rebuilding the learners from its adapters.
"""

from __future__ import annotations

import json
import logging
import math
import random
import time
from pathlib import Path
from typing import Any

import ray

from cluster.pool import RolloutPool
from cluster.ray_setup import shutdown_ray
from models import resolve_model
from rl.config_io import dump_config
from rl.learner_actor import loads_with_engines, start_learner
from rl.lifetime import start_ray
from rl.rundir import MetricsLogger, default_run_name, make_run_dir, read_metrics
from rl.self_lengthen_config import SelfLengthenRunConfig
from rl.watch import failure_logged

log = logging.getLogger(__name__)
ROLES = ("generator", "extender")


class RoleWeights:
    """Which role's weights the pool serves; a Complete per role that switches them first and
    answers a prompt longer than the engine's context with an empty text (the generator counts
    it as an empty output) instead of failing the whole batch."""

    def __init__(self, pool: RolloutPool, learners: dict[str, Any], base_path: str) -> None:
        from transformers import AutoTokenizer

        self.pool, self.learners, self.base_path = pool, learners, base_path
        self.tokenizer = AutoTokenizer.from_pretrained(base_path)
        self.trained = {role: False for role in ROLES}
        self.loaded = "base"
        self.version = 0
        self.too_long = 0

    def source(self, role: str) -> str:
        return role if role != "base" and self.trained[role] else "base"

    def use(self, role: str) -> None:
        wanted = self.source(role)
        if wanted == self.loaded:
            return
        self.version += 1
        if wanted == "base":
            from safetensors.torch import load_file

            self.pool.release_weights()
            weights: dict[str, Any] = {}
            for file in sorted(Path(self.base_path).glob("*.safetensors")):
                weights.update(load_file(str(file)))
            self.pool.load_weights(weights, self.version)
        else:
            self.pool.publish_from(self.learners[wanted], self.version)
        self.loaded = wanted

    def complete(self, role: str):
        from cluster.config import SamplingConfig
        from cluster.rollout import render_prompts

        limit = self.pool.config.max_model_len - 1

        def call(prompts: list, sampling: dict[str, Any]) -> list[list[str]]:
            if not prompts:
                return []
            self.use(role)
            lengths = [len(ids) for ids in render_prompts(self.tokenizer, prompts)]
            fits = [i for i, n in enumerate(lengths) if n < limit]
            self.too_long += len(prompts) - len(fits)
            texts: list[list[str]] = [[""] * sampling.get("n", 1) for _ in prompts]
            if fits:
                rollouts = self.pool.generate(
                    [prompts[i] for i in fits], SamplingConfig(**sampling)
                )
                for i, rollout in zip(fits, rollouts, strict=True):
                    texts[i] = [completion.text for completion in rollout.completions]
            return texts

        return call

    def mark_trained(self, role: str) -> None:
        self.trained[role] = True
        if self.loaded == role:  # the pool holds this role's previous weights
            self.loaded = "stale"


class SelfLengthenRun:
    """The round loop; built by `run`."""

    def __init__(self, config: SelfLengthenRunConfig, run_dir: Path, model_path: str, metrics):
        self.config, self.run_dir, self.metrics = config, run_dir, metrics
        self.model_path = model_path
        self.step = 0

    def round_dir(self, index: int) -> Path:
        return self.run_dir / "rounds" / f"round-{index}"

    def completed(self) -> int:
        """The last round with its round.json (0: none)."""
        done = [r for r in range(1, self.config.rounds + 1) if (self.round_dir(r) / "round.json").exists()]  # fmt: skip
        return max(done, default=0)

    # ------------------------------------------------------------ learners
    def start_learners(self, after_round: int) -> dict[str, Any]:
        """G and E, resumed from round `after_round`'s adapters (or models) when it is > 0."""
        lora = self.config.sft.lora
        learners = {}
        for role in ROLES:
            saved = self.round_dir(after_round) / role
            model, extra = self.model_path, {}
            if lora is not None:
                extra["lora"] = lora.model_dump()
                if after_round:
                    extra["adapter"] = str(saved / "adapter")
            elif after_round:
                model = str(saved / "model")
            learners[role] = start_learner(self.config, model, **extra)
        return learners

    def train(self, learner, role: str, rows: list, round_index: int) -> dict[str, float]:
        """sft.epochs passes over this role's rows, a fresh schedule; the role's last loss."""
        from transformers import AutoTokenizer

        from rl.sft_batches import sft_samples

        sft = self.config.sft
        tokenizer = AutoTokenizer.from_pretrained(self.model_path)
        samples, skipped = sft_samples(tokenizer, rows, sft.max_sequence_tokens)
        if not samples:
            log.warning("round %d: no %s rows to train on", round_index, role)
            return {f"sft/{role}/rows": 0.0}
        per_epoch = math.ceil(len(samples) / sft.batch_size)
        total = per_epoch * sft.epochs
        warmup = min(math.ceil(sft.warmup_ratio * total), total - 1)
        ray.get(learner.restart_schedule.remote(total, warmup))
        metrics: dict[str, float] = {}
        for epoch in range(sft.epochs):
            order = list(range(len(samples)))
            random.Random(f"{self.config.seed}/{round_index}/{role}/{epoch}").shuffle(order)
            for start in range(0, len(order), sft.batch_size):
                batch = [samples[i] for i in order[start : start + sft.batch_size]]
                metrics = ray.get(learner.step.remote(batch))
                record = {f"train/{role}/{k}": v for k, v in metrics.items()}
                record.update({"train/loss": metrics["loss"], "round": round_index, "epoch": epoch})
                self.metrics.log(self.step, record)
                self.step += 1
                log.info("round %d | %s | epoch %d | loss %.4f | %.1f s", round_index, role,
                         epoch, metrics["loss"], metrics["step_seconds"])  # fmt: skip
        return {f"sft/{role}/rows": float(len(samples)), f"sft/{role}/skipped": float(skipped),
                f"sft/{role}/updates": float(total), f"sft/{role}/last_loss": metrics["loss"]}  # fmt: skip

    def save_role(self, learner, role: str, round_index: int) -> None:
        where = self.round_dir(round_index) / role
        if self.config.sft.lora is not None:
            ray.get(learner.save_adapter.remote(str(where / "adapter")))
        else:
            ray.get(learner.save_policy.remote(str(where / "model")))

    # ------------------------------------------------------------ data and evaluation
    def generate(self, roles: RoleWeights, round_index: int) -> tuple[list, dict[str, Any]]:
        from datasets import load_from_disk

        from synth.self_lengthen import SelfLengthenConfig, SelfLengthenGenerator
        from synth.sft_example import examples_from_dataset, save_examples

        where = self.round_dir(round_index) / "data"
        if (where / "dataset_info.json").exists():  # a resumed round reuses its rows
            return examples_from_dataset(load_from_disk(str(where))), {}
        data = self.config.data
        generator = SelfLengthenGenerator(
            SelfLengthenConfig(**data.options),
            complete=roles.complete("base"),
            complete_generator=roles.complete("generator"),
            complete_extender=roles.complete("extender"),
        )
        started = time.perf_counter()
        rows = generator.sample({"max_tokens": data.max_tokens}, data.instructions_per_round,
                                data.seed, round_index=round_index)  # fmt: skip
        if rows:  # an empty dataset has no schema to load back: the round is made again
            command = ["python", "rl/run.py", "--config", str(self.run_dir / "config.yaml")]
            save_examples(where, generator, rows, {"max_tokens": data.max_tokens},
                          data.instructions_per_round, data.seed, command)  # fmt: skip
        log.info("round %d: %d rows; %s", round_index, len(rows), generator.summary())
        made = {f"words/{k.removesuffix('_words_median')}_median" if "median" in k else f"data/{k}": v
                for k, v in generator.last_round.items()}  # fmt: skip
        made.update({f"skipped/{why}": n for why, n in generator.skipped.items()})
        made["data/rows"] = len(rows)
        made["time/generate"] = time.perf_counter() - started
        return rows, made

    def evaluate(self, roles: RoleWeights, round_index: int) -> dict[str, Any]:
        """LonGen with G's weights (the base before round 1), saved as longen.json."""
        from rl.longen_eval import load_queries, score_answers
        from synth.self_lengthen import SelfLengthenConfig

        spec = self.config.eval
        if not spec.queries:
            return {}
        queries = load_queries(spec.source, spec.language, spec.queries)
        options = SelfLengthenConfig(**self.config.data.options)
        sampling = {"n": spec.samples, "temperature": options.temperature, "top_p": options.top_p,
                    "top_k": options.top_k, "repetition_penalty": options.repetition_penalty,
                    "max_tokens": spec.max_tokens, "seed": self.config.seed}  # fmt: skip
        prompts = [[{"role": "user", "content": row["query"]}] for row in queries]
        outputs = roles.complete("generator")(prompts, sampling)
        answers = [text for texts in outputs for text in texts]  # a query's samples together
        result = score_answers([row for row in queries for _ in range(spec.samples)], answers)
        where = self.round_dir(round_index)
        where.mkdir(parents=True, exist_ok=True)
        (where / "longen.json").write_text(json.dumps(result, indent=1))
        log.info("round %d: LonGen score %.3f, median %d words", round_index, result["score"],
                 result["words_median"])  # fmt: skip
        record = {"eval/longen/score": result["score"], "words/longen_median": result["words_median"],
                  "words/longen_mean": result["words_mean"]}  # fmt: skip
        record.update({f"eval/longen/{k}": v for k, v in result["score_by_type"].items()})
        return record

    # ------------------------------------------------------------ the loop
    def first_round(self, resume: bool) -> int:
        """The round to start from: after the last complete one when resuming."""
        return self.completed() + 1 if resume else 1

    def run(self, pool, learners: dict[str, Any], first: int, resume: bool) -> None:
        """Rounds from `first` (`first_round`) on, with `learners` from `start_learners(first - 1)`."""
        config = self.config
        roles = RoleWeights(pool, learners, self.model_path)
        if resume:
            self.step = self._keep_metrics_before(first)
        if first > 1:  # the roles' weights come from the adapters just loaded
            roles.trained = {role: True for role in ROLES}
        elif not (self.round_dir(0) / "round.json").exists():
            record = {"round": 0, **self.evaluate(roles, 0)}
            self._finish_round(0, record)
        for index in range(first, config.rounds + 1):
            started = time.perf_counter()
            rows, record = self.generate(roles, index)
            for role in ROLES:
                mine = [row for row in rows if row.role == role]
                record.update(self.train(learners[role], role, mine, index))
                self.save_role(learners[role], role, index)
                roles.mark_trained(role)
            if config.eval.every_round or index == config.rounds:
                record.update(self.evaluate(roles, index))
            record["round"] = index
            record["data/prompts_over_context"] = roles.too_long
            record["time/round"] = time.perf_counter() - started
            self._finish_round(index, record)

    def _keep_metrics_before(self, first: int) -> int:
        """Drop the metrics of the incomplete round a resume redoes; the next step index."""
        path = self.run_dir / "metrics.jsonl"
        kept = [r for r in read_metrics(path) if r.get("round", 0) < first] if path.exists() else []
        path.write_text("".join(json.dumps(r) + "\n" for r in kept))
        return 1 + max((r["step"] for r in kept), default=-1)

    def _finish_round(self, index: int, record: dict[str, Any]) -> None:
        if "eval/longen/score" in record:
            record["reward/mean"] = record["eval/longen/score"]  # the summary's curve
        self.metrics.log(self.step, record)
        self.step += 1
        where = self.round_dir(index)
        where.mkdir(parents=True, exist_ok=True)
        (where / "round.json").write_text(json.dumps(record, indent=1))
        words = {k: v for k, v in record.items() if k.startswith("words/")}
        log.info("round %d complete: %s", index, ", ".join(f"{k} {v:g}" for k, v in words.items()))


def round_table(run_dir: Path) -> str:
    """Words and LonGen score per round, from each round.json."""
    lines = ["round  initial words  extended words  LonGen words  LonGen score"]
    for path in sorted((run_dir / "rounds").glob("round-*/round.json"),
                       key=lambda p: int(p.parent.name.split("-")[1])):  # fmt: skip
        r = json.loads(path.read_text())
        cells = [r.get(k) for k in ("words/initial_median", "words/extended_median",
                                    "words/longen_median", "eval/longen/score")]  # fmt: skip
        lines.append(f"{r['round']:<6} " + "  ".join(
            "-".rjust(13) if v is None else f"{v:13.3g}" for v in cells))  # fmt: skip
    return "\n".join(lines)


def run(config: SelfLengthenRunConfig, resume: bool = False) -> int:
    """Every round, then the table; returns a process exit code."""
    name = config.name or default_run_name("self_lengthen")
    run_dir = make_run_dir(config.output_dir, name, resume)
    (run_dir / "config.yaml").write_text(dump_config(config.model_copy(update={"name": name})))
    metrics = MetricsLogger(run_dir, config.model_dump(mode="json"), config.logging.wandb,
                            config.logging.project, name)  # fmt: skip
    started = start_ray(config)
    pool = None
    try:
        with failure_logged(run_dir):
            loop = SelfLengthenRun(config, run_dir, resolve_model(config.model), metrics)
            first = loop.first_round(resume)
            if first > config.rounds:
                log.info("every round is complete")
            else:
                # G and E load their models while the engine starts (one rank each only).
                early = loads_with_engines(config)
                learners = loop.start_learners(first - 1) if early else None
                pool = RolloutPool(config.rollout, loop.model_path)
                if learners is None:
                    learners = loop.start_learners(first - 1)
                loop.run(pool, learners, first, resume)
    finally:
        metrics.close()
        if pool is not None:
            pool.shutdown()
        shutdown_ray(started)
    print(round_table(run_dir))
    print(f"run directory: {run_dir}")
    return 0
