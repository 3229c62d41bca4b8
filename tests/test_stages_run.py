"""Two stages on the tiny model (local Ray, HF engine): the hard stage draws only the items the
first left unsolved, and a run killed between the stages resumes into the same run."""

from __future__ import annotations

import shutil

import pytest

import rewards
from synth import get_generator
from tests.test_driver import Session, letter_e_share, tiny_config

pytestmark = pytest.mark.slow


def even_answers_solved(prompts, completions, answer, **columns):
    """Every completion right for items whose answer is even; a varying score otherwise."""
    if int(answer[0]) % 2 == 0:
        return [1.0] * len(completions)
    return [(len(text) % 5) / 4 for text in completions]


def test_a_run_killed_between_stages_resumes_into_the_straight_run(tmp_path, monkeypatch):
    monkeypatch.setitem(rewards.REWARDS, "even_answers_solved", even_answers_solved)
    monkeypatch.setitem(rewards.REWARDS, "letter_e_share", letter_e_share)
    made = get_generator("h1").sample({"horizon": 1}, 12, seed=2)
    records = [task.model_copy(update={"answer": str(i)}) for i, task in enumerate(made)]
    path = tmp_path / "records.jsonl"
    path.write_text("\n".join(task.model_dump_json() for task in records) + "\n")
    config = tiny_config(
        tmp_path,
        "stages",
        "steps=3",
        "max_staleness=1",  # the harder resume: stage 2's first batch is sampled before the save
        "tasks.kc.generator=records",
        f"tasks.kc.options.path={path}",
        "tasks.kc.reward=even_answers_solved",
        "tasks.kc.options.seed=1",  # its walk starts with items 2, 1, 6: two solved
        "stages=[{steps: 2, tasks: {kc: 1}}, {steps: 1, tasks: {kc: 1}, hard_subset: true}]",
        "curriculum.hard_subset.samples_per_item=4",
        "checkpoint.every=1",
        "checkpoint.keep_last=3",
    )
    first = Session(config)
    with first as driver:
        driver.run()
    straight, straight_state = first.records(), first.final_state()
    assert [r["stage"] for r in straight] == [0, 0, 1]
    ids = [r["batch/task_ids"] for r in straight]
    answers = {task.id: int(task.answer) for task in records}
    assert all(task_id in answers for step in ids for task_id in step)  # the records, as made
    # With max_staleness=1 stage 2 is chosen after step 0 was observed, before step 1 was.
    solved = {task_id for task_id in ids[0] if answers[task_id] % 2 == 0}
    assert solved, "the walk's first batch should hold an item every completion solves"
    assert not solved & set(ids[2])
    assert straight[-1]["curriculum/hard_subset/tracked"] > 0

    checkpoints = first.run_dir / "checkpoints"
    shutil.rmtree(checkpoints / "step-2")  # as if killed during step 2, the hard stage's first
    second = Session(config, resume=True)
    with second as driver:
        assert driver.start_step == 2
        driver.run()
    resumed = second.records()
    assert [r["step"] for r in resumed] == [0, 1, 2]
    for key in ("batch/task_ids", "reward/mean", "train/loss", "stage"):
        assert resumed[2][key] == straight[2][key], key
    final = second.final_state()
    assert final["stages"] == straight_state["stages"]
    assert final["curriculum"] == straight_state["curriculum"]
