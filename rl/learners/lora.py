"""LoRAConfig: the adapter the SFT learner trains (rl/learners/sft.py). Pydantic only, so configs
that name it load without torch or peft."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class LoRAConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    rank: int = Field(default=8, ge=1)
    """Rank r of each adapter (LLaMA-Factory's default 8, which Self-Lengthen keeps)."""
    alpha: float = Field(default=16.0, gt=0)
    """Scale numerator: the update is B A * alpha / r (LLaMA-Factory: 2 x rank)."""
    dropout: float = Field(default=0.0, ge=0, lt=1)
    """Dropout on the adapter's input (0 keeps logprobs deterministic)."""
    target_modules: str | list[str] = "all-linear"
    """peft's target_modules: every linear layer but the head, or a list of module names."""
