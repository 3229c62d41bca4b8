"""What every learner shares: the policy, AdamW and its schedule, micro-batched updates, weights.

An objective (rl/learners/grpo.py, ...) subclasses `LearnerBase` and supplies four things: whether
it needs a frozen reference model, how a batch is checked, how it is split into micro-batches,
and the loss of one micro-batch. Everything else lives here:

  __init__   seed -> process group -> device and precision -> tokenizer -> policy -> reference
             -> sharding -> optimizer and schedule (one method each, in that order);
  step       accumulate over micro-batches (each one's loss is its share of the full-batch loss),
             clip the gradient norm, step AdamW and the schedule; a step whose gradient norm is
             not finite is skipped and reported (`skipped` = 1); an objective may split a batch
             into several updates (`update_plan`: PPO epochs and mini-batches), the schedule
             still stepping once;
  forward    completion-token logprobs: each distinct prompt once with its KV cache
             (rl/learners/shared_prompt.py), the vocabulary head a chunk at a time
             (rl/learners/vocab_head.py);
  weights    CPU tensors under Hugging Face names (vLLM's `load_weights`), packed for Ray's object
             store or broadcast over NCCL; and state: state_dict / load_state_dict, save / load
             (both in rl/learners/weights_state.py).

Precision: master weights and optimizer state are float32; on a GPU (dtype auto) the forward runs
under bfloat16 autocast and logprobs are computed in float32. A frozen reference is held in the
compute dtype. Several ranks (rl/learner_group.py sets `parallel` on the actor class and the
torch.distributed variables in each actor): each trains on `batch[rank::world_size]`, under
`ddp` with a full replica and gradients summed over ranks once per update, under `fsdp` with
torch's FSDP2 (rl/learners/sharding.py). Both are tested on two CPU ranks over gloo; the GPU
tests (marked `gpu`) have not run on this project's machines.
Arguments are picklable and everything returned is plain Python or CPU tensors, so a learner
runs as a Ray actor as it is.
"""

from __future__ import annotations

import logging
import math
import random
import time
from collections import defaultdict
from contextlib import nullcontext
from typing import Any

import torch

from cluster.config import native_bf16
from cluster.heap import release_freed_memory
from rl.learners import sharding
from rl.learners.batching import collate
from rl.learners.config import TrainerConfig
from rl.learners.lr_schedule import build_scheduler
from rl.learners.models import load_policy, load_reference
from rl.learners.shared_prompt import collate_shared, shared_prompt_outputs
from rl.learners.tiled_mlp import tile_mlps
from rl.learners.vocab_head import head_logprobs, plain_head, token_logprobs
from rl.learners.weights_state import WeightsAndState

log = logging.getLogger(__name__)

# Metric sums that are not averaged over tokens in `step`'s report.
_TOTALS = ("loss", "tokens", "micro_batches")


class LearnerBase(WeightsAndState):
    """The shared machinery; subclasses implement the four objective hooks at the bottom."""

    temperature: float = 1.0
    """Logits are divided by it before the log-softmax (GRPO: the rollout's temperature)."""

    parallel: str = "none"
    """`none` (one process), `ddp` or `fsdp` (a rank of a process group whose variables are in
    the environment): set on an actor subclass by rl/learner_group.py."""

    def __init__(self, model: str, config: TrainerConfig, total_steps: int, seed: int) -> None:
        """model: a resolved path or Hub id (models.resolve_model); total_steps: the run's
        steps (config.total_steps overrides it)."""
        self.config = config
        self.total_steps = self._schedule_length(total_steps)
        self.steps_done = 0
        self._seed(seed)
        self.rank, self.world_size = self._join_process_group()
        self.device, self.bf16 = self._device_and_precision()
        self.tokenizer, self.pad_token_id = self._load_tokenizer(model)
        self.model = self._load_policy(model)
        self.ref_model = self._load_reference(model) if self.needs_reference() else None
        self._shard()
        self.optimizer, self.scheduler = self._build_optimizer()
        log.info(
            "learner: %s on %s, %s, %s, %d params",
            model,
            self.device,
            type(self).__name__,
            "bf16 autocast" if self.bf16 else "fp32",
            sum(p.numel() for p in self.model.parameters()),
        )

    # ------------------------------------------------------------------ start-up steps
    def _schedule_length(self, total_steps: int) -> int:
        steps = self.config.total_steps or total_steps
        if self.config.warmup_steps >= steps:
            raise ValueError(
                f"warmup_steps={self.config.warmup_steps} >= total_steps={steps}: lower "
                "trainer.warmup_steps or run more steps"
            )
        return steps

    def _seed(self, seed: int) -> None:
        random.seed(seed)
        torch.manual_seed(seed)

    def _join_process_group(self) -> tuple[int, int]:
        if self.parallel not in ("none", "ddp", "fsdp"):
            raise ValueError(f"parallel={self.parallel!r}: use none, ddp or fsdp")
        if self.parallel != "none":
            return sharding.init_process_group(self.parallel)
        return 0, 1

    def _device_and_precision(self) -> tuple[torch.device, bool]:
        on_gpu = torch.cuda.is_available()
        device = (
            torch.device("cuda", torch.cuda.current_device()) if on_gpu else torch.device("cpu")
        )
        dtype = self.config.dtype
        fast = dtype == "fast" and (on_gpu or native_bf16())
        return device, dtype == "bfloat16" or (dtype == "auto" and on_gpu) or fast

    def _load_tokenizer(self, model: str) -> tuple[Any, int]:
        from transformers import AutoTokenizer

        tokenizer = AutoTokenizer.from_pretrained(model)
        pad = tokenizer.pad_token_id
        return tokenizer, pad if pad is not None else tokenizer.eos_token_id

    def _load_policy(self, model: str) -> torch.nn.Module:
        """The trainable policy (rl/learners/models.py) on the device (unless FSDP moves it)."""
        config = self.config
        self.share_prompts = config.share_prompts
        policy = load_policy(
            model, config.policy_overrides, config.gradient_checkpointing, self.share_prompts
        )
        # Names vLLM loads: parameters (tied ones once) and persistent buffers, before wrapping.
        persistent = set(policy.state_dict())
        self.weight_names = [name for name, _ in policy.named_parameters()]
        self.weight_names += [name for name, _ in policy.named_buffers() if name in persistent]
        self._place(policy)
        # The head is applied in chunks only apart from the decoder: not under FSDP (the root's
        # hooks gather it), and only where the logits are exactly lm_head(hidden states).
        self.logit_chunk_tokens = config.logit_chunk_tokens
        if self.logit_chunk_tokens and (self.parallel == "fsdp" or not plain_head(policy)):
            log.info("learner: full logits (the vocabulary head cannot be applied in chunks)")
            self.logit_chunk_tokens = None
        policy.train()
        return policy

    def _load_reference(self, model: str) -> torch.nn.Module:
        """A frozen copy of the starting policy, in the compute dtype. Its MLPs run in tiles like
        the policy's: without gradients that bounds the widest activation of its forward."""
        reference = load_reference(model, self.bf16)
        self._place(reference)
        return reference

    def _place(self, model: torch.nn.Module) -> None:
        """Tile `model`'s MLPs and move it to the device; neither under FSDP, which swaps the
        parameters in around each forward and moves (and shards) layer by layer itself."""
        if self.parallel == "fsdp":
            return
        if self.config.mlp_tile_tokens:
            tile_mlps(model, self.config.mlp_tile_tokens)
        model.to(self.device)

    def _shard(self) -> None:
        if self.parallel == "fsdp":
            sharding.shard_model(self.model, self.bf16)
            if self.ref_model is not None:
                sharding.shard_model(self.ref_model, self.bf16)

    def _build_optimizer(self):
        config = self.config
        optimizer = torch.optim.AdamW(
            self.model.parameters(),
            lr=config.lr,
            betas=config.adam_betas,
            weight_decay=config.weight_decay,
            # One kernel per parameter instead of foreach's temporaries: 5x faster on CPU for
            # the 135M model (0.3 vs 1.75 s) and no param-sized scratch. FSDP's DTensors keep
            # the default implementation.
            fused=self.parallel != "fsdp" or None,
        )
        schedule = build_scheduler(
            optimizer, config.lr_schedule, config.warmup_steps, self.total_steps
        )
        return optimizer, schedule

    # ------------------------------------------------------------------ forward
    def _autocast(self):
        # FSDP's mixed-precision policy already casts the parameters; autocast is for plain models.
        if self.bf16 and self.parallel != "fsdp":
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
            if "prompt_ids" in tensors:  # the shared-prompt layout: each prompt once
                states = shared_prompt_outputs(model, tensors, hidden=chunked)
            else:
                # Decoder hidden states for the chunked head, else the logits of the last width + 1.
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
            if chunked:
                return head_logprobs(
                    model.get_output_embeddings(),
                    states,
                    targets,
                    self.temperature,
                    entropy,
                    self.logit_chunk_tokens,
                )
        return token_logprobs(states, targets, self.temperature, entropy)

    def _collate_rows(self, rows: list[dict[str, Any]]) -> dict[str, torch.Tensor]:
        """Tensors on the device for rows of {prompt_token_ids, completion_token_ids, ...}."""
        tensors = (collate_shared if self.share_prompts else collate)(rows, self.pad_token_id)
        return {key: value.to(self.device) for key, value in tensors.items()}

    def _collate(self, samples: list[dict[str, Any]]) -> dict[str, torch.Tensor]:
        """A micro-batch of the objective's samples as tensors (rows, unless it says otherwise)."""
        return self._collate_rows(samples)

    @torch.no_grad()
    def logprobs(self, prompt_ids: list[int], completion_ids: list[int]) -> list[float]:
        """The policy's logprob of each completion token after the prompt."""
        sample = {"prompt_token_ids": prompt_ids, "completion_token_ids": completion_ids}
        values, _ = self._forward(self.model, self._collate_rows([sample]), entropy=False)
        return values[0, : len(completion_ids)].cpu().tolist()

    # ------------------------------------------------------------------ step
    def step(self, batch: list[dict[str, Any]]) -> dict[str, float]:
        """One training step on `batch`: one optimizer update on all of it (whatever the
        micro-batching), or the objective's `update_plan` (PPO epochs and mini-batches); the
        lr schedule steps once. `loss` and `grad_norm` are means over the updates, `skipped`
        counts updates skipped for a non-finite gradient norm."""
        started = time.perf_counter()
        if not batch:
            raise ValueError("learner.step got an empty batch: the driver must send samples")
        batch = self.prepare_batch(batch)
        plan = self.update_plan(batch)
        lr = self.scheduler.get_last_lr()[0]
        sums: dict[str, float] = defaultdict(float)
        grad_norms, skipped = [], 0
        for sub_batch in plan:
            for key, value in self.accumulate(sub_batch).items():
                sums[key] += value
            grad_norm = self._clip_gradients()
            grad_norms.append(grad_norm)
            if math.isfinite(grad_norm):
                self.optimizer.step()
            else:
                skipped += 1
                log.warning("step %d: gradient norm %s, update skipped", self.steps_done, grad_norm)
            self.optimizer.zero_grad(set_to_none=True)
        self.scheduler.step()
        self.steps_done += 1
        release_freed_memory()
        metrics = {
            "loss": sums["loss"] / len(plan),
            "grad_norm": sum(grad_norms) / len(plan),
            "lr": lr,
            "skipped": float(skipped),
            "sequences": float(len(batch)),
            "tokens": sums["tokens"] * len(batch) / sum(len(b) for b in plan),
            "micro_batches": sums["micro_batches"],
            "step_seconds": time.perf_counter() - started,
        }
        if len(plan) > 1:
            metrics["updates"] = float(len(plan))
        metrics.update(self.report(sums))
        return metrics

    def _clip_gradients(self) -> float:
        params = [p for p in self.model.parameters() if p.grad is not None]
        grad_norm = torch.nn.utils.clip_grad_norm_(params, self.config.max_grad_norm or math.inf)
        if hasattr(grad_norm, "full_tensor"):  # a DTensor under FSDP
            grad_norm = grad_norm.full_tensor()
        return float(grad_norm)

    def accumulate(self, batch: list[dict[str, Any]]) -> dict[str, float]:
        """Forward and backward over every micro-batch of `batch`, leaving the full-batch
        gradient in `.grad`; returns metric totals (summed over tokens and ranks)."""
        if not batch:
            raise ValueError("learner.step got an empty batch: the driver must send samples")
        context = self.check_batch(batch)
        local = batch[self.rank :: self.world_size]
        work = [([local[i] for i in indices], 1.0) for indices in self.micro_batches(local)]
        if self.parallel == "fsdp":
            # Every FSDP forward and backward is a collective: each rank runs as many micro-batches
            # as the busiest one, the extra ones a sample again at zero weight.
            work += [([batch[0]], 0.0)] * (self._max_over_ranks(len(work)) - len(work))
        sums: dict[str, float] = defaultdict(float)
        for index, (rows, weight) in enumerate(work):
            tensors = self._collate(rows)
            if self.parallel == "fsdp":  # reduce-scatter once per step
                self.model.set_requires_gradient_sync(index == len(work) - 1)
            loss, stats = self.micro_loss(tensors, context)
            # Ranks average gradients (FSDP, sharding.all_reduce_gradients); the loss weights
            # already span the whole batch: undo it.
            (loss * (self.world_size * weight)).backward()
            if weight:
                sums["loss"] += loss.item()
                sums["micro_batches"] += 1
                for key, value in stats.items():
                    sums[key] += value
        if self.parallel == "ddp":
            sharding.all_reduce_gradients(self.model, self.world_size)
        return self._reduce(sums)

    def _max_over_ranks(self, value: int) -> int:
        import torch.distributed as dist

        count = torch.tensor([value], dtype=torch.int64, device=self.device)
        dist.all_reduce(count, op=dist.ReduceOp.MAX)
        return int(count.item())

    def _reduce(self, sums: dict[str, float]) -> dict[str, float]:
        """Sum metric totals over learner ranks (identity without sharding)."""
        if self.world_size == 1:
            return dict(sums)
        import torch.distributed as dist

        keys = sorted(sums)
        values = torch.tensor([sums[k] for k in keys], dtype=torch.float64, device=self.device)
        dist.all_reduce(values)
        return dict(zip(keys, values.tolist(), strict=True))

    # ------------------------------------------------------------------ objective hooks
    def prepare_batch(self, batch: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """The batch as the updates see it (e.g. with the pre-update logprobs); as it is here."""
        return batch

    def update_plan(self, batch: list[dict[str, Any]]) -> list[list[dict[str, Any]]]:
        """The sub-batches, one optimizer update each, in order; here the whole batch once."""
        return [batch]

    def needs_reference(self) -> bool:
        """Whether `micro_loss` reads `self.ref_model` (a frozen copy of the start policy)."""
        return False

    def check_batch(self, batch: list[dict[str, Any]]) -> Any:
        """Raise one ValueError naming a malformed sample; return what `micro_loss` needs of
        the whole batch (e.g. its totals, which fix the loss normalisation)."""
        raise NotImplementedError

    def micro_batches(self, samples: list[dict[str, Any]]) -> list[list[int]]:
        """Sample indices grouped into micro-batches (the loss must not depend on the split)."""
        raise NotImplementedError

    def micro_loss(
        self, tensors: dict[str, torch.Tensor], context: Any
    ) -> tuple[torch.Tensor, dict[str, float]]:
        """This micro-batch's share of the full-batch loss, and metric sums (with `tokens`)."""
        raise NotImplementedError

    def report(self, sums: dict[str, float]) -> dict[str, float]:
        """Metrics from the summed stats: by default each one's mean over tokens."""
        tokens = max(sums.get("tokens", 0.0), 1.0)
        return {f"{key}_mean": value / tokens for key, value in sums.items() if key not in _TOTALS}
