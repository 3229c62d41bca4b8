"""Group-relative advantages for the GRPO family, and the zero-variance mask of dynamic sampling.

Rewards arrive shaped (num_groups, completions_per_prompt): one row per prompt, one column per
sampled completion. Every completion of a group shares its prompt, so the group mean is the
baseline. Definitions follow TRL's GRPOTrainer:
  - scaled (GRPO, DAPO): (r - mean) / (std + 1e-4), std with Bessel's correction;
  - unscaled (Dr.GRPO): r - mean.
A group whose rewards are all equal has zero advantage everywhere and gives no gradient; DAPO's
dynamic sampling drops such groups and the driver refills the batch with fresh ones.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

STD_EPS = 1e-4  # TRL's constant: keeps near-constant groups from blowing up


def _as_rewards(rewards: Sequence[Sequence[float]] | torch.Tensor) -> torch.Tensor:
    tensor = torch.as_tensor(rewards, dtype=torch.float32)
    if tensor.dim() != 2 or tensor.shape[1] < 2:
        raise ValueError(
            f"rewards must be shaped (num_groups, completions_per_prompt >= 2), got "
            f"{tuple(tensor.shape)}: sample at least two completions per prompt"
        )
    if not torch.isfinite(tensor).all():
        raise ValueError("rewards hold NaN or inf: fix the reward function that produced them")
    return tensor


def group_advantages(
    rewards: Sequence[Sequence[float]] | torch.Tensor, scale: bool
) -> torch.Tensor:
    """Advantages shaped like `rewards` (num_groups, G): group-centred, std-scaled if `scale`."""
    rewards = _as_rewards(rewards)  # (num_groups, G)
    centred = rewards - rewards.mean(dim=1, keepdim=True)
    if not scale:
        return centred
    return centred / (rewards.std(dim=1, keepdim=True) + STD_EPS)


def informative_groups(rewards: Sequence[Sequence[float]] | torch.Tensor) -> torch.Tensor:
    """Bool (num_groups,): True where a group's rewards are not all equal (it carries gradient)."""
    rewards = _as_rewards(rewards)
    return (rewards != rewards[:, :1]).any(dim=1)


def advantages_for(
    rewards: Sequence[Sequence[float]] | torch.Tensor, scale: bool, dynamic_sampling: bool
) -> tuple[torch.Tensor, torch.Tensor]:
    """(advantages (num_groups, G), keep (num_groups,) bool) as the driver uses them.

    With `dynamic_sampling` the keep mask drops zero-variance groups; otherwise every group is
    kept (their zero advantages still count in the loss normalisers, as in TRL).
    """
    advantages = group_advantages(rewards, scale)
    if dynamic_sampling:
        keep = informative_groups(rewards)
    else:
        keep = torch.ones(advantages.shape[0], dtype=torch.bool)
    return advantages, keep
