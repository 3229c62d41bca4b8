"""Learning-rate schedule: linear warmup from 0, then constant, cosine or linear decay to 0.

`lr_factor(step)` is the multiplier of the peak learning rate for the update made at `step`
(0-based), which is what torch's LambdaLR expects.
"""

from __future__ import annotations

import math


def lr_factor(step: int, schedule: str, warmup_steps: int, total_steps: int) -> float:
    """Multiplier in [0, 1] of the peak learning rate for optimizer step `step`."""
    if warmup_steps > 0 and step < warmup_steps:
        return (step + 1) / (
            warmup_steps + 1
        )  # never 0: the first update already moves the weights
    if schedule == "constant":
        return 1.0
    decay_steps = max(total_steps - warmup_steps, 1)
    progress = min((step - warmup_steps) / decay_steps, 1.0)
    if schedule == "cosine":
        return 0.5 * (1.0 + math.cos(math.pi * progress))
    if schedule == "linear":
        return 1.0 - progress
    raise ValueError(f"unknown lr_schedule {schedule!r}; choose constant, cosine or linear")


def build_scheduler(optimizer, schedule: str, warmup_steps: int, total_steps: int):
    """A torch LambdaLR applying `lr_factor`; picklable state via its state_dict()."""
    from functools import partial

    from torch.optim.lr_scheduler import LambdaLR

    factor = partial(
        lr_factor, schedule=schedule, warmup_steps=warmup_steps, total_steps=total_steps
    )
    return LambdaLR(optimizer, lr_lambda=factor)
