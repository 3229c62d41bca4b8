"""A GRPO run whose learner is two FSDP ranks: it trains, publishes rank 0's weights to the
rollout engine, checkpoints, and resumes on one rank (real local Ray, HF engine, tiny model)."""

from __future__ import annotations

import pytest

import rewards
from tests.conftest import REPO
from tests.test_driver import Session, letter_e_share, tiny_config


@pytest.mark.slow
def test_a_run_on_two_ranks_publishes_and_resumes_on_one(tmp_path, monkeypatch):
    monkeypatch.setenv("PYTHONPATH", str(REPO))  # Ray workers import this checkout
    monkeypatch.setitem(rewards.REWARDS, "letter_e_share", letter_e_share)
    ranks = ["learner.num_workers=2", "learner.parallel=fsdp", "learner.torch_threads=1"]
    first = Session(tiny_config(tmp_path, "ranks", "steps=2", *ranks))
    with first as driver:
        driver.run()
    records = first.records()
    assert [r["policy_version"] for r in records] == [1, 2]  # rank 0's weights reached the engine
    assert all(r["train/tokens"] > 0 and r["train/grad_norm"] > 0 for r in records)
    assert first.final_state()["step"] == 1

    second = Session(tiny_config(tmp_path, "ranks", "steps=3"), resume=True)
    with second as driver:
        assert driver.start_step == 2
        driver.run()
    assert [r["step"] for r in second.records()] == [0, 1, 2]
    assert second.records()[-1]["policy_version"] == 3
