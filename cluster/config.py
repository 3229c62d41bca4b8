"""Configs for rollout workers and sampling: pydantic only, so validation never imports torch.

`RolloutConfig` says how many workers run, on what, and how each engine is built;
`SamplingConfig` says how completions are drawn. Defaults run on a 2-core CPU machine with
the embedded 135M model (vLLM's CPU build, float32, a 1 GiB KV cache per worker).
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator


def native_bf16() -> bool:
    """Whether this machine's CPU multiplies bfloat16 natively (AMX-BF16 or AVX512-BF16, read
    from /proc/cpuinfo; False where that file does not exist)."""
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            flags = cpuinfo.read()
    except OSError:
        return False
    return "amx_bf16" in flags or "avx512_bf16" in flags


class RolloutConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    backend: Literal["vllm", "hf"] = "vllm"
    """Engine inside each worker: `vllm` (CPU build here, CUDA build on GPUs) or `hf`
    (transformers `generate`, for machines where vLLM cannot run)."""
    num_workers: int = Field(default=1, ge=1)
    """Number of rollout workers (Ray actors), each owning one engine."""
    cpus_per_worker: int = Field(default=1, ge=1)
    """Ray CPUs reserved per worker; on CPU this is also the engine's thread count."""
    gpus_per_worker: float = Field(default=0.0, ge=0.0)
    """Ray GPUs per worker; 0 runs on CPU. With tensor_parallel_size > 1 each worker gets a
    placement group of tensor_parallel_size one-GPU bundles instead."""
    tensor_parallel_size: int = Field(default=1, ge=1)
    """vLLM tensor parallelism inside one worker (GPU only)."""
    dtype: Literal["auto", "fast", "float32", "bfloat16", "float16"] = "auto"
    """Engine dtype; `auto` is float32 on CPU and bfloat16 on GPU; `fast` is bfloat16 wherever
    the hardware computes it natively (a GPU, or a CPU with AMX-BF16 or AVX512-BF16, where
    vLLM decodes ~1.6x faster, docs/cluster.md), float32 elsewhere."""
    max_model_len: int = Field(default=2048, ge=16)
    """Longest prompt plus completion, in tokens; longer prompts are rejected."""
    kv_cache_gib: Annotated[float, Field(gt=0.0)] | Literal["auto"] | None = 1.0
    """KV cache size per worker in GiB. None lets vLLM size it from gpu_memory_utilization
    (on CPU a share of the memory node, which these VMs under-report). `auto` (GRPO runs):
    sized at start from the rollout batch and its longest prompt, capped by the memory
    available (rl/context_check.auto_kv_cache); on a GPU it means None."""
    gpu_memory_utilization: float = Field(default=0.5, gt=0.0, le=1.0)
    """Share of device memory vLLM may take when kv_cache_gib is None."""
    enforce_eager: bool = True
    """Skip torch.compile and CUDA graphs: engines start in seconds instead of minutes."""
    cpu_thread_binding: Literal["spread", "none"] = "spread"
    """On CPU, `spread` pins worker i's process to cores [i*c, (i+1)*c) of its node (c =
    cpus_per_worker, wrapping around); `none` leaves placement to the OS."""
    weight_transport: Literal["object_store", "nccl"] = "object_store"
    """How load_weights reaches the engines: one put into Ray's object store that every worker
    reads (CPU or one node), or an NCCL broadcast from the learner's GPU (never run here)."""
    chunks_per_worker: int = Field(default=2, ge=1)
    """With several workers a generate call is cut into num_workers * chunks_per_worker chunks
    that idle workers pull, so a slow worker holds back at most one chunk; a single worker
    always gets the whole batch (one batch keeps continuous batching busiest)."""
    max_restarts: int = Field(default=3, ge=0)
    """How many times Ray restarts a worker that died; its in-flight requests are re-run."""
    engine_seed: int = 0
    """Seed of each engine's own random state (sampling seeds come from SamplingConfig)."""

    @model_validator(mode="after")
    def _consistent(self) -> RolloutConfig:
        if self.tensor_parallel_size > 1 and self.gpus_per_worker == 0:
            raise ValueError(
                "tensor_parallel_size > 1 needs GPUs: set gpus_per_worker or tensor_parallel_size=1"
            )
        if self.tensor_parallel_size > 1 and self.backend == "hf":
            raise ValueError("the hf backend has no tensor parallelism: set tensor_parallel_size=1")
        if self.weight_transport == "nccl" and (not self.on_gpu or self.backend != "vllm"):
            raise ValueError(
                "weight_transport=nccl needs the vllm backend on GPUs: set gpus_per_worker and "
                "backend=vllm, or use weight_transport=object_store"
            )
        return self

    @property
    def on_gpu(self) -> bool:
        return self.gpus_per_worker > 0

    def engine_dtype(self) -> str:
        """The concrete dtype: `auto` resolves to float32 on CPU and bfloat16 on GPU, `fast` to
        bfloat16 on GPU or a CPU with native bf16 (`native_bf16`), float32 elsewhere."""
        if self.dtype == "auto":
            return "bfloat16" if self.on_gpu else "float32"
        if self.dtype == "fast":
            return "bfloat16" if self.on_gpu or native_bf16() else "float32"
        return self.dtype


class SamplingConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    temperature: float = Field(default=1.0, ge=0.0)
    """Softmax temperature; 0 is greedy decoding."""
    top_p: float = Field(default=1.0, gt=0.0, le=1.0)
    """Nucleus sampling mass."""
    max_tokens: int = Field(default=256, ge=1)
    """Most new tokens per completion (also capped by max_model_len minus the prompt)."""
    n: int = Field(default=1, ge=1)
    """Completions per prompt (the group size of GRPO-style losses)."""
    seed: int | None = 0
    """Prompt i of a generate call samples with seed + i, so results do not depend on how
    prompts are spread over workers; None draws fresh randomness. Vary it per step."""
    top_k: int | None = Field(default=None, ge=1)
    """Sample among the k most likely tokens only; None: no limit. For data generation
    (Self-Lengthen decodes with 20): the learner's logprobs ignore it, so RL keeps None."""
    repetition_penalty: float = Field(default=1.0, gt=0.0)
    """Divide the logits of tokens already in the prompt or completion by it (>1 discourages
    repeats; Self-Lengthen uses 1.1). Data generation only, as top_k."""
    stop: list[str] = []
    """Strings that end a completion (not included in its text)."""
