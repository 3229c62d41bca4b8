"""A learner (rl/learners/) as a Ray actor, placed on a GPU when the cluster has one.

    learner = start_learner(config, model_path, **objective_arguments)
    metrics = ray.get(learner.step.remote(batch))

`config.trainer.loss` picks the learner class (rl.learners.learner_class); `config.learner`
sets its Ray resources and torch threads; the objective's own constructor arguments (GRPO: the
rollout's max_tokens and temperature) are passed through. With `learner.num_workers` > 1 it
is a rl.learner_group.LearnerGroup of that many ranks, called the same way.
"""

from __future__ import annotations

import os
from typing import Any

import ray

from rl.learner_placement import MIN_BUNDLE_CPU, node_selector, rank_bundle, reserve
from rl.learners import learner_class


def loads_with_engines(config: Any) -> bool:
    """Whether the learner starts before the rollout engines, loading its model while they
    start: only one rank placed anywhere. A group's start waits for its ranks to join (nothing
    to overlap, and the engines would wait), and a placed learner needs the engines' nodes."""
    return config.learner.num_workers == 1 and config.learner.nodes == "any"


def start_learner(
    config: Any,
    model_path: str,
    rollout_nodes: list[str] | None = None,
    **objective_arguments: Any,
):
    """The learner `config.trainer.loss` names, started as a Ray actor (or a group of them),
    placed by `config.learner.nodes` relative to `rollout_nodes` (the rollout workers' node
    ids; rl/learner_placement.py)."""
    selector = node_selector(config.learner.nodes, rollout_nodes)
    if config.learner.num_workers > 1:
        from rl.learner_group import start_group

        return start_group(config, model_path, selector, **objective_arguments)
    threads = config.learner.torch_threads or os.cpu_count() or 1
    base = learner_class(config.trainer.loss)

    class LearnerActor(base):
        def __init__(self, *args, **kwargs):
            import torch

            torch.set_num_threads(threads)  # Ray pins actors to 1 thread by default
            super().__init__(*args, **kwargs)

    options: dict[str, Any] = {}
    if selector:  # reserved first, so a layout Ray cannot give fails in one line, not forever
        from ray.util.scheduling_strategies import PlacementGroupSchedulingStrategy

        group, _, num_gpus = reserve(config.learner, 1, "PACK", selector)
        options["scheduling_strategy"] = PlacementGroupSchedulingStrategy(group, 0)
        num_cpus = config.learner.num_cpus or MIN_BUNDLE_CPU
    else:
        _, num_gpus = rank_bundle(config.learner)
        num_cpus = config.learner.num_cpus
    actor = ray.remote(LearnerActor).options(num_cpus=num_cpus, num_gpus=num_gpus, **options)
    return actor.remote(
        model_path,
        config.trainer,
        total_steps=config.steps,
        seed=config.seed,
        **objective_arguments,
    )
