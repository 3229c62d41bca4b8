"""The GRPO family's learner (GRPO, Dr.GRPO, DAPO): clipped policy-gradient updates on a batch.

One update per batch by default; `ppo_epochs` and `mini_batch_size` make several, as verl's
actor does, with the old logprobs recomputed by the policy before the first of them.

The driver wraps it as a Ray actor, e.g. `ray.remote(num_gpus=1, num_cpus=2)(GRPOLearner).remote(
model_path, trainer_config, total_steps, seed, max_completion_length, temperature)`.

A sample is `{prompt_token_ids, completion_token_ids, rollout_logprobs, advantage}`
(rl/learners/batching.py checks it). Each micro-batch's loss (rl/learners/policy_loss.py) is
weighted by whole-batch totals, so the sum over micro-batches is the full-batch loss. Logits are
divided by the rollout's sampling temperature, so the trainer's logprobs are those of the
distribution the engine sampled from.
"""

from __future__ import annotations

from typing import Any

import torch

from rl.learners.base import LearnerBase
from rl.learners.batching import check_sample, micro_batches, token_budget_batches
from rl.learners.config import TrainerConfig
from rl.learners.policy_loss import BatchTotals, policy_loss
from rl.learners.shared_prompt import prompt_micro_batches


class GRPOLearner(LearnerBase):
    """Policy, optional frozen reference (beta > 0), one GRPO-family update per `step`."""

    def __init__(
        self,
        model: str,
        config: TrainerConfig,
        total_steps: int,
        seed: int,
        max_completion_length: int,
        temperature: float = 1.0,
    ) -> None:
        """max_completion_length and temperature: the rollout's sampling max_tokens and
        temperature (Dr.GRPO's normalising constant; logits / temperature)."""
        if max_completion_length < 1 or temperature <= 0:
            raise ValueError(
                f"max_completion_length={max_completion_length} and temperature={temperature} "
                "must be positive: pass the rollout's sampling settings"
            )
        self.max_completion_length = max_completion_length
        self.temperature = temperature
        super().__init__(model, config, total_steps, seed)

    def needs_reference(self) -> bool:
        return self.config.beta > 0

    def check_batch(self, batch: list[dict[str, Any]]) -> BatchTotals:
        for index, sample in enumerate(batch):
            check_sample(index, sample, self.max_completion_length)
        return BatchTotals(
            num_sequences=len(batch),
            num_tokens=sum(len(s["completion_token_ids"]) for s in batch),
            max_completion_length=self.max_completion_length,
        )

    def prepare_batch(self, batch: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """With `recompute_old_logprobs`, each sample gains `old_logprobs`: the policy's own
        logprobs before this batch's first update (verl's actor `compute_log_prob`)."""
        if not self.config.recompute_old_logprobs:
            return batch
        for index, sample in enumerate(batch):
            check_sample(index, sample, self.max_completion_length)
        prepared = [dict(sample) for sample in batch]
        with torch.no_grad():
            for indices in self.micro_batches(prepared):
                rows = [prepared[i] for i in indices]
                logprobs, _ = self._forward(self.model, self._collate(rows), entropy=False)
                for row, sample in enumerate(rows):
                    width = len(sample["completion_token_ids"])
                    sample["old_logprobs"] = logprobs[row, :width].float().cpu().tolist()
        return prepared

    def update_plan(self, batch: list[dict[str, Any]]) -> list[list[dict[str, Any]]]:
        """`ppo_epochs` passes over the batch in mini-batches of `mini_batch_size`, in order."""
        size = self.config.mini_batch_size or len(batch)
        mini_batches = [batch[start : start + size] for start in range(0, len(batch), size)]
        return [mini for _ in range(self.config.ppo_epochs) for mini in mini_batches]

    def micro_batches(self, samples: list[dict[str, Any]]) -> list[list[int]]:
        if self.config.micro_batch_tokens is not None:
            return token_budget_batches(
                samples, self.config.micro_batch_tokens, shared_prompts=self.share_prompts
            )
        split = prompt_micro_batches if self.share_prompts else micro_batches
        return split(samples, self.config.micro_batch_size)

    def micro_loss(
        self, tensors: dict[str, torch.Tensor], totals: BatchTotals
    ) -> tuple[torch.Tensor, dict[str, float]]:
        config = self.config
        ref_logprobs = None
        if self.ref_model is not None:
            with torch.no_grad():
                ref_logprobs, _ = self._forward(self.ref_model, tensors, entropy=False)
        logprobs, entropies = self._forward(self.model, tensors, entropy=config.compute_entropy)
        loss, stats = policy_loss(
            logprobs,
            tensors["rollout_logprobs"],
            tensors["advantages"],
            tensors["completion_mask"],
            loss_type=config.loss,
            totals=totals,
            epsilon=config.epsilon,
            epsilon_high=config.epsilon_high,
            beta=config.beta,
            ref_logprobs=ref_logprobs,
            kl_ratio_correction=config.kl_ratio_correction,
            tis_cap=config.tis_cap,
            kl_estimator=config.kl_estimator,
            old_logprobs=tensors.get("old_logprobs"),
        )
        if entropies is not None:
            stats["entropy"] = (entropies * tensors["completion_mask"]).sum().item()
        return loss, stats
