"""Several learner ranks: the process group, DDP's gradient sum, FSDP2 sharding and full state.

rl/learner_group.py starts the ranks as Ray actors and sets in each the usual torch.distributed
variables (MASTER_ADDR, MASTER_PORT, RANK, WORLD_SIZE, LOCAL_RANK=0: Ray shows each actor its
own GPU only), then calls `step(batch)` on every actor with the same full batch. Each rank
trains on `batch[rank::world_size]`; the loss weights are computed from whole-batch totals, so
gradients must be summed over ranks: FSDP averages them, and so does `all_reduce_gradients`,
so each rank scales its loss by world_size (a divide factor of 1 would need PREMUL_SUM, which
gloo lacks).

`ddp`: every rank holds the whole model and AdamW state; the gradients are summed once per
update, after the last micro-batch (what torch's DistributedDataParallel does with no_sync, by
hand, because the learner's forward calls the decoder and the head apart, which the wrapper's
forward hooks would not see). `fsdp`: torch's public FSDP2 API (`fully_shard`,
`MixedPrecisionPolicy`) and distributed state dicts (`torch.distributed.checkpoint.state_dict`).

Tested on two CPU ranks over gloo in float32 (tests/test_learner.py, tests/test_learner_group.py,
slow): the batch split, gradient sum and state gathering match the one-process learner. The
GPU tests (tests/test_learner_gpu.py, marked `gpu`: NCCL, bfloat16 mixed precision) have not run
on this project's machines. Not handled: models too large to load whole in each rank's host
memory (each rank loads the full checkpoint before sharding; rank-0 loading with
`broadcast_from_rank0` would fix that).
"""

from __future__ import annotations

import logging
import os

import torch

log = logging.getLogger(__name__)


def init_process_group(parallel: str = "fsdp") -> tuple[int, int]:
    """(rank, world_size), starting the process group from the environment if needed: NCCL
    where the actor has a GPU, gloo otherwise."""
    import torch.distributed as dist

    missing = [
        key for key in ("MASTER_ADDR", "MASTER_PORT", "RANK", "WORLD_SIZE") if key not in os.environ
    ]
    if missing and not dist.is_initialized():
        raise ValueError(
            f"parallel={parallel!r} needs the torch.distributed variables {missing}: start the "
            "learner with learner.num_workers > 1 (rl/learner_group.py sets them)"
        )
    if not dist.is_initialized():
        backend = "nccl" if torch.cuda.is_available() else "gloo"
        dist.init_process_group(backend=backend)
    if torch.cuda.is_available():
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", 0)))
    return dist.get_rank(), dist.get_world_size()


def all_reduce_gradients(
    model: torch.nn.Module, world_size: int, bucket_elements: int = 1 << 25
) -> None:
    """Average `.grad` over ranks in place, in flat buckets of about `bucket_elements` (one
    collective each, not one per parameter); a rank without a gradient (no sample of its own
    this update) sends zeros."""
    import torch.distributed as dist
    from torch._utils import _flatten_dense_tensors, _unflatten_dense_tensors

    params = [p for p in model.parameters() if p.requires_grad]
    for param in params:
        if param.grad is None:
            param.grad = torch.zeros_like(param)
    bucket: list[torch.Tensor] = []
    for index, param in enumerate(params):
        bucket.append(param.grad)
        size = sum(grad.numel() for grad in bucket)
        if size >= bucket_elements or index == len(params) - 1:
            flat = _flatten_dense_tensors(bucket)
            dist.all_reduce(flat)
            flat.div_(world_size)
            for grad, synced in zip(bucket, _unflatten_dense_tensors(flat, bucket), strict=True):
                grad.copy_(synced)
            bucket = []


def shard_model(model: torch.nn.Module, bf16: bool) -> torch.nn.Module:
    """Shard every decoder layer, then the root (embeddings, norm, lm_head), in place."""
    from torch.distributed.fsdp import MixedPrecisionPolicy, fully_shard

    policy = MixedPrecisionPolicy(
        param_dtype=torch.bfloat16 if bf16 else None, reduce_dtype=torch.float32
    )
    layers = getattr(getattr(model, "model", None), "layers", None)
    if layers is None:
        raise ValueError(
            f"{type(model).__name__} has no .model.layers to shard; use learner.parallel=ddp or "
            "extend rl/learners/sharding.py for this architecture"
        )
    for layer in layers:
        fully_shard(layer, mp_policy=policy)
    fully_shard(model, mp_policy=policy)
    return model


def full_model_state(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    """Unsharded CPU state dict of a sharded model (a collective: every rank must call it)."""
    from torch.distributed.checkpoint.state_dict import StateDictOptions, get_model_state_dict

    options = StateDictOptions(full_state_dict=True, cpu_offload=True)
    return get_model_state_dict(model, options=options)


def full_optimizer_state(model: torch.nn.Module, optimizer) -> dict:
    """Unsharded CPU optimizer state (a collective), in torch's own `optimizer.state_dict()`
    layout (parameters by their index), so a checkpoint loads with any number of ranks."""
    from torch.distributed.checkpoint.state_dict import StateDictOptions, get_optimizer_state_dict

    options = StateDictOptions(full_state_dict=True, cpu_offload=True)
    by_name = get_optimizer_state_dict(model, optimizer, options=options)
    if not by_name:  # cpu_offload leaves the ranks other than 0 empty
        return {}
    index = {name: i for i, (name, _) in enumerate(model.named_parameters())}
    return {
        "state": {index[name]: value for name, value in by_name["state"].items()},
        "param_groups": [
            {**group, "params": [index[name] for name in group["params"]]}
            for group in by_name["param_groups"]
        ],
    }


def load_full_state(
    model: torch.nn.Module, optimizer, model_state: dict, optimizer_state: dict
) -> None:
    """Load unsharded model state and a `full_optimizer_state` into a sharded model (a
    collective)."""
    from torch.distributed.checkpoint.state_dict import StateDictOptions, set_state_dict

    names = [name for name, _ in model.named_parameters()]
    by_name = {
        "state": {names[i]: value for i, value in optimizer_state["state"].items()},
        "param_groups": [
            {**group, "params": [names[i] for i in group["params"]]}
            for group in optimizer_state["param_groups"]
        ],
    }
    options = StateDictOptions(full_state_dict=True, strict=False)
    set_state_dict(
        model,
        optimizer,
        model_state_dict=model_state,
        optim_state_dict=by_name,
        options=options,
    )
