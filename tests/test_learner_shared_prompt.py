"""rl/learners/shared_prompt.py: each prompt once, completions on its KV cache — same logprobs and
gradients as the plain prompt + completion rows, on the tiny model and on the real SmolLM2-135M.

Groups are real GSM8K questions (chat template, real tokenizer) of different lengths, so prompts
are left-padded in the prompt pass; completions of different lengths (one of a single token)
are right-padded; a group larger than the micro-batch is split across micro-batches.
"""

from __future__ import annotations

import pytest
import torch

from rl.learners import GRPOLearner as Learner
from rl.learners.config import TrainerConfig
from rl.learners.shared_prompt import collate_shared, prompt_micro_batches

MAX_LEN = 24
GROUP = 3


@pytest.fixture(scope="module")
def questions(gsm8k_rows):
    return gsm8k_rows[:3]


def learner_pair(path: str, **overrides) -> tuple[Learner, Learner]:
    """Two learners with the same weights: prompts shared, and the plain layout."""
    made = []
    for share in (True, False):
        config = TrainerConfig(lr=1e-3, share_prompts=share, **overrides)
        made.append(Learner(path, config, total_steps=5, seed=0, max_completion_length=MAX_LEN))
    return made[0], made[1]


def grouped_batch(learner: Learner, questions: list[dict]) -> list[dict]:
    """GROUP completions per question: slices of its gold answer, lengths 1..MAX_LEN."""
    samples = []
    for q, row in enumerate(questions):
        prompt = learner.tokenizer.apply_chat_template(
            [{"role": "user", "content": row["question"]}],
            add_generation_prompt=True,
            return_dict=True,
        )["input_ids"]
        answer = learner.tokenizer(row["answer"])["input_ids"]
        for g in range(GROUP):
            length = 1 if (q, g) == (0, 0) else 4 + (7 * q + 5 * g) % (MAX_LEN - 4)
            completion = answer[g : g + length]
            samples.append(
                {
                    "prompt_token_ids": prompt,
                    "completion_token_ids": completion,
                    "rollout_logprobs": [-1.0 - 0.1 * (t % 3) for t in range(len(completion))],
                    "advantage": float(g - 1),
                }
            )
    return samples


def test_micro_batches_keep_a_prompts_rows_together_and_cover_every_row():
    samples = [{"prompt_token_ids": [p] * (p + 1)} for p in (2, 0, 2, 1, 0, 2, 1, 2)]
    batches = prompt_micro_batches(samples, micro_batch_size=3)
    assert sorted(i for batch in batches for i in batch) == list(range(8))
    assert all(len(batch) <= 3 for batch in batches)
    # prompt 2 has four rows: one chunk of 3 and one of 1; prompts 0 and 1 fill whole batches
    per_batch = [sorted({samples[i]["prompt_token_ids"][0] for i in b}) for b in batches]
    assert per_batch.count([0]) == 1 and per_batch.count([1]) == 1
    assert len(batches) == 4


def test_collate_shared_holds_each_prompt_once(tiny_model_path, questions):
    learner, _ = learner_pair(tiny_model_path)
    batch = grouped_batch(learner, questions)
    tensors = collate_shared(batch, learner.pad_token_id)
    assert tensors["prompt_ids"].shape[0] == len(questions)
    assert tensors["prompt_index"].tolist() == [
        q for q in range(len(questions)) for _ in range(GROUP)
    ]
    lengths = [len(s["completion_token_ids"]) for s in batch]
    assert tensors["completion_mask"].sum(dim=1).tolist() == lengths
    first_prompt = len(batch[0]["prompt_token_ids"])
    assert tensors["completion_positions"][0, :3].tolist() == [first_prompt + t for t in range(3)]


@pytest.mark.parametrize("micro_batch_size", [GROUP * 3, 2])
def test_shared_prompts_give_the_plain_logprobs_and_gradients(
    tiny_model_path, questions, micro_batch_size
):
    shared, plain = learner_pair(tiny_model_path, micro_batch_size=micro_batch_size, beta=0.01)
    batch = grouped_batch(shared, questions)
    for sample in batch:
        want = plain.logprobs(sample["prompt_token_ids"], sample["completion_token_ids"])
        got = shared.logprobs(sample["prompt_token_ids"], sample["completion_token_ids"])
        assert got == pytest.approx(want, abs=1e-4)
    shared_sums, plain_sums = shared.accumulate(batch), plain.accumulate(batch)
    assert shared_sums["loss"] == pytest.approx(plain_sums["loss"], rel=1e-4, abs=1e-7)
    assert shared_sums["entropy"] == pytest.approx(plain_sums["entropy"], rel=1e-4)
    assert shared_sums["tokens"] == plain_sums["tokens"]
    for (name, a), b in zip(plain.model.named_parameters(), shared.model.parameters(), strict=True):
        torch.testing.assert_close(b.grad, a.grad, rtol=1e-3, atol=1e-6, msg=name)


def test_gradient_checkpointing_falls_back_to_the_plain_layout(tiny_model_path):
    config = TrainerConfig(gradient_checkpointing=True)
    learner = Learner(tiny_model_path, config, total_steps=2, seed=0, max_completion_length=4)
    assert config.share_prompts and not learner.share_prompts


def test_shared_prompts_on_the_real_model(embedded_model_path, questions):
    shared, plain = learner_pair(embedded_model_path, micro_batch_size=GROUP * 3)
    batch = grouped_batch(shared, questions[:2])
    shared.accumulate(batch)
    plain.accumulate(batch)
    for (name, a), b in zip(plain.model.named_parameters(), shared.model.parameters(), strict=True):
        torch.testing.assert_close(b.grad, a.grad, rtol=2e-3, atol=1e-5, msg=name)
