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

from rl.learners import learner_class


def start_learner(config: Any, model_path: str, **objective_arguments: Any):
    """The learner `config.trainer.loss` names, started as a Ray actor (or a group of them)."""
    if config.learner.num_workers > 1:
        from rl.learner_group import start_group

        return start_group(config, model_path, **objective_arguments)
    threads = config.learner.torch_threads or os.cpu_count() or 1
    base = learner_class(config.trainer.loss)

    class LearnerActor(base):
        def __init__(self, *args, **kwargs):
            import torch

            torch.set_num_threads(threads)  # Ray pins actors to 1 thread by default
            super().__init__(*args, **kwargs)

    num_gpus = config.learner.num_gpus
    if num_gpus is None:
        num_gpus = 1 if ray.cluster_resources().get("GPU", 0) >= 1 else 0
    actor = ray.remote(LearnerActor).options(num_cpus=config.learner.num_cpus, num_gpus=num_gpus)
    return actor.remote(
        model_path,
        config.trainer,
        total_steps=config.steps,
        seed=config.seed,
        **objective_arguments,
    )
