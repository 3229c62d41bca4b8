"""The SFT learner on the tiny model: loss and gradients equal a hand-built masked NLL (prompt
tokens never a target), full fine-tuning and LoRA; LoRA trains only the adapter, publishes
merged weights equal to peft's own merge, and saves and resumes its adapter.
"""

from __future__ import annotations

import pytest
import torch

from rl.learners import SFTLearner, learner_class
from rl.learners.config import TrainerConfig
from rl.sft_batches import sft_sample

PAIRS = [
    ("Write about rivers.", "Rivers carry water from the hills to the sea, past towns."),
    ("Describe a market.", "Stalls of fruit and bread line the square every Saturday."),
    ("Explain rain briefly.", "Warm air rises, cools, and its water falls as drops."),
]


def learner(path: str, lora=None, adapter=None, **overrides) -> SFTLearner:
    config = TrainerConfig(**{"loss": "sft", "lr": 1e-2, "micro_batch_size": 1, **overrides})
    return SFTLearner(path, config, total_steps=10, seed=0, lora=lora, adapter=adapter)


@pytest.fixture(scope="module")
def samples(tiny_model_path):
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tiny_model_path)
    return [sft_sample(tokenizer, [{"role": "user", "content": q}], a) for q, a in PAIRS]


def hand_loss(model: torch.nn.Module, samples: list[dict], prompt: bool = False) -> torch.Tensor:
    """HF's own causal-LM loss over the whole batch with every prompt label set to -100
    (`prompt=True`: the prompt's tokens are targets too, what the learner must not do)."""
    rows = [s["prompt_token_ids"] + s["completion_token_ids"] for s in samples]
    width = max(map(len, rows))
    ids = torch.zeros(len(rows), width, dtype=torch.long)
    labels = torch.full((len(rows), width), -100)
    attention = torch.zeros(len(rows), width, dtype=torch.long)
    for row, (sample, tokens) in enumerate(zip(samples, rows, strict=True)):
        ids[row, : len(tokens)] = torch.tensor(tokens)
        attention[row, : len(tokens)] = 1
        start = len(sample["prompt_token_ids"])
        masked = [t if m else -100 for t, m in zip(sample["completion_token_ids"], sample["loss_mask"], strict=True)]  # fmt: skip
        labels[row, start : len(tokens)] = torch.tensor(masked)
        if prompt:
            labels[row, 1:start] = torch.tensor(sample["prompt_token_ids"][1:])
    return model(input_ids=ids, attention_mask=attention, labels=labels).loss


def test_registered_as_the_sft_objective():
    assert learner_class("sft") is SFTLearner


def test_loss_and_gradients_equal_the_masked_nll(tiny_model_path, samples):
    ours = learner(tiny_model_path)
    sums = ours.accumulate(samples)  # three micro-batches of one
    from transformers import AutoModelForCausalLM

    reference = AutoModelForCausalLM.from_pretrained(tiny_model_path, dtype=torch.float32)
    loss = hand_loss(reference, samples)
    loss.backward()
    assert sums["loss"] == pytest.approx(loss.item(), rel=1e-5)
    grads = dict(reference.named_parameters())
    for name, parameter in ours.model.named_parameters():
        torch.testing.assert_close(parameter.grad, grads[name].grad, atol=2e-6, rtol=1e-4)
    # Had the prompt's tokens been targets, the loss and gradients would differ.
    reference.zero_grad()
    with_prompt = hand_loss(reference, samples, prompt=True)
    with_prompt.backward()
    differ = [
        name
        for name, parameter in ours.model.named_parameters()
        if not torch.allclose(parameter.grad, grads[name].grad, atol=2e-6, rtol=1e-4)
    ]
    assert len(differ) > len(grads) // 2


def test_one_full_step_moves_every_weight_group(tiny_model_path, samples):
    ours = learner(tiny_model_path)
    before = {k: v.clone() for k, v in ours.weights().items()}
    metrics = ours.step(samples)
    after = ours.weights()
    assert metrics["tokens"] == sum(sum(s["loss_mask"]) for s in samples)
    assert metrics["nll_mean"] > 0
    assert sum(not torch.equal(before[k], after[k]) for k in before) > len(before) // 2


def needs_peft():
    pytest.importorskip("peft", reason="LoRA needs peft (add it to the dependencies)")


def test_lora_trains_only_the_adapter_and_publishes_the_merge(tiny_model_path, samples, tmp_path):
    needs_peft()
    lora = {"rank": 4, "alpha": 8.0}
    ours = learner(tiny_model_path, lora=lora)
    base = {k: v.clone() for k, v in ours.weights().items()}
    ours.step(samples)
    ours.step(samples)
    merged = ours.weights()
    assert set(merged) == set(base)
    changed = [k for k in base if not torch.equal(base[k], merged[k])]
    assert changed and all("proj" in k for k in changed)  # only adapted linear layers move
    assert all(not p.requires_grad for n, p in ours.model.named_parameters() if "lora_" not in n)
    # peft's own merge gives the same weights
    import copy

    reference = copy.deepcopy(ours.model).merge_and_unload().state_dict()
    for key, value in merged.items():
        torch.testing.assert_close(value, reference[key], atol=1e-6, rtol=1e-5)
    # the merged weights score like the adapted policy
    ids = samples[0]["prompt_token_ids"], samples[0]["completion_token_ids"]
    plain = learner(tiny_model_path)
    plain.model.load_state_dict(merged, strict=False)
    assert plain.logprobs(*ids) == pytest.approx(ours.logprobs(*ids), abs=1e-5)
    # the saved adapter resumes the same policy on the original base
    ours.save_adapter(str(tmp_path / "adapter"))
    resumed = learner(tiny_model_path, lora=lora, adapter=str(tmp_path / "adapter"))
    assert resumed.logprobs(*ids) == pytest.approx(ours.logprobs(*ids), abs=1e-6)
    assert any(p.requires_grad for p in resumed.model.parameters())


def test_lora_checkpoint_round_trip_and_new_schedule(tiny_model_path, samples, tmp_path):
    needs_peft()
    lora = {"rank": 4}
    ours = learner(tiny_model_path, lora=lora)
    ours.step(samples)
    ours.save(tmp_path / "ckpt")
    assert (tmp_path / "ckpt" / "model.safetensors").exists()  # merged: loadable without peft
    expected = ours.step(samples)["loss"]
    again = learner(tiny_model_path, lora=lora)
    again.load(tmp_path / "ckpt")
    assert again.steps_done == 1
    assert again.step(samples)["loss"] == pytest.approx(expected, rel=1e-5)
    again.restart_schedule(total_steps=8, warmup_steps=1)
    assert again.scheduler.get_last_lr()[0] == pytest.approx(1e-2 / 2)  # warmup restarts
    assert again.total_steps == 8
    with pytest.raises(ValueError, match="pass lora="):
        learner(tiny_model_path, adapter=str(tmp_path))
