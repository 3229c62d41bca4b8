"""Weight transport from the learner to the rollout engines.

Two paths:
  - object store (CPU, or learner and workers on one node): the state dict is turned into
    numpy arrays, put into Ray's object store once, and every worker gets it; a get on the
    same node maps the shared-memory buffers without a copy, and each engine copies the
    values into its own parameters. This path is tested for real here.
  - NCCL broadcast (learner and workers on GPUs): the learner process joins one NCCL group
    with every engine's GPU workers (rank 0 = learner) and broadcasts each tensor once,
    through vLLM's `weight_transfer` engines (`WeightTransferConfig(backend="nccl")`).
    The learner's rank 0 opens the group (Learner.broadcast_weights, via
    cluster.pool.RolloutPool.publish_from): the tensors never leave its GPU.
    NOT EXERCISED: the project's machines have no GPU, so this path is written against
    vLLM 0.32's and PyTorch's APIs and has never run; treat its first GPU run as a test.

Simplifications: the whole state dict travels every time (no deltas, no bucketing by size
on the object-store path); NCCL mode does not re-join a worker that Ray restarted.
"""

from __future__ import annotations

import logging
import warnings
from typing import Any

log = logging.getLogger(__name__)

# name -> (torch dtype name, numpy array holding the raw values)
PackedStateDict = dict[str, tuple[str, Any]]


def pack_state_dict(state_dict: dict[str, Any]) -> PackedStateDict:
    """CPU numpy views of a torch state dict, the form Ray's object store shares zero-copy.

    numpy has no bfloat16, so 16-bit floats travel as int16 and get their dtype back on unpack.
    """
    import torch

    packed: PackedStateDict = {}
    for name, tensor in state_dict.items():
        if not isinstance(tensor, torch.Tensor):
            raise TypeError(f"state dict entry {name!r} is {type(tensor).__name__}, not a tensor")
        cpu = tensor.detach().to("cpu").contiguous()
        dtype_name = str(cpu.dtype).removeprefix("torch.")
        if cpu.dtype in (torch.bfloat16, torch.float16):
            cpu = cpu.view(torch.int16)
        packed[name] = (dtype_name, cpu.numpy())
    return packed


def unpack_state_dict(packed: PackedStateDict) -> dict[str, Any]:
    """Torch tensors over the packed arrays (no copy; read-only when they live in the object store)."""
    import torch

    state_dict = {}
    with warnings.catch_warnings():
        # Arrays from the object store are read-only; engines only read them (copy_ into
        # their own parameters), so sharing the buffer is safe.
        warnings.filterwarnings("ignore", message=".*not writable.*")
        for name, (dtype_name, array) in packed.items():
            tensor = torch.from_numpy(array)
            dtype = getattr(torch, dtype_name)
            if dtype in (torch.bfloat16, torch.float16):
                tensor = tensor.view(dtype)
            state_dict[name] = tensor
    return state_dict


def as_state_dict(weights: dict[str, Any]) -> dict[str, Any]:
    """Accept either a torch state dict or its packed form (what a worker receives)."""
    if weights and isinstance(next(iter(weights.values())), tuple):
        return unpack_state_dict(weights)
    return weights


def put_state_dict(state_dict: dict[str, Any]):
    """One `ray.put` of the packed state dict; pass the ref to every worker (many gets)."""
    import ray

    return ray.put(pack_state_dict(state_dict))


class NCCLWeightBroadcast:
    """Learner side of the GPU path: one NCCL group, learner at rank 0, engines after it.

    NOT EXERCISED on the project's machines (no GPU). Written against vLLM 0.32's
    `vllm.distributed.weight_transfer` (the worker half runs inside each engine, enabled by
    `RolloutConfig(weight_transport="nccl")`) and PyTorch's CUDA streams.

    Must be created and used in the process that holds the learner's CUDA tensors.
    Worker i's engine has tensor_parallel_sizes[i] GPU workers; they take NCCL ranks after
    the learner and after every earlier engine's workers, so several independent engines
    share one group without rank clashes.
    """

    def __init__(
        self,
        workers: list[Any],
        tensor_parallel_sizes: list[int],
        master_address: str,
        master_port: int,
        packed: bool = True,
    ) -> None:
        self.workers = workers
        self.tensor_parallel_sizes = tensor_parallel_sizes
        self.master_address = master_address
        self.master_port = master_port
        self.packed = packed
        self.world_size = 1 + sum(tensor_parallel_sizes)
        self.group = None

    def connect(self) -> None:
        """Rendezvous: every engine joins while the learner opens rank 0 (both block until all meet)."""
        import ray
        from vllm.distributed.weight_transfer.nccl_common import trainer_init

        futures, rank_offset = [], 1
        for worker, tp_size in zip(self.workers, self.tensor_parallel_sizes, strict=True):
            init_info = {
                "master_address": self.master_address,
                "master_port": self.master_port,
                "rank_offset": rank_offset,
                "world_size": self.world_size,
                "packed": self.packed,
            }
            futures.append(worker.init_weight_transfer_engine.remote(init_info))
            rank_offset += tp_size
        self.group = trainer_init(
            {
                "master_address": self.master_address,
                "master_port": self.master_port,
                "world_size": self.world_size,
            }
        )
        ray.get(futures)
        log.info(
            "NCCL weight group ready: %d ranks at %s:%d",
            self.world_size,
            self.master_address,
            self.master_port,
        )

    def broadcast(self, state_dict: dict[str, Any], version: int) -> list[int]:
        """Send every tensor once from rank 0; returns each worker's policy version after."""
        import ray
        import torch
        from vllm.distributed.weight_transfer.packed_tensor import packed_nccl_broadcast_producer

        if self.group is None:
            self.connect()
        names = list(state_dict)
        update_info = {
            "names": names,
            "dtype_names": [str(state_dict[n].dtype).removeprefix("torch.") for n in names],
            "shapes": [list(state_dict[n].shape) for n in names],
        }
        ray.get([worker.start_weight_update.remote() for worker in self.workers])
        # The engines' receive and the learner's send meet inside the same NCCL calls,
        # so the receive must be in flight before the broadcast starts.
        receiving = [worker.update_weights.remote(update_info) for worker in self.workers]
        pairs = ((name, state_dict[name].contiguous()) for name in names)
        if self.packed:
            packed_nccl_broadcast_producer(
                iterator=pairs, group=self.group, src=0, post_iter_func=lambda item: item[1]
            )
        else:
            stream = torch.cuda.current_stream()
            for _name, tensor in pairs:
                self.group.broadcast(tensor, src=0, stream=stream)
        ray.get(receiving)
        return ray.get([worker.finish_weight_update.remote(version) for worker in self.workers])

    def close(self) -> None:
        import ray

        if self.group is not None:
            ray.get([worker.shutdown_weight_transfer_engine.remote() for worker in self.workers])
            self.group.destroy()
            self.group = None


def open_broadcast(workers: list[Any], tensor_parallel_sizes: list[int]) -> NCCLWeightBroadcast:
    """An NCCLWeightBroadcast from this process to `workers`, connected: the group meets at
    this node's address on a port free here (Ray says the address; nothing is hard-coded)."""
    import ray
    from vllm.utils.network_utils import get_open_port

    broadcast = NCCLWeightBroadcast(
        workers,
        tensor_parallel_sizes,
        master_address=ray.util.get_node_ip_address(),
        master_port=get_open_port(),
    )
    broadcast.connect()
    return broadcast
