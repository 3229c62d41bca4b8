"""Will it fit? The learner's and the rollout engines' GPU memory, estimated from the config alone.

    python rl/run.py --config configs/loongrl_keychain.yaml --dry-run   # prints `memory:` lines

`Shape` is what the estimate needs of a model (read from its config.json with AutoConfig, no
weights; `KNOWN_SHAPES` holds the recipes' models for machines that cannot reach the Hub).
`learner_bytes` is the learner's peak per worker: float32 master weights, gradients and both
AdamW moments (divided over the ranks under FSDP), a frozen reference in the compute dtype, the
bfloat16 weight copies autocast keeps, the activations of one micro-batch of full-length
sequences, and the vocabulary head's logits. `engine_bytes` is one vLLM engine's weights and the
KV cache of one max_model_len sequence, per GPU of its tensor-parallel group. `check_fit` turns
them into `memory:` lines for the plan, or one ValueError line when a worker cannot fit.

Computed, not measured: activations are counted as 10 hidden + 4 intermediate values per token
and layer (the inputs the backward keeps: norms, q/k/v, attention output, the SwiGLU MLP's four
tensors; a tiled MLP's four for one tile only), with the attention itself in a fused kernel
that keeps no seq x seq scores. Allocator fragmentation and the CUDA context get `HEADROOM` of
each GPU. Treat a close fit as a no.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

GIB = 1 << 30
HEADROOM = 0.1
"""Share of each GPU left for the CUDA context, NCCL buffers and fragmentation."""
ASSUMED_GPU_GIB = 80.0
"""GPU memory when neither the config (ray.gpu_memory_gib) nor this machine says: an 80 GB card."""


@dataclass(frozen=True)
class Shape:
    """A decoder-only transformer's sizes (Llama, Qwen2, Mistral: SwiGLU MLP, grouped KV heads)."""

    hidden: int
    intermediate: int
    layers: int
    heads: int
    kv_heads: int
    vocab: int
    tied: bool
    head_dim: int | None = None
    qkv_bias: bool = False

    @property
    def dim(self) -> int:
        return self.head_dim or self.hidden // self.heads

    def parameters(self) -> int:
        """Parameter count (tied embeddings once), exactly as the model's named_parameters()."""
        attention = self.hidden * self.dim * (2 * self.heads + 2 * self.kv_heads)
        if self.qkv_bias:
            attention += self.dim * (self.heads + 2 * self.kv_heads)
        layer = attention + 3 * self.hidden * self.intermediate + 2 * self.hidden
        heads = 1 if self.tied else 2
        return self.layers * layer + heads * self.vocab * self.hidden + self.hidden

    def kv_bytes_per_token(self, dtype_bytes: int) -> int:
        return 2 * self.layers * self.kv_heads * self.dim * dtype_bytes


# The recipes' models (configs/), from their config.json files on the Hub.
KNOWN_SHAPES = {
    "Qwen/Qwen2.5-7B-Instruct": Shape(3584, 18944, 28, 28, 4, 152064, False, qkv_bias=True),
    "Qwen/Qwen2.5-3B-Instruct": Shape(2048, 11008, 36, 16, 2, 151936, True, qkv_bias=True),
    "Qwen/Qwen2-7B-Instruct": Shape(3584, 18944, 28, 28, 4, 152064, False, qkv_bias=True),
    "mistralai/Mistral-7B-Instruct-v0.2": Shape(4096, 14336, 32, 32, 8, 32000, False),
}


def shape_of(model_config: Any) -> Shape:
    """A Shape from a transformers config (or anything with its attributes)."""
    heads = model_config.num_attention_heads
    return Shape(
        hidden=model_config.hidden_size,
        intermediate=model_config.intermediate_size,
        layers=model_config.num_hidden_layers,
        heads=heads,
        kv_heads=getattr(model_config, "num_key_value_heads", None) or heads,
        vocab=model_config.vocab_size,
        tied=bool(getattr(model_config, "tie_word_embeddings", False)),
        head_dim=getattr(model_config, "head_dim", None),
        qkv_bias=bool(getattr(model_config, "attention_bias", model_config.model_type == "qwen2")),
    )


def load_shape(model: str) -> Shape | None:
    """The model's Shape: from KNOWN_SHAPES, else its config.json (a local path, an alias
    already provisioned, or a Hub id's config); None when none is reachable. Nothing is
    provisioned for a check: an alias not made yet gives None."""
    if model in KNOWN_SHAPES:
        return KNOWN_SHAPES[model]
    from transformers import AutoConfig

    from models import EMBEDDED, TINY, local_model_path

    path = local_model_path(model)
    if path is None and model in (EMBEDDED, TINY):
        return None
    try:
        return shape_of(AutoConfig.from_pretrained(path or model))
    except (OSError, ValueError, AttributeError):
        return None


@dataclass(frozen=True)
class LearnerLoad:
    """What one learner worker holds at its peak, from the run's config."""

    sequence_tokens: int
    """Longest prompt + completion a sample may have."""
    completion_tokens: int
    """Tokens per sample the loss is taken over (the vocabulary head runs on these)."""
    micro_batch_size: int
    workers: int
    fsdp: bool
    bf16: bool
    gradient_checkpointing: bool
    reference: bool
    """A frozen reference model in memory (GRPO beta > 0, DPO's frozen_copy)."""
    trainable_fraction: float = 1.0
    """Share of the parameters with gradients and AdamW state (LoRA: about 0)."""
    logit_chunk_tokens: int | None = None
    shared_prompts: int | None = None
    """Most distinct prompts a micro-batch runs once (the shared-prompt layout); None: each row
    runs its own prompt."""
    response_tokens: int | None = None
    """Tokens after the prompt in a row (a shared prompt is sequence_tokens minus these); None:
    completion_tokens."""
    mlp_tile_tokens: int | None = None
    """The MLP runs this many tokens at a time (rl/learners/tiled_mlp.py); None: all at once."""

    def activation_tokens(self) -> int:
        """Tokens one micro-batch pushes through the decoder."""
        if self.shared_prompts is None:
            return self.micro_batch_size * self.sequence_tokens
        response = self.completion_tokens if self.response_tokens is None else self.response_tokens
        prompt = self.sequence_tokens - response
        return self.shared_prompts * prompt + self.micro_batch_size * response


def learner_bytes(shape: Shape, load: LearnerLoad) -> dict[str, float]:
    """Peak bytes of one learner worker, by part."""
    params = shape.parameters()
    shards = load.workers if load.fsdp else 1
    compute = 2 if load.bf16 else 4
    trained = params * load.trainable_fraction
    parts = {
        "weights": 4 * params / shards,
        "gradients": 4 * trained / shards,
        "adamw": 8 * trained / shards,
    }
    if load.reference:
        parts["reference"] = compute * params / shards
    if load.bf16 and not load.fsdp:
        parts["bf16 copies"] = 2 * params  # autocast's cache of the cast weights, per step
    if load.fsdp:
        parts["gathered layers"] = 2 * compute * params / shape.layers  # one ahead (prefetch)
    tokens = load.activation_tokens()
    mlp = 4 * shape.intermediate * tokens * compute  # one layer's MLP intermediates
    # A tiled MLP (not under FSDP; only calls longer than a tile) keeps none of them per layer:
    # its backward rebuilds one tile's at a time, once for the whole model.
    tiled = load.mlp_tile_tokens and not load.fsdp and tokens > load.mlp_tile_tokens
    held = 4 * shape.intermediate * load.mlp_tile_tokens * compute if tiled else 0
    per_layer = 10 * shape.hidden * tokens * compute + (0 if tiled else mlp)
    if load.gradient_checkpointing:  # each layer's input, and one layer recomputed whole
        layers = shape.layers * tokens * shape.hidden * compute + per_layer
    else:
        layers = shape.layers * per_layer
    parts["activations"] = layers + held
    head_tokens = load.micro_batch_size * load.completion_tokens
    if load.logit_chunk_tokens and not load.fsdp:
        head_tokens = min(head_tokens, load.logit_chunk_tokens)
    parts["logits"] = 3 * 4 * head_tokens * shape.vocab  # logits, log-softmax, their gradient
    return parts


def engine_bytes(shape: Shape, max_model_len: int, tensor_parallel: int) -> dict[str, float]:
    """One vLLM engine on GPUs (bfloat16), per GPU: its weights and the KV cache of one
    max_model_len sequence (vLLM refuses to start without room for one)."""
    return {
        "weights": 2 * shape.parameters() / tensor_parallel,
        "kv cache": shape.kv_bytes_per_token(2) * max_model_len / tensor_parallel,
    }


def gpu_memory_gib(configured: float | None) -> tuple[float, str]:
    """One GPU's memory in GiB and where the figure comes from."""
    if configured:
        return configured, "ray.gpu_memory_gib"
    if os.environ.get("CUDA_VISIBLE_DEVICES") != "":
        try:
            import torch

            if torch.cuda.is_available():
                return torch.cuda.get_device_properties(0).total_memory / GIB, "this machine's GPU"
        except ImportError:
            pass
    return ASSUMED_GPU_GIB, "assumed; set ray.gpu_memory_gib"


def _parts_text(parts: dict[str, float]) -> str:
    return ", ".join(f"{name} {value / GIB:.1f}" for name, value in parts.items() if value)


# ---------------------------------------------------------------------- a run's config
def learner_on_gpu(config: Any) -> bool:
    """Whether the learner runs on GPUs: learner.num_gpus, or (None) when the rollout does."""
    gpus = config.learner.num_gpus
    return bool(gpus) if gpus is not None else config.rollout.on_gpu


def learner_load(config: Any) -> LearnerLoad:
    """The LearnerLoad of a GRPO, LongPO or Self-Lengthen run config."""
    trainer, learner = config.trainer, config.learner
    algorithm = getattr(config, "algorithm", "grpo")
    micro_batch = trainer.micro_batch_size
    trainable, reference = 1.0, trainer.beta > 0
    shared, response = None, None
    if algorithm == "self_lengthen":
        sequence = completion = config.sft.max_sequence_tokens
        trainable = 0.0 if config.sft.lora is not None else 1.0
    elif algorithm == "longpo":
        sequence = completion = config.rollout.max_model_len
        response = int(config.data.options.get("answer_max_tokens", sequence // 2))
        if trainer.nll_tokens == "response":  # logprobs of the answers only
            completion = response
        if trainer.share_prompts:  # chosen and rejected run on one pass of the long prompt
            shared = micro_batch
        micro_batch *= 2  # a pair is a chosen and a rejected conversation
        reference = trainer.reference == "frozen_copy" or bool(trainer.policy_overrides)
    else:
        sequence, completion = config.rollout.max_model_len, config.sampling.max_tokens
        if trainer.share_prompts:
            shared = shared_prompt_count(micro_batch, config.sampling.n)
    on_gpu = learner_on_gpu(config)
    bf16 = trainer.dtype == "bfloat16" or (trainer.dtype in ("auto", "fast") and on_gpu)
    return LearnerLoad(
        sequence_tokens=sequence,
        completion_tokens=completion,
        micro_batch_size=micro_batch,
        workers=learner.num_workers,
        fsdp=learner.parallel == "fsdp" and learner.num_workers > 1,
        bf16=bf16,
        gradient_checkpointing=trainer.gradient_checkpointing,
        reference=reference,
        trainable_fraction=trainable,
        logit_chunk_tokens=trainer.logit_chunk_tokens,
        mlp_tile_tokens=trainer.mlp_tile_tokens,
        shared_prompts=shared,
        response_tokens=response,
    )


def shared_prompt_count(rows: int, group: int) -> int:
    """The most distinct prompts a micro-batch of `rows` can hold when groups of `group` rows
    are cut into chunks of at most `rows` and chunks are packed (rl/learners/shared_prompt.py):
    whole groups when they fit, else the leftover chunks of size group % rows."""
    if group <= rows:
        return rows // group
    leftover = group % rows
    return rows // leftover if leftover else 1


def gpus_asked(config: Any) -> tuple[float, float]:
    """GPUs the placement asks for: (rollout, learner), learners and engines on their own."""
    rollout = config.rollout
    per_engine = rollout.tensor_parallel_size if rollout.tensor_parallel_size > 1 else (
        rollout.gpus_per_worker)  # fmt: skip
    learner = config.learner
    per_rank = (learner.num_gpus if learner.num_gpus is not None else 1) * learner_on_gpu(config)
    return rollout.num_workers * per_engine, learner.num_workers * per_rank


def _fsdp_fix(shape: Shape, load: LearnerLoad, usable: float) -> str:
    for workers in (2, 4, 8, 16, 32, 64):
        trial = LearnerLoad(**{**load.__dict__, "workers": workers, "fsdp": True})
        if sum(learner_bytes(shape, trial).values()) <= usable:
            return f"set learner.parallel=fsdp with learner.num_workers={workers} (one per GPU)"
    return "no FSDP size up to 64 fits: lower trainer.micro_batch_size or the lengths"


def check_fit(config: Any, cluster: dict[str, float] | None = None) -> list[str]:
    """`memory:` and `gpus:` lines for the plan; ValueError (one line) when a learner worker
    or a rollout engine cannot fit one GPU, or the cluster (its ray.cluster_resources(), when
    reachable) has fewer GPUs than the placement asks for."""
    rollout_gpus, learner_gpus = gpus_asked(config)
    lines = [f"gpus:       {rollout_gpus + learner_gpus:g} (rollout {rollout_gpus:g}, learner "
             f"{learner_gpus:g}; engines and learners on GPUs of their own)"]  # fmt: skip
    if cluster is not None and rollout_gpus + learner_gpus > cluster.get("GPU", 0):
        raise ValueError(
            f"gpus: the layout asks for {rollout_gpus + learner_gpus:g} GPUs (rollout "
            f"{rollout_gpus:g}, learner {learner_gpus:g}) and the cluster has "
            f"{cluster.get('GPU', 0):g}: lower rollout.num_workers or learner.num_workers"
        )
    shape = load_shape(config.model)
    if shape is None:
        return [*lines, f"memory:     not estimated: {config.model}'s config.json is not reachable"]
    memory, source = gpu_memory_gib(getattr(config.ray, "gpu_memory_gib", None))
    usable = memory * (1 - HEADROOM) * GIB
    load = learner_load(config)
    parts = learner_bytes(shape, load)
    total = sum(parts.values())
    where = f"{usable / GIB:.0f} GiB usable of a {memory:.0f} GiB GPU ({source})"
    if learner_on_gpu(config) and total > usable:
        if parts["activations"] + parts["logits"] > usable:
            fix = (
                f"one micro-batch ({load.micro_batch_size} sequences x {load.sequence_tokens} tokens"
                f"{', prompts shared' if load.shared_prompts else ''}) alone does not fit: lower trainer.micro_batch_size or the lengths (longer "
                "contexts need sequence parallelism, which this learner does not have)"
            )
        elif load.fsdp:
            fix = "raise learner.num_workers or lower trainer.micro_batch_size"
        else:
            fix = _fsdp_fix(shape, load, usable)
        raise ValueError(
            f"learner: ~{total / GIB:.0f} GiB per worker ({_parts_text(parts)} GiB) > {where}: "
            f"{fix}"
        )
    lines.append(
        f"memory:     learner ~{total / GIB:.1f} GiB per worker ({_parts_text(parts)}; "
        f"{shape.parameters() / 1e9:.2f}B parameters), computed"
        + (f"; fits {where}" if learner_on_gpu(config) else "; on CPU, not checked")
    )
    rollout = config.rollout
    if rollout.on_gpu and rollout.backend == "vllm":
        lines.append(_engine_line(shape, rollout, memory))
    return lines


def _engine_line(shape: Shape, rollout: Any, memory: float) -> str:
    tp = rollout.tensor_parallel_size
    parts = engine_bytes(shape, rollout.max_model_len, tp)
    budget = (
        parts["weights"] + rollout.kv_cache_gib * GIB / tp
        if rollout.kv_cache_gib not in (None, "auto")  # auto on a GPU: vLLM's own sizing
        else rollout.gpu_memory_utilization * memory * GIB
    )
    need = parts["weights"] + parts["kv cache"]
    if need > budget:
        raise ValueError(
            f"rollout: one {rollout.max_model_len}-token sequence needs {parts['kv cache'] / GIB:.1f}"
            f" GiB of KV cache per GPU beside {parts['weights'] / GIB:.1f} GiB of weights, more "
            f"than the {budget / GIB:.1f} GiB the engine may use: raise tensor_parallel_size, "
            "gpu_memory_utilization or kv_cache_gib, or lower max_model_len"
        )
    sequences = (budget - parts["weights"]) / parts["kv cache"]
    return (
        f"rollout:    ~{parts['weights'] / GIB:.1f} GiB of weights per GPU (tp {tp}), KV cache "
        f"{parts['kv cache'] / GIB:.2f} GiB per {rollout.max_model_len}-token sequence: room for "
        f"~{sequences:.0f} at once, computed"
    )


def reachable_cluster(address: str | None) -> dict[str, float] | None:
    """ray.cluster_resources() of the cluster at `address` (or $RAY_ADDRESS); None when none
    is named or it cannot be reached (then the GPU count is not checked)."""
    address = address or os.environ.get("RAY_ADDRESS")
    if not address:
        return None
    import ray

    try:
        ray.init(address=address, logging_level="ERROR", log_to_driver=False)
    except (ConnectionError, RuntimeError, ValueError):
        return None
    try:
        return dict(ray.cluster_resources())
    finally:
        ray.shutdown()
