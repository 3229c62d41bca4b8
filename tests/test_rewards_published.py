"""The published rewards, each checked against its source's definition written out here.

- LoongRL (paper Eq. 3; `longcontext_qa_llm_judge.py`, ../shared/METHODS.md §1b): the last box
  after `</think>`, `*` stripped, SQuAD-normalised; 1 if gold in pred or pred in gold (characters),
  max over aliases.
- DAPO in verl (its DAPO reward manager): score = +1 correct / -1 wrong, then
  `exceed = L - (L_max - L_buf)`; `score += min(-exceed / L_buf * penalty_factor, 0)`; no clipping.
"""

from __future__ import annotations

import re
import string

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rewards import REWARDS, RewardSpec, build_reward
from rewards.qa_loongrl import loongrl_qa_two_way_substring
from rl.scoring import Scorer
from synth.task import Task


def squad_normalize_reference(text: str) -> str:
    """SQuAD v1.1's evaluate script, written as it is published."""

    def remove_articles(s):
        return re.sub(r"\b(a|an|the)\b", " ", s)

    def white_space_fix(s):
        return " ".join(s.split())

    def remove_punc(s):
        exclude = set(string.punctuation)
        return "".join(ch for ch in s if ch not in exclude)

    return white_space_fix(remove_articles(remove_punc(text.lower())))


def loongrl_reference(boxed: str, golds: list[str]) -> float:
    """LoongRL's sub_em on an already extracted box (empty predictions excluded, see module)."""
    pred = squad_normalize_reference(boxed.replace("*", ""))
    if not pred:
        return 0.0
    scores = [float(g in pred or pred in g) for g in map(squad_normalize_reference, golds) if g]
    return max(scores, default=0.0)


def _completion(boxed: str) -> str:
    return f"<think>reasoning</think> The answer is \\boxed{{{boxed}}}."


def test_loongrl_reward_is_registered_and_reads_characters_not_words():
    assert REWARDS["loongrl_qa_two_way_substring"] is loongrl_qa_two_way_substring
    cases = [
        ("Obama", ["Barack Obama"], 1.0),  # pred inside gold
        ("President Barack Obama of the USA", ["Barack Obama"], 1.0),  # gold inside pred, no cap
        ("bam", ["Barack Obama"], 1.0),  # characters, not words
        ("The Beatles!", ["beatles"], 1.0),
        ("Rolling Stones", ["Beatles", "The Who"], 0.0),
        ("Who", ["Beatles", "The Who"], 1.0),  # max over aliases
        ("**Paris**", ["paris"], 1.0),  # `*` stripped as the reference does
        ("Beyoncé", ["Beyonce"], 0.0),  # SQuAD's normaliser folds no accents
        ("", ["Paris"], 0.0),
    ]
    for boxed, golds, want in cases:
        got = loongrl_qa_two_way_substring(completions=[_completion(boxed)], answer=[golds])
        assert got == [want] == [loongrl_reference(boxed, golds)], boxed


def test_loongrl_reward_gates_on_think_and_box_and_reads_the_last_box():
    golds = [["Paris"]] * 4
    completions = [
        "\\boxed{Paris}",  # no </think>
        "<think>x</think> Paris",  # no box
        "<think>x</think> \\boxed{Rome} then \\boxed{Paris}",  # the last box counts
        "<think>\\boxed{Paris}</think> \\boxed{Rome}",  # boxes inside the thinking do not
    ]
    assert loongrl_qa_two_way_substring(completions=completions, answer=golds) == [
        0.0,
        0.0,
        1.0,
        0.0,
    ]


_plain = st.text(alphabet=string.ascii_letters + " .,!?-'", max_size=12)


@settings(max_examples=200, deadline=None)
@given(boxed=_plain, golds=st.lists(_plain, min_size=1, max_size=3))
def test_loongrl_reward_equals_the_definition_on_random_strings(boxed, golds):
    got = loongrl_qa_two_way_substring(completions=[_completion(boxed)], answer=[golds])
    assert got == [loongrl_reference(boxed, golds)]


def verl_dapo_reference(correct: bool, length: int, max_len: int, buffer: int, factor: float):
    """verl's DAPO reward manager, as documented: ±1 score plus the overlong reward."""
    score = 1.0 if correct else -1.0
    expected_len = max_len - buffer
    exceed_len = length - expected_len
    return score + min(-exceed_len / buffer * factor, 0)


@pytest.mark.parametrize("factor", [1.0, 0.5])
def test_dapo_signed_reward_with_unclipped_overlong_penalty_matches_verl(factor):
    max_len, buffer = 40, 10
    spec = {
        "terms": {"math": 1.0},
        "reward_scale": "plus_minus_one",
        "overlong": {
            "max_completion_tokens": max_len,
            "cache_tokens": buffer,
            "penalty_factor": factor,
        },
    }
    reward = build_reward(spec)
    lengths = list(range(0, max_len + 1))
    for correct in (True, False):
        text = "<think>6*7</think> \\boxed{" + ("42" if correct else "41") + "}"
        got = reward(
            None, [text] * len(lengths), answer=["42"] * len(lengths), completion_lengths=lengths
        )
        want = [verl_dapo_reference(correct, n, max_len, buffer, factor) for n in lengths]
        assert got == pytest.approx(want, abs=1e-12)
    assert reward.reward_range == (-1.0 - factor, 1.0)
    assert min(want) == pytest.approx(-1.0 - factor)  # a wrong answer at L_max: never clipped


def test_unit_scale_is_unchanged_and_clips_a_wrong_overlong_answer_to_zero():
    spec = {"terms": {"math": 1.0}, "overlong": {"max_completion_tokens": 40, "cache_tokens": 10}}
    reward = build_reward(spec)
    texts = ["<think></think> \\boxed{42}", "<think></think> \\boxed{41}"]
    assert reward(None, texts, answer=["42", "42"], completion_lengths=[35, 35]) == [0.5, 0.0]
    assert reward.reward_range == (0.0, 1.0)
    assert RewardSpec.model_validate(spec).reward_scale == "unit"


def test_scorer_keeps_the_signed_range_of_a_dapo_spec():
    task = Task(
        id="t0",
        task="demo",
        level={"horizon": 1},
        prompt=[{"role": "user", "content": "6*7?"}],
        answer="42",
        reward="math",
    )
    signed = {
        "terms": {"math": 1.0},
        "reward_scale": "plus_minus_one",
        "overlong": {"max_completion_tokens": 40, "cache_tokens": 10},
    }
    scorer = Scorer({"signed": signed, "plain": None})
    texts = ["<think></think> \\boxed{42}", "<think></think> \\boxed{41}"]
    assert scorer.score("signed", task, texts, [10, 40]) == [1.0, -2.0]
    assert scorer.score("plain", task, texts, [10, 40]) == [1.0, 0.0]
