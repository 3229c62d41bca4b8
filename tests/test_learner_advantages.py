"""Group-normalised advantages and the zero-variance mask of DAPO's dynamic sampling."""

from __future__ import annotations

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from rl.learners.advantages import advantages_for, group_advantages, informative_groups


def test_grpo_scaled_advantages_by_hand():
    # mean 0.5; Bessel std sqrt((4 * 0.25) / 3)
    std = math.sqrt(1.0 / 3.0)
    got = group_advantages([[1.0, 0.0, 0.0, 1.0]], scale=True)
    want = torch.tensor([[0.5, -0.5, -0.5, 0.5]]) / (std + 1e-4)
    torch.testing.assert_close(got, want)


def test_dr_grpo_advantages_are_only_centred():
    got = group_advantages([[1.0, 0.0, 0.0, 0.0], [0.2, 0.4, 0.6, 0.8]], scale=False)
    want = torch.tensor([[0.75, -0.25, -0.25, -0.25], [-0.3, -0.1, 0.1, 0.3]])
    torch.testing.assert_close(got, want)


def test_zero_variance_groups_are_masked_and_have_zero_advantage():
    rewards = [[1.0, 1.0, 1.0], [0.0, 1.0, 0.0], [0.0, 0.0, 0.0]]
    assert informative_groups(rewards).tolist() == [False, True, False]
    advantages, keep = advantages_for(rewards, scale=True, dynamic_sampling=True)
    assert keep.tolist() == [False, True, False]
    assert advantages[0].abs().max() == 0 and advantages[2].abs().max() == 0
    _, keep_all = advantages_for(rewards, scale=True, dynamic_sampling=False)
    assert keep_all.all()


@pytest.mark.parametrize(
    "rewards, fix",
    [
        ([1.0, 0.0], "num_groups"),
        ([[1.0], [0.0]], "at least two"),
        ([[1.0, float("nan")]], "NaN"),
    ],
)
def test_malformed_rewards_raise_one_clear_error(rewards, fix):
    with pytest.raises(ValueError, match=fix):
        group_advantages(rewards, scale=True)


@settings(max_examples=50, deadline=None)
@given(
    st.lists(
        st.lists(st.floats(0.0, 1.0), min_size=2, max_size=8).map(tuple),
        min_size=1,
        max_size=6,
    ).filter(lambda groups: len({len(g) for g in groups}) == 1)
)
def test_advantages_sum_to_zero_and_scaled_ones_have_unit_std(groups):
    rewards = torch.tensor(groups, dtype=torch.float32)
    for scale in (False, True):
        advantages = group_advantages(rewards, scale=scale)
        torch.testing.assert_close(
            advantages.sum(dim=1), torch.zeros(len(groups)), atol=1e-4, rtol=0
        )
    scaled = group_advantages(rewards, scale=True)
    spread = rewards.std(dim=1)
    for row, std in enumerate(spread.tolist()):
        if std > 1e-2:  # far from the epsilon's reach
            assert abs(scaled[row].std().item() - std / (std + 1e-4)) < 1e-3
