"""Hand-made and real cases for every reward: a table of tricky answers, guards, the registry.

Real golds come from ../shared/data (GSM8K, HotpotQA). Runs in about a second.
"""

from __future__ import annotations

import doctest
import importlib
import json
import threading
import time

import pytest

from rewards import REWARDS, get_reward
from rewards.format import format_reward
from rewards.math_reward import math_reward
from rewards.qa import qa_exact_match, qa_f1, qa_two_way_substring

REWARD_MODULES = [
    "rewards",
    "rewards.batch",
    "rewards.combine",
    "rewards.extract",
    "rewards.format",
    "rewards.length",
    "rewards.math_reward",
    "rewards.qa",
    "rewards.qa_loongrl",
    "rewards.ruler",
    "rewards.timeout",
]

MATH_CASES = [
    # (gold, completion, expected)
    ("42", r"so the total is \boxed{42}", 1.0),
    ("42", r"\boxed{41}", 0.0),
    ("42", r"\boxed{\boxed{42}}", 1.0),
    ("7/2", r"\boxed{\frac{7}{2}}", 1.0),
    ("7/2", r"\boxed{\dfrac{7}{2}}", 1.0),
    ("7/2", r"\boxed{3.5}", 1.0),
    ("0.5", r"\boxed{1/2}", 1.0),
    ("1/3", r"\boxed{0.333}", 1.0),
    ("1/3", r"\boxed{0.33}", 0.0),
    ("1000", r"\boxed{1,000}", 1.0),
    ("1,000", r"\boxed{1000}", 1.0),
    ("1000", r"\boxed{1{,}000}", 1.0),
    ("1000", r"\boxed{1,00}", 0.0),
    ("18", r"\boxed{\$18}", 1.0),
    ("18", r"She earns $18.", 0.0),
    ("18", "The answer is $18.", 1.0),
    ("18", "the answer is 18 dollars.", 1.0),
    ("18", r"\boxed{18 \text{ dollars}}", 1.0),
    ("25", r"\boxed{25\%}", 1.0),
    ("90", r"\boxed{90^\circ}", 1.0),
    ("-3", "\\boxed{\u22123}", 1.0),
    ("72", "Natalia sold 48/2 = <<48/2=24>>24 clips in May.\n#### 72", 1.0),
    ("8", r"\boxed{2^3}", 1.0),
    ("x+1", r"\boxed{1 + x}", 1.0),
    ("42", r"\boxed{42} or maybe \boxed{41}", 0.0),
    ("42", r"\boxed{42}, that is \boxed{42.0}", 1.0),
    ("42", r"<think>\boxed{41}?</think> The answer: \boxed{42}", 1.0),
    ("42", "", 0.0),
    ("42", r"\boxed{}", 0.0),
    ("42", r"\boxed{42", 0.0),
    ("42", r"\boxed{" + "4" * 500 + "}", 0.0),
    ("42", "\uff14\uff12 is the answer", 0.0),
]


@pytest.mark.parametrize(("gold", "completion", "expected"), MATH_CASES)
def test_math_table(gold, completion, expected):
    assert math_reward(completions=[completion], answer=[gold]) == [expected]


def test_math_aliases_and_chat_messages():
    messages = [[{"role": "assistant", "content": r"\boxed{3.5}"}]]
    assert math_reward(prompts=[[]], completions=messages, answer=[["7/2", "3 1/2"]]) == [1.0]
    assert math_reward(completions=messages, answer=[["8", "9"]], task=["h1"], level=[{}]) == [0.0]


def test_math_on_gsm8k_golds(shared_data):
    rows = [json.loads(line) for line in open(shared_data / "gsm8k" / "test.jsonl")][:200]
    golds = [row["answer"].split("####")[-1].strip() for row in rows]
    right = [f"Working...\n\\boxed{{{gold}}}" for gold in golds]
    reference = [row["answer"] for row in rows]  # the worked solution, ending in #### N
    wrong = [f"\\boxed{{{gold.replace(',', '')}1}}" for gold in golds]
    assert math_reward(completions=right, answer=golds) == [1.0] * len(golds)
    assert math_reward(completions=reference, answer=golds) == [1.0] * len(golds)
    assert math_reward(completions=wrong, answer=golds) == [0.0] * len(golds)


def test_math_time_limit_stops_a_pathological_answer():
    started = time.monotonic()
    scores = math_reward(
        completions=[r"\boxed{9^{9^{9}}}", r"\boxed{42}"], answer=["42", "42"], time_limit_s=0.3
    )
    assert scores == [0.0, 1.0]
    assert time.monotonic() - started < 3.0


def test_math_off_main_thread_refuses_slow_operators_quickly():
    results = {}

    def score():
        started = time.monotonic()
        results["scores"] = math_reward(
            completions=[r"\boxed{10^{10^{10}}}", r"\boxed{1000000!}", r"\boxed{42}"],
            answer=["42"] * 3,
        )
        results["seconds"] = time.monotonic() - started

    worker = threading.Thread(target=score)
    worker.start()
    worker.join(timeout=30)
    assert results["scores"] == [0.0, 0.0, 1.0]
    assert results["seconds"] < 2.0


QA_CASES = [
    # (gold, boxed answer, two-way substring, exact match)
    ("Barack Obama", "Barack Obama", 1.0, 1.0),
    ("Barack Obama", "Obama", 1.0, 0.0),
    ("Obama", "President Barack Obama", 1.0, 0.0),
    ("Barack Obama", "b", 0.0, 0.0),
    ("the Eiffel Tower", "Eiffel tower.", 1.0, 1.0),
    ("Beyoncé", "BEYONCE", 1.0, 1.0),
    ("Paris", "\uff30\uff41\uff52\uff49\uff53", 1.0, 1.0),
    ("Paris", " ", 0.0, 0.0),
    ("Paris", "the", 0.0, 0.0),
    ("Paris", "Paris is the capital and largest city of France by far", 0.0, 0.0),
    ("1,000", "1000", 1.0, 1.0),
    ("北京", "北京", 1.0, 1.0),
]


@pytest.mark.parametrize(("gold", "boxed", "substring", "exact"), QA_CASES)
def test_qa_table(gold, boxed, substring, exact):
    completion = f"<think>checking</think> The answer is \\boxed{{{boxed}}}."
    assert qa_two_way_substring(completions=[completion], answer=[gold]) == [substring]
    assert qa_exact_match(completions=[completion], answer=[gold]) == [exact]


def test_qa_needs_think_close_and_one_box():
    golds = [["Obama", "Barack Obama"]] * 4
    completions = [
        r"\boxed{Obama}",  # no </think>
        "<think>x</think> no box",
        r"<think>x</think> \boxed{Obama} \boxed{Biden}",
        r"<think>\boxed{Biden}</think> \boxed{Obama}",
    ]
    assert qa_two_way_substring(completions=completions, answer=golds) == [0.0, 0.0, 0.0, 1.0]
    assert qa_two_way_substring(
        completions=completions[:1], answer=golds[:1], require_think=False
    ) == [1.0]


def test_qa_on_hotpotqa_golds(shared_data):
    path = shared_data / "multihop" / "hotpotqa_dev_distractor_500.jsonl"
    golds = [json.loads(line)["answer"] for line in open(path)][:100]
    right = [f"<think>hop 1, hop 2</think> \\boxed{{{gold}}}" for gold in golds]
    assert qa_two_way_substring(completions=right, answer=golds) == [1.0] * len(golds)
    assert qa_exact_match(completions=right, answer=golds) == [1.0] * len(golds)
    assert qa_f1(completions=right, answer=golds) == [1.0] * len(golds)
    shuffled = golds[1:] + golds[:1]
    wrong = qa_exact_match(completions=right, answer=shuffled)
    assert sum(wrong) <= 3  # a few HotpotQA answers repeat ("yes", "no")


def test_format_table():
    completions = [
        r"<think>6*7</think> \boxed{42}",
        r"  <think>6*7</think>The answer is \boxed{42}.",
        r"\boxed{42}",
        r"<think></think> \boxed{42}",
        r"<think>6*7</think> \boxed{42} \boxed{42}",
        r"<think>6*7</think> \boxed{}",
        r"<think>6*7</think> \boxed{42",
        r"<think>a</think><think>b</think> \boxed{42}",
        r"preamble <think>6*7</think> \boxed{42}",
    ]
    assert format_reward(completions=completions) == [1.0, 1.0] + [0.0] * 7
    assert format_reward(completions=[r"6*7</think> \boxed{42}"], think_prefilled=True) == [1.0]


def test_registry_names_and_error():
    assert set(REWARDS) == {
        "math",
        "qa_two_way_substring",
        "qa_two_way_substring_no_think",
        "qa_exact_match",
        "qa_f1",
        "loongrl_qa_two_way_substring",
        "ruler_match_all",
        "ruler_match_all_no_think",
        "format",
        "length_following",
    }
    with pytest.raises(ValueError, match="registered: .*qa_f1"):
        get_reward("qa-f1")


def test_answer_column_mismatch_is_one_clear_error():
    with pytest.raises(ValueError, match="2 items for 3 completions"):
        math_reward(completions=["a", "b", "c"], answer=["1", "2"])
    with pytest.raises(ValueError, match="needs the 'answer' column"):
        qa_f1(completions=["a"])


@pytest.mark.parametrize("module_name", REWARD_MODULES)
def test_docstring_examples(module_name):
    result = doctest.testmod(importlib.import_module(module_name))
    assert result.failed == 0
    assert result.attempted > 0
