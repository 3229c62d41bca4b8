"""rl/learners/vocab_head.py: the vocabulary head a chunk of tokens at a time gives the full-logits
logprobs, entropies and gradients, in the plain and the shared-prompt layouts (tiny model, real
GSM8K prompts and the real tokenizer; chunks of 7 tokens so chunks straddle rows)."""

from __future__ import annotations

import pytest
import torch

from rl.learners import GRPOLearner as Learner
from rl.learners.config import TrainerConfig
from rl.learners.vocab_head import head_logprobs, plain_head


@pytest.fixture(scope="module")
def batch(gsm8k_rows, tiny_model_path):
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tiny_model_path)
    samples = []
    for q, row in enumerate(gsm8k_rows[:3]):
        prompt = tokenizer.apply_chat_template(
            [{"role": "user", "content": row["question"]}],
            add_generation_prompt=True,
            return_dict=True,
        )["input_ids"]
        answer = tokenizer(row["answer"])["input_ids"]
        for g in range(2):
            completion = answer[g : g + 5 + 6 * q + 3 * g]
            samples.append(
                {
                    "prompt_token_ids": prompt,
                    "completion_token_ids": completion,
                    "rollout_logprobs": [-1.5] * len(completion),
                    "advantage": 1.0 if g else -1.0,
                }
            )
    return samples


@pytest.mark.parametrize("share_prompts", [True, False])
def test_chunked_head_gives_the_full_logits_results(tiny_model_path, batch, share_prompts):
    learners = [
        Learner(
            tiny_model_path,
            TrainerConfig(lr=1e-3, share_prompts=share_prompts, logit_chunk_tokens=chunk),
            total_steps=3,
            seed=0,
            max_completion_length=32,
            temperature=0.7,
        )
        for chunk in (7, None)
    ]
    chunked, full = learners
    assert chunked.logit_chunk_tokens == 7 and full.logit_chunk_tokens is None
    sums = [learner.accumulate(batch) for learner in learners]
    assert sums[0]["loss"] == pytest.approx(sums[1]["loss"], rel=1e-5, abs=1e-7)
    assert sums[0]["entropy"] == pytest.approx(sums[1]["entropy"], rel=1e-5)
    for (name, a), b in zip(full.model.named_parameters(), chunked.model.parameters(), strict=True):
        torch.testing.assert_close(b.grad, a.grad, rtol=1e-4, atol=1e-7, msg=name)


def test_head_logprobs_without_gradient_and_uneven_chunks():
    torch.manual_seed(0)
    head = torch.nn.Linear(8, 50, bias=False)
    hidden, targets = torch.randn(3, 5, 8), torch.randint(0, 50, (3, 5))
    want = (head(hidden) / 2.0).log_softmax(-1).gather(-1, targets.unsqueeze(-1)).squeeze(-1)
    with torch.no_grad():
        got, spread = head_logprobs(head, hidden, targets, 2.0, entropy=True, chunk_tokens=4)
    torch.testing.assert_close(got, want.detach())
    assert spread.shape == (3, 5) and bool((spread > 0).all())


def test_plain_head_is_checked_on_the_model(tiny_model_path):
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(tiny_model_path)
    assert plain_head(model)
    assert not plain_head(torch.nn.Linear(4, 4))  # no decoder / head split to use
    with torch.no_grad():  # logits no longer lm_head(hidden): e.g. a scaled or capped head
        model.get_output_embeddings().weight.mul_(2.0)
    model.forward = lambda *a, _f=model.forward, **k: type(
        "Out", (), {"logits": _f(*a, **k).logits * 0.5}
    )()
    assert not plain_head(model)
