"""A rollout engine around one `vllm.LLM`: generate, score, load weights in place.

The pool runs this class as a Ray actor (`ray.remote(VLLMEngine)`); it also works
in-process. Importing this module stays cheap (no torch, no vllm): CPU thread settings must
reach the environment before torch loads OpenMP, so the heavy imports happen in __init__.

On CPU (vLLM's CPU build) the engine runs in the actor's own process
(VLLM_ENABLE_V1_MULTIPROCESSING=0): no engine-core subprocess to orphan when the actor dies,
and weights reach the model as plain in-process tensors. Weight updates go through vLLM's
`reload_weights` worker method, which re-runs the CPU kernels' weight pre-packing; a plain
`model.load_weights` would leave the packed copies stale.
"""

from __future__ import annotations

import logging
import os
import sys
from typing import Any

from cluster.config import RolloutConfig, SamplingConfig
from cluster.heap import release_freed_memory
from cluster.rollout import (
    Completion,
    EngineBase,
    Rollout,
    check_length,
    prompt_seed,
    tie_lm_head,
)
from cluster.weights import as_state_dict

log = logging.getLogger(__name__)


def worker_cores(config: RolloutConfig, worker_index: int, available: list[int]) -> list[int]:
    """Cores for worker `worker_index` under `spread` binding: its own slice, wrapping around."""
    count = config.cpus_per_worker
    return [available[(worker_index * count + k) % len(available)] for k in range(count)]


def cpu_env(config: RolloutConfig) -> dict[str, str]:
    """Environment for vLLM's CPU build in one worker, from its Ray CPU allotment."""
    return {
        "VLLM_ENABLE_V1_MULTIPROCESSING": "0",
        # Binding is done on the whole process (pin_to_worker_cores); vLLM's own binding
        # belongs to its multiprocess executor, which in-process engines do not use.
        "VLLM_CPU_OMP_THREADS_BIND": "nobind",
        "VLLM_CPU_NUM_OF_RESERVED_CPU": "0",
        "OMP_NUM_THREADS": str(config.cpus_per_worker),
    }


def pin_to_worker_cores(config: RolloutConfig, worker_index: int) -> list[int] | None:
    """Under `spread`, pin this process to worker `worker_index`'s cores; the cores, or None.

    Pins the process rather than OpenMP threads (OMP_PROC_BIND): Ray runs actor methods on
    threads other than the one OpenMP binds first, and those would inherit a one-core mask.
    Only for worker processes: children inherit the mask, so a pinned driver would squeeze
    the Ray it starts onto the same cores.
    """
    if config.cpu_thread_binding != "spread":
        return None
    cores = worker_cores(config, worker_index, sorted(os.sched_getaffinity(0)))
    os.sched_setaffinity(0, cores)
    return cores


class VLLMEngine(EngineBase):
    """One vLLM engine; `version` counts the weight loads it has applied."""

    def __init__(
        self, config: RolloutConfig, model: str, worker_index: int = 0, bind_cores: bool = False
    ) -> None:
        cores = None
        if not config.on_gpu:
            if "torch" in sys.modules:
                log.warning("torch is already imported: OMP_NUM_THREADS may not apply")
            os.environ.update(cpu_env(config))
            if bind_cores:
                cores = pin_to_worker_cores(config, worker_index)
        from transformers import AutoConfig, AutoTokenizer
        from vllm import LLM

        self.config = config
        self.worker_index = worker_index
        self.tokenizer = AutoTokenizer.from_pretrained(model)
        self.tied_embeddings = bool(
            getattr(AutoConfig.from_pretrained(model), "tie_word_embeddings", False)
        )
        engine_args: dict[str, Any] = dict(
            model=model,
            dtype=config.engine_dtype(),
            max_model_len=config.max_model_len,
            enforce_eager=config.enforce_eager,
            seed=config.engine_seed,
            tensor_parallel_size=config.tensor_parallel_size,
            # Logprobs of the distribution tokens are sampled from (after temperature and top-p),
            # which is what the learner's importance ratio divides by; vLLM's default reports the
            # raw distribution, and the ratio at step 0 was then 1.13 at T=0.7, not 1.
            logprobs_mode="processed_logprobs",
        )
        if not config.on_gpu:
            # A prefill split across engine steps discards its sample and rewinds the request's
            # seeded generator, which CPU generators cannot do ("CPU Generator does not use
            # offset": seeded batches of 64 x 4 crashed). Unsplit prefills need a step budget
            # of at least one whole prompt.
            engine_args["enable_chunked_prefill"] = False
            engine_args["max_num_batched_tokens"] = max(config.max_model_len, 2048)
        if config.kv_cache_gib is not None:
            engine_args["kv_cache_memory_bytes"] = int(config.kv_cache_gib * 2**30)
        else:
            engine_args["gpu_memory_utilization"] = config.gpu_memory_utilization
        if config.enforce_eager:
            engine_args["compilation_config"] = {"mode": 0}
        if config.tensor_parallel_size > 1:
            # Its GPU workers land in the placement group this actor was scheduled into.
            engine_args["distributed_executor_backend"] = "ray"
        if config.weight_transport == "nccl":
            engine_args["weight_transfer_config"] = {"backend": "nccl"}
        self.llm = LLM(**engine_args)
        self.version = 0
        log.info(
            "worker %d: vLLM engine ready on %s (pid %d, cores %s)",
            worker_index,
            model,
            os.getpid(),
            cores or "any",
        )

    # ---------------------------------------------------------------- generation

    def generate(
        self,
        prompts: list[list[dict[str, str]]],
        sampling: SamplingConfig,
        first_index: int = 0,
        expected_version: int | None = None,
    ) -> list[Rollout]:
        """n completions for each chat prompt; `first_index` offsets the per-prompt seeds."""
        from vllm import SamplingParams
        from vllm.inputs import TokensPrompt

        prompt_ids = self.checked_prompt_ids(
            prompts, sampling.n, sampling.max_tokens, expected_version
        )
        params = [
            SamplingParams(
                n=sampling.n,
                temperature=sampling.temperature,
                top_p=sampling.top_p,
                max_tokens=min(sampling.max_tokens, self.config.max_model_len - len(ids)),
                seed=prompt_seed(sampling.seed, first_index + index),
                logprobs=0,  # the sampled token's own logprob, nothing more
                top_k=sampling.top_k or 0,  # 0: vLLM's "no limit"
                repetition_penalty=sampling.repetition_penalty,
                stop=list(sampling.stop) or None,
            )
            for index, ids in enumerate(prompt_ids)
        ]
        outputs = self.llm.generate(
            [TokensPrompt(prompt_token_ids=ids) for ids in prompt_ids], params, use_tqdm=False
        )
        release_freed_memory()  # the prefill's activations, before the learner's turn
        return [
            Rollout(
                prompt_token_ids=list(output.prompt_token_ids),
                completions=[_completion(sample) for sample in output.outputs],
                policy_version=self.version,
            )
            for output in outputs
        ]

    def score(self, prompt_token_ids: list[int], completion_token_ids: list[int]) -> list[float]:
        """Logprob of each completion token after the prompt, under the current weights."""
        from vllm import SamplingParams
        from vllm.inputs import TokensPrompt

        if not prompt_token_ids or not completion_token_ids:
            raise ValueError("score needs a non-empty prompt and a non-empty completion")
        ids = list(prompt_token_ids) + list(completion_token_ids)
        check_length([ids], self.config.max_model_len)
        params = SamplingParams(max_tokens=1, temperature=0.0, prompt_logprobs=0)
        output = self.llm.generate([TokensPrompt(prompt_token_ids=ids)], params, use_tqdm=False)[0]
        # prompt_logprobs[i] maps ids[i] to its logprob given ids[:i] (entry 0 is None).
        positions = range(len(prompt_token_ids), len(ids))
        return [output.prompt_logprobs[i][ids[i]].logprob for i in positions]

    # ---------------------------------------------------------------- weights

    def load_weights(self, weights: dict[str, Any], version: int) -> int:
        """Copy a learner state dict (HF names, torch or packed) into the engine; new version."""
        state_dict = tie_lm_head(as_state_dict(weights), self.tied_embeddings)
        self.llm.collective_rpc(
            "reload_weights", kwargs={"weights_iterator": list(state_dict.items())}
        )
        # Cached prefixes hold keys and values computed by the old weights.
        self.llm.reset_prefix_cache()
        self.version = version
        return self.version

    # ------------------------------------------- NCCL path (GPU only, never run here)

    def init_weight_transfer_engine(self, init_info: dict[str, Any]) -> None:
        self.llm.init_weight_transfer_engine({"init_info": init_info})

    def start_weight_update(self) -> None:
        self.llm.start_weight_update()

    def update_weights(self, update_info: dict[str, Any]) -> None:
        self.llm.update_weights({"update_info": update_info})

    def finish_weight_update(self, version: int) -> int:
        self.llm.finish_weight_update(weight_version=str(version))
        self.llm.reset_prefix_cache()
        self.version = version
        return self.version

    def shutdown_weight_transfer_engine(self) -> None:
        self.llm.shutdown_weight_transfer_engine()


def _completion(sample: Any) -> Completion:
    token_ids = list(sample.token_ids)
    logprobs = [step[token].logprob for step, token in zip(sample.logprobs, token_ids, strict=True)]
    return Completion(
        token_ids=token_ids,
        text=sample.text,
        logprobs=logprobs,
        finish_reason=str(sample.finish_reason),
    )
