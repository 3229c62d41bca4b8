"""Evaluation sets: specs, files and directories load as Task records; bad input is one line; and
a set is held out by construction, for every generator: it shares no task id and no source item
with the training stream of a run that declares the same task."""

from __future__ import annotations

import json

import pytest

from rl.config import RunConfig
from rl.config_io import load_config
from rl.eval_data import (
    EvalDataError,
    check_held_out,
    load_eval_set,
    parse_spec,
    task_source_ids,
)
from synth import get_generator, tasks_to_dataset


def test_spec_parsing_keeps_lists_and_quoted_commas():
    name, values = parse_spec('h1:horizon=2,problem_steps_values=[1,2],system_prompt="a, b",n=5')
    assert name == "h1"
    assert values == {
        "horizon": 2,
        "problem_steps_values": [1, 2],
        "system_prompt": "a, b",
        "n": 5,
    }
    assert parse_spec("no_such_generator:x=1") is None
    assert parse_spec("data/h1-eval") is None


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("h1:horizon=1,depth=3", "unknown keys ['depth']"),
        ("h1:horizon=0", "greater than or equal to 1"),
        ("h1:horizon=1,n=3,purpose=train", "purpose=eval"),
        ("h1:horizon", "is not key=value"),
        ("/no/such/dir", "is neither a dataset directory"),
    ],
)
def test_bad_specs_are_one_line(spec, message):
    with pytest.raises(EvalDataError) as error:
        load_eval_set(spec)
    assert message in str(error.value) and "\n" not in str(error.value)


def test_files_and_directories_load_and_are_checked(tmp_path):
    tasks = get_generator("h1", purpose="eval").sample({"horizon": 2}, 4, seed=3)
    tasks_to_dataset(tasks).save_to_disk(str(tmp_path / "set"))
    loaded = load_eval_set(str(tmp_path / "set"))
    assert loaded.name == "set" and [t.id for t in loaded.tasks] == [t.id for t in tasks]

    from synth.cli import main

    assert main(["h1", "--horizon", "1", "2", "--n", "3", "--purpose", "eval", "--out",
                 str(tmp_path / "levels")]) == 0  # fmt: skip
    levels = load_eval_set(str(tmp_path / "levels"))
    assert [t.level["horizon"] for t in levels.tasks] == [1, 1, 1, 2, 2, 2]

    lines = [task.model_dump_json() for task in tasks] + ["{not json", '{"id": "x"}']
    (tmp_path / "tasks.jsonl").write_text("\n".join(lines) + "\n")
    from_jsonl = load_eval_set(str(tmp_path / "tasks.jsonl"))
    assert len(from_jsonl.tasks) == 4 and from_jsonl.skipped == {"malformed records": 2}

    (tmp_path / "empty.jsonl").write_text("")
    with pytest.raises(EvalDataError, match="is empty"):
        load_eval_set(str(tmp_path / "empty.jsonl"))
    record = json.loads(tasks[0].model_dump_json()) | {"reward": "no_such_reward"}
    (tmp_path / "odd.jsonl").write_text(json.dumps(record) + "\n")
    with pytest.raises(EvalDataError, match="unknown rewards \\['no_such_reward'\\]"):
        load_eval_set(str(tmp_path / "odd.jsonl"))
    (tmp_path / "notaset").mkdir()
    with pytest.raises(EvalDataError, match="not a dataset of Task records"):
        load_eval_set(str(tmp_path / "notaset"))


def test_a_task_name_spec_takes_the_runs_options():
    config = load_config(
        RunConfig,
        None,
        ["tasks.h1.options.system_prompt=Box it.", "tasks.h1.options.max_horizon=3"],
    )
    loaded = load_eval_set("h1:horizon=2,problem_steps=2,n=3", config.tasks)
    assert all(task.prompt[0] == {"role": "system", "content": "Box it."} for task in loaded.tasks)
    assert all(json.loads(task.meta)["purpose"] == "eval" for task in loaded.tasks)


def training_stream(generator, levels: list[dict], steps: int = 6, per_step: int = 8) -> list:
    """Tasks as a run draws them: one seeded sample per (step, level)."""
    from rl.collect import task_seed

    return [
        task
        for step in range(steps)
        for level in levels
        for task in generator.sample(level, per_step, task_seed(0, step, "t", level))
    ]


def assert_held_out(train_tasks: list, eval_set, train_generator) -> None:
    assert not {t.id for t in train_tasks} & {t.id for t in eval_set.tasks}
    train_sources = set().union(*(task_source_ids(t) for t in train_tasks))
    eval_sources = set().union(*(task_source_ids(t) for t in eval_set.tasks))
    assert eval_sources and train_sources
    assert not train_sources & eval_sources
    check_held_out(eval_set, {"train": train_generator})  # and the run's own check agrees


def test_h1_builtin_eval_sets_are_held_out():
    train = get_generator("h1", problem_steps_values=(1, 2))
    levels = [{"horizon": 1, "problem_steps": 1}, {"horizon": 2, "problem_steps": 2}]
    eval_set = load_eval_set("h1:horizon=1,problem_steps=1,problem_steps_values=[1,2],n=200")
    assert_held_out(training_stream(train, levels), eval_set, train)


def test_h1_gsm8k_eval_sets_are_held_out(shared_data):
    train = get_generator("h1", source=f"gsm8k:{shared_data}/gsm8k/train.jsonl")
    test_file = f"gsm8k:{shared_data}/gsm8k/test.jsonl"
    eval_set = load_eval_set(f"h1:horizon=2,source={test_file},n=100")
    assert_held_out(training_stream(train, [{"horizon": 2}]), eval_set, train)
    # Training on the test split is refused; a leaking set is refused by the run's check.
    with pytest.raises(ValueError, match="evaluation only"):
        get_generator("h1", source=test_file)
    leaking = load_eval_set(f"h1:horizon=1,source=gsm8k:{shared_data}/gsm8k/train.jsonl,n=20")
    with pytest.raises(EvalDataError, match="shares source items with the training task"):
        check_held_out(leaking, {"h1": train})


@pytest.mark.parametrize("name", ["keychain", "multihop"])
def test_multihop_eval_sets_are_held_out(name, shared_data):
    source = f"hotpotqa:{shared_data}/multihop/hotpotqa_dev_distractor_500.jsonl"
    filler = str(shared_data / "prose" / "gutenberg_paragraphs.jsonl")
    options = {"source": source, "filler": filler, "verify_token_count": "never"}
    train = get_generator(name, **options)
    level = {"context_tokens": 2048} | ({"num_chains": 2} if name == "keychain" else {})
    spec = f"{name}:" + ",".join(f"{k}={v}" for k, v in {**level, **options, "n": 20}.items())
    eval_set = load_eval_set(spec)
    assert_held_out(training_stream(train, [level], steps=3, per_step=5), eval_set, train)
    # Distractor questions come from the same part: no eval question appears in training.
    eval_questions = {json.loads(t.meta)["question"] for t in eval_set.tasks}
    for task in training_stream(train, [level], steps=2, per_step=5):
        assert not eval_questions & set(json.loads(task.meta).get("chain_questions", []))
