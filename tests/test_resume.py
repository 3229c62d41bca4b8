"""Checkpoint cadence, atomic commits, what --resume requires, and records cut back on resume
(rl/checkpoints.py, rl/resume.py). No Ray: the run that is really killed and resumed is in
tests/test_kill_resume.py."""

from __future__ import annotations

import json
import time

import pytest

from rl import checkpoints
from rl.collect import Batch
from rl.resume import check_resumable, cut_records, prepare, resume_step
from rl.rundir import read_metrics, wandb_resume


def write_checkpoint(root, step: int, complete: bool = True, keep_last: int = 10, keep=()):
    tmp = checkpoints.staging_dir(root, step)
    tmp.mkdir()
    (tmp / "model.safetensors").write_bytes(b"weights")
    if complete:
        return checkpoints.commit(root, tmp, step, {"step": step}, keep_last, keep)
    return tmp


def write_records(run_dir, name: str, steps: range, torn: bool = False) -> None:
    lines = "".join(json.dumps({"step": step, "x": step * 10}) + "\n" for step in steps)
    (run_dir / name).write_text(lines + ('{"step": 9, "x"' if torn else ""))


def test_cadence_saves_by_steps_by_minutes_and_at_the_end():
    by_steps = checkpoints.Cadence(every=3, every_minutes=0, total_steps=8)
    assert [step for step in range(8) if by_steps.due(step)] == [2, 5, 7]
    off = checkpoints.Cadence(every=0, every_minutes=0, total_steps=8)
    assert [step for step in range(8) if off.due(step)] == [7]
    by_time = checkpoints.Cadence(every=100, every_minutes=0.05 / 60, total_steps=100)
    assert not by_time.due(0)
    time.sleep(0.06)
    assert by_time.due(1)
    by_time.saved()
    assert not by_time.due(2)


def test_commit_keeps_the_last_and_the_protected_and_ignores_unfinished(tmp_path):
    root = tmp_path / "checkpoints"
    for step in range(5):
        write_checkpoint(root, step, keep_last=2, keep={1})
    assert [step for step, _ in checkpoints.checkpoint_dirs(root)] == [1, 3, 4]
    assert json.loads((root / "step-4" / "driver.json").read_text()) == {"step": 4}
    write_checkpoint(root, 5, complete=False)  # a save killed before its marker
    (root / "step-6").mkdir()  # a directory without driver.json is no checkpoint
    assert checkpoints.latest_checkpoint(root) == root / "step-4"
    assert checkpoints.clean_staging(root) == 1
    assert not (root / ".step-5.tmp").exists() and (root / "step-4").is_dir()


def test_a_failed_save_leaves_the_previous_checkpoint_and_no_partial_files(tmp_path):
    root = tmp_path / "checkpoints"
    write_checkpoint(root, 1)
    with pytest.raises(OSError, match="No space left"), checkpoints.staging(root, 2) as tmp:
        tmp.mkdir()
        (tmp / "model.safetensors").write_bytes(b"half of the weights")
        raise OSError(28, "No space left on device")  # what a write on a full disk raises
    assert [step for step, _ in checkpoints.checkpoint_dirs(root)] == [1]
    assert sorted(path.name for path in root.iterdir()) == ["step-1"]


def test_prefetched_batches_round_trip(tmp_path):
    from cluster.rollout import Completion, Rollout
    from synth import get_generator

    task = get_generator("h1").sample({"horizon": 2}, 1, seed=0)[0]
    rollout = Rollout([1, 2], [Completion([3, 4], "ab", [-0.5, -0.25], "stop")], policy_version=1)
    batch = Batch([("h1", {"horizon": 2})], [task], [rollout], [[0.5]], seconds_rollout=1.5)
    checkpoints.write_prefetched(tmp_path, (batch, batch))
    assert checkpoints.read_prefetched(tmp_path) == (batch, batch)
    assert checkpoints.read_prefetched(tmp_path / "absent") is None
    checkpoints.write_prefetched(tmp_path / "none", None)  # no overlap: nothing written
    assert not (tmp_path / "none").exists()


def test_resume_refuses_a_missing_run_or_checkpoint(tmp_path):
    with pytest.raises(ValueError, match="there is no run directory .*--resume-or-start"):
        check_resumable(tmp_path, "typo")
    run_dir = tmp_path / "probe"
    write_checkpoint(run_dir / "checkpoints", 2, complete=False)
    with pytest.raises(ValueError, match="no complete checkpoint"):
        check_resumable(tmp_path, "probe")
    check_resumable(tmp_path, "probe", needs_checkpoint=False)  # Self-Lengthen: its rounds
    write_checkpoint(run_dir / "checkpoints", 1)
    check_resumable(tmp_path, "probe")
    assert resume_step(run_dir) == 1


def test_records_are_cut_back_to_the_checkpoint(tmp_path):
    write_records(tmp_path, "metrics.jsonl", range(6), torn=True)
    write_records(tmp_path, "rollouts.1.jsonl", range(4))
    write_records(tmp_path, "rollouts.jsonl", range(4, 6))
    cut = cut_records(tmp_path, 2)
    assert cut == {"metrics.jsonl": 4, "rollouts.jsonl": 2, "rollouts.1.jsonl": 1}
    assert [r["step"] for r in read_metrics(tmp_path / "metrics.jsonl")] == [0, 1, 2]
    assert [r["step"] for r in read_metrics(tmp_path / "rollouts.1.jsonl")] == [0, 1, 2]
    assert (tmp_path / "rollouts.jsonl").read_text() == ""
    assert cut_records(tmp_path, 2) == {}  # idempotent
    assert not list(tmp_path.glob(".*.tmp"))


def test_prepare_starts_fresh_without_a_checkpoint_and_cleans_a_killed_save(tmp_path):
    write_records(tmp_path, "metrics.jsonl", range(3))
    write_checkpoint(tmp_path / "checkpoints", 1, complete=False)
    assert prepare(tmp_path) == -1
    assert (tmp_path / "metrics.jsonl").read_text() == ""
    assert not list((tmp_path / "checkpoints").iterdir())


def test_wandb_rewinds_to_the_checkpoint_step():
    assert wandb_resume("probe", None) == {"resume": "allow"}
    assert wandb_resume("probe", -1) == {"resume": "allow"}
    assert wandb_resume("probe", 4) == {"resume_from": "probe?_step=4"}
