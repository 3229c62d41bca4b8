"""The Self-Lengthen run's configuration (`algorithm: self_lengthen`): R rounds of writing long
responses with the model itself, then SFT of the generator and the extender on them.

    python rl/run.py --config configs/self_lengthen.yaml

Shares the run-wide sections with the other runs (rl/config.py: ray, learner, logging) and has
its own: `data` (the generator's options, instructions per round, each call's max_tokens),
`sft` (epochs, batch, warmup ratio, cutoff, LoRA), `trainer` (loss sft) and `eval` (LonGen's
length-following score of the generator after each round). Imports pydantic and the registries
only.
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from cluster.config import RolloutConfig
from rl.config import LearnerResources, LoggingConfig, RayConfig
from rl.learners.config import TrainerConfig
from rl.learners.lora import LoRAConfig


class SelfLengthenData(BaseModel):
    model_config = ConfigDict(extra="forbid")

    options: dict[str, Any] = {}
    """synth.self_lengthen.SelfLengthenConfig fields (seed_source, micro_rounds, attempts, ...);
    validated when the config loads and recorded with every default filled in."""
    instructions_per_round: int = Field(default=16, ge=2)
    """Instructions self-instructed each round (the paper: 5,000)."""
    max_tokens: int = 512
    """Each model call's budget (a value of the generator's max_tokens axis; the paper: 16384)."""
    seed: int = 0
    """Seeds the instructions' examples, the sampling and the line drops (round r adds r)."""


class SFTSchedule(BaseModel):
    model_config = ConfigDict(extra="forbid")

    epochs: int = Field(default=4, ge=1)
    """Passes over a round's rows per role (the paper: 4)."""
    batch_size: int = Field(default=4, ge=1)
    """Rows per optimizer update (the paper: 1 per device, no accumulation)."""
    warmup_ratio: float = Field(default=0.1, ge=0, lt=1)
    """Share of a round's updates spent in linear warmup (the paper: 0.1), then trainer's
    lr_schedule (cosine)."""
    max_sequence_tokens: int = Field(default=2048, ge=64)
    """Prompt plus response tokens per row; longer responses are cut (the paper's cutoff_len
    16384); a prompt alone longer than this is a counted skip."""
    lora: LoRAConfig | None = LoRAConfig()
    """The adapters (each role its own, resumed round after round on the original base); None
    trains the full model (each role its own copy)."""


class LonGenEval(BaseModel):
    model_config = ConfigDict(extra="forbid")

    source: str = "../shared/data/longform/LonGen.jsonl"
    """LonGen queries (Self-Lengthen's eval/LonGen.jsonl: language, range, type, constraint,
    query)."""
    language: Literal["en", "zh", "all"] = "en"
    """Which queries."""
    queries: int = Field(default=24, ge=0)
    """How many, spread evenly over the file's order (types and ranges); 0: every one."""
    max_tokens: int = Field(default=1024, ge=16)
    """The generator's budget per answer."""
    samples: int = Field(default=1, ge=1)
    """Answers per query (the paper: 1); the median, mean and score are over all of them. One
    answer's length swings several-fold between samples, so more show a trend sooner."""
    every_round: bool = True
    """Score after every round; False: before round 1 and after the last only."""


class SelfLengthenRunConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    resumes_from: ClassVar[str] = "rounds"
    """--resume continues after the last complete round (rounds/round-N/round.json), not from
    checkpoints/: see rl.resume.check_resumable."""

    algorithm: Literal["self_lengthen"] = "self_lengthen"
    """Selects this run (rl/self_lengthen_run.py)."""
    name: str | None = None
    """Run directory name under `output_dir`; None: `self_lengthen-<date>-<time>`."""
    output_dir: str = "runs"
    """Where run directories go."""
    seed: int = 0
    """Seeds the learners and the order of SFT rows."""
    model: str = "embedded"
    """The instruct model both roles start from (and the base of their adapters)."""
    rounds: int = Field(default=3, ge=1)
    """Self-Lengthen rounds (the paper: 3)."""
    data: SelfLengthenData = SelfLengthenData()
    sft: SFTSchedule = SFTSchedule()
    ray: RayConfig = RayConfig(object_store_gib=2.0)
    """The object store holds one weight version on its way to the engine (the learners' merged
    weights, or the base's for self-instruct): 2 GiB for the 135M model in float32."""
    rollout: RolloutConfig = RolloutConfig(max_model_len=4096, kv_cache_gib=0.5, dtype="fast")
    """Engines for every model call: the extension's continuation prompt holds the template,
    the whole text so far and the expanded first half, so the context is several max_tokens
    (a prompt longer than max_model_len gets an empty answer, which the generator counts)."""
    trainer: TrainerConfig = TrainerConfig(
        loss="sft", lr=1e-4, lr_schedule="cosine", micro_batch_size=2, dtype="fast"
    )
    """The SFT update (the paper: lr 1e-4, cosine); warmup and total steps are set per round
    from sft.warmup_ratio and the round's rows."""
    learner: LearnerResources = LearnerResources()
    eval: LonGenEval = LonGenEval()
    logging: LoggingConfig = LoggingConfig()

    @model_validator(mode="after")
    def _cross_checks(self) -> SelfLengthenRunConfig:
        from rl.validate import check_self_lengthen

        if self.trainer.loss != "sft":
            raise ValueError(
                f"trainer.loss={self.trainer.loss!r}: a self_lengthen run trains sft; set "
                "trainer.loss=sft"
            )
        if self.trainer.warmup_steps or self.trainer.total_steps:
            raise ValueError(
                "trainer.warmup_steps / trainer.total_steps are set per round: use "
                "sft.warmup_ratio and sft.epochs instead"
            )
        needed = 2 * max(self.data.max_tokens, self.eval.max_tokens)
        if needed > self.rollout.max_model_len:
            raise ValueError(
                f"rollout.max_model_len={self.rollout.max_model_len} is below 2 x max_tokens "
                f"({needed}): the extender reads the whole text before writing more; raise "
                "rollout.max_model_len or lower data.max_tokens / eval.max_tokens"
            )
        check_self_lengthen(self)
        return self

    @property
    def steps(self) -> int:
        """The learners' first schedule length (start_learner); each round restarts it."""
        return 1

    @property
    def tasks(self) -> dict[str, Any]:
        """No RL tasks."""
        return {}
