"""RolloutPool: N rollout workers (Ray actors, one engine each) behind one generate call.

    from cluster.config import RolloutConfig, SamplingConfig
    from cluster.pool import RolloutPool
    from cluster.ray_setup import init_ray, shutdown_ray

    started = init_ray(None)
    pool = RolloutPool(RolloutConfig(num_workers=2), "embedded")
    rollouts = pool.generate([task.prompt for task in tasks], SamplingConfig(n=4))
    pool.load_weights(learner.state_dict(), version=1)
    pool.shutdown(); shutdown_ray(started)

Prompts are cut into contiguous chunks that idle workers pull (spread by load); results come
back in input order. A worker that dies mid-request is restarted by Ray, which re-runs its
in-flight requests; the restarted engine starts from the checkpoint, so it answers the
first request with PolicyVersionMismatch and the pool reloads the latest weights into it
before re-running that chunk. Nothing is lost; the pool keeps the latest weights in the
object store for that (one model copy).
"""

from __future__ import annotations

import importlib
import logging
import time
from collections import deque
from typing import Any

from cluster.config import RolloutConfig, SamplingConfig
from cluster.rollout import PolicyVersionMismatch, Rollout, check_prompts

log = logging.getLogger(__name__)

# backend name -> "module:Class" of its engine; imported only when a pool starts.
ENGINES: dict[str, str] = {
    "vllm": "cluster.vllm_worker:VLLMEngine",
    "hf": "cluster.hf_worker:HFEngine",
}


def engine_class(backend: str) -> type:
    if backend not in ENGINES:
        raise ValueError(f"unknown rollout backend {backend!r}; registered: {sorted(ENGINES)}")
    module, name = ENGINES[backend].split(":")
    return getattr(importlib.import_module(module), name)


def chunk_bounds(num_prompts: int, num_chunks: int) -> list[tuple[int, int]]:
    """[start, stop) ranges cutting num_prompts into num_chunks contiguous, near-equal chunks."""
    num_chunks = max(1, min(num_chunks, num_prompts))
    size, extra = divmod(num_prompts, num_chunks)
    bounds, start = [], 0
    for index in range(num_chunks):
        stop = start + size + (1 if index < extra else 0)
        bounds.append((start, stop))
        start = stop
    return bounds


def get(refs: Any) -> Any:
    """ray.get, except that a worker's ValueError (a bad request) comes back as itself.

    Ray wraps remote errors with the remote traceback; a bad request deserves the one line
    that names the input and the fix.
    """
    import ray

    try:
        return ray.get(refs)
    except ray.exceptions.RayTaskError as error:
        if isinstance(error.cause, ValueError):
            raise error.cause from None
        raise


class RolloutPool:
    """Rollout workers from `config`, serving `model` (an alias, a local path or a Hub id)."""

    def __init__(self, config: RolloutConfig, model: str, address: str | None = None) -> None:
        from cluster.ray_setup import init_ray
        from models import resolve_model

        if config.kv_cache_gib == "auto":  # the run sizes it from its batch before the pool starts
            raise ValueError(
                "rollout.kv_cache_gib=auto must be resolved to GiB before the pool starts"
            )
        self.config = config
        self.model = resolve_model(model)
        self._started_ray = init_ray(address)
        self._placement_groups: list[Any] = []
        self._weights_ref = None
        self.version = 0
        started = time.perf_counter()
        self.workers = [self._spawn(index) for index in range(config.num_workers)]
        try:
            self.policy_versions()  # blocks until every engine is up; surfaces start errors
        except Exception:
            self.shutdown()
            raise
        log.info(
            "%d %s rollout worker(s) ready in %.1f s",
            config.num_workers,
            config.backend,
            time.perf_counter() - started,
        )

    def _spawn(self, index: int) -> Any:
        import ray

        config = self.config
        options: dict[str, Any] = dict(
            num_cpus=config.cpus_per_worker,
            max_restarts=config.max_restarts,
            max_task_retries=config.max_restarts,
        )
        if config.tensor_parallel_size > 1:
            from ray.util.placement_group import placement_group
            from ray.util.scheduling_strategies import PlacementGroupSchedulingStrategy

            # One GPU bundle per tensor-parallel rank, on one node; the actor sits in bundle 0
            # and vLLM's Ray executor places its GPU workers in the bundles.
            bundles = [{"GPU": 1, "CPU": config.cpus_per_worker}]
            bundles += [{"GPU": 1}] * (config.tensor_parallel_size - 1)
            group = placement_group(bundles, strategy="STRICT_PACK")
            ray.get(group.ready())
            self._placement_groups.append(group)
            options["num_gpus"] = 0
            options["scheduling_strategy"] = PlacementGroupSchedulingStrategy(
                group, placement_group_bundle_index=0, placement_group_capture_child_tasks=True
            )
        elif config.on_gpu:
            options["num_gpus"] = config.gpus_per_worker
        actor = ray.remote(engine_class(config.backend)).options(**options)
        return actor.remote(config, self.model, index, bind_cores=True)

    def node_ids(self) -> list[str]:
        """The Ray node id of each worker, in worker order."""
        import ray

        def node_id(_worker: Any) -> str:
            return ray.get_runtime_context().get_node_id()

        return ray.get([worker.__ray_call__.remote(node_id) for worker in self.workers])

    # ---------------------------------------------------------------- generation

    def generate(self, prompts: list[Any], sampling: SamplingConfig) -> list[Rollout]:
        """n completions per chat prompt, in input order, spread over the workers by load.

        `prompts` holds chat-message lists or anything with a `.prompt` (a synth.Task).
        """
        import ray
        from tqdm.auto import tqdm

        if isinstance(prompts, list):
            prompts = [getattr(prompt, "prompt", prompt) for prompt in prompts]
        check_prompts(prompts)
        num_chunks = (
            1 if len(self.workers) == 1 else len(self.workers) * self.config.chunks_per_worker
        )
        bounds = chunk_bounds(len(prompts), num_chunks)
        todo = deque(range(len(bounds)))
        idle = deque(range(len(self.workers)))
        pending: dict[Any, tuple[int, int]] = {}  # ref -> (chunk, worker)
        results: list[list[Rollout] | None] = [None] * len(bounds)
        with tqdm(
            total=len(prompts), desc="rollouts", unit="prompt", leave=False, disable=None
        ) as progress:
            while todo or pending:
                while todo and idle:
                    chunk, worker = todo.popleft(), idle.popleft()
                    start, stop = bounds[chunk]
                    ref = self.workers[worker].generate.remote(
                        prompts[start:stop], sampling, start, self.version
                    )
                    pending[ref] = (chunk, worker)
                [ref], _ = ray.wait(list(pending), num_returns=1)
                chunk, worker = pending.pop(ref)
                try:
                    results[chunk] = get(ref)
                except PolicyVersionMismatch as error:
                    log.warning(
                        "%s (restarted); reloading policy version %d into it",
                        getattr(error, "cause", error),
                        self.version,
                    )
                    self._resync(worker)
                    todo.appendleft(chunk)
                else:
                    start, stop = bounds[chunk]
                    progress.update(stop - start)
                idle.append(worker)
        return [rollout for chunk_results in results for rollout in chunk_results]

    def score(
        self, prompt_token_ids: list[int], completion_token_ids: list[int], worker: int = 0
    ) -> list[float]:
        """Per-token logprobs of a fixed completion under worker `worker`'s current weights."""
        return get(self.workers[worker].score.remote(prompt_token_ids, completion_token_ids))

    # ---------------------------------------------------------------- weights

    def load_weights(self, state_dict: dict[str, Any], version: int) -> list[int]:
        """Update every engine in place from a state dict (HF parameter names), given as
        tensors or as an ObjectRef to a (packed) state dict, through Ray's object store (also
        under weight_transport=nccl: base weights from disk, a restarted worker).

        Returns each worker's policy version after the load.
        """
        import ray

        from cluster.weights import put_state_dict

        started = time.perf_counter()
        # One object per load; each worker gets it from shared memory. An ObjectRef (e.g.
        # a learner actor's packed weights) is already in the object store: pass it on.
        is_ref = isinstance(state_dict, ray.ObjectRef)
        ref = state_dict if is_ref else put_state_dict(state_dict)
        versions = get([worker.load_weights.remote(ref, version) for worker in self.workers])
        self._weights_ref = ref  # kept to bring a restarted worker up to date
        self._loaded(version, started)
        return versions

    def publish_from(self, learner: Any, version: int, dtype: str | None = None) -> list[int]:
        """A learner actor's (or rl.learner_group's) weights into every engine, cast to `dtype`
        (None: as they are); returns each worker's policy version after.

        Object store: the learner's packed weights go from its actor straight to the workers
        (one put, many gets). NCCL: the learner's rank 0, the process that holds the CUDA
        tensors, joins one group with the engines and broadcasts each tensor once
        (Learner.broadcast_weights; never run here: no GPU)."""
        if self.config.weight_transport != "nccl":
            # The pool is idle here; without its old copy the store reuses those pages.
            self.release_weights()
            return self.load_weights(learner.packed_weights.remote(dtype), version)
        started = time.perf_counter()
        sizes = [self.config.tensor_parallel_size] * len(self.workers)
        versions = get(learner.broadcast_weights.remote(self.workers, sizes, version, dtype))
        self._weights_ref = None  # nothing kept: a restarted worker cannot re-join (_resync)
        self._loaded(version, started)
        return versions

    def _loaded(self, version: int, started: float) -> None:
        self.version = version
        log.info(
            "loaded policy version %d into %d worker(s) in %.2f s",
            version,
            len(self.workers),
            time.perf_counter() - started,
        )

    def release_weights(self) -> None:
        """Drop the weights kept for restarted workers, so the object store can reuse their
        memory for the next version. Call it while the pool is idle, right before the learner
        publishes new weights for `load_weights`: holding the old copy while the new one is
        written doubled the store's resident memory (1 GB for the 135M model in float32)."""
        self._weights_ref = None

    def policy_versions(self) -> list[int]:
        import ray

        return ray.get([worker.policy_version.remote() for worker in self.workers])

    def worker_pids(self) -> list[int]:
        """Process id of each worker (tests kill one to check recovery)."""
        import ray

        return ray.get([worker.pid.remote() for worker in self.workers])

    def _resync(self, worker: int) -> None:
        import ray

        if self._weights_ref is None:
            why = (
                "was broadcast over NCCL, which cannot re-join a restarted engine"
                if self.config.weight_transport == "nccl"
                else "was released (release_weights) and no load_weights followed"
            )
            raise RuntimeError(
                f"rollout worker {worker} restarted after policy version {self.version} {why}; "
                "restart the pool"
            )
        ray.get(self.workers[worker].load_weights.remote(self._weights_ref, self.version))

    # ---------------------------------------------------------------- lifecycle

    def shutdown(self) -> None:
        """Stop the workers and their placement groups, and the Ray this pool started."""
        import ray

        from cluster.ray_setup import shutdown_ray

        for worker in getattr(self, "workers", []):
            ray.kill(worker, no_restart=True)
        self.workers = []
        for group in self._placement_groups:
            ray.util.remove_placement_group(group)
        self._placement_groups = []
        self._weights_ref = None
        shutdown_ray(self._started_ray)
        self._started_ray = False

    def __enter__(self) -> RolloutPool:
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.shutdown()
