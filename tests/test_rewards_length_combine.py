"""length_following on the real LonGen and LongBench-Write constraints, and RewardSpec combination."""

from __future__ import annotations

import json
import re

import pytest
from pydantic import ValidationError

from rewards import RewardSpec, build_reward, score_terms
from rewards.length import count_length, length_following, parse_length_constraint


def _longen(shared_data) -> list[dict]:
    return [json.loads(line) for line in open(shared_data / "longform" / "LonGen.jsonl")]


def _text_of_length(length: int, language: str) -> str:
    return "word " * length if language == "en" else "字" * length


def test_every_longen_constraint_reads_to_its_interval(shared_data):
    rows = _longen(shared_data)
    assert len(rows) == 240
    for row in rows:
        interval = parse_length_constraint(row)
        assert parse_length_constraint(row["constraint"]) == interval  # the string alone suffices
        number = max(float(n) for n in re.findall(r"\d+", row["constraint"]))
        expected_high = {
            "about": 1.2 * number,
            "range": number,
            "above": 1.5 * number,
            "below": number,
        }
        assert interval.high == pytest.approx(expected_high[row["type"]])
        assert interval.unit == ("words" if row["language"] == "en" else "chars")


def test_longen_scores_inside_and_outside(shared_data):
    rows = _longen(shared_data)
    intervals = [parse_length_constraint(row) for row in rows]
    language = [row["language"] for row in rows]
    inside = [
        _text_of_length(round((i.low + i.high) / 2), lang)
        for i, lang in zip(intervals, language, strict=True)
    ]
    assert length_following(completions=inside, length_constraint=rows) == [1.0] * len(rows)
    half_low = [
        _text_of_length(round(i.low * 0.75), lang)
        for i, lang in zip(intervals, language, strict=True)
    ]
    assert length_following(completions=half_low, length_constraint=rows) == pytest.approx(
        [0.5] * len(rows), abs=1e-3
    )
    far_above = [
        _text_of_length(round(i.high * 1.5), lang)
        for i, lang in zip(intervals, language, strict=True)
    ]
    assert length_following(completions=far_above, length_constraint=rows) == [0.0] * len(rows)


def test_longbench_write_lengths_and_think_is_not_counted(shared_data):
    path = shared_data / "longform" / "longbench_write_en.jsonl"
    rows = [json.loads(line) for line in open(path)][:5]
    thinking = "<think>" + "plan " * 5000 + "</think>"
    completions = [thinking + "word " * row["length"] for row in rows]
    assert length_following(completions=completions, length_constraint=rows) == [1.0] * 5
    lengths = [row["length"] for row in rows]
    assert length_following(completions=completions, length_constraint=lengths) == [1.0] * 5


def test_count_length_counts_words_and_chinese_characters():
    assert count_length("Hello,  world!\nAgain", "words") == 3
    assert count_length("我喜欢 Python 和 GPU。", "chars") == 6


def test_bad_constraint_is_one_clear_error():
    with pytest.raises(ValueError, match="could not read a type"):
        length_following(completions=["x"], length_constraint=["write something nice"])
    with pytest.raises(ValueError, match="needs the 'length_constraint' column"):
        length_following(completions=["x"])


def test_spec_shorthands_agree():
    mapping = RewardSpec.model_validate({"math": 0.8, "format": 0.2})
    listed = RewardSpec.model_validate(
        [{"name": "math", "weight": 0.8}, {"name": "format", "weight": 0.2}]
    )
    assert mapping == listed


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"math": 0.5}, "sum to 0.5"),
        ({"mth": 1.0}, "unknown reward 'mth'"),
        ([{"name": "qa_f1", "weight": 1.0, "kwargs": {"requre_think": False}}], "no option"),
        ([{"name": "math", "weight": 1.0, "wieght": 1}], "wieght"),
        (
            {"terms": {"math": 1.0}, "overlong": {"max_completion_tokens": 10, "cache_tokens": 10}},
            "below",
        ),
        ({}, "at least one term"),
    ],
)
def test_bad_specs_are_rejected(spec, message):
    with pytest.raises(ValidationError, match=message):
        RewardSpec.model_validate(spec)


def test_weighted_sum_with_options_and_chat_messages():
    reward = build_reward(
        [
            {"name": "qa_two_way_substring", "weight": 0.7, "kwargs": {"require_think": False}},
            {"name": "format", "weight": 0.3},
        ]
    )
    completions = [
        [{"role": "assistant", "content": r"<think>hops</think> \boxed{Paris}"}],
        [{"role": "assistant", "content": r"\boxed{Paris}"}],
        [{"role": "assistant", "content": r"<think>hops</think> \boxed{Rome}"}],
    ]
    scores = reward(prompts=[[]] * 3, completions=completions, answer=["Paris"] * 3, task=["x"] * 3)
    assert scores == pytest.approx([1.0, 0.7, 0.3])
    assert reward.__name__ == "qa_two_way_substring+format"
    terms = score_terms(RewardSpec.model_validate({"format": 1.0}), None, completions)
    assert terms == {"format": [1.0, 0.0, 1.0]}


def test_overlong_penalty_uses_token_lengths():
    spec = {"terms": {"math": 1.0}, "overlong": {"max_completion_tokens": 100, "cache_tokens": 20}}
    reward = build_reward(spec)
    completions = [r"\boxed{42}"] * 4
    answers = ["42"] * 4
    assert reward(
        None, completions, answer=answers, completion_lengths=[50, 85, 100, 101]
    ) == pytest.approx([1.0, 0.75, 0.0, 0.0])
    ids = [[0] * 90, [0] * 10, [0] * 95, [0] * 200]
    assert reward(None, completions, answer=answers, completion_ids=ids) == pytest.approx(
        [0.5, 1.0, 0.25, 0.0]
    )
    with pytest.raises(ValueError, match="completion_lengths"):
        reward(None, completions, answer=answers)
