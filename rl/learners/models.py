"""Loading a learner's models: the trainable policy and the frozen reference.

The policy is float32 (master weights; autocast gives bfloat16 compute where asked), its config
optionally overridden (`trainer.policy_overrides`, e.g. LongPO's RoPE theta), dropout off so the
pre-update logprobs equal the ones that carry the gradient, the KV cache off for training, and
gradient checkpointing non-reentrant. The reference is the starting policy as published (no
overrides), frozen, in the compute dtype.
"""

from __future__ import annotations

from typing import Any

import torch

from rl.learners.shared_prompt import allow_cache_under_checkpointing


def disable_dropout(model: torch.nn.Module) -> None:
    """Dropout off: the pre-update logprobs must equal the ones that carry the gradient."""
    for module in model.modules():
        if isinstance(module, torch.nn.Dropout):
            module.p = 0.0
        if isinstance(getattr(module, "attention_dropout", None), float):
            module.attention_dropout = 0.0


def overridden_config(model: str, overrides: dict[str, Any]) -> Any:
    """The model's config with `overrides` set; a dict value merges into a dict field."""
    from transformers import AutoConfig

    config = AutoConfig.from_pretrained(model)
    for key, value in overrides.items():
        current = getattr(config, key, None)
        merged = (
            {**current, **value} if isinstance(current, dict) and isinstance(value, dict) else value
        )
        setattr(config, key, merged)
    return config


# The fused attention kernels scaled_dot_product_attention dispatches to (CPU, CUDA).
ATTENTION_OPS = {
    torch.ops.aten._scaled_dot_product_flash_attention_for_cpu.default,
    torch.ops.aten._scaled_dot_product_flash_attention.default,
    torch.ops.aten._scaled_dot_product_efficient_attention.default,
    torch.ops.aten._scaled_dot_product_cudnn_attention.default,
}


def _save_attention(ctx: Any, op: Any, *args: Any, **kwargs: Any) -> Any:
    from torch.utils.checkpoint import CheckpointPolicy

    return CheckpointPolicy.MUST_SAVE if op in ATTENTION_OPS else CheckpointPolicy.PREFER_RECOMPUTE


def attention_saving_contexts() -> Any:
    """Selective checkpointing: a layer's replay recomputes everything but the attention kernel,
    whose outputs (and log-sum-exp) the first forward kept. The kernel is the quadratic part: at
    8K tokens it is about half of a layer's forward on CPU, while its output is only the size of
    the layer's input (B x T x H), which checkpointing keeps anyway."""
    from torch.utils.checkpoint import create_selective_checkpoint_contexts

    return create_selective_checkpoint_contexts(_save_attention)


def load_policy(model: str, overrides: dict[str, Any], checkpointing: bool, shared_prompts: bool):
    """The trainable policy on CPU: float32, dropout and KV cache off, checkpointing if asked
    (attention outputs kept; the shared-prompt caches kept under it:
    rl/learners/shared_prompt.py)."""
    from transformers import AutoModelForCausalLM

    config = overridden_config(model, overrides)
    policy = AutoModelForCausalLM.from_pretrained(model, config=config, dtype=torch.float32)
    policy.config.use_cache = False
    disable_dropout(policy)
    if checkpointing:
        policy.gradient_checkpointing_enable(
            gradient_checkpointing_kwargs={
                "use_reentrant": False,
                "context_fn": attention_saving_contexts,
            }
        )
        if shared_prompts:  # the shared-prompt caches survive a replay
            allow_cache_under_checkpointing(policy)
    return policy


def load_reference(model: str, bf16: bool) -> torch.nn.Module:
    """A frozen copy of the starting model on CPU, in the compute dtype."""
    from transformers import AutoModelForCausalLM

    reference = AutoModelForCausalLM.from_pretrained(
        model, dtype=torch.bfloat16 if bf16 else torch.float32
    )
    reference.config.use_cache = False
    return reference.requires_grad_(False).eval()
