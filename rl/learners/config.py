"""TrainerConfig: what the learner optimises and how (loss family, optimiser, schedule, precision).

Imports pydantic only, so `--help` and config validation never import torch.

Values that belong to the rollout (the sampling temperature and the maximum completion length,
which fixes Dr.GRPO's normalising constant) are not repeated here: the driver passes its
sampling config's values to `rl.learners.GRPOLearner`. DAPO's soft overlong penalty is a
reward-shaping term and lives with the rewards (`rewards/combine.py`): the learner only ever sees
advantages.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

LossType = Literal["grpo", "dr_grpo", "dapo", "dpo", "longpo", "sft"]
GRPO_FAMILY = ("grpo", "dr_grpo", "dapo")
PREFERENCE_LOSSES = ("dpo", "longpo")
DAPO_EPSILON_HIGH = 0.28


class TrainerConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    loss: LossType = "dr_grpo"
    """The objective. GRPO family (rl/learners/grpo.py), named and aggregated as TRL's
    `loss_type`: `grpo` (per-sequence token mean, then batch mean), `dr_grpo` (token sum over
    the batch divided by num_sequences * max_completion_length; h1's choice), `dapo` (token mean
    over every token of the batch). Preferences (rl/learners/dpo.py): `dpo` (sigmoid DPO, the
    reference on the same prompt) and `longpo` (LongPO: dpo_weight * DPO with the reference on
    the short prompts, plus nll_weight * NLL of the chosen long conversation). Supervised
    (rl/learners/sft.py): `sft`, the token-mean NLL of the response tokens (Self-Lengthen)."""

    scale_advantages: bool | None = None
    """Divide group-centred rewards by the group's std (+1e-4). None: from `loss` (on for grpo and
    dapo, off for dr_grpo, whose paper removes it). Read by the driver via
    rl.learners.advantages."""

    lr: float = Field(default=1e-6, gt=0)
    """Peak learning rate of AdamW."""

    lr_schedule: Literal["constant", "cosine", "linear"] = "constant"
    """Shape after warmup: hold, cosine decay to 0, or linear decay to 0 at `total_steps`."""

    warmup_steps: int = Field(default=0, ge=0)
    """Optimizer steps of linear warmup from 0 to `lr`."""

    total_steps: int | None = Field(default=None, ge=1)
    """Steps the decaying schedules span. None: the run's number of steps (the driver passes it)."""

    weight_decay: float = Field(default=0.0, ge=0)
    """AdamW decoupled weight decay."""

    adam_betas: tuple[float, float] = (0.9, 0.999)
    """AdamW (beta1, beta2)."""

    max_grad_norm: float | None = Field(default=1.0, gt=0)
    """Clip the global gradient norm to this value before each update; None disables clipping."""

    beta: float = Field(default=0.0, ge=0)
    """KL coefficient to the frozen reference (estimator: `kl_estimator`). 0 loads no reference
    model; LoongRL uses 0.001."""

    kl_estimator: Literal["k3", "low_var_kl"] = "k3"
    """Per-token KL estimate, d = ref_logp - logp. `k3`: exp(d) - d - 1 (TRL). `low_var_kl`:
    verl's (LoongRL's `kl_loss_type`), the same k3 with d clamped to [-20, 20] and the
    estimate to [-10, 10]."""

    kl_ratio_correction: bool | None = None
    """Multiply the KL term by the importance ratio, an unbiased KL estimate under the current
    policy for samples drawn from the rollout policy (TRL's `use_bias_correction_kl`). None: on
    for `k3`, off for `low_var_kl` (verl applies none)."""

    epsilon: float = Field(default=0.2, gt=0, lt=1)
    """Lower clip: ratios below 1 - epsilon stop pushing down negative-advantage tokens."""

    epsilon_high: float | None = Field(default=None, gt=0)
    """Upper clip (DAPO's clip-higher). None: `epsilon`, except 0.28 for `dapo`."""

    tis_cap: float | None = Field(default=None, gt=0)
    """Truncated importance sampling for the train/inference mismatch: each token's loss is
    weighted by min(exp(trainer_logp - rollout_logp), tis_cap), and the clipped ratio is taken
    against the trainer's own logprobs instead (as TRL's vLLM correction and verl's TIS). None: the
    clipped ratio is taken against the rollout's logprobs directly. Typical value: 2.0."""

    dynamic_sampling: bool | None = None
    """DAPO dynamic sampling: the driver drops groups whose rewards are all equal (zero advantage,
    no gradient) and refills the batch. None: on for `dapo`, off otherwise."""

    dpo_beta: float = Field(default=0.1, gt=0)
    """DPO's beta (dpo, longpo): LongPO's paper uses 0.1, its released script 0.01."""

    dpo_weight: float | None = Field(default=None, ge=0)
    """Weight of the preference term (LongPO's lambda). None: 1 for dpo, 0.01 for longpo."""

    nll_weight: float | None = Field(default=None, ge=0)
    """Weight of the chosen conversation's NLL (token mean). None: 0 for dpo, 1 for longpo."""

    nll_tokens: Literal["response", "all"] = "response"
    """Which chosen tokens the NLL counts: the assistant turns, or every token of the long
    conversation, document included (LongPO's released code; pads never count here)."""

    reference: Literal["precompute", "frozen_copy"] = "precompute"
    """dpo/longpo reference log-probs: `precompute` scores every pair once, with the starting
    policy before its first update (it is the reference; no second model in memory);
    `frozen_copy` keeps a frozen copy and scores each batch (pairs made during training)."""

    policy_overrides: dict[str, Any] = {}
    """Model config attributes set on the trained policy only, a dict value merged into the
    attribute's dict: LongPO trains with {"rope_parameters": {"rope_theta": 1.0e7}} (the
    transformers >= 5 spelling of rope_theta). The reference keeps the original config (with
    overrides, a precomputed reference needs a frozen copy for that one pass)."""

    ppo_epochs: int = Field(default=1, ge=1)
    """Passes over each rollout batch (verl's `ppo_epochs`); GRPO family only."""

    mini_batch_size: int | None = Field(default=None, ge=1)
    """Sequences per optimizer update (verl's `ppo_mini_batch_size` times the group size): a
    batch makes ceil(B / mini_batch_size) updates per epoch, in order, the last one possibly
    smaller; the lr schedule still steps once per batch. None: the whole batch, one update per
    epoch. GRPO family only."""

    recompute_old_logprobs: bool | None = None
    """Take the clipped ratio against the policy's own logprobs computed before the batch's
    first update (verl's actor `compute_log_prob`), not the rollout engine's. None: on when a
    batch makes more than one update (ppo_epochs > 1 or mini_batch_size set), off otherwise
    (then the rollout's logprobs, or `tis_cap`'s trainer logprobs, are the old ones). With
    `tis_cap` the truncated weight is exp(old - rollout), capped."""

    micro_batch_size: int = Field(default=4, ge=1)
    """Sequences per forward/backward; gradients accumulate over the whole batch, one update."""

    micro_batch_tokens: int | None = Field(default=None, ge=1)
    """A token budget per forward/backward instead of `micro_batch_size` rows (verl's dynamic
    batch size; GRPO and SFT): rows are packed while the padded tensors stay within it, so
    activation memory stays flat whatever the prompt lengths (rl/learners/batching.py
    `token_budget_batches`). None: `micro_batch_size` rows."""

    share_prompts: bool = True
    """Run each distinct prompt of a micro-batch once and its completions on its KV cache
    (rl/learners/shared_prompt.py): about G times fewer prompt tokens per update, same logprobs
    and gradients, also under gradient checkpointing."""

    logit_chunk_tokens: int | None = Field(default=1024, ge=1)
    """Apply the vocabulary head to this many completion tokens of a micro-batch at a time,
    recomputing each chunk's logits in the backward (rl/learners/vocab_head.py): the
    (tokens x vocabulary) logits and their gradients never exist whole. A micro-batch with fewer tokens runs as one
    chunk without recompute (the embedded default's 4 x 128). None: always all at once. For
    4 x 4K-token completions and Qwen's 152K vocabulary the whole logits would be 10 GB."""

    mlp_tile_tokens: int | None = Field(default=8192, ge=1)
    """Run a decoder layer's MLP this many tokens at a time when a forward has more (a long
    prompt), recomputing each tile in the backward (rl/learners/tiled_mlp.py): the MLP's
    (tokens x intermediate) activations never exist whole. Shorter forwards run as usual. None:
    never tiled. Not under FSDP."""

    gradient_checkpointing: bool = False
    """Recompute activations in the backward pass: less memory, about a third more compute. The
    attention kernels' outputs are kept, not recomputed (rl/learners/models.py)."""

    dtype: Literal["auto", "fast", "float32", "bfloat16"] = "auto"
    """Compute dtype. auto: bfloat16 autocast on a GPU, float32 on CPU; fast: bfloat16 autocast
    wherever the hardware has native bf16 (a GPU, or a CPU with AMX-BF16/AVX512-BF16: the update
    runs ~1.6x faster there), float32 elsewhere. Master weights and the optimizer state stay
    float32; the logprobs are computed in float32."""

    compute_entropy: bool = True
    """Log the mean token entropy of the policy (one extra softmax over the completion logits)."""

    @model_validator(mode="before")
    @classmethod
    def _moved_keys(cls, data: Any) -> Any:
        """`sharding` moved to the learner section, which also says how many ranks there are;
        `none` (what earlier runs' config.yaml files hold) is dropped."""
        if isinstance(data, dict) and "sharding" in data:
            data = dict(data)
            if data.pop("sharding") not in (None, "none"):
                raise ValueError(
                    "sharding moved to the learner section: set learner.parallel=fsdp (or ddp) "
                    "and learner.num_workers=N, one learner actor per GPU"
                )
        return data

    @model_validator(mode="after")
    def _resolve_defaults(self) -> TrainerConfig:
        if self.epsilon_high is None:
            self.epsilon_high = DAPO_EPSILON_HIGH if self.loss == "dapo" else self.epsilon
        if self.scale_advantages is None:
            self.scale_advantages = self.loss != "dr_grpo"
        if self.dynamic_sampling is None:
            self.dynamic_sampling = self.loss == "dapo"
        if self.dpo_weight is None:
            self.dpo_weight = 0.01 if self.loss == "longpo" else 1.0
        if self.nll_weight is None:
            self.nll_weight = 1.0 if self.loss == "longpo" else 0.0
        if self.kl_ratio_correction is None:
            self.kl_ratio_correction = self.kl_estimator == "k3"
        if self.recompute_old_logprobs is None:
            self.recompute_old_logprobs = self.ppo_epochs > 1 or self.mini_batch_size is not None
        return self

    @model_validator(mode="after")
    def _cross_checks(self) -> TrainerConfig:
        if self.epsilon_high < self.epsilon:
            raise ValueError(
                f"epsilon_high={self.epsilon_high} is below epsilon={self.epsilon}: "
                "raise epsilon_high (clip-higher) or lower epsilon"
            )
        if self.tis_cap is not None and self.tis_cap < 1:
            raise ValueError(
                f"tis_cap={self.tis_cap} would down-weight every on-policy token: set it >= 1 "
                "(e.g. 2.0) or None"
            )
        several_updates = self.ppo_epochs > 1 or self.mini_batch_size is not None
        if several_updates and self.loss in PREFERENCE_LOSSES:
            raise ValueError(
                f"ppo_epochs / mini_batch_size apply to the GRPO family, not loss={self.loss}: "
                "leave them unset"
            )
        if self.micro_batch_tokens is not None and self.loss in PREFERENCE_LOSSES:
            raise ValueError(
                f"micro_batch_tokens applies to the GRPO family and sft, not loss={self.loss} "
                "(pairs go whole): use micro_batch_size"
            )
        if several_updates and self.tis_cap is not None and not self.recompute_old_logprobs:
            raise ValueError(
                "tis_cap with several updates per batch needs the pre-update logprobs: set "
                "recompute_old_logprobs true (or leave it unset)"
            )
        if self.total_steps is not None and self.warmup_steps >= self.total_steps:
            raise ValueError(
                f"warmup_steps={self.warmup_steps} >= total_steps={self.total_steps}: "
                "lower warmup_steps or raise total_steps"
            )
        return self
