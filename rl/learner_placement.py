"""Where the learner's Ray actors go: their bundles, and which nodes they may use.

`learner.nodes` places the learner relative to the rollout workers, through Ray's node labels
(every node carries its id as `ray.io/node-id`): `colocated` keeps every rank on a node that
runs a rollout worker, so a weight publish stays within a node; `disaggregated` keeps them off
those nodes, so the engines keep their GPUs and memory to themselves; `any` leaves it to Ray.
The learner's bundles are reserved in a placement group first, with a time limit, so a layout
the cluster cannot give is one clear line instead of an actor that waits forever.
"""

from __future__ import annotations

from typing import Any

import ray

PLACEMENT_TIMEOUT_S = 120.0
"""How long Ray may take to reserve the learner's bundles before the run gives up."""
# A placement group bundle must reserve something; a learner that reserves no CPU (it shares
# the rollout workers' cores, learner.num_cpus=0) reserves this token share.
MIN_BUNDLE_CPU = 0.01
NODE_ID_LABEL = "ray.io/node-id"


def rank_bundle(learner: Any) -> tuple[dict[str, float], float]:
    """One rank's bundle and its GPUs (num_gpus None: 1 where the cluster has a GPU)."""
    num_gpus = learner.num_gpus
    if num_gpus is None:
        num_gpus = 1 if ray.cluster_resources().get("GPU", 0) >= 1 else 0
    bundle = {"CPU": learner.num_cpus or MIN_BUNDLE_CPU}
    if num_gpus:
        bundle["GPU"] = num_gpus
    return bundle, num_gpus


def node_selector(nodes: str, rollout_nodes: list[str] | None) -> dict[str, str] | None:
    """The label selector for `learner.nodes` given the rollout workers' node ids."""
    if nodes == "any":
        return None
    if not rollout_nodes:
        raise ValueError(
            f"learner.nodes={nodes} needs the rollout workers' nodes, and none were given"
        )
    ids = ",".join(sorted(set(rollout_nodes)))
    return {NODE_ID_LABEL: f"in({ids})" if nodes == "colocated" else f"!in({ids})"}


def reserve(
    learner: Any, size: int, strategy: str, selector: dict[str, str] | None
) -> tuple[Any, dict[str, float], float]:
    """A ready placement group of `size` rank bundles (and the bundle, and its GPUs); ValueError
    in one line when Ray cannot place them within PLACEMENT_TIMEOUT_S."""
    from ray.util.placement_group import placement_group, remove_placement_group

    bundle, num_gpus = rank_bundle(learner)
    group = placement_group(
        [bundle] * size,
        strategy=strategy,
        bundle_label_selector=[selector] * size if selector else None,
    )
    ready, _ = ray.wait([group.ready()], timeout=PLACEMENT_TIMEOUT_S)
    if not ready:
        remove_placement_group(group)
        where = f" on nodes {learner.nodes} to the rollout workers" if selector else ""
        fix = (
            "add nodes or use learner.nodes=any"
            if selector
            else "lower learner.num_workers, num_gpus or num_cpus, or add nodes"
        )
        raise ValueError(
            f"learner: Ray could not place {size} x {bundle} ({strategy}){where} in "
            f"{PLACEMENT_TIMEOUT_S:.0f} s; the cluster has {ray.cluster_resources()}: {fix}"
        )
    return group, bundle, num_gpus
