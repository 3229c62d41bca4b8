"""The LongPO run's configuration (`algorithm: longpo`): make short-to-long pairs, train DPO.

    python rl/run.py --config configs/longpo.yaml

Shares the run-wide sections with the GRPO run (rl/config.py: ray, learner, logging, checkpoint,
eval) and has its own: `data` (which documents, chunk sizes and how many pairs the short model
writes, held-out pairs), `pairs_per_step`, a curriculum over chunk_tokens, and a trainer whose
loss is dpo or longpo. Imports pydantic and the registries only.
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from cluster.config import RolloutConfig, SamplingConfig
from curricula.config import CurriculumConfig, FixedStepsSchedule, TaskCurriculum
from rl.config import (
    CheckpointConfig,
    EvalConfig,
    LearnerResources,
    LoggingConfig,
    RayConfig,
    RunName,
)
from rl.learners.config import PREFERENCE_LOSSES, TrainerConfig


class LongPOData(BaseModel):
    model_config = ConfigDict(extra="forbid")

    options: dict[str, Any] = {}
    """synth.longpo.LongPOConfig fields (source, text_group_by, chunks_per_document, turns, ...);
    validated when the config loads and recorded with every default filled in."""
    levels: list[int] = [256, 512]
    """chunk_tokens values to write pairs at (each a value of the generator's axis)."""
    pairs_per_level: int = Field(default=16, ge=1)
    """Training pairs written per level."""
    held_out_per_level: int = Field(default=4, ge=0)
    """Further pairs per level kept out of training: preference accuracy and margin on them
    after each evaluation are the run's own held-out measure."""
    seed: int = 0
    """Seeds the documents drawn and the model's sampling while writing pairs."""


class LongPORunConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    resumes_from: ClassVar[str] = "checkpoint"
    """--resume continues from checkpoints/step-N (rl.resume.check_resumable)."""

    algorithm: Literal["longpo"] = "longpo"
    """Selects this run (rl/longpo_run.py); `grpo` is rl/config.py's RunConfig."""
    name: RunName = None
    """Run directory name under `output_dir` (a name: no /, no .., no control characters);
    None: `longpo-<date>-<time>`."""
    output_dir: str = "runs"
    """Where run directories go."""
    seed: int = 0
    """Seeds the curriculum and the learner."""
    model: str = "embedded"
    """The short-context model: it writes the pairs, it is the reference, and it is trained."""
    steps: int = Field(default=8, ge=1)
    """DPO steps (one optimizer update each)."""
    pairs_per_step: int = Field(default=4, ge=1)
    """Pairs per update, drawn at the levels the curriculum chooses."""
    data: LongPOData = LongPOData()
    ray: RayConfig = RayConfig()
    rollout: RolloutConfig = RolloutConfig(max_model_len=8192, kv_cache_gib=1.0, dtype="fast")
    """The engines that write the pairs and serve evaluation: the long prompts hold whole documents
    (chunks_per_document chunks of up to 1.9 x chunk_tokens), so the context must too."""
    sampling: SamplingConfig = SamplingConfig(n=1, max_tokens=128, temperature=0.7)
    """Sampling defaults for evaluation (eval.temperature / eval.max_tokens override them)."""
    trainer: TrainerConfig = TrainerConfig(loss="longpo", lr=1e-5, micro_batch_size=2, dtype="fast")
    """LongPO's loss (dpo_weight 0.01 * DPO + NLL). lr 1e-5 moves the 135M model in a few CPU
    steps; the paper's 5e-7 is in configs/longpo_paper.yaml."""
    learner: LearnerResources = LearnerResources()
    curriculum: CurriculumConfig = CurriculumConfig(
        schedule=FixedStepsSchedule(steps_per_level=4), tasks={"longpo": TaskCurriculum()}
    )
    """Over chunk_tokens (the levels in data.levels): short documents first."""
    eval: EvalConfig = EvalConfig()
    """Held-out task sets (e.g. long-context multihop QA); the held-out pairs are always scored."""
    logging: LoggingConfig = LoggingConfig()
    checkpoint: CheckpointConfig = CheckpointConfig()

    @model_validator(mode="after")
    def _cross_checks(self) -> LongPORunConfig:
        from rl.validate import check_longpo

        if self.trainer.loss not in PREFERENCE_LOSSES:
            raise ValueError(
                f"trainer.loss={self.trainer.loss!r}: a longpo run trains a preference loss; "
                f"use one of {', '.join(PREFERENCE_LOSSES)}"
            )
        if set(self.curriculum.tasks) != {"longpo"}:
            raise ValueError("curriculum.tasks: a longpo run has one task, `longpo`")
        check_longpo(self)
        return self

    @property
    def tasks(self) -> dict[str, Any]:
        """No RL tasks: eval sets name generators directly."""
        return {}
