"""Fuzz every registered reward: arbitrary, huge and binary-looking text never raises, values stay in [0, 1]."""

from __future__ import annotations

import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rewards import REWARDS
from rewards.extract import boxed_contents, final_answer

PIECES = [
    "<think>",
    "</think>",
    r"\boxed{",
    r"\fbox{",
    "{",
    "}",
    r"\{",
    r"\}",
    "####",
    "The answer is ",
    r"\frac{",
    "1,000",
    "0.5",
    "$",
    "%",
    "^{",
    "!",
    "\x00",
    "\udcff",
    "\u2212",
    "北京",
    " ",
    "\n",
]
fragments = st.one_of(
    st.sampled_from(PIECES),
    st.text(max_size=20),
    st.binary(max_size=20).map(lambda raw: raw.decode("latin-1")),
)
texts = st.lists(fragments, max_size=40).map("".join)
# Repeating a fuzzed text up to 5,000 times gives huge inputs with the same odd pieces.
huge_texts = st.builds(lambda text, times: text * times, texts, st.integers(1, 5_000))
completions = st.one_of(
    texts, huge_texts, texts.map(lambda text: [{"role": "assistant", "content": text}])
)
golds = st.one_of(texts, st.lists(texts, max_size=3))
FUZZ = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _columns(name: str, gold, count: int) -> dict:
    if name == "length_following":
        return {"length_constraint": ["around 20 words"] * count}
    return {"answer": [gold] * count}


@FUZZ
@given(batch=st.lists(completions, min_size=1, max_size=4), gold=golds)
def test_no_reward_raises_and_all_stay_in_unit_interval(batch, gold):
    for name, reward in REWARDS.items():
        scores = reward(
            prompts=None,
            completions=batch,
            extra_column=[None] * len(batch),
            **_columns(name, gold, len(batch)),
        )
        assert len(scores) == len(batch)
        assert all(isinstance(score, float) and 0.0 <= score <= 1.0 for score in scores), name


@FUZZ
@given(text=texts)
def test_whitespace_prediction_never_matches(text):
    blank = "<think>x</think> \\boxed{" + " \t\n" + "}"
    for name in ("qa_two_way_substring", "qa_exact_match", "qa_f1", "math"):
        assert REWARDS[name](completions=[blank], answer=[text]) == [0.0]


@pytest.mark.parametrize(
    "unit", [r"\boxed{", "{", "}", "####", "a", "<think>", "\x00\xff", "the answer is "]
)
def test_huge_inputs_finish_quickly(unit):
    huge = unit * (300_000 // len(unit))
    started = time.monotonic()
    for name, reward in REWARDS.items():
        assert 0.0 <= reward(completions=[huge], **_columns(name, "42", 1))[0] <= 1.0
    boxed_contents(huge)
    final_answer(huge)
    assert time.monotonic() - started < 10
