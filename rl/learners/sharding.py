"""FSDP2 sharding of the learner's models, for policies that do not fit one device.

Written against torch's public FSDP2 API (`torch.distributed.fsdp.fully_shard`,
`MixedPrecisionPolicy`) and distributed state dicts (`torch.distributed.checkpoint.state_dict`).
Tested only on two CPU ranks over gloo in float32 (tests/test_learner.py, slow): the batch split,
gradient sum, and state gathering match the unsharded learner. NOT tested: NCCL, GPUs, the
bfloat16 mixed-precision policy, models too large to load whole in each rank's host memory (each
rank loads the full checkpoint before sharding; rank-0 loading with `broadcast_from_rank0` would
fix that). Check it on GPUs before relying on it.

How it is meant to run: the driver starts `world_size` learner actors (one GPU each) and sets in
each the usual torch.distributed variables (MASTER_ADDR, MASTER_PORT, RANK, WORLD_SIZE,
LOCAL_RANK), then calls `step(batch)` on every actor with the same full batch. Each rank trains
on `batch[rank::world_size]`; the loss weights are computed from whole-batch totals, so gradients
must be summed over ranks: FSDP averages them, so each rank scales its loss by world_size
(a divide factor of 1 would need PREMUL_SUM, which gloo lacks).
"""

from __future__ import annotations

import logging
import os

import torch

log = logging.getLogger(__name__)


def init_process_group() -> tuple[int, int]:
    """(rank, world_size), starting the NCCL process group from the environment if needed."""
    import torch.distributed as dist

    missing = [
        key for key in ("MASTER_ADDR", "MASTER_PORT", "RANK", "WORLD_SIZE") if key not in os.environ
    ]
    if missing and not dist.is_initialized():
        raise ValueError(
            f"sharding='fsdp' needs the torch.distributed variables {missing}: launch one learner "
            "actor per GPU with them set, or use sharding='none'"
        )
    if not dist.is_initialized():
        backend = "nccl" if torch.cuda.is_available() else "gloo"
        dist.init_process_group(backend=backend)
    if torch.cuda.is_available():
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", 0)))
    return dist.get_rank(), dist.get_world_size()


def shard_model(model: torch.nn.Module, bf16: bool) -> torch.nn.Module:
    """Shard every decoder layer, then the root (embeddings, norm, lm_head), in place."""
    from torch.distributed.fsdp import MixedPrecisionPolicy, fully_shard

    policy = MixedPrecisionPolicy(
        param_dtype=torch.bfloat16 if bf16 else None, reduce_dtype=torch.float32
    )
    layers = getattr(getattr(model, "model", None), "layers", None)
    if layers is None:
        raise ValueError(
            f"{type(model).__name__} has no .model.layers to shard; use sharding='none' or "
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
    """Unsharded CPU optimizer state (a collective)."""
    from torch.distributed.checkpoint.state_dict import StateDictOptions, get_optimizer_state_dict

    options = StateDictOptions(full_state_dict=True, cpu_offload=True)
    return get_optimizer_state_dict(model, optimizer, options=options)


def load_full_state(
    model: torch.nn.Module, optimizer, model_state: dict, optimizer_state: dict
) -> None:
    """Load unsharded model and optimizer state into a sharded model (a collective)."""
    from torch.distributed.checkpoint.state_dict import StateDictOptions, set_state_dict

    options = StateDictOptions(full_state_dict=True, strict=False)
    set_state_dict(
        model,
        optimizer,
        model_state_dict=model_state,
        optim_state_dict=optimizer_state,
        options=options,
    )
