"""The learner: the policy, an optional frozen reference, AdamW and the LR schedule, one update per batch.

The driver wraps it as a Ray actor, e.g. `ray.remote(num_gpus=1, num_cpus=2)(Learner).remote(
model_path, trainer_config, total_steps, seed, max_completion_length, temperature)`. Arguments are
picklable and everything returned is plain Python or CPU tensors.

One `step(batch)`: validate the samples (rl/learners/batching.py), split them into micro-batches, and for
each run the forward pass, the loss (rl/learners/policy_loss.py, weighted by whole-batch totals so the sum over
micro-batches is the full-batch loss) and backward; then clip the gradient norm, step AdamW and the
schedule. A step whose gradient norm is not finite is skipped and reported (`skipped` = 1).
By default a micro-batch runs each distinct prompt once and its completions on the prompt's KV
cache (rl/learners/shared_prompt.py), and long micro-batches go through the vocabulary head in chunks (rl/learners/vocab_head.py).

Precision: master weights and optimizer state are float32; on a GPU (dtype auto) the forward runs
under bfloat16 autocast and the logprobs are computed in float32. The frozen reference is held
in the compute dtype. `sharding="fsdp"` (rl/learners/sharding.py) uses torch's FSDP2 API; it is tested on
two CPU ranks over gloo only, never on GPUs (this project's machines have none).

Weights (`weights()`) use Hugging Face parameter names, as vLLM's `load_weights` expects. Tied
embeddings (SmolLM2) appear once, as `model.embed_tokens.weight`; `lm_head.weight` is not emitted,
exactly as in the saved safetensors checkpoint.
"""

from __future__ import annotations

import logging
import math
import random
import time
from collections import defaultdict
from contextlib import nullcontext
from pathlib import Path
from typing import Any

import torch

from rl.learners import checkpoint, sharding
from rl.learners.batching import check_sample, collate, micro_batches
from rl.learners.config import TrainerConfig
from rl.learners.lr_schedule import build_scheduler
from rl.learners.policy_loss import BatchTotals, policy_loss
from rl.learners.shared_prompt import collate_shared, prompt_micro_batches, shared_prompt_outputs
from rl.learners.vocab_head import head_logprobs, plain_head, token_logprobs

log = logging.getLogger(__name__)

STAT_KEYS = (
    "ratio",
    "clip_low",
    "clip_high",
    "tis_weight",
    "rollout_logprob_gap",
    "rollout_logprob_abs_gap",
    "kl",
    "entropy",
)


def _to_cpu(value: Any) -> Any:
    """CPU tensors, without a copy of those already there: a checkpoint of the 135M model's
    optimizer would otherwise hold another 1 GB while it is written."""
    if isinstance(value, torch.Tensor):
        return value.detach().to("cpu")
    if isinstance(value, dict):
        return {key: _to_cpu(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(_to_cpu(item) for item in value)
    return value


def _disable_dropout(model: torch.nn.Module) -> None:
    """Dropout off: the pre-update logprobs must equal the ones that carry the gradient."""
    for module in model.modules():
        if isinstance(module, torch.nn.Dropout):
            module.p = 0.0
        if isinstance(getattr(module, "attention_dropout", None), float):
            module.attention_dropout = 0.0


class Learner:
    def __init__(
        self,
        model: str,
        config: TrainerConfig,
        total_steps: int,
        seed: int,
        max_completion_length: int,
        temperature: float = 1.0,
    ) -> None:
        """model: a resolved path or Hub id (models.resolve_model); total_steps: the run's
        steps (config.total_steps overrides it); max_completion_length and temperature: the
        rollout's sampling max_tokens and temperature (Dr.GRPO's constant; logits / temperature)."""
        from transformers import AutoModelForCausalLM, AutoTokenizer

        if max_completion_length < 1 or temperature <= 0:
            raise ValueError(
                f"max_completion_length={max_completion_length} and temperature={temperature} "
                "must be positive: pass the rollout's sampling settings"
            )
        self.config = config
        self.max_completion_length = max_completion_length
        self.temperature = temperature
        self.total_steps = config.total_steps or total_steps
        if config.warmup_steps >= self.total_steps:
            raise ValueError(
                f"warmup_steps={config.warmup_steps} >= total_steps={self.total_steps}: lower "
                "trainer.warmup_steps or run more steps"
            )
        self.steps_done = 0
        random.seed(seed)
        torch.manual_seed(seed)

        self.rank, self.world_size = 0, 1
        if config.sharding == "fsdp":
            self.rank, self.world_size = sharding.init_process_group()
        on_gpu = torch.cuda.is_available()
        self.device = (
            torch.device("cuda", torch.cuda.current_device()) if on_gpu else torch.device("cpu")
        )
        self.bf16 = config.dtype == "bfloat16" or (config.dtype == "auto" and on_gpu)

        self.tokenizer = AutoTokenizer.from_pretrained(model)
        pad = self.tokenizer.pad_token_id
        self.pad_token_id = pad if pad is not None else self.tokenizer.eos_token_id

        self.model = AutoModelForCausalLM.from_pretrained(model, dtype=torch.float32)
        self.model.config.use_cache = False
        # Hugging Face models drop the KV cache under gradient checkpointing; rl/learners/shared_prompt.py needs it.
        self.share_prompts = config.share_prompts and not config.gradient_checkpointing
        _disable_dropout(self.model)
        if config.gradient_checkpointing:
            self.model.gradient_checkpointing_enable(
                gradient_checkpointing_kwargs={"use_reentrant": False}
            )
        # Names vLLM loads: parameters (tied ones once) and persistent buffers, before any wrapping.
        persistent = set(self.model.state_dict())
        self.weight_names = [name for name, _ in self.model.named_parameters()]
        self.weight_names += [name for name, _ in self.model.named_buffers() if name in persistent]
        if config.sharding == "none":  # fully_shard moves (and shards) layer by layer itself
            self.model.to(self.device)
        # rl/learners/vocab_head.py needs the head called apart from the decoder: not under FSDP (the root's
        # hooks gather it), and only where the logits are exactly lm_head(hidden states).
        self.logit_chunk_tokens = config.logit_chunk_tokens
        if self.logit_chunk_tokens and (config.sharding != "none" or not plain_head(self.model)):
            log.info("learner: full logits (the vocabulary head cannot be applied in chunks)")
            self.logit_chunk_tokens = None
        self.model.train()

        self.ref_model = None
        if config.beta > 0:
            ref_dtype = torch.bfloat16 if self.bf16 else torch.float32
            self.ref_model = AutoModelForCausalLM.from_pretrained(model, dtype=ref_dtype)
            self.ref_model.config.use_cache = False
            self.ref_model.requires_grad_(False).eval()
            if config.sharding == "none":
                self.ref_model.to(self.device)

        if config.sharding == "fsdp":
            sharding.shard_model(self.model, self.bf16)
            if self.ref_model is not None:
                sharding.shard_model(self.ref_model, self.bf16)

        self.optimizer = torch.optim.AdamW(
            self.model.parameters(),
            lr=config.lr,
            betas=config.adam_betas,
            weight_decay=config.weight_decay,
            # One kernel per parameter instead of foreach's temporaries: 5x faster on CPU for
            # the 135M model (0.3 vs 1.75 s) and no param-sized scratch. FSDP's DTensors keep
            # the default implementation.
            fused=config.sharding == "none" or None,
        )
        self.scheduler = build_scheduler(
            self.optimizer, config.lr_schedule, config.warmup_steps, self.total_steps
        )
        log.info(
            "learner: %s on %s, loss %s, %s, %d params",
            model,
            self.device,
            config.loss,
            "bf16 autocast" if self.bf16 else "fp32",
            sum(p.numel() for p in self.model.parameters()),
        )

    # ------------------------------------------------------------------ forward
    def _autocast(self):
        # FSDP's mixed-precision policy already casts the parameters; autocast is for plain models.
        if self.bf16 and self.config.sharding == "none":
            return torch.autocast(device_type=self.device.type, dtype=torch.bfloat16)
        return nullcontext()

    def _forward(
        self, model: torch.nn.Module, tensors: dict[str, torch.Tensor], entropy: bool
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Per-token logprobs (B, C) of the completion tokens, and their entropies if asked."""
        targets = tensors["completion_ids"]  # (B, C)
        width = targets.shape[1]
        chunked = self.logit_chunk_tokens is not None
        with self._autocast():
            if "prompt_ids" in tensors:  # rl/learners/shared_prompt.py's layout: each prompt once
                states = shared_prompt_outputs(model, tensors, hidden=chunked)
            else:
                # Decoder hidden states for rl/learners/vocab_head.py, else the logits of the last width + 1.
                body = model.get_decoder() if chunked else model
                output = body(
                    input_ids=tensors["input_ids"],
                    attention_mask=tensors["attention_mask"],
                    position_ids=tensors["position_ids"],
                    use_cache=False,
                    **({} if chunked else {"logits_to_keep": width + 1}),
                )
                states = output.last_hidden_state if chunked else output.logits
                states = states[:, -width - 1 : -1, :]  # position P-1+t predicts token t
            if chunked:  # rl/learners/vocab_head.py: the vocabulary head a chunk of tokens at a time
                return head_logprobs(
                    model.get_output_embeddings(),
                    states,
                    targets,
                    self.temperature,
                    entropy,
                    self.logit_chunk_tokens,
                )
        return token_logprobs(states, targets, self.temperature, entropy)

    def _collate(self, samples: list[dict[str, Any]]) -> dict[str, torch.Tensor]:
        tensors = (collate_shared if self.share_prompts else collate)(samples, self.pad_token_id)
        return {key: value.to(self.device) for key, value in tensors.items()}

    @torch.no_grad()
    def logprobs(self, prompt_ids: list[int], completion_ids: list[int]) -> list[float]:
        """The policy's logprob of each completion token after the prompt (a test helper)."""
        sample = {
            "prompt_token_ids": prompt_ids,
            "completion_token_ids": completion_ids,
            "rollout_logprobs": [0.0] * len(completion_ids),
            "advantage": 0.0,
        }
        values, _ = self._forward(self.model, self._collate([sample]), entropy=False)
        return values[0, : len(completion_ids)].cpu().tolist()

    # ------------------------------------------------------------------ step
    def step(self, batch: list[dict[str, Any]]) -> dict[str, float]:
        """One optimizer update on `batch` (every sample of it, whatever the micro-batching)."""
        started = time.perf_counter()
        sums = self.accumulate(batch)
        params = [p for p in self.model.parameters() if p.grad is not None]
        max_norm = self.config.max_grad_norm or math.inf
        grad_norm = torch.nn.utils.clip_grad_norm_(params, max_norm)
        if hasattr(grad_norm, "full_tensor"):  # a DTensor under FSDP
            grad_norm = grad_norm.full_tensor()
        grad_norm = float(grad_norm)
        lr = self.scheduler.get_last_lr()[0]
        skipped = not math.isfinite(grad_norm)
        if skipped:
            log.warning("step %d: gradient norm %s, update skipped", self.steps_done, grad_norm)
        else:
            self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)
        self.scheduler.step()
        self.steps_done += 1

        tokens = max(sums["tokens"], 1.0)
        metrics = {
            "loss": sums["loss"],
            "grad_norm": grad_norm,
            "lr": lr,
            "skipped": float(skipped),
            "sequences": float(len(batch)),
            "tokens": sums["tokens"],
            "micro_batches": sums["micro_batches"],
            "step_seconds": time.perf_counter() - started,
        }
        for key in STAT_KEYS:
            if key in sums:
                metrics[f"{key}_mean"] = sums[key] / tokens
        return metrics

    def accumulate(self, batch: list[dict[str, Any]]) -> dict[str, float]:
        """Forward and backward over every micro-batch of `batch`, leaving the full-batch
        gradient in `.grad`; returns metric totals (summed over tokens and ranks)."""
        if not batch:
            raise ValueError("learner.step got an empty batch: the driver must send samples")
        for index, sample in enumerate(batch):
            check_sample(index, sample, self.max_completion_length)
        if len(batch) % self.world_size:
            raise ValueError(
                f"batch of {len(batch)} does not split over {self.world_size} learner ranks: "
                "make the batch size a multiple of the number of learner GPUs"
            )
        totals = BatchTotals(
            num_sequences=len(batch),
            num_tokens=sum(len(s["completion_token_ids"]) for s in batch),
            max_completion_length=self.max_completion_length,
        )
        local = batch[self.rank :: self.world_size]
        split = prompt_micro_batches if self.share_prompts else micro_batches
        groups = split(local, self.config.micro_batch_size)
        sums: dict[str, float] = defaultdict(float)
        for group_index, indices in enumerate(groups):
            loss, stats = self._micro_step(
                [local[i] for i in indices], totals, is_last=group_index == len(groups) - 1
            )
            sums["loss"] += loss
            sums["micro_batches"] += 1
            for key, value in stats.items():
                sums[key] += value
        return self._reduce(sums)

    def _micro_step(
        self, samples: list[dict[str, Any]], totals: BatchTotals, is_last: bool
    ) -> tuple[float, dict[str, float]]:
        tensors = self._collate(samples)
        ref_logprobs = None
        if self.ref_model is not None:
            with torch.no_grad():
                ref_logprobs, _ = self._forward(self.ref_model, tensors, entropy=False)
        if self.config.sharding == "fsdp":
            self.model.set_requires_gradient_sync(is_last)  # reduce-scatter once per step
        logprobs, entropies = self._forward(
            self.model, tensors, entropy=self.config.compute_entropy
        )
        loss, stats = policy_loss(
            logprobs,
            tensors["rollout_logprobs"],
            tensors["advantages"],
            tensors["completion_mask"],
            loss_type=self.config.loss,
            totals=totals,
            epsilon=self.config.epsilon,
            epsilon_high=self.config.epsilon_high,
            beta=self.config.beta,
            ref_logprobs=ref_logprobs,
            kl_ratio_correction=self.config.kl_ratio_correction,
            tis_cap=self.config.tis_cap,
        )
        # FSDP averages gradients over ranks; the weights already span the whole batch: undo it.
        (loss * self.world_size).backward()
        if entropies is not None:
            stats["entropy"] = (entropies * tensors["completion_mask"]).sum().item()
        return loss.item(), stats

    def _reduce(self, sums: dict[str, float]) -> dict[str, float]:
        """Sum metric totals over learner ranks (identity without sharding)."""
        if self.world_size == 1:
            return dict(sums)
        import torch.distributed as dist

        keys = sorted(sums)
        values = torch.tensor([sums[k] for k in keys], dtype=torch.float64, device=self.device)
        dist.all_reduce(values)
        return dict(zip(keys, values.tolist(), strict=True))

    # ------------------------------------------------------------------ weights and state
    def weights(self, dtype: str | None = None, copy: bool = True) -> dict[str, torch.Tensor]:
        """CPU copies of the policy weights under HF names; `dtype` (e.g. "bfloat16") casts them.
        `copy=False` returns the parameters themselves where they already are CPU tensors of
        that dtype (for a checkpoint written before the next update; saves one model of memory).

        Under FSDP every rank must call it; rank 0 gets the weights, the others an empty dict.
        """
        if self.config.sharding == "fsdp":
            state = sharding.full_model_state(self.model)
            if self.rank != 0:
                return {}
        else:
            state = dict(self.model.named_parameters())
            state.update(self.model.named_buffers())
        cast = getattr(torch, dtype) if dtype else None
        return {
            name: state[name].detach().to("cpu", dtype=cast, copy=copy)
            for name in self.weight_names
        }

    def packed_weights(self, dtype: str | None = None) -> dict[str, Any]:
        """`weights()` as numpy arrays (cluster.weights.pack_state_dict): returned from a Ray
        actor they land in the object store once, and every rollout worker maps them
        zero-copy, without a round trip through the driver. No copy before that: Ray writes
        the return value into the store before this actor runs its next method (called
        directly, outside Ray, the arrays alias the live parameters)."""
        from cluster.weights import pack_state_dict

        return pack_state_dict(self.weights(dtype, copy=False))

    def state_dict(self) -> dict[str, Any]:
        """Policy, optimizer, schedule, step count and RNG states, all on CPU. On a CPU learner
        the tensors are the live ones, not copies: write or copy them before the next step."""
        if self.config.sharding == "fsdp":
            optimizer_state = sharding.full_optimizer_state(self.model, self.optimizer)
        else:
            optimizer_state = _to_cpu(self.optimizer.state_dict())
        rng = {"python": random.getstate(), "torch": torch.get_rng_state()}
        if torch.cuda.is_available():
            rng["cuda"] = torch.cuda.get_rng_state_all()
        return {
            "model": self.weights(copy=False),
            "optimizer": optimizer_state,
            "scheduler": self.scheduler.state_dict(),
            "steps_done": self.steps_done,
            "rng": rng,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore what `state_dict` returned; the tied lm_head follows embed_tokens."""
        if self.config.sharding == "fsdp":
            sharding.load_full_state(self.model, self.optimizer, state["model"], state["optimizer"])
        else:
            result = self.model.load_state_dict(state["model"], strict=False)
            missing = set(result.missing_keys) - {"lm_head.weight"}
            if missing or result.unexpected_keys:
                raise ValueError(
                    f"checkpoint does not match the policy: missing {sorted(missing)}, "
                    f"unexpected {sorted(result.unexpected_keys)}; load a checkpoint of this model"
                )
            self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        self.steps_done = int(state["steps_done"])
        random.setstate(state["rng"]["python"])
        torch.set_rng_state(state["rng"]["torch"])
        if "cuda" in state["rng"] and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(state["rng"]["cuda"])

    def save(self, path: str | Path) -> None:
        """Write `path/policy` (an HF checkpoint vLLM can load) and `path/trainer_state.pt`,
        atomically (rl/learners/checkpoint.py). Under FSDP every rank must call it."""
        checkpoint.save(self, Path(path))

    def load(self, path: str | Path) -> None:
        """Restore a checkpoint written by `save`."""
        checkpoint.load(self, Path(path))
