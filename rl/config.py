"""The run configuration: one pydantic tree, from defaults, a YAML file and overrides.

`RunConfig()` with no arguments is the embedded default (`make demo`): SmolLM2-135M-Instruct
on h1 from the built-in offline source, starting at one operation on small numbers, an
adaptive curriculum, one vLLM CPU worker, held-out evaluation before and after 10 steps.
Each package owns its section's model (cluster.config, curricula.config, rl.learners.config);
this module only composes them and checks what crosses sections. Imports pydantic only.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, ClassVar, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    field_validator,
    model_validator,
)

from cluster.config import RolloutConfig, SamplingConfig
from curricula.config import AdaptiveSchedule, CurriculumConfig, TaskCurriculum
from rl.learners.config import GRPO_FAMILY, TrainerConfig
from rl.rundir import check_name
from rl.stages import StageConfig, check_stages
from rl.validate import check_registries
from synth.h1 import FORMAT_PROMPT

# A run's name is one directory under output_dir: never a path (rl.rundir.check_name).
RunName = Annotated[str | None, AfterValidator(lambda name: name and check_name(name))]


class RayConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    address: str | None = None
    """Cluster to join (`auto`, `ray://host:10001`, host:port). None: $RAY_ADDRESS if set,
    else start a local Ray bound to 127.0.0.1 and stop it at the end."""
    num_cpus: int | None = Field(default=None, ge=1)
    """CPUs of a local Ray; None lets Ray count them."""
    object_store_gib: float | None = Field(default=None, gt=0)
    """Object store of a local Ray. None: 1.5x the policy's weight files when the model is a
    local directory (cluster.ray_setup.object_store_bytes), so each weight version reuses the
    released one's pages; else Ray's default (30 % of memory)."""
    gpu_memory_gib: float | None = Field(default=None, gt=0)
    """Memory of one GPU of the cluster, for --dry-run's check that the learner and the rollout
    engines fit (Ray does not report it). None: this machine's GPU when it has one, else 80
    (an A100/H100 80GB), said as assumed in the plan."""
    dashboard: bool = False
    """Start Ray's web dashboard with a local Ray (127.0.0.1:8265). Off by default: it is a dozen
    processes and ~1 GB of resident memory; a joined cluster keeps whatever it runs."""


class TaskConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    generator: str
    """Name in `synth.GENERATORS` (h1, keychain, multihop, ...)."""
    options: dict[str, Any] = {}
    """The generator's own config (e.g. H1Config fields); validated against its `config_class`
    when the config loads, and recorded with every default filled in."""
    reward: str | dict[str, Any] | list[dict[str, Any]] | None = None
    """Reward name in `rewards.REWARDS`, or a `rewards.combine.RewardSpec` ({name: weight},
    a list of {name, weight, kwargs}, or {terms, overlong}); None uses each Task's own name."""


class LearnerResources(BaseModel):
    model_config = ConfigDict(extra="forbid")

    num_workers: int = Field(default=1, ge=1)
    """Learner actors (ranks of one torch.distributed group, rl/learner_group.py); each trains
    on its slice of every batch. 1: one actor, no process group. On GPUs: one per GPU."""
    parallel: Literal["ddp", "fsdp"] = "ddp"
    """How num_workers > 1 ranks share the model: `ddp`, a full replica each, gradients summed
    over ranks once per update (for models whose weights, gradients and AdamW state fit one
    worker); `fsdp`, torch FSDP2 `fully_shard`, each rank holding 1/N of all three (the weights
    are gathered layer by layer in the forward and backward). Replaces trainer.sharding."""
    placement: Literal["pack", "spread"] = "pack"
    """Where Ray puts the learner ranks (a placement group): `pack` on as few nodes as fit
    (one node's fast links), `spread` across nodes."""
    nodes: Literal["any", "colocated", "disaggregated"] = "any"
    """Which nodes the learner ranks may use, relative to the rollout workers' (a Ray label
    selector on node ids, GRPO runs): `colocated` only nodes that run a rollout worker (weights
    publish within a node), `disaggregated` only nodes that run none (the engines keep their
    GPUs and memory), `any` where Ray finds room."""
    num_cpus: float = Field(default=0, ge=0)
    """Ray CPUs reserved per learner actor. 0 by default: it trains while the rollout
    workers wait, so on one machine it shares their cores instead of reserving its own."""
    num_gpus: float | None = Field(default=None, ge=0)
    """Ray GPUs per learner actor; None: 1 when the cluster has a GPU, else 0."""
    torch_threads: int | None = Field(default=None, ge=1)
    """Torch threads in each learner actor; None: every core of its node (with num_workers >
    1 on one node: its cores divided by num_workers). With max_staleness=1 it
    shares them with the rollout workers (on 2 cores, 1 or 2 learner threads next to a
    one-thread vLLM worker measured the same: 8.2 vs 8.4 s/step)."""


class LoggingConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    wandb: Literal["auto", "online", "offline", "disabled"] = "auto"
    """auto: online when WANDB_API_KEY is set, otherwise offline files in the run directory."""
    project: str = "longhorizon"
    """wandb project."""
    progress: bool = True
    """Show a progress bar with the current levels and reward."""
    dashboard: bool = False
    """Serve the live curriculum page (`python -m curricula.dashboard serve`) from the run's
    process on 127.0.0.1 while it trains; its URL is printed when the run starts."""
    dashboard_port: int = Field(default=8765, ge=0, le=65535)
    """Port of that page; 0 (or a port in use) takes a free one."""
    samples_per_level: int = Field(default=1, ge=0)
    """Groups per task and level written each step to runs/<name>/rollouts.jsonl (prompt, gold
    answer, every completion with its reward) for the dashboard; 0 writes none."""
    samples_max_mb: float = Field(default=32.0, gt=0)
    """Cap on the rollouts files (MB): past half of it, rollouts.jsonl becomes rollouts.1.jsonl
    and a new one starts, so the oldest samples go first."""
    push_to_hub: str | None = None
    """Hub model repository (ORG/NAME) the run is published to when it ends: the best policy
    (else the last checkpoint), config.yaml, metrics.jsonl and a model card (rl/publish.py).
    The token comes from HF_TOKEN or `hf auth login`, never from this file; without one the run
    refuses to start."""
    hub_private: bool = False
    """Create the push_to_hub repository private (an existing one keeps its visibility)."""

    @field_validator("push_to_hub")
    @classmethod
    def _repo_id(cls, repo: str | None) -> str | None:
        if repo is not None and not re.fullmatch(r"[A-Za-z0-9][\w.-]*/[A-Za-z0-9][\w.-]*", repo):
            raise ValueError("must be ORG/NAME (letters, digits, - _ .), e.g. my-org/h1-grpo")
        return repo


class CheckpointConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    every: int = Field(default=10, ge=0)
    """Save after every N steps (0: not by steps); the last step always saves."""
    every_minutes: float = Field(default=10.0, ge=0)
    """Also save after the first step that ends M minutes or more after the last save (or the
    start), whichever of the two comes first; 0: not by time."""
    keep_last: int = Field(default=2, ge=1)
    """How many checkpoints to keep on disk (older ones are deleted after each save)."""
    keep_best: bool = True
    """Also keep the checkpoint of the step with the best held-out score (eval.*), when one
    was written at that step (eval.every_steps a multiple of `every` makes that always so)."""


class EvalConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    sets: dict[str, str] = {}
    """Name -> held-out data set (rl/eval_data.py: a dataset directory, a JSONL of tasks, or
    `NAME:axis=value,...,n=N,seed=S`). Empty: no evaluation."""
    every_steps: int = Field(default=0, ge=0)
    """Evaluate after every N steps (and always after the last); 0: after the last only."""
    samples: int = Field(default=4, ge=1)
    """Completions per item (K): pass@1 is their mean reward (avg@K)."""
    temperature: float | None = Field(default=None, gt=0)
    """Sampling temperature; None: the run's sampling.temperature."""
    top_p: float = Field(default=1.0, gt=0, le=1)
    """Nucleus mass for evaluation samples."""
    max_tokens: int | None = Field(default=None, ge=1)
    """Most new tokens per sample; None: the run's sampling.max_tokens."""
    seed: int = 1234
    """Sampling seed: the same samples' randomness at every evaluation, so scores move with the
    policy, not the dice."""
    select: str | None = None
    """The set whose pass@1 picks the run's `best` policy; None: the mean over all sets."""
    base: Literal["cache", "compute", "skip"] = "cache"
    """The starting model's score: reused from the cache (keyed by model, set and sampling) or
    computed at step 0 and cached; skip leaves it out."""
    solved_at: float = Field(default=1.0, gt=0, le=1)
    """A sample counts as solved for pass@k when its reward reaches this."""


class RunConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    resumes_from: ClassVar[str] = "checkpoint"
    """--resume continues from checkpoints/step-N (rl.resume.check_resumable)."""

    algorithm: Literal["grpo"] = "grpo"
    """Selects this run (rl/driver.py): GRPO-family RL on generated tasks. `longpo` is
    rl/longpo_config.py's LongPORunConfig."""
    name: RunName = None
    """Run directory name under `output_dir` (a name: no /, no .., no control characters);
    None: `run-<date>-<time>`."""
    output_dir: str = "runs"
    """Where run directories go."""
    seed: int = 0
    """Seeds the curriculum, the generators, sampling and the learner."""
    model: str = "embedded"
    """`embedded` (SmolLM2-135M-Instruct), `tiny` (2-layer random, tests), a local path or a Hub id."""
    steps: int = Field(default=10, ge=1)
    """GRPO steps (one rollout batch and one optimizer update each)."""
    prompts_per_step: int = Field(default=8, ge=1)
    """Prompts per step; each gets `sampling.n` completions (the GRPO group)."""
    refill_rounds: int = Field(default=3, ge=0)
    """Dynamic sampling (trainer.dynamic_sampling): extra draws to refill dropped groups."""
    max_staleness: Literal[0, 1] = 1
    """1 samples step t+1's rollouts while step t trains (one step off-policy: the ratio is taken
    against the rollout's own logprobs and clipped, so the lag is corrected for); 0 alternates
    rollout and update (on-policy). 1 by default: on the embedded 2-core run it takes a step from
    10.3 to 8.2 s (docs/benchmarks.md), and on a cluster it keeps rollout GPUs busy while the
    learner trains. Recipes that reproduce an on-policy paper set 0."""
    ray: RayConfig = RayConfig()
    rollout: RolloutConfig = RolloutConfig(kv_cache_gib=0.5, max_model_len=1024, dtype="fast")
    """0.5 GiB of KV cache holds ~11K tokens of SmolLM2 in float32. The default batch needs
    ~5K (vLLM's prefix cache shares each group's prompt: 8 x ~150 + 64 x 64) and the held-out
    evaluation ~9K at once (60 items x 2 samples). Every 0.25 GiB more is resident."""
    sampling: SamplingConfig = SamplingConfig(n=8, max_tokens=64, temperature=0.7)
    """`n` is the GRPO group size (completions per prompt)."""
    trainer: TrainerConfig = TrainerConfig(lr=2e-5, micro_batch_size=16, dtype="fast", tis_cap=2.0)
    """bfloat16 where the CPU or GPU has it natively (2-3x faster steps than float32 on the
    AMX-BF16 Xeons measured here), float32 elsewhere; truncated importance sampling corrects the
    bf16 engine / bf16-autocast learner mismatch."""
    learner: LearnerResources = LearnerResources()
    reward_timeout_s: float = Field(default=30.0, gt=0)
    """Seconds a task's reward may take per completion; past it the completion scores 0 and is
    counted in `reward/timeouts` (rl/scoring.py: a hung reward never stalls the run)."""
    tasks: dict[str, TaskConfig] = {
        "h1": TaskConfig(
            generator="h1",
            options={
                "problem_steps_values": [1, 2],
                "max_horizon": 4,
                "system_prompt": FORMAT_PROMPT,
            },
        )
    }
    """Task name -> generator, its options and reward. Names are what the curriculum mixes. The
    default starts h1 at one operation on small numbers with a prompt that shows the format:
    the level where the embedded model learns in minutes (docs/results.md)."""
    curriculum: CurriculumConfig = CurriculumConfig(
        schedule=AdaptiveSchedule(window=16, min_samples=8, promote_above=0.3, demote_below=0.02)
    )
    eval: EvalConfig = EvalConfig(sets={"one_step": "h1:horizon=1,problem_steps=1,n=60"}, samples=2)
    """Held-out evaluation during the run; the best policy by it is kept as the run's `best`.
    The default scores the run's h1 task on 60 held-out one-operation problems before and after
    training (`eval.sets={}` turns it off)."""
    logging: LoggingConfig = LoggingConfig()
    checkpoint: CheckpointConfig = CheckpointConfig()
    stages: list[StageConfig] = []
    """Fixed spans of steps, each with its task mix and optionally LoongRL's hard subset
    (rl/stages.py); `steps` left out is their sum. Empty: one mix (curriculum.tasks) throughout."""

    @model_validator(mode="after")
    def _cross_checks(self) -> RunConfig:
        """Every check that spans sections, so `--dry-run` refuses what the run would refuse."""
        if not self.tasks:
            raise ValueError("tasks is empty: declare at least one, e.g. tasks.h1.generator=h1")
        if "tasks" not in self.curriculum.model_fields_set:
            # Not written out: every declared task, equal weights, each axis from its floor.
            self.curriculum.tasks = {name: TaskCurriculum() for name in self.tasks}
        unknown = set(self.curriculum.tasks) - set(self.tasks)
        if unknown:
            raise ValueError(
                f"curriculum names tasks {sorted(unknown)} that `tasks` does not declare "
                f"(declared: {sorted(self.tasks)}); add them to tasks or remove them from curriculum"
            )
        check_stages(self)  # before the checks that read `steps`
        if self.trainer.loss not in GRPO_FAMILY:
            raise ValueError(
                f"trainer.loss={self.trainer.loss!r}: a grpo run trains one of "
                f"{', '.join(GRPO_FAMILY)} (preference losses run with algorithm=longpo)"
            )
        if self.sampling.n < 2:
            raise ValueError(
                "sampling.n must be >= 2: GRPO needs a group of completions per prompt"
            )
        if self.sampling.temperature <= 0:
            raise ValueError(
                "sampling.temperature must be > 0 for training: greedy groups are all alike and "
                "the learner divides the logits by it"
            )
        if self.sampling.max_tokens >= self.rollout.max_model_len:
            raise ValueError(
                f"sampling.max_tokens={self.sampling.max_tokens} leaves no room for a prompt in "
                f"rollout.max_model_len={self.rollout.max_model_len}: raise max_model_len"
            )
        schedule_steps = self.trainer.total_steps or self.steps
        if self.trainer.warmup_steps >= schedule_steps:
            raise ValueError(
                f"trainer.warmup_steps={self.trainer.warmup_steps} >= the {schedule_steps} steps "
                "the LR schedule spans: lower trainer.warmup_steps or raise steps"
            )
        if self.eval.select is not None and self.eval.select not in self.eval.sets:
            raise ValueError(
                f"eval.select={self.eval.select!r} is not one of eval.sets "
                f"({', '.join(self.eval.sets) or 'none declared'})"
            )
        eval_tokens = self.eval.max_tokens or self.sampling.max_tokens
        if self.eval.sets and eval_tokens >= self.rollout.max_model_len:
            raise ValueError(
                f"eval.max_tokens={eval_tokens} leaves no room for a prompt in "
                f"rollout.max_model_len={self.rollout.max_model_len}"
            )
        check_registries(self)
        return self
