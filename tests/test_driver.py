"""The GRPO driver end to end: real local Ray, real rollout engines, the tiny model.

The tiny random model never solves h1 problems: with the math reward every completion would
score 0 and GRPO would have no gradient. These tests therefore register a plain reward that
varies with the text (its share of the letter "e"), so groups carry signal. It is a real
reward function with TRL's signature, not a mock.
"""

from __future__ import annotations

import math
import os
import shutil
import signal
import threading
import time

import pytest

import rewards
from rl.checkpoints import latest_checkpoint, read_driver_state
from rl.config import RunConfig
from rl.config_io import load_config
from rl.driver import Driver
from rl.lifetime import ProcessLost, running
from rl.rundir import MetricsLogger, make_run_dir, read_metrics

pytestmark = pytest.mark.slow


def letter_e_share(prompts, completions, **columns):
    return [min(1.0, 5 * text.count("e") / max(len(text), 1)) for text in completions]


def odd_hater(prompts, completions, **columns):
    """A buggy user reward: raises on any completion of odd length (about half of them)."""
    for text in completions:
        if len(text) % 2:
            raise RuntimeError("cannot parse a completion of odd length")
    return letter_e_share(prompts, completions)


@pytest.fixture(autouse=True)
def test_rewards(monkeypatch):
    monkeypatch.setitem(rewards.REWARDS, "letter_e_share", letter_e_share)
    monkeypatch.setitem(rewards.REWARDS, "odd_hater", odd_hater)


def tiny_config(tmp_path, name: str, *overrides: str) -> RunConfig:
    base = [
        "model=tiny",
        f"output_dir={tmp_path}",
        f"name={name}",
        "steps=2",
        "max_staleness=0",  # on-policy: each step's rollouts come from the weights just synced
        "prompts_per_step=3",
        "sampling.n=4",
        "sampling.max_tokens=24",
        "trainer.lr=1e-3",
        "trainer.micro_batch_size=6",
        "tasks.h1.reward=letter_e_share",
        "eval.sets={}",
        "logging.wandb=disabled",
        "logging.progress=false",
        "rollout.backend=hf",
        "rollout.max_model_len=1024",
        "ray.num_cpus=4",
    ]
    return load_config(RunConfig, None, base + list(overrides))


class Session:
    """rl.lifetime.running for one run directory, with metrics files but no wandb."""

    def __init__(self, config: RunConfig, resume: bool = False):
        self.config, self.resume = config, resume

    def __enter__(self) -> Driver:
        self.run_dir = make_run_dir(self.config.output_dir, self.config.name, self.resume)
        metrics = MetricsLogger(self.run_dir, {}, "disabled", "test", self.config.name)
        self._running = running(self.config, self.run_dir, metrics, self.resume)
        return self._running.__enter__()

    def __exit__(self, *exc) -> None:
        self._running.__exit__(*exc)

    def records(self) -> list[dict]:
        return read_metrics(self.run_dir / "metrics.jsonl")

    def final_state(self) -> dict:
        return read_driver_state(latest_checkpoint(self.run_dir / "checkpoints"))


def test_vllm_end_to_end_moves_the_workers_weights(tmp_path, tiny_model_path):
    from transformers import AutoTokenizer

    config = tiny_config(tmp_path, "vllm", "rollout.backend=vllm", "rollout.kv_cache_gib=0.5")
    tokenizer = AutoTokenizer.from_pretrained(tiny_model_path)
    chat = [{"role": "user", "content": "Problem: 2 + 3"}]
    rendered = tokenizer.apply_chat_template(chat, tokenize=False, add_generation_prompt=True)
    prompt_ids = tokenizer(rendered, add_special_tokens=False)["input_ids"]
    completion_ids = tokenizer("The answer is \\boxed{5}.")["input_ids"]
    session = Session(config)
    with session as driver:
        before = driver.pool.score(prompt_ids, completion_ids)
        driver.run()
        after = driver.pool.score(prompt_ids, completion_ids)
        versions = driver.pool.policy_versions()
    assert versions == [2]
    assert max(abs(a - b) for a, b in zip(before, after, strict=True)) > 1e-4
    records = session.records()
    assert [r["step"] for r in records] == [0, 1]
    for record in records:
        assert math.isfinite(record["train/loss"])
        for key in (
            "reward/mean",
            "reward/h1/mean",
            "zero_var_frac",
            "response_length/mean",
            "train/kl_mean" if "train/kl_mean" in record else "train/loss",
            "train/clip_low_mean",
            "tokens_per_s/rollout",
            "time/rollout",
            "time/train",
            "time/sync",
            "time/step",
            "curriculum/h1/horizon",
            "curriculum/events",
            "frontier/h1",
            "policy_version",
        ):
            assert key in record, key
    assert records[-1]["policy_version"] == 2


def test_resume_under_overlap_trains_on_the_rollouts_sampled_before_the_kill(tmp_path):
    """max_staleness=1: step 2's rollouts come from the policy before update 1. A resume from
    step 1's checkpoint must train on those (saved with it), not resample them under the newer
    policy, so step 2 is the same as in the run that was never stopped."""
    config = tiny_config(
        tmp_path,
        "overlap",
        "steps=3",
        "max_staleness=1",
        "checkpoint.every=1",
        "checkpoint.keep_last=3",
    )
    first = Session(config)
    with first as driver:
        driver.run()
    straight, straight_state = first.records(), first.final_state()
    checkpoints = first.run_dir / "checkpoints"
    assert (checkpoints / "step-1" / "prefetched.pkl").exists()
    shutil.rmtree(checkpoints / "step-2")  # as if killed during step 2
    second = Session(config, resume=True)
    with second as driver:
        assert driver.start_step == 2
        driver.run()
    resumed = second.records()
    assert [r["step"] for r in resumed] == [0, 1, 2]
    for key in ("batch/task_ids", "reward/mean", "train/loss", "policy_version"):
        assert resumed[2][key] == straight[2][key], key
    assert second.final_state()["curriculum"] == straight_state["curriculum"]


def test_raising_reward_and_killed_worker_do_not_stop_the_step(tmp_path):
    config = tiny_config(tmp_path, "faults", "tasks.h1.reward=odd_hater", "sampling.max_tokens=48")
    session = Session(config)
    with session as driver:
        pid = driver.pool.worker_pids()[0]

        def kill_soon():
            time.sleep(1.5)  # inside step 0's rollout (it takes several seconds)
            os.kill(pid, signal.SIGKILL)

        killer = threading.Thread(target=kill_soon)
        killer.start()
        driver.run()
        killer.join()
        new_pid = driver.pool.worker_pids()[0]
    records = session.records()
    assert new_pid != pid
    assert [r["step"] for r in records] == [0, 1]
    assert records[-1]["policy_version"] == 2
    assert records[-1]["reward/errors"] > 0  # odd-length completions scored 0, counted


def test_a_dead_learner_stops_the_run_in_one_line_and_resume_continues(tmp_path, monkeypatch):
    import ray

    config = tiny_config(tmp_path, "lost", "checkpoint.every=1")
    saved = Driver.save

    def save_then_kill_the_learner(self, step, *args):
        saved(self, step, *args)
        if step == 0:
            ray.kill(self.learner)  # as the OOM killer or a lost node would

    monkeypatch.setattr(Driver, "save", save_then_kill_the_learner)
    with pytest.raises(ProcessLost) as lost, Session(config) as driver:
        driver.run()
    message = str(lost.value)
    assert "\n" not in message and "ActorDiedError" in message
    assert "`--resume name=lost` continues from its last checkpoint, step-0" in message
    monkeypatch.setattr(Driver, "save", saved)
    resumed = Session(config, resume=True)
    with resumed as driver:
        assert driver.start_step == 1
        driver.run()
    assert [r["step"] for r in resumed.records()] == [0, 1]


def even_answers_solved(prompts, completions, answer, **columns):
    """All-correct (zero-variance) groups for tasks whose integer answer is a multiple of 4."""
    gold = answer[0]
    if str(gold).isdigit() and int(gold) % 4 == 0:
        return [1.0] * len(completions)
    return [(len(text) % 5) / 4 for text in completions]  # varies within a group


def test_dapo_refills_dropped_groups_with_one_step_overlap(tmp_path, monkeypatch):
    monkeypatch.setitem(rewards.REWARDS, "even_answers_solved", even_answers_solved)
    config = tiny_config(
        tmp_path,
        "dapo",
        "trainer.loss=dapo",
        "max_staleness=1",
        "prompts_per_step=4",
        "tasks.h1.reward=even_answers_solved",
        "refill_rounds=4",
    )
    assert config.trainer.dynamic_sampling
    session = Session(config)
    with session as driver:
        driver.run()
    records = session.records()
    assert [r["step"] for r in records] == [0, 1]
    observed = sum(r["groups/observed"] for r in records)
    trained = sum(r["groups/trained"] for r in records)
    assert observed > trained  # zero-variance groups were drawn and dropped ...
    assert all(r["groups/trained"] <= 4 for r in records)
    assert any(r["groups/trained"] == 4 for r in records)  # ... and refilled
    assert records[-1]["policy_version"] == 2
