"""Two learner ranks (Ray actors, gloo on CPU) against one learner with the whole batch.

The tiny model, the batches of tests/test_learner.py. Ray workers import the package from
sys.path: PYTHONPATH points them at this checkout, which may be a worktree.
"""

from __future__ import annotations

import os

import pytest
import torch

from rl.config import LearnerResources, RunConfig
from rl.learner_actor import start_learner
from rl.learner_group import LearnerRankError
from rl.learners import GRPOLearner
from rl.learners.config import TrainerConfig
from tests.conftest import REPO
from tests.test_learner import MAX_LEN, make_batch

STEPS = 3


@pytest.fixture(scope="module")
def local_ray():
    import ray

    ray.init(
        address="local",
        num_cpus=1,
        include_dashboard=False,
        _node_ip_address="127.0.0.1",
        log_to_driver=False,
        runtime_env={"env_vars": {"PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}},
    )
    yield ray
    ray.shutdown()


def run_config(workers: int, parallel: str = "ddp") -> RunConfig:
    return RunConfig(
        model="tiny",
        steps=10,
        trainer=TrainerConfig(lr=1e-3, loss="dapo", micro_batch_size=3),
        learner=LearnerResources(num_workers=workers, parallel=parallel, torch_threads=1),
    )


def local_learner(path: str, config: RunConfig) -> GRPOLearner:
    torch.set_num_threads(1)
    return GRPOLearner(
        path, config.trainer, total_steps=config.steps, seed=config.seed,
        max_completion_length=MAX_LEN,
    )  # fmt: skip


def batches(learner: GRPOLearner, rows: list[dict]) -> list[list[dict]]:
    """Three different batches; 7 samples, so the ranks get 4 and 3."""
    return [make_batch(learner, rows[i : i + 8], shift=0.1 * (i + 1))[:7] for i in range(STEPS)]


def group(path: str, config: RunConfig):
    return start_learner(config, path, max_completion_length=MAX_LEN, temperature=1.0)


@pytest.mark.slow
@pytest.mark.parametrize("parallel", ["ddp", "fsdp"])
def test_two_ranks_take_the_one_learner_step(local_ray, tiny_model_path, gsm8k_rows, parallel):
    config = run_config(2, parallel)
    reference = local_learner(tiny_model_path, config)
    steps = batches(reference, gsm8k_rows * 2)
    learners = group(tiny_model_path, config)
    try:
        for batch in steps:
            expected = reference.step(batch)
            metrics = local_ray.get(learners.step.remote(batch))
            assert metrics["tokens"] == expected["tokens"]
            assert metrics["loss"] == pytest.approx(expected["loss"], rel=1e-5, abs=1e-7)
            assert metrics["grad_norm"] == pytest.approx(expected["grad_norm"], rel=1e-4)
        weights = local_ray.get(learners.weights.remote())
    finally:
        learners.shutdown()
    start = local_learner(tiny_model_path, config).weights()
    assert set(weights) == set(reference.weight_names)
    moved = loose = total = 0
    for name, weight in reference.weights().items():
        # AdamW moves an element by up to ~lr a step whatever its gradient's size, so a
        # near-zero gradient summed in another order may move it differently (seen: 1 element
        # in 6M, by 2e-5, and once by 1.05e-4). Each element stays within Adam's bound; only a
        # handful may differ at all, while a wrong gradient moves most elements by ~lr
        # (grad_norm above catches a wrong scale).
        diff = (weights[name] - weight).abs()
        assert diff.max() <= 2 * STEPS * config.trainer.lr, name
        loose += int(diff.gt(1e-6).sum())
        total += weight.numel()
        moved += not torch.equal(weight, start[name])
    assert loose <= total * 1e-5
    assert moved > len(weights) // 2  # the steps did move the weights


@pytest.mark.slow
def test_resume_with_one_then_two_then_one_rank(local_ray, tiny_model_path, gsm8k_rows, tmp_path):
    """1 rank saves, 2 FSDP ranks load it and save, 1 rank loads that: the same 3 steps."""
    one, two = run_config(1), run_config(2, "fsdp")
    uninterrupted = local_learner(tiny_model_path, one)
    steps = batches(uninterrupted, gsm8k_rows * 2)
    for batch in steps:
        uninterrupted.step(batch)

    first = local_learner(tiny_model_path, one)
    first.step(steps[0])
    first.save(tmp_path / "step-0")
    learners = group(tiny_model_path, two)
    try:
        local_ray.get(learners.load.remote(str(tmp_path / "step-0")))
        local_ray.get(learners.step.remote(steps[1]))
        local_ray.get(learners.save.remote(str(tmp_path / "step-1")))
    finally:
        learners.shutdown()
    last = local_learner(tiny_model_path, one)
    last.load(tmp_path / "step-1")
    assert last.steps_done == 2
    last.step(steps[2])
    loose = total = 0
    resumed = last.weights()
    for name, weight in uninterrupted.weights().items():
        diff = (resumed[name] - weight).abs()  # as above
        assert diff.max() <= 2 * STEPS * one.trainer.lr, name
        loose += int(diff.gt(1e-6).sum())
        total += weight.numel()
    assert loose <= total * 1e-5


@pytest.mark.slow
def test_a_killed_rank_fails_the_step_naming_it(local_ray, tiny_model_path, gsm8k_rows):
    config = run_config(2)
    batch = batches(local_learner(tiny_model_path, config), gsm8k_rows * 2)[0]
    learners = group(tiny_model_path, config)
    try:
        local_ray.kill(learners.ranks[1])
        with pytest.raises(LearnerRankError, match="rank 1 of 2 died during step"):
            local_ray.get(learners.step.remote(batch))
    finally:
        learners.shutdown()


def test_old_sharding_key_names_its_new_place():
    with pytest.raises(ValueError, match="learner.parallel=fsdp"):
        TrainerConfig(sharding="fsdp")
    assert TrainerConfig(sharding="none") == TrainerConfig()  # earlier runs' config.yaml


def test_a_rank_without_a_group_says_how_to_start_one(tiny_model_path):
    missing = {k: os.environ.pop(k) for k in ("MASTER_ADDR", "RANK") if k in os.environ}
    try:
        rank = type("DDPRank", (GRPOLearner,), {"parallel": "ddp"})
        with pytest.raises(ValueError, match="learner.num_workers > 1"):
            rank(tiny_model_path, TrainerConfig(), 10, 0, max_completion_length=MAX_LEN)
    finally:
        os.environ.update(missing)
