"""Several learner actors as one learner: N Ray actors in a placement group, one process group.

    learner = start_learner(config, model_path, **objective_arguments)  # learner.num_workers: 2
    metrics = ray.get(learner.step.remote(batch))                        # as with one actor

`start_group` reserves `learner.num_workers` bundles (CPUs and GPUs per worker) in a Ray
placement group, PACK or SPREAD by `learner.placement`, and starts one rank in each. Rank 0 says
where the group meets (its node's IP and a free port, found on that node: nothing is
hard-coded), every rank sets the torch.distributed variables and builds its learner, joining
the group (gloo on CPU, NCCL where Ray gave the actor a GPU). rl/learners/sharding.py says how
the ranks split a batch and sum gradients (`learner.parallel`: ddp or fsdp).

A `LearnerGroup` has the learner's methods, each with `.remote(...)` returning one ObjectRef,
so the driver cannot tell it from a single actor: a call goes to every rank with the same
arguments (each takes its own slice of a batch; FSDP's gathers are collectives) and the ref
resolves to rank 0's result once every rank has finished. Rank 0 alone writes checkpoints and
returns weights (the others return None and {}); `weights` and `packed_weights` hand back rank
0's own ref, so the weights go from its actor to the rollout workers without a copy.

A rank whose process dies fails the call with `LearnerRankError` naming it (the other ranks'
broken collectives are its consequence, not reported); the run stops and resumes from its last
checkpoint with --resume, on any number of ranks (a checkpoint is a full state dict).
"""

from __future__ import annotations

import logging
import os
import socket
from typing import Any

import ray

from rl.learner_placement import reserve
from rl.learners import learner_class

log = logging.getLogger(__name__)

COLLATERAL_GRACE_S = 10.0
"""After one rank fails, how long to wait for a dead rank to be reported: when a rank dies the
others' collectives fail too, often first, and the dead one is the cause worth naming."""
# Methods whose result is rank 0's own ref: weights travel from its actor, never copied.
RANK0_REFS = ("weights", "packed_weights")


class LearnerRankError(RuntimeError):
    """A learner rank's process died: the group cannot go on, the run resumes from a checkpoint."""


def wait_all(method: str, refs: list[ray.ObjectRef]) -> Any:
    """Rank 0's result of `method` once every rank is done. A dead rank raises
    LearnerRankError naming it; any other failure is re-raised as the rank raised it."""
    pending = list(refs)
    while pending:
        ready, pending = ray.wait(pending, num_returns=1)
        try:
            ray.get(ready[0])
        except Exception as error:
            first = (refs.index(ready[0]), error)
            if pending:  # the first to fail may be a survivor whose collective broke
                done, _ = ray.wait(pending, num_returns=len(pending), timeout=COLLATERAL_GRACE_S)
                failures = [first] + [(refs.index(ref), _error_of(ref)) for ref in done]
            else:
                failures = [first]
            dead = [(rank, err) for rank, err in failures if _is_lost(err)]
            if not dead:
                raise
            rank, cause = min(dead, key=lambda item: item[0])
            raise LearnerRankError(
                f"learner rank {rank} of {len(refs)} died during {method} "
                f"({type(cause).__name__}); the group cannot continue: resume the run from its "
                "last checkpoint (--resume), with any learner.num_workers"
            ) from None
    return ray.get(refs[0])


def _error_of(ref: ray.ObjectRef) -> BaseException | None:
    try:
        ray.get(ref)
    except Exception as error:
        return error
    return None


def _is_lost(error: BaseException | None) -> bool:
    lost = (ray.exceptions.RayActorError, ray.exceptions.WorkerCrashedError)
    return isinstance(error, lost)


@ray.remote(num_cpus=0)
def _rank0_result(method: str, refs: list[ray.ObjectRef]) -> Any:
    """`wait_all` as a task, so a group call returns one ref like an actor call (the refs come
    in a list: Ray passes them unresolved)."""
    return wait_all(method, refs)


class _GroupMethod:
    def __init__(self, group: LearnerGroup, name: str) -> None:
        self.group, self.name = group, name

    def remote(self, *args: Any, **kwargs: Any) -> ray.ObjectRef:
        refs = [getattr(rank, self.name).remote(*args, **kwargs) for rank in self.group.ranks]
        if self.name in RANK0_REFS:
            return refs[0]
        return _rank0_result.remote(self.name, refs)


class LearnerGroup:
    """The ranks of one learner; `group.METHOD.remote(...)` as on a learner actor."""

    def __init__(self, ranks: list[Any], placement: Any, parallel: str) -> None:
        self.ranks, self.placement, self.parallel = ranks, placement, parallel

    def __getattr__(self, name: str) -> _GroupMethod:
        if name.startswith("_"):
            raise AttributeError(name)
        return _GroupMethod(self, name)

    @property
    def world_size(self) -> int:
        return len(self.ranks)

    def shutdown(self) -> None:
        """End every rank and free the placement group (a run's end does this by itself)."""
        from ray.util.placement_group import remove_placement_group

        for rank in self.ranks:
            ray.kill(rank)
        remove_placement_group(self.placement)


def rank_class(base: type, parallel: str, threads: int | None) -> type:
    """`base` (a learner class) as a rank: built empty, so rank 0 can say where the group
    meets, then `join`s the process group (the learner's own __init__)."""

    class LearnerRank(base):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            self._arguments = (args, kwargs)

        def address(self) -> tuple[str, int]:
            """This node's IP and a port free on it, for the group's TCP store."""
            with socket.socket() as probe:
                probe.bind(("", 0))
                port = probe.getsockname()[1]
            return ray.util.get_node_ip_address(), port

        def join(self, address: str, port: int, rank: int, world_size: int) -> int:
            import torch

            os.environ.update(
                MASTER_ADDR=address,
                MASTER_PORT=str(port),
                RANK=str(rank),
                WORLD_SIZE=str(world_size),
                LOCAL_RANK="0",  # Ray shows each actor its own GPUs only
            )
            # Ray pins actors to 1 thread by default; ranks on one node share its cores.
            torch.set_num_threads(threads or max(1, (os.cpu_count() or 1) // world_size))
            args, kwargs = self._arguments
            base.__init__(self, *args, **kwargs)
            return rank

    LearnerRank.parallel = parallel
    LearnerRank.__name__ = LearnerRank.__qualname__ = f"{base.__name__}Rank"
    return LearnerRank


def start_group(
    config: Any,
    model_path: str,
    selector: dict[str, str] | None = None,
    **objective_arguments: Any,
) -> LearnerGroup:
    """`config.learner.num_workers` ranks of the learner `config.trainer.loss` names, joined,
    on nodes that match `selector` (rl/learner_placement.py) when given."""
    from ray.util.scheduling_strategies import PlacementGroupSchedulingStrategy

    learner = config.learner
    size = learner.num_workers
    strategy = learner.placement.upper()
    group, bundle, num_gpus = reserve(learner, size, strategy, selector)
    actor = ray.remote(rank_class(learner_class(config.trainer.loss), learner.parallel,
                                  learner.torch_threads))  # fmt: skip
    ranks = [
        actor.options(
            num_cpus=bundle["CPU"],
            num_gpus=num_gpus,
            scheduling_strategy=PlacementGroupSchedulingStrategy(
                group, placement_group_bundle_index=index
            ),
        ).remote(
            model_path,
            config.trainer,
            total_steps=config.steps,
            seed=config.seed,
            **objective_arguments,
        )
        for index in range(size)
    ]
    address, port = ray.get(ranks[0].address.remote())
    wait_all("start", [rank.join.remote(address, port, i, size) for i, rank in enumerate(ranks)])
    log.info(
        "learner: %d ranks (%s, %s), group at %s:%d",
        size,
        learner.parallel,
        strategy,
        address,
        port,
    )
    return LearnerGroup(ranks, group, learner.parallel)
