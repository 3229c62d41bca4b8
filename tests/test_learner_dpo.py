"""The preference learner on the tiny model: TRL's DPOTrainer loss and gradients on the same batch,
LongPO's multi-turn sums by hand, a reference that never learns, precomputed reference log-probs.

Pairs are real HotpotQA-free text: GSM8K questions with the start of their gold answer as the
chosen reply and another question's answer as the rejected one, through the real tokenizer's
chat template.
"""

from __future__ import annotations

import math

import pytest
import torch

from rl.learners import DPOLearner
from rl.learners.config import TrainerConfig
from rl.preference_batches import conversation_tokens, pair_sample
from synth.preference import PreferencePair


def make_pairs(rows: list[dict], turns: int = 1) -> list[PreferencePair]:
    pairs = []
    for index in range(0, len(rows) - turns, turns):
        chosen, rejected = [], []
        for turn in range(turns):
            row, other = rows[index + turn], rows[index + turn + 1]
            if turn:
                question = {"role": "user", "content": row["question"][:80]}
                chosen.append(question)
                rejected.append(question)
            chosen.append({"role": "assistant", "content": row["answer"][:60]})
            rejected.append({"role": "assistant", "content": other["answer"][:45]})
        prompt = [{"role": "user", "content": rows[index]["question"]}]
        short = [
            [{"role": "user", "content": rows[index + t]["question"][:70]}] for t in range(turns)
        ]
        pairs.append(
            PreferencePair(id=f"p{index}", task="test", level={"chunk_tokens": 1}, prompt=prompt,
                           chosen=chosen, rejected=rejected, short_prompts=short)
        )  # fmt: skip
    return pairs


def learner(path: str, **overrides) -> DPOLearner:
    config = TrainerConfig(**{"loss": "dpo", "lr": 1e-3, "micro_batch_size": 4, **overrides})
    return DPOLearner(path, config, total_steps=10, seed=0)


def trl_loss_and_grads(path: str, samples: list[dict], beta: float, tmp_path):
    """TRL's own DPOTrainer (sigmoid loss) on our token ids and our reference log-probs (TRL's
    own reference pass runs without gradients, where SDPA picks another kernel: its step-0
    margins come out ~3e-3 nats off zero, which is no part of the loss being compared)."""
    from datasets import Dataset
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl import DPOConfig, DPOTrainer

    model = AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32)
    tokenizer = AutoTokenizer.from_pretrained(path)
    rows = [
        {"prompt_ids": s["prompt_token_ids"], "chosen_ids": s["chosen_token_ids"],
         "rejected_ids": s["rejected_token_ids"], "ref_chosen_logps": s["ref_chosen_logp"],
         "ref_rejected_logps": s["ref_rejected_logp"]}
        for s in samples
    ]  # fmt: skip
    config = DPOConfig(
        output_dir=str(tmp_path / "trl"), beta=beta, loss_type=["sigmoid"], report_to=[],
        per_device_train_batch_size=len(rows), max_length=None, use_cpu=True,
        dataloader_num_workers=0, model_init_kwargs=None,
    )  # fmt: skip
    text = Dataset.from_list([{"prompt": "x", "chosen": "y", "rejected": "z"}])
    trainer = DPOTrainer(model=model, args=config, train_dataset=text, processing_class=tokenizer)
    trainer.precompute_ref_logps = True  # read ref_*_logps from the batch
    inputs = trainer.data_collator(rows)
    inputs = {key: value.to(trainer.model.device) for key, value in inputs.items()}
    trainer.model.train()
    loss = trainer.compute_loss(trainer.model, inputs)
    loss.backward()
    grads = {name: p.grad.detach().clone() for name, p in trainer.model.named_parameters()}
    return loss.item(), grads


def test_dpo_loss_and_gradients_equal_trls(tiny_model_path, gsm8k_rows, tmp_path):
    ours = learner(tiny_model_path, reference="frozen_copy", dpo_beta=0.1)
    samples = [pair_sample(ours.tokenizer, pair) for pair in make_pairs(gsm8k_rows)]
    for sample in samples:  # TRL counts every completion token: so do we, here
        sample["chosen_mask"] = [1] * len(sample["chosen_token_ids"])
        sample["rejected_mask"] = [1] * len(sample["rejected_token_ids"])
    # A reference other than the policy (a perturbed copy), so margins are not zero.
    with torch.no_grad():
        for param in ours.ref_model.parameters():
            param.add_(0.05 * torch.randn_like(param))
    for sample, (ref_c, ref_r) in zip(samples, ours.precompute_reference(samples), strict=True):
        sample["ref_chosen_logp"], sample["ref_rejected_logp"] = ref_c, ref_r
    ours.model.train()
    sums = ours.accumulate(samples)
    want_loss, want_grads = trl_loss_and_grads(tiny_model_path, samples, 0.1, tmp_path)
    assert sums["loss"] == pytest.approx(want_loss, abs=1e-5)
    for name, param in ours.model.named_parameters():
        assert name in want_grads, name
        torch.testing.assert_close(param.grad, want_grads[name], rtol=1e-4, atol=1e-5)
    # LongPO with x_S = x_L, lambda * DPO only: lambda times TRL's loss, and its gradient.
    longpo = learner(tiny_model_path, loss="longpo", dpo_weight=0.3, nll_weight=0.0,
                     reference="frozen_copy")  # fmt: skip
    with torch.no_grad():
        for mine, theirs in zip(
            longpo.ref_model.parameters(), ours.ref_model.parameters(), strict=True
        ):
            mine.copy_(theirs)  # the same perturbed reference, now scoring the "short" rows
    same = []
    for sample in samples:
        rows = {side: [{"prompt_token_ids": sample["prompt_token_ids"],
                        "completion_token_ids": sample[f"{side}_token_ids"],
                        "loss_mask": sample[f"{side}_mask"]}] for side in ("chosen", "rejected")}  # fmt: skip
        unscored = {k: v for k, v in sample.items() if not k.endswith("_logp")}
        same.append({**unscored, "ref_chosen": rows["chosen"], "ref_rejected": rows["rejected"]})
    assert longpo.accumulate(same)["loss"] == pytest.approx(0.3 * want_loss, abs=1e-5)
    name, param = next(iter(longpo.model.named_parameters()))
    torch.testing.assert_close(param.grad, 0.3 * want_grads[name], rtol=1e-4, atol=1e-6)


def test_longpo_multi_turn_sums_match_a_hand_computation(tiny_model_path, gsm8k_rows):
    ours = learner(tiny_model_path, loss="longpo", dpo_beta=0.5, reference="precompute")
    pairs = make_pairs(gsm8k_rows, turns=2)
    samples = [pair_sample(ours.tokenizer, pair) for pair in pairs]
    for sample, (ref_c, ref_r) in zip(samples, ours.precompute_reference(samples), strict=True):
        sample["ref_chosen_logp"], sample["ref_rejected_logp"] = ref_c, ref_r

    def summed(prompt, ids, mask):
        logps = ours.logprobs(prompt, ids)
        return sum(lp for lp, keep in zip(logps, mask, strict=True) if keep)

    margins, nll_sum, nll_tokens = [], 0.0, 0
    for pair, sample in zip(pairs, samples, strict=True):
        # Reference by hand: each turn's answer after its SHORT prompt, summed over turns.
        ref = {}
        for side in ("chosen", "rejected"):
            answers = [m for m in getattr(pair, side) if m["role"] == "assistant"]
            ref[side] = sum(
                summed(*conversation_tokens(ours.tokenizer, short, [answer]))
                for short, answer in zip(pair.short_prompts, answers, strict=True)
            )
        assert ref["chosen"] == pytest.approx(sample["ref_chosen_logp"], abs=1e-4)
        policy = {side: summed(sample["prompt_token_ids"], sample[f"{side}_token_ids"],
                               sample[f"{side}_mask"]) for side in ("chosen", "rejected")}  # fmt: skip
        margins.append((policy["chosen"] - ref["chosen"]) - (policy["rejected"] - ref["rejected"]))
        nll_sum -= policy["chosen"]
        nll_tokens += sum(sample["chosen_mask"])
        assert sum(sample["chosen_mask"]) < len(sample["chosen_token_ids"])  # a user turn between
    dpo = sum(-math.log(1 / (1 + math.exp(-0.5 * m))) for m in margins) / len(margins)
    want = 0.01 * dpo + 1.0 * nll_sum / nll_tokens
    assert ours.accumulate(samples)["loss"] == pytest.approx(want, rel=1e-5)


def test_reference_never_learns_and_precompute_refuses_after_an_update(tiny_model_path, gsm8k_rows):
    ours = learner(tiny_model_path, reference="frozen_copy")
    samples = [pair_sample(ours.tokenizer, pair) for pair in make_pairs(gsm8k_rows)]
    before = {n: p.detach().clone() for n, p in ours.ref_model.named_parameters()}
    policy_before = ours.weights()
    metrics = ours.step(samples)
    assert metrics["accuracy_mean"] >= 0 and math.isfinite(metrics["loss"])
    assert all(p.grad is None and not p.requires_grad for p in ours.ref_model.parameters())
    for name, param in ours.ref_model.named_parameters():
        assert torch.equal(param, before[name])
    assert any(not torch.equal(policy_before[n], w) for n, w in ours.weights().items())

    precomputing = learner(tiny_model_path)
    assert precomputing.ref_model is None  # no second model in memory
    with pytest.raises(ValueError, match="no reference log-probs"):
        precomputing.step(samples)
    for sample, (c, r) in zip(samples, precomputing.precompute_reference(samples), strict=True):
        sample["ref_chosen_logp"], sample["ref_rejected_logp"] = c, r
    first = precomputing.step(samples)
    assert first["margin_mean"] == pytest.approx(0.0, abs=1e-4)  # policy == reference at step 0
    with pytest.raises(ValueError, match="after an update"):
        precomputing.precompute_reference(samples)


def test_malformed_pairs_are_one_clear_error(tiny_model_path, gsm8k_rows):
    ours = learner(tiny_model_path, reference="frozen_copy")
    good = pair_sample(ours.tokenizer, make_pairs(gsm8k_rows)[0])
    for bad, message in [
        ({k: v for k, v in good.items() if k != "rejected_mask"}, "lacks"),
        (good | {"chosen_mask": [0] * len(good["chosen_token_ids"])}, "must mark"),
        (good | {"prompt_token_ids": []}, "empty prompt"),
    ]:
        with pytest.raises(ValueError, match=message):
            ours.step([bad])
