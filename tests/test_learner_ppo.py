"""verl's pieces in the GRPO learner: the `low_var_kl` estimator, PPO epochs and mini-batches.

verl's definitions, written out here (verl/trainer/ppo/core_algos.py `kl_penalty`, and its
actor's `update_policy`):
- low_var_kl: kl = clamp(ref - logp, -20, 20); kld = exp(kl) - kl - 1; clamp(kld, -10, 10);
  the KL loss is aggregated like the policy loss and added with coefficient beta.
- ppo_epochs passes over the batch, each split into mini-batches (one optimizer step each), the
  old log-probs computed by the actor before the first update; the lr scheduler steps once.
"""

from __future__ import annotations

import math

import pytest
import torch
from pydantic import ValidationError

from rl.learners.config import TrainerConfig
from rl.learners.policy_loss import BatchTotals, policy_loss
from tests.test_learner import make_batch, make_learner


def verl_low_var_kl(logprob: float, ref_logprob: float) -> float:
    kl = min(max(ref_logprob - logprob, -20.0), 20.0)
    kld = math.exp(kl) - kl - 1
    return min(max(kld, -10.0), 10.0)


def test_low_var_kl_matches_verl_including_its_clamps():
    # Gaps from tiny to beyond both clamps (|d| > 20 and kld > 10).
    logprobs = torch.tensor([[-1.0, -2.0, -0.1, -30.0], [-0.5, -5.0, -0.2, -1.0]])
    refs = torch.tensor([[-1.1, -0.5, -25.0, -1.0], [-0.5, -1.0, -0.3, -1.0]])
    mask = torch.ones_like(logprobs)
    totals = BatchTotals(num_sequences=2, num_tokens=8, max_completion_length=4)
    beta = 0.001
    loss, stats = policy_loss(
        logprobs.clone().requires_grad_(True),
        logprobs,  # rollout == policy: ratio 1
        torch.zeros(2),  # no policy-gradient term: the loss is the KL term alone
        mask,
        loss_type="dapo",
        totals=totals,
        epsilon=0.2,
        epsilon_high=0.2,
        beta=beta,
        ref_logprobs=refs,
        kl_ratio_correction=False,
        kl_estimator="low_var_kl",
    )
    per_token = [
        verl_low_var_kl(lp, ref)
        for lp, ref in zip(logprobs.flatten().tolist(), refs.flatten().tolist(), strict=True)
    ]
    assert max(per_token) == 10.0  # the clamp is exercised
    assert stats["kl"] == pytest.approx(sum(per_token), rel=1e-6)
    assert loss.item() == pytest.approx(beta * sum(per_token) / 8, rel=1e-6)


def test_low_var_kl_equals_k3_inside_its_clamps():
    logprobs = torch.tensor([[-1.0, -2.0, -0.3]])
    refs = torch.tensor([[-1.2, -1.5, -0.3]])
    kwargs = dict(
        loss_type="grpo",
        totals=BatchTotals(1, 3, 3),
        epsilon=0.2,
        epsilon_high=0.2,
        beta=0.1,
        ref_logprobs=refs,
        kl_ratio_correction=False,
    )
    args = (logprobs, logprobs, torch.zeros(1), torch.ones_like(logprobs))
    k3, _ = policy_loss(*args, kl_estimator="k3", **kwargs)
    low_var, _ = policy_loss(*args, kl_estimator="low_var_kl", **kwargs)
    assert low_var.item() == pytest.approx(k3.item(), rel=1e-7)


def test_config_resolves_and_rejects_what_does_not_fit():
    assert TrainerConfig().kl_ratio_correction is True
    assert TrainerConfig(kl_estimator="low_var_kl").kl_ratio_correction is False
    assert TrainerConfig().recompute_old_logprobs is False
    assert TrainerConfig(ppo_epochs=2).recompute_old_logprobs is True
    assert TrainerConfig(mini_batch_size=4).recompute_old_logprobs is True
    with pytest.raises(ValidationError, match="GRPO family"):
        TrainerConfig(loss="dpo", ppo_epochs=2)
    with pytest.raises(ValidationError, match="recompute_old_logprobs true"):
        TrainerConfig(ppo_epochs=2, tis_cap=2.0, recompute_old_logprobs=False)


def test_recomputed_old_logprobs_are_the_policys_and_the_first_ratio_is_one(
    tiny_model_path, gsm8k_rows
):
    learner = make_learner(tiny_model_path, recompute_old_logprobs=True, epsilon=0.2)
    batch = make_batch(learner, gsm8k_rows, shift=0.3)  # rollout logprobs far from the policy's
    prepared = learner.prepare_batch(batch)
    for sample in prepared:
        own = learner.logprobs(sample["prompt_token_ids"], sample["completion_token_ids"])
        assert sample["old_logprobs"] == pytest.approx(own, abs=1e-5)
    metrics = learner.step(batch)
    # One update against the policy's own logprobs: every ratio is 1, nothing is clipped,
    # although the rollout's logprobs (shift 0.3) would have clipped some tokens.
    assert metrics["ratio_mean"] == pytest.approx(1.0, abs=1e-5)
    assert metrics["clip_low_mean"] == 0 and metrics["clip_high_mean"] == 0
    assert "updates" not in metrics


def test_ppo_epochs_and_mini_batches_equal_the_updates_written_out(tiny_model_path, gsm8k_rows):
    """2 epochs x 2 mini-batches of 4 = four single updates, each against the old logprobs
    recomputed once before the first; the rollout's own logprobs play no part."""
    ppo = make_learner(tiny_model_path, ppo_epochs=2, mini_batch_size=4)
    batch = make_batch(ppo, gsm8k_rows, shift=0.3)
    prepared = ppo.prepare_batch(batch)
    metrics = ppo.step(
        [{**s, "rollout_logprobs": [0.0] * len(s["rollout_logprobs"])} for s in batch]
    )

    by_hand = make_learner(tiny_model_path)  # one update per step, old = the rollout's logprobs
    as_rollout = [{**s, "rollout_logprobs": s.pop("old_logprobs")} for s in prepared]
    hand_metrics = [by_hand.step(half) for half in (as_rollout[:4], as_rollout[4:]) * 2]

    assert metrics["updates"] == 4 and metrics["sequences"] == 8 and ppo.steps_done == 1
    assert metrics["loss"] == pytest.approx(sum(m["loss"] for m in hand_metrics) / 4, rel=1e-4)
    assert hand_metrics[2]["ratio_mean"] != pytest.approx(1.0, abs=1e-4)  # epoch 2 is off-policy
    for name, weight in by_hand.weights().items():
        torch.testing.assert_close(ppo.weights()[name], weight, rtol=1e-4, atol=1e-6, msg=name)
    assert ppo.optimizer.state_dict()["state"][0]["step"].item() == 4
