"""Per-token policy losses of the GRPO family (GRPO, Dr.GRPO, DAPO) with TRL's definitions.

For token t of completion i with advantage A_i, trainer logprob logp and rollout logprob q:

    ratio_t   = exp(logp_t - old_t)
    obj_t     = min(ratio_t * A_i, clip(ratio_t, 1 - epsilon, 1 + epsilon_high) * A_i)
    loss_t    = -obj_t * w_t + beta * kl_t (* ratio_t with kl_ratio_correction)
    kl_t      = exp(d_t) - d_t - 1, d_t = ref_t - logp_t                 (k3)
              = clamp(exp(d'_t) - d'_t - 1, -10, 10), d'_t = clamp(d_t, -20, 20)
                                                                       (verl's low_var_kl)

Where the "old" logprobs come from (the learner makes exactly one optimizer update per batch):
  - tis_cap None: old = q, the rollout engine's logprobs. The ratio then measures how far the
    trainer's distribution is from the one that sampled (stale weights, vLLM/HF numerics) and
    the clip bounds the update when they disagree. w_t = 1.
  - tis_cap set (TRL's `vllm_importance_sampling_correction` with `token_truncate`, verl's TIS):
    old = the trainer's own logprobs before the update. With one update per batch those equal
    the current logprobs, so old = logp.detach() costs no extra forward and the ratio is 1 in
    value while carrying the policy gradient; the mismatch is corrected by the detached weight
    w_t = min(exp(old_t - q_t), tis_cap).

  - old_logprobs given (PPO epochs / mini-batches, verl's recomputed old log-probs): old = those,
    the policy's logprobs before the batch's first update; w_t = min(exp(old_t - q_t), tis_cap)
    with tis_cap, else 1.

Aggregation over a whole batch of B sequences, |o_i| completion tokens each, N tokens in all
(TRL's `loss_type`):
  - grpo:    sum_i (sum_t loss_t / |o_i|) / B
  - dapo:    sum_{i,t} loss_t / N
  - dr_grpo: sum_{i,t} loss_t / (B * max_completion_length)
`token_weights` turns this into one weight per token computed from whole-batch totals, so summing
micro-batch losses gives exactly the full-batch loss, whatever the micro-batch split.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

LOSS_TYPES = ("grpo", "dr_grpo", "dapo")
KL_ESTIMATORS = ("k3", "low_var_kl")


@dataclass(frozen=True)
class BatchTotals:
    """Whole-batch counts that fix the loss normalisation across micro-batches."""

    num_sequences: int
    num_tokens: int
    max_completion_length: int


def token_weights(mask: torch.Tensor, loss_type: str, totals: BatchTotals) -> torch.Tensor:
    """(B, T) weight of each token's loss in the full-batch aggregate; 0 on padding."""
    mask = mask.float()
    if loss_type == "grpo":
        lengths = mask.sum(dim=1, keepdim=True).clamp(min=1.0)  # (B, 1)
        return mask / (lengths * totals.num_sequences)
    if loss_type == "dapo":
        return mask / max(totals.num_tokens, 1)
    if loss_type == "dr_grpo":
        return mask / (totals.num_sequences * totals.max_completion_length)
    raise ValueError(f"unknown loss type {loss_type!r}; choose one of {LOSS_TYPES}")


def kl_estimate(gap: torch.Tensor, estimator: str) -> torch.Tensor:
    """Per-token estimate of KL(policy || reference) from gap = ref_logp - logp of the sampled
    tokens, same shape."""
    if estimator == "k3":
        return torch.exp(gap) - gap - 1
    if estimator == "low_var_kl":
        gap = gap.clamp(min=-20, max=20)  # verl: for numerical stability
        return (torch.exp(gap) - gap - 1).clamp(min=-10, max=10)
    raise ValueError(f"unknown KL estimator {estimator!r}; choose one of {KL_ESTIMATORS}")


def policy_loss(
    logprobs: torch.Tensor,
    rollout_logprobs: torch.Tensor,
    advantages: torch.Tensor,
    mask: torch.Tensor,
    *,
    loss_type: str,
    totals: BatchTotals,
    epsilon: float,
    epsilon_high: float,
    beta: float = 0.0,
    ref_logprobs: torch.Tensor | None = None,
    kl_ratio_correction: bool = True,
    tis_cap: float | None = None,
    kl_estimator: str = "k3",
    old_logprobs: torch.Tensor | None = None,
) -> tuple[torch.Tensor, dict[str, float]]:
    """This micro-batch's share of the full-batch loss, and token sums for metrics.

    logprobs (B, T) carries the gradient; rollout_logprobs, ref_logprobs (B, T) and advantages
    (B,) are constants, as is old_logprobs (B, T) when given; mask (B, T) is 1 on completion
    tokens. The returned stats are sums over
    this micro-batch's tokens (`tokens` is their count) so the caller can average over the batch.
    """
    mask_bool = mask.bool()
    maskf = mask_bool.float()
    # Padding positions carry arbitrary logprobs: zero their log-ratios so exp() stays finite.
    rollout_gap = torch.where(mask_bool, logprobs.detach() - rollout_logprobs, 0.0)  # (B, T)
    if old_logprobs is not None:
        old_gap = torch.where(mask_bool, old_logprobs - rollout_logprobs, 0.0)
        tis_weight = (
            torch.ones_like(logprobs) if tis_cap is None else torch.exp(old_gap).clamp(max=tis_cap)
        )
    elif tis_cap is None:
        old_logprobs = rollout_logprobs
        tis_weight = torch.ones_like(logprobs)
    else:
        old_logprobs = logprobs.detach()
        tis_weight = torch.exp(rollout_gap).clamp(max=tis_cap)
    log_ratio = torch.where(mask_bool, logprobs - old_logprobs, 0.0)
    ratio = torch.exp(log_ratio)  # (B, T)
    adv = advantages.unsqueeze(1)  # (B, 1)
    clipped = torch.clamp(ratio, 1 - epsilon, 1 + epsilon_high)
    per_token_loss = -torch.min(ratio * adv, clipped * adv) * tis_weight

    kl = None
    if beta != 0.0:
        if ref_logprobs is None:
            raise ValueError("beta > 0 needs ref_logprobs from the frozen reference model")
        kl = kl_estimate(torch.where(mask_bool, ref_logprobs - logprobs, 0.0), kl_estimator)
        if kl_ratio_correction:
            kl = kl * ratio
        per_token_loss = per_token_loss + beta * kl

    loss = (per_token_loss * token_weights(mask_bool, loss_type, totals)).sum()

    with torch.no_grad():
        clip_low = (ratio < 1 - epsilon) & (adv < 0)
        clip_high = (ratio > 1 + epsilon_high) & (adv > 0)
        stats = {
            "tokens": maskf.sum().item(),
            "ratio": (ratio * maskf).sum().item(),
            "clip_low": (clip_low.float() * maskf).sum().item(),
            "clip_high": (clip_high.float() * maskf).sum().item(),
            "tis_weight": (tis_weight * maskf).sum().item(),
            "rollout_logprob_gap": (rollout_gap * maskf).sum().item(),
            "rollout_logprob_abs_gap": (rollout_gap.abs() * maskf).sum().item(),
        }
        if kl is not None:
            stats["kl"] = (kl * maskf).sum().item()
    return loss, stats
