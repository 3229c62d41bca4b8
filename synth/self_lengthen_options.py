"""Self-Lengthen's options: what one round may be told, the paper's constants as defaults.

synth/self_lengthen.py runs the round; every field is also a `data.options` key of a
self_lengthen run (rl/self_lengthen_config.py), checked here with extra="forbid".
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from synth.self_lengthen_prompts import STOP


class SelfLengthenConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True)

    seed_source: str = "builtin"
    """Seed instructions: `builtin` (16 English long-writing tasks) or a JSONL file whose rows
    hold an `instruction`, `prompt` or `query` field (never the evaluation set)."""
    grow_pool: bool = True
    """Draw the 2 examples from the growing pool (the Qwen variant), else from the seeds only."""
    max_tokens_values: tuple[int, ...] = (256, 512, 1024, 2048, 4096, 8192, 16384)
    """The max_tokens axis: each model call's budget, shortest first."""
    temperature: float = Field(0.7, ge=0)
    """Sampling temperature of every call (the paper: 0.7)."""
    top_p: float = Field(0.8, gt=0, le=1)
    """Nucleus mass (the paper: 0.8)."""
    top_k: int | None = Field(20, ge=1)
    """Top-k (the paper: 20)."""
    repetition_penalty: float = Field(1.1, gt=0)
    """Repetition penalty (the paper: 1.1)."""
    stop: list[str] = STOP
    """Strings that end a response (the paper's)."""
    instruction_max_tokens: int = Field(256, ge=8)
    """Most tokens of a self-instructed instruction."""
    min_instruction_words: int = Field(3, ge=0)
    """An instruction needs more words than this (the paper: 3)."""
    max_instruction_words: int = Field(500, ge=1)
    """And fewer than this (the paper: 500)."""
    judge: bool = True
    """Ask the base model whether each instruction suits a long text; keep only a yes."""
    instruction_attempts: int = Field(10, ge=1)
    """Self-instruct calls per wanted instruction at most (the paper: 10)."""
    responses_per_instruction: int = Field(2, ge=1)
    """Initial responses per instruction (the paper: 2)."""
    response_attempts: int = Field(4, ge=1)
    """Calls per initial response until one passes the quality filter (the paper: 20)."""
    extensions_per_response: int = Field(2, ge=1)
    """Extensions per initial response (the paper: 2)."""
    micro_rounds: int = Field(3, ge=1)
    """Expand-then-continue micro-rounds per extension attempt (the paper: 3)."""
    extension_attempts: int = Field(3, ge=1)
    """Extension attempts per response until one is long enough (the paper: 20)."""
    growth: float = Field(1.2, ge=1)
    """An extension must have more than this many times the initial words (the paper: 1.2)."""
    line_drop_rate: float = Field(0.2, ge=0, lt=1)
    """Each line of the extender's training input (the initial response) is dropped with this
    probability (the paper: 0.2)."""
    trim_truncated: bool = False
    """A text that fails only for its unfinished last sentence is cut after its last complete
    one (when that keeps at least half of its words) instead of being dropped: for budgets far
    below the paper's 16K tokens, where the longest answers are the ones cut."""
    length_sampling: bool = True
    """Length-biased sampling of the initial and the extended pools (keep iff U > 2 rank^3)."""
    system_prompt: str | None = None
    """An optional system message before every prompt."""

    def model_post_init(self, _: Any) -> None:
        if self.min_instruction_words >= self.max_instruction_words:
            raise ValueError(
                f"min_instruction_words={self.min_instruction_words} >= max_instruction_words="
                f"{self.max_instruction_words}: no instruction could pass; raise the maximum"
            )


class SelfLengthenLevel(BaseModel):
    """One point on self_lengthen's axis."""

    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True)

    max_tokens: int = Field(ge=16)
    """Most tokens per model call (an extended text joins two calls, so it can be longer)."""
