"""GRPO-family losses: hand computations, micro-batch invariance, and TRL's own loss on the same inputs.

The TRL comparison builds a real `trl.GRPOTrainer` on the tiny model (a constant reward function,
no generation) and calls its `_compute_loss` with a prepared inputs dict; our `policy_loss` gets
the per-token logprobs TRL's own helper computes, so both see identical inputs.
"""

from __future__ import annotations

import math
import os

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from rl.learners.policy_loss import BatchTotals, policy_loss, token_weights

# Three completions (lengths 2, 2, 1): one high-clipped token, one low-clipped, one on-policy.
LOGPROBS = torch.tensor([[-1.0, -2.0], [-0.5, -3.0], [-0.2, -7.0]])
ROLLOUT = torch.tensor([[-1.5, -1.5], [-0.9, -2.0], [-0.2, 0.0]])
ADVANTAGES = torch.tensor([1.0, -2.0, 0.5])
MASK = torch.tensor([[1, 1], [1, 1], [1, 0]])
EPS_LOW, EPS_HIGH, MAX_LEN = 0.2, 0.28, 4


def _hand_token_losses() -> list[list[float]]:
    """min(r * A, clip(r) * A) per token, negated, written out by hand."""
    r00, r01, r10, r11 = math.exp(0.5), math.exp(-0.5), math.exp(0.4), math.exp(-1.0)
    return [
        [-min(r00 * 1.0, 1.28 * 1.0), -min(r01 * 1.0, 0.8 * 1.0)],  # r00 clipped at 1 + 0.28
        [-min(r10 * -2.0, 1.28 * -2.0), -min(r11 * -2.0, 0.8 * -2.0)],  # r11 clipped at 1 - 0.2
        [-0.5],
    ]


def _loss(loss_type: str, **kwargs):
    totals = BatchTotals(num_sequences=3, num_tokens=5, max_completion_length=MAX_LEN)
    return policy_loss(
        LOGPROBS.clone().requires_grad_(True),
        ROLLOUT,
        ADVANTAGES,
        MASK,
        loss_type=loss_type,
        totals=totals,
        epsilon=EPS_LOW,
        epsilon_high=EPS_HIGH,
        **kwargs,
    )


def test_grpo_dapo_dr_grpo_match_hand_computation():
    tokens = _hand_token_losses()
    flat = [value for row in tokens for value in row]
    want = {
        "grpo": sum(sum(row) / len(row) for row in tokens) / 3,
        "dapo": sum(flat) / 5,
        "dr_grpo": sum(flat) / (3 * MAX_LEN),
    }
    for loss_type, value in want.items():
        loss, stats = _loss(loss_type)
        assert loss.item() == pytest.approx(value, rel=1e-6), loss_type
        assert stats["clip_high"] == 1 and stats["clip_low"] == 1 and stats["tokens"] == 5


def test_truncated_importance_sampling_by_hand():
    # old = the trainer's own logprobs: ratio 1, gradient of -A * w * logp with w detached.
    weights = [
        [min(math.exp(0.5), 2.0), math.exp(-0.5)],
        [min(math.exp(0.4), 2.0), math.exp(-1.0)],
        [1.0],
    ]
    advantages = [1.0, -2.0, 0.5]
    flat = [-advantages[i] * w for i, row in enumerate(weights) for w in row]
    logprobs = LOGPROBS.clone().requires_grad_(True)
    totals = BatchTotals(num_sequences=3, num_tokens=5, max_completion_length=MAX_LEN)
    loss, stats = policy_loss(
        logprobs,
        ROLLOUT,
        ADVANTAGES,
        MASK,
        loss_type="dapo",
        totals=totals,
        epsilon=EPS_LOW,
        epsilon_high=EPS_HIGH,
        tis_cap=2.0,
    )
    assert loss.item() == pytest.approx(sum(flat) / 5, rel=1e-6)
    loss.backward()
    want_grad = torch.tensor([[flat[0], flat[1]], [flat[2], flat[3]], [flat[4], 0.0]]) / 5
    torch.testing.assert_close(logprobs.grad, want_grad)
    assert stats["clip_high"] == 0 and stats["clip_low"] == 0


def test_k3_kl_term_by_hand():
    ref = LOGPROBS + torch.tensor([[0.3, -0.2], [0.0, 0.1], [0.5, 9.0]])
    totals = BatchTotals(num_sequences=3, num_tokens=5, max_completion_length=MAX_LEN)
    gaps = [[0.3, -0.2], [0.0, 0.1], [0.5]]
    k3 = [[math.exp(g) - g - 1 for g in row] for row in gaps]
    base, _ = _loss("dapo")
    for correction in (False, True):
        loss, stats = policy_loss(
            LOGPROBS,
            ROLLOUT,
            ADVANTAGES,
            MASK,
            loss_type="dapo",
            totals=totals,
            epsilon=EPS_LOW,
            epsilon_high=EPS_HIGH,
            beta=0.1,
            ref_logprobs=ref,
            kl_ratio_correction=correction,
        )
        ratios = (LOGPROBS - ROLLOUT).exp().tolist() if correction else [[1.0, 1.0]] * 3
        kl = sum(k * ratios[i][j] for i, row in enumerate(k3) for j, k in enumerate(row))
        assert loss.item() == pytest.approx(base.item() + 0.1 * kl / 5, rel=1e-6)
        assert stats["kl"] == pytest.approx(kl, rel=1e-6)


def test_beta_without_reference_is_an_error():
    with pytest.raises(ValueError, match="ref_logprobs"):
        _loss("grpo", beta=0.1)


@settings(max_examples=30, deadline=None)
@given(
    loss_type=st.sampled_from(["grpo", "dapo", "dr_grpo"]),
    lengths=st.lists(st.integers(0, 5), min_size=2, max_size=7),
    split=st.integers(1, 6),
    seed=st.integers(0, 1000),
)
def test_micro_batch_losses_sum_to_the_full_batch_loss(loss_type, lengths, split, seed):
    generator = torch.Generator().manual_seed(seed)
    rows, width = len(lengths), max(max(lengths), 1)
    logprobs = -torch.rand(rows, width, generator=generator) * 3
    rollout = logprobs + torch.randn(rows, width, generator=generator) * 0.3
    advantages = torch.randn(rows, generator=generator)
    mask = (torch.arange(width) < torch.tensor(lengths).unsqueeze(1)).long()
    totals = BatchTotals(rows, int(mask.sum()), max_completion_length=8)
    kwargs = dict(loss_type=loss_type, totals=totals, epsilon=0.2, epsilon_high=0.28)
    full, _ = policy_loss(logprobs, rollout, advantages, mask, **kwargs)
    parts = sum(
        policy_loss(
            logprobs[i : i + split],
            rollout[i : i + split],
            advantages[i : i + split],
            mask[i : i + split],
            **kwargs,
        )[0]
        for i in range(0, rows, split)
    )
    assert float(parts) == pytest.approx(float(full), rel=1e-5, abs=1e-6)
    assert float(token_weights(mask, loss_type, totals).sum()) <= 1.0 + 1e-6


# ---------------------------------------------------------------- TRL's GRPOTrainer loss
@pytest.fixture(scope="module")
def trl_trainer(tiny_model_path, tmp_path_factory):
    os.environ.setdefault("WANDB_DISABLED", "true")
    from datasets import Dataset
    from trl import GRPOConfig, GRPOTrainer

    args = GRPOConfig(
        output_dir=str(tmp_path_factory.mktemp("trl")),
        report_to="none",
        use_cpu=True,
        per_device_train_batch_size=6,
        num_generations=2,
        max_completion_length=MAX_LEN + 2,
        steps_per_generation=1,
        gradient_accumulation_steps=1,
        save_strategy="no",
    )
    trainer = GRPOTrainer(
        model=tiny_model_path,
        args=args,
        train_dataset=Dataset.from_list([{"prompt": "hi"}] * 6),
        reward_funcs=lambda completions, **columns: [0.0] * len(completions),
    )
    trainer.current_gradient_accumulation_steps = 1  # set by Trainer's loop, which we don't run
    trainer.model.train()
    return trainer


def _trl_inputs(trainer, seed: int) -> dict:
    from rl.learners.batching import collate

    generator = torch.Generator().manual_seed(seed)
    samples = []
    for prompt_len, completion_len in [(3, 6), (5, 2), (4, 5), (2, 1), (6, 6), (3, 4)]:
        samples.append(
            {
                "prompt_token_ids": torch.randint(
                    5, 4000, (prompt_len,), generator=generator
                ).tolist(),
                "completion_token_ids": torch.randint(
                    5, 4000, (completion_len,), generator=generator
                ).tolist(),
                "rollout_logprobs": [0.0] * completion_len,
                "advantage": float(torch.randn(1, generator=generator)),
            }
        )
    tensors = collate(samples, pad_token_id=2)
    prompt_width = tensors["input_ids"].shape[1] - tensors["completion_ids"].shape[1]
    inputs = {
        "prompt_ids": tensors["input_ids"][:, :prompt_width],
        "prompt_mask": tensors["attention_mask"][:, :prompt_width],
        "completion_ids": tensors["completion_ids"],
        "completion_mask": tensors["completion_mask"],
        "advantages": tensors["advantages"],
    }
    logprobs, _, _ = trainer._get_per_token_logps_and_entropies(
        trainer.model,
        torch.cat([inputs["prompt_ids"], inputs["completion_ids"]], dim=1),
        torch.cat([inputs["prompt_mask"], inputs["completion_mask"]], dim=1),
        inputs["completion_ids"].shape[1],
    )
    noise = torch.randn(logprobs.shape, generator=generator)
    inputs["rollout"] = (logprobs.detach() + 0.4 * noise) * inputs["completion_mask"]
    inputs["ref_per_token_logps"] = logprobs.detach() + 0.2 * torch.randn(
        logprobs.shape, generator=generator
    )
    inputs["num_items_in_batch"] = inputs["completion_mask"].sum()
    return inputs


@pytest.mark.parametrize("loss_type", ["grpo", "dr_grpo", "dapo"])
@pytest.mark.parametrize(
    "beta, correction, tis_cap",
    [
        (0.0, False, None),
        (0.04, False, None),
        (0.04, True, None),
        (0.04, True, 2.0),
    ],
)
def test_loss_equals_trl_grpo_trainer_loss(trl_trainer, loss_type, beta, correction, tis_cap):
    trainer = trl_trainer
    epsilon_high = 0.28 if loss_type == "dapo" else 0.2
    trainer.loss_type, trainer.beta = loss_type, beta
    trainer.epsilon_low, trainer.epsilon_high = 0.2, epsilon_high
    trainer.args.use_bias_correction_kl = correction
    inputs = _trl_inputs(trainer, seed=len(loss_type) + int(beta * 100) + int(tis_cap or 0))
    mask = inputs["completion_mask"]
    input_ids = torch.cat([inputs["prompt_ids"], inputs["completion_ids"]], dim=1)
    attention = torch.cat([inputs["prompt_mask"], mask], dim=1)
    logprobs, _, _ = trainer._get_per_token_logps_and_entropies(
        trainer.model, input_ids, attention, mask.shape[1]
    )
    trl_inputs = {k: v for k, v in inputs.items() if k != "rollout"}
    if tis_cap is None:  # ratio against the rollout's logprobs
        trl_inputs["old_per_token_logps"] = inputs["rollout"]
        trainer.use_vllm = trainer.vllm_importance_sampling_correction = False
    else:  # TRL's vLLM correction, token_truncate; this weight is TRL's formula from
        # _generate_and_score_completions, which only runs with generation.
        trl_inputs["old_per_token_logps"] = logprobs.detach()
        gap = (logprobs.detach() - inputs["rollout"]) * mask
        trl_inputs["importance_sampling_ratio"] = gap.exp().clamp(max=tis_cap)
        trainer.use_vllm = trainer.vllm_importance_sampling_correction = True
    want = trainer._compute_loss(trainer.model, trl_inputs)

    totals = BatchTotals(mask.shape[0], int(mask.sum()), trainer.max_completion_length)
    got, stats = policy_loss(
        logprobs,
        inputs["rollout"],
        inputs["advantages"],
        mask,
        loss_type=loss_type,
        totals=totals,
        epsilon=0.2,
        epsilon_high=epsilon_high,
        beta=beta,
        ref_logprobs=inputs["ref_per_token_logps"],
        kl_ratio_correction=correction,
        tis_cap=tis_cap,
    )
    assert got.item() == pytest.approx(want.item(), rel=1e-5, abs=1e-7)
    if tis_cap is None:  # the inputs exercise the clipped branch
        assert stats["clip_low"] + stats["clip_high"] > 0
    params = [p for p in trainer.model.parameters() if p.requires_grad]
    want_grads = torch.autograd.grad(want, params, allow_unused=True)
    got_grads = torch.autograd.grad(got, params, allow_unused=True)
    for want_grad, got_grad in zip(want_grads, got_grads, strict=True):
        if want_grad is not None:
            torch.testing.assert_close(got_grad, want_grad, rtol=1e-4, atol=1e-7)
