"""The learners: one per objective, all with the same interface, so the driver never asks which.

A learner owns the policy (and whatever frozen model its objective needs), AdamW and its LR
schedule, and makes exactly one optimizer update per `step`. The driver starts it as a Ray
actor and talks to it only through these methods:

    step(batch: list[dict]) -> dict[str, float]   one update on every sample of `batch`
    weights(dtype=None) -> dict[str, Tensor]      CPU tensors under Hugging Face names
    packed_weights(dtype=None) -> dict            the same, packed for Ray's object store
    logprobs(prompt_ids, completion_ids)          the policy's per-token logprobs (checks, eval)
    save(path) / load(path)                       an HF policy directory + the trainer state
    state_dict() / load_state_dict(state)

What a sample holds is the objective's business (rl/learners/grpo.py documents GRPO's).
Shared machinery lives in rl/learners/base.py (micro-batched accumulation, the shared-prompt
layout, the chunked vocabulary head, FSDP, checkpoints, weight publishing); each objective is
one module with a `LearnerBase` subclass and one line in LEARNERS.

| module | idea |
|---|---|
| base.py | `LearnerBase`: start-up steps, forward, accumulate, clip, step; weights; state |
| grpo.py | `GRPOLearner`: GRPO / Dr.GRPO / DAPO updates from rollouts and advantages |
| dpo.py | `DPOLearner`: sigmoid DPO and LongPO (short-prompt reference, NLL) on preference pairs |
| sft.py | `SFTLearner`: NLL on response tokens, full fine-tuning or LoRA (peft), merged weights out |
| config.py | `TrainerConfig` (pydantic only): loss family, optimiser, schedule, precision |
| advantages.py | group-relative advantages; the zero-variance mask of dynamic sampling |
| policy_loss.py | the per-token clipped policy loss and its whole-batch token weights |
| batching.py | sample checks, micro-batch grouping, padding into tensors |
| shared_prompt.py | each distinct prompt once, its completions on the prompt's KV cache |
| vocab_head.py | the vocabulary head a chunk of tokens at a time |
| tiled_mlp.py | a long forward's MLPs a tile of tokens at a time |
| lr_schedule.py | warmup then constant / cosine / linear |
| models.py | loading the policy (float32, overrides, checkpointing) and the frozen reference |
| checkpoint.py | atomic learner checkpoint directories |
| sharding.py | FSDP2 (tested on CPU ranks over gloo) |
"""

from __future__ import annotations

import importlib
from typing import Any

# objective -> "module:Class". Imported on first use: the config (rl.learners.config) must load
# without torch, so `--help` and validation stay fast.
LEARNERS: dict[str, str] = {
    "grpo": "rl.learners.grpo:GRPOLearner",
    "dpo": "rl.learners.dpo:DPOLearner",
    "sft": "rl.learners.sft:SFTLearner",
}
# trainer.loss -> the objective that optimises it
OBJECTIVES = {"grpo": "grpo", "dr_grpo": "grpo", "dapo": "grpo", "dpo": "dpo", "longpo": "dpo",
              "sft": "sft"}  # fmt: skip


def learner_class(objective: str) -> type:
    """The learner class registered for `objective` (or for a trainer.loss name)."""
    objective = OBJECTIVES.get(objective, objective)
    if objective not in LEARNERS:
        raise ValueError(f"unknown objective {objective!r}; registered: {sorted(LEARNERS)}")
    module, name = LEARNERS[objective].split(":")
    return getattr(importlib.import_module(module), name)


def __getattr__(name: str) -> Any:
    if name == "GRPOLearner":
        return learner_class("grpo")
    if name == "DPOLearner":
        return learner_class("dpo")
    if name == "SFTLearner":
        return learner_class("sft")
    if name == "LearnerBase":
        from rl.learners.base import LearnerBase

        return LearnerBase
    raise AttributeError(f"module 'rl.learners' has no attribute {name!r}")


__all__ = [
    "LEARNERS",
    "OBJECTIVES",
    "DPOLearner",
    "GRPOLearner",
    "LearnerBase",
    "SFTLearner",
    "learner_class",
]
