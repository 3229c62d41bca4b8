"""The supervised learner: next-token NLL on response tokens only, full fine-tuning or LoRA.

A sample is one prompt and its target (rl/sft_batches.py builds them from records):
    {"prompt_token_ids": [...],       the chat prompt up to the assistant header
     "completion_token_ids": [...],   the response and its end-of-turn tokens
     "loss_mask": [...]}              optional: 1 where the loss counts (default: every token)
loss = -sum(logprob of counted response tokens) / counted tokens of the whole batch (TRL's
SFTTrainer with completion_only_loss, which normalises by the batch's items the same way), so
the micro-batch split never changes it. The prompt's tokens are context and never a target.

LoRA (peft; `lora=` a LoRAConfig or its dict): the policy is the base model with an adapter on
every linear layer but the vocabulary head (peft's `all-linear`), only the adapter trains.
`adapter=` resumes from a saved adapter (Self-Lengthen: round i resumes round i-1's, on the
ORIGINAL base model). What leaves the learner is always a plain model: `weights()` merges the
adapter (W + B A * alpha / r), so the rollout workers and checkpoints need no peft;
`save_adapter(path)` writes the adapter alone (peft's format). `restart_schedule` gives a new
AdamW and LR schedule for the next round's data (each Self-Lengthen round is its own SFT run).
"""

from __future__ import annotations

import random
from typing import Any

import torch

from rl.learners.base import LearnerBase
from rl.learners.batching import micro_batches, token_budget_batches
from rl.learners.lora import LoRAConfig


def check_sft_sample(index: int, sample: dict[str, Any]) -> int:
    """Raise one ValueError naming a malformed sample; return its counted tokens."""
    for key in ("prompt_token_ids", "completion_token_ids"):
        if not sample.get(key):
            raise ValueError(f"sft sample {index} has no {key}: drop it when building the batch")
    mask = sample.get("loss_mask")
    if mask is None:
        return len(sample["completion_token_ids"])
    if len(mask) != len(sample["completion_token_ids"]) or not any(mask):
        raise ValueError(
            f"sft sample {index}: loss_mask must mark completion tokens ({len(mask)} flags for "
            f"{len(sample['completion_token_ids'])} tokens, {sum(mask)} set)"
        )
    return int(sum(mask))


class SFTLearner(LearnerBase):
    """Policy (optionally with a LoRA adapter), one NLL update per step."""

    def __init__(
        self,
        model: str,
        config: Any,
        total_steps: int,
        seed: int,
        lora: LoRAConfig | dict | None = None,
        adapter: str | None = None,
    ) -> None:
        self.lora = LoRAConfig.model_validate(lora) if isinstance(lora, dict) else lora
        if adapter and self.lora is None:
            raise ValueError("adapter= resumes a LoRA adapter: pass lora= as well")
        self.adapter = adapter
        super().__init__(model, config, total_steps, seed)

    def _load_policy(self, model: str) -> torch.nn.Module:
        policy = super()._load_policy(model)
        self.share_prompts = False  # one response per prompt: nothing to share
        if self.lora is None:
            return policy
        if self.parallel == "fsdp":
            raise ValueError("LoRA with learner.parallel=fsdp is not supported: use ddp")
        from peft import LoraConfig, PeftModel, get_peft_model

        if self.adapter:
            policy = PeftModel.from_pretrained(policy, self.adapter, is_trainable=True)
        else:
            lora = self.lora
            policy = get_peft_model(
                policy,
                LoraConfig(r=lora.rank, lora_alpha=lora.alpha, lora_dropout=lora.dropout,
                           target_modules=lora.target_modules, task_type="CAUSAL_LM"),
            )  # fmt: skip
        policy.to(self.device).train()
        return policy

    def restart_schedule(self, total_steps: int, warmup_steps: int) -> None:
        """A fresh AdamW and LR schedule over `total_steps` (the next round's SFT run)."""
        self.config = self.config.model_copy(
            update={"total_steps": total_steps, "warmup_steps": warmup_steps}
        )
        self.total_steps = self._schedule_length(total_steps)
        self.optimizer, self.scheduler = self._build_optimizer()
        self.optimizer.zero_grad(set_to_none=True)

    # ------------------------------------------------------------ the objective hooks
    def check_batch(self, batch: list[dict[str, Any]]) -> dict[str, float]:
        tokens = sum(check_sft_sample(index, sample) for index, sample in enumerate(batch))
        return {"tokens": float(tokens)}

    def micro_batches(self, samples: list[dict[str, Any]]) -> list[list[int]]:
        if self.config.micro_batch_tokens is not None:
            return token_budget_batches(samples, self.config.micro_batch_tokens)
        return micro_batches(samples, self.config.micro_batch_size)

    def micro_loss(
        self, tensors: dict[str, torch.Tensor], totals: dict[str, float]
    ) -> tuple[torch.Tensor, dict[str, float]]:
        logprobs, _ = self._forward(self.model, tensors, entropy=False)  # (B, C)
        mask = tensors["loss_mask"].to(logprobs.dtype)
        nll = -(logprobs * mask).sum()
        stats = {"tokens": float(mask.sum().item()), "nll": nll.item()}
        return nll / totals["tokens"], stats

    # ------------------------------------------------------------ weights and state
    def _merged(self) -> dict[str, torch.Tensor]:
        """The policy under Hugging Face names with each adapter folded into its base weight."""
        from peft.tuners.lora import LoraLayer

        base = self.model.get_base_model()
        name = self.model.active_adapter
        state = dict(base.named_parameters())
        state.update(base.named_buffers())
        merged = {}
        for key in self.weight_names:
            if key in state:
                merged[key] = state[key].detach()
                continue
            path, _, leaf = key.rpartition(".")
            module = base.get_submodule(path)
            value = getattr(module.base_layer, leaf).detach()
            if isinstance(module, LoraLayer) and leaf == "weight" and name in module.lora_A:
                value = value + module.get_delta_weight(name).detach().to(value.dtype)
            merged[key] = value
        return merged

    def weights(self, dtype: str | None = None, copy: bool = True) -> dict[str, torch.Tensor]:
        if self.lora is None:
            return super().weights(dtype, copy)
        if self.rank != 0:  # DDP ranks hold the same adapter; rank 0 answers
            return {}
        cast = getattr(torch, dtype) if dtype else None
        with torch.no_grad():
            return {k: v.to("cpu", dtype=cast, copy=copy) for k, v in self._merged().items()}

    def adapter_state(self) -> dict[str, torch.Tensor]:
        from peft import get_peft_model_state_dict

        return {k: v.detach().cpu().clone() for k, v in get_peft_model_state_dict(self.model).items()}  # fmt: skip

    def save_adapter(self, path: str) -> None:
        """The adapter alone, in peft's format (adapter_config.json, adapter_model.safetensors)."""
        if self.lora is None:
            raise ValueError("save_adapter: this learner trains the full model (no lora=)")
        if self.rank == 0:
            self.model.save_pretrained(path)

    def state_dict(self) -> dict[str, Any]:
        state = super().state_dict()  # "model": merged weights (the HF directory a save writes)
        if self.lora is not None:
            state["adapter"] = self.adapter_state()
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if self.lora is None:
            return super().load_state_dict(state)
        from peft import set_peft_model_state_dict

        if "adapter" not in state:
            raise ValueError("checkpoint has no LoRA adapter: it was written without lora=")
        set_peft_model_state_dict(self.model, state["adapter"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        self.steps_done = int(state["steps_done"])
        random.setstate(state["rng"]["python"])
        torch.set_rng_state(state["rng"]["torch"])
        return None
