"""GSM8K-schema loading: programs from calculator notes, acceptance, malformed rows, splits."""

from __future__ import annotations

import json

import datasets
import pytest

from synth.arith import evaluate, parse, to_number
from synth.gsm8k import (
    SourceStats,
    check_split_allowed,
    problem_from_row,
    problems_from_rows,
    read_hub_rows,
    read_jsonl_rows,
)


@pytest.fixture(scope="module")
def train_rows(shared_data):
    lines = (shared_data / "gsm8k" / "train.jsonl").read_text().splitlines()
    return [json.loads(line) for line in lines]


@pytest.fixture(scope="module")
def train_problems(shared_data):
    stats = SourceStats("train.jsonl")
    path = shared_data / "gsm8k" / "train.jsonl"
    problems = problems_from_rows(read_jsonl_rows(path, stats), stats, "train")
    return problems, stats


def _gold(row: dict):
    return to_number(row["answer"].rsplit("####", 1)[1].strip())


def test_acceptance_rate_on_train_meets_the_goal(train_problems):
    problems, stats = train_problems
    assert stats.rows == 7473
    assert stats.accepted == len(problems)
    assert stats.accepted + sum(stats.rejected.values()) == stats.rows
    assert stats.acceptance_rate >= 0.80, stats.summary()
    # Most accepted problems can also carry a chain dependency.
    assert stats.with_targets >= 0.6 * stats.rows, stats.summary()


def test_every_accepted_program_reproduces_the_gold_answer(train_problems, train_rows):
    problems, _ = train_problems
    for problem in problems:
        row = train_rows[int(problem.id.split("#")[1])]
        assert problem.text == row["question"]
        # Re-run from the recorded program text, not from the cached step values.
        env = {f"q{i}": to_number(text) for i, text in enumerate(problem.input_text)}
        for line in problem.program_text:
            name, _, expression = line.partition(" = ")
            env[name] = evaluate(parse(expression), env)
        assert env[problem.env_names()[problem.answer_index]] == _gold(row), problem.id


def test_thousands_commas_in_gold_answers_are_accepted(train_problems, train_rows):
    problems, _ = train_problems
    with_commas = [
        p for p in problems if "," in train_rows[int(p.id.split("#")[1])]["answer"].split("####")[1]
    ]
    assert with_commas, "GSM8K train has answers like '#### 1,000'"
    assert all(p.answer >= 1000 for p in with_commas)


def test_program_of_a_known_problem(train_rows):
    problem = problem_from_row(train_rows[0], "train#0")  # Natalia's clips: 48 and half as many
    assert problem.program_text == ("r0 = (q0 / 2)", "r1 = (q0 + r0)")
    assert problem.answer == 72
    slot = problem.slots[problem.target_slots[0]]
    assert problem.text[slot.start : slot.end] == "48"


def test_percentages_bind_to_the_question_number():
    row = {
        "question": "A shirt costs $40. It is on sale for 25% off. What is the sale price?",
        "answer": "The discount is 40*0.25=<<40*0.25=10>>10.\nSo 40-10=<<40-10=30>>30.\n#### 30",
    }
    problem = problem_from_row(row, "t#0")
    assert problem.program_text[0] == "r0 = (q0 * (q1 / 100))"
    assert problem.answer == 30


MALFORMED = [
    ("not json at all", "invalid_json"),
    ('["a list"]', "not_an_object"),
    ('{"question": "Q?"}', "missing_field"),
    ('{"question": "   ", "answer": "1+1=<<1+1=2>>2\\n#### 2"}', "empty_question"),
    ('{"question": "Tom has 3 and 4.", "answer": "3+4=<<3+4=7>>7"}', "missing_answer_marker"),
    ('{"question": "Tom has 3 and 4.", "answer": "3+4=<<3+4=7>>7\\n#### seven"}', "unparsable_gold"),
    ('{"question": "Tom has 3 and 4.", "answer": "3 plus 4 is 7\\n#### 7"}', "no_annotations"),
    ('{"question": "Tom has 3 and 4.", "answer": "<<open(3)=7>>7\\n#### 7"}', "unparsable_annotation"),
    ('{"question": "Tom has 3 and 4.", "answer": "<<3+4>>7\\n#### 7"}', "unparsable_annotation"),
    ('{"question": "Tom has 3 and 4.", "answer": "<<3+4=8>>8\\n#### 8"}', "inexact_annotation"),
    ('{"question": "Tom has 3 and 4.", "answer": "<<3+4=7>>7\\n#### 9"}', "answer_mismatch"),
]  # fmt: skip


def test_malformed_rows_are_counted_never_raised(tmp_path, train_rows):
    path = tmp_path / "mixed_train.jsonl"
    good = [json.dumps(row) for row in train_rows[:20]]
    path.write_text("\n".join(good[:10] + [line for line, _ in MALFORMED] + ["", *good[10:]]))
    stats = SourceStats(path.name)
    problems = problems_from_rows(read_jsonl_rows(path, stats), stats, "mixed")
    expected = {}
    for _, reason in MALFORMED:
        expected[reason] = expected.get(reason, 0) + 1
    for reason, count in expected.items():
        assert stats.rejected[reason] >= count, (reason, stats.summary())
    assert stats.rows == 20 + len(MALFORMED)
    assert len(problems) == stats.accepted >= 15
    assert "invalid_json 1" in stats.summary()


def test_test_split_is_refused_for_training_only():
    with pytest.raises(ValueError, match="purpose='eval'"):
        check_split_allowed("test.jsonl", "train")
    check_split_allowed("test.jsonl", "eval")
    check_split_allowed("train.jsonl", "train")


def test_hub_rows_go_through_load_dataset(monkeypatch, shared_data):
    # The Hub itself is mocked (no network in tests): load_dataset returns the local copy.
    calls = []

    def fake_load_dataset(dataset_id, config=None, split=None):
        calls.append((dataset_id, config, split))
        return datasets.Dataset.from_json(str(shared_data / "gsm8k" / "test.jsonl"))

    monkeypatch.setattr(datasets, "load_dataset", fake_load_dataset)
    stats = SourceStats("openai/gsm8k[test]")
    rows = read_hub_rows("openai/gsm8k", None, "test")
    problems = problems_from_rows(rows, stats, "hub")
    assert calls == [("openai/gsm8k", "main", "test")]
    assert stats.rows == 1319 and stats.acceptance_rate >= 0.8
    assert problems[0].id.startswith("hub#")


def test_unreachable_hub_dataset_is_one_clear_error(monkeypatch):
    # The Hub itself is mocked: load_dataset fails as it does offline.
    def offline(*args, **kwargs):
        raise ConnectionError("Couldn't reach 'openai/gsm8k' on the Hub (OfflineModeIsEnabled)")

    monkeypatch.setattr(datasets, "load_dataset", offline)
    with pytest.raises(ValueError, match="local JSONL path"):
        list(read_hub_rows("openai/gsm8k", None, "train"))
