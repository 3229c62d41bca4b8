"""Held-out score arithmetic: the pass@k estimator against a brute-force count, avg@K, tables."""

from __future__ import annotations

import itertools
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rl.eval_metrics import ItemResult, ks_for, pass_at_k, render_table, summarize_set


def brute_force_pass_at_k(outcomes: list[bool], k: int) -> Fraction:
    """The share of all k-subsets of the samples that hold at least one correct one."""
    subsets = list(itertools.combinations(range(len(outcomes)), k))
    hits = sum(any(outcomes[i] for i in subset) for subset in subsets)
    return Fraction(hits, len(subsets))


@settings(max_examples=200, deadline=None)
@given(
    st.integers(1, 10).flatmap(
        lambda n: st.tuples(st.just(n), st.integers(0, n), st.integers(1, n))
    )
)
def test_pass_at_k_equals_the_brute_force_count(case):
    n, c, k = case
    outcomes = [True] * c + [False] * (n - c)
    assert pass_at_k(n, c, k) == pytest.approx(float(brute_force_pass_at_k(outcomes, k)), abs=1e-12)


def test_pass_at_k_edges_and_bad_input():
    assert pass_at_k(8, 0, 4) == 0.0
    assert pass_at_k(8, 8, 1) == 1.0
    assert pass_at_k(8, 1, 1) == pytest.approx(1 / 8)
    assert pass_at_k(4, 1, 4) == 1.0
    for bad in [(4, 5, 1), (4, 1, 0), (4, 1, 5), (4, -1, 1)]:
        with pytest.raises(ValueError, match="pass@k needs"):
            pass_at_k(*bad)


def test_ks_are_powers_of_two_and_k():
    assert ks_for(1) == [1]
    assert ks_for(4) == [1, 2, 4]
    assert ks_for(6) == [1, 2, 4, 6]
    assert ks_for(8) == [1, 2, 4, 8]


def item(task: str, level: int, rewards: list[float], truncated: int = 0) -> ItemResult:
    return ItemResult(
        task=task,
        level={"horizon": level},
        rewards=rewards,
        lengths=[10 * (i + 1) for i in range(len(rewards))],
        truncated=[i < truncated for i in range(len(rewards))],
    )


def test_avg_at_k_pass_at_k_and_breakdowns():
    items = [
        item("h1", 1, [1.0, 0.0, 0.0, 1.0], truncated=1),
        item("h1", 1, [0.0, 0.0, 0.0, 0.0]),
        item("h1", 2, [0.5, 0.5, 1.0, 0.0]),  # partial credit counts in avg@K, not as solved
    ]
    summary = summarize_set(items)
    assert summary["n"] == 3 and summary["samples"] == 4
    assert summary["pass@1"] == pytest.approx((0.5 + 0.0 + 0.5) / 3)  # mean reward (avg@4)
    # Solved samples (reward 1): 2 of 4, 0 of 4, 1 of 4.
    want_at_2 = (float(brute_force_pass_at_k([1, 0, 0, 1], 2)) + 0 + 0.5) / 3
    assert summary["pass@k"]["2"] == pytest.approx(want_at_2)
    assert summary["pass@k"]["4"] == pytest.approx(2 / 3)
    assert summary["response_length"] == pytest.approx(25.0)
    assert summary["truncated"] == pytest.approx(1 / 12)
    assert summary["by_level"]["h1/horizon=1"]["pass@1"] == pytest.approx(0.25)
    assert summary["by_level"]["h1/horizon=2"]["pass@1"] == pytest.approx(0.5)
    assert summary["by_task"]["h1"]["n"] == 3
    table = render_table({"set-a": summary})
    assert "set-a" in table and "h1/horizon=2" in table and "@4=0.667" in table
