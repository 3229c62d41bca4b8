"""rl/learners/shared_prompt.py: each prompt once, completions on its KV cache — same logprobs and
gradients as the plain prompt + completion rows, on the tiny model and on the real SmolLM2-135M.

Groups are real GSM8K questions (chat template, real tokenizer) of different lengths, so prompts
are left-padded in the prompt pass; completions of different lengths (one of a single token)
are right-padded; a group larger than the micro-batch is split across micro-batches.
"""

from __future__ import annotations

import pytest
import torch
from torch.utils._python_dispatch import TorchDispatchMode

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


@pytest.fixture(params=["packed", "rows"])
def completion_layout(request, monkeypatch):
    """Both ways the completion pass can run (shared_prompt.PACK_RATIO picks one by lengths)."""
    from rl.learners import shared_prompt

    monkeypatch.setattr(shared_prompt, "PACK_RATIO", 0.0 if request.param == "packed" else 1e9)
    return request.param


@pytest.mark.parametrize("micro_batch_size", [GROUP * 3, 2])
def test_shared_prompts_give_the_plain_logprobs_and_gradients(
    tiny_model_path, questions, micro_batch_size, completion_layout
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


def test_shared_prompts_under_gradient_checkpointing_give_the_plain_gradients_at_2k(
    tiny_model_path, completion_layout
):
    """The backward pass replays each layer's forward; the shared-prompt caches must give the
    replay what the first run saw. Two ~2K-token prompts x 3 completions, against the plain
    layout without checkpointing: same logprobs, loss and gradients."""
    made = []
    for share, checkpointing in ((True, True), (False, False)):
        config = TrainerConfig(
            lr=1e-3,
            share_prompts=share,
            gradient_checkpointing=checkpointing,
            beta=0.01,
            micro_batch_size=6,
        )
        made.append(
            Learner(tiny_model_path, config, total_steps=2, seed=0, max_completion_length=16)
        )
    shared, plain = made
    assert shared.share_prompts and shared.model.is_gradient_checkpointing
    text = shared.tokenizer("The ledger lists one more entry, dated and signed. " * 300)[
        "input_ids"
    ]
    batch = [
        {
            "prompt_token_ids": text[p : p + 2048 - 200 * p],
            "completion_token_ids": text[11 * r : 11 * r + 3 + 5 * r],
            "rollout_logprobs": [-1.0 - 0.1 * t for t in range(3 + 5 * r)],
            "advantage": float(r) - 1.0,
        }
        for p in range(2)
        for r in range(3)
    ]
    assert len(shared.micro_batches(batch)) == 1  # both prompts in one shared pass
    for sample in batch[:2]:
        want = plain.logprobs(sample["prompt_token_ids"], sample["completion_token_ids"])
        got = shared.logprobs(sample["prompt_token_ids"], sample["completion_token_ids"])
        assert got == pytest.approx(want, abs=1e-4)
    shared_sums, plain_sums = shared.accumulate(batch), plain.accumulate(batch)
    assert shared_sums["loss"] == pytest.approx(plain_sums["loss"], rel=1e-4, abs=1e-7)
    assert shared_sums["tokens"] == plain_sums["tokens"]
    for (name, a), b in zip(plain.model.named_parameters(), shared.model.parameters(), strict=True):
        torch.testing.assert_close(b.grad, a.grad, rtol=1e-3, atol=1e-6, msg=name)


class KernelCount(TorchDispatchMode):
    """Counts the calls of one aten op that really run: a replay that selective checkpointing
    answers from its saved outputs never reaches this (outer) mode."""

    def __init__(self, name: str):
        super().__init__()
        self.name, self.count, self.key_rows = name, 0, set()

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        if func.__name__.split(".")[0] == self.name:
            self.count += 1
            self.key_rows.add(args[1].shape[0])  # (query, key, value, ...)
        return func(*args, **(kwargs or {}))


def test_one_prompt_under_checkpointing_keeps_attention_and_gives_the_plain_gradients(
    tiny_model_path,
):
    """One prompt under checkpointing, against the plain layout without it: same loss and
    gradients; the attention kernels run once per pass and layer, the replay reusing their
    outputs (rl/learners/models.py); and they see the prompt's keys once (one packed row), never
    a copy per completion."""
    made = []
    for share, checkpointing in ((True, True), (False, False)):
        config = TrainerConfig(
            lr=1e-3, share_prompts=share, gradient_checkpointing=checkpointing, micro_batch_size=4
        )
        made.append(
            Learner(tiny_model_path, config, total_steps=2, seed=0, max_completion_length=16)
        )
    shared, plain = made
    text = shared.tokenizer("A long road winds through the hills to the sea. " * 120)["input_ids"]
    batch = [
        {
            "prompt_token_ids": text[:1024],
            "completion_token_ids": text[1030 + 7 * r : 1030 + 7 * r + 4 + 4 * r],
            "rollout_logprobs": [-1.0] * (4 + 4 * r),
            "advantage": float(r) - 1.5,
        }
        for r in range(4)
    ]
    with KernelCount("_scaled_dot_product_flash_attention_for_cpu") as kernels:
        shared_sums = shared.accumulate(batch)
    plain_sums = plain.accumulate(batch)
    assert shared_sums["loss"] == pytest.approx(plain_sums["loss"], rel=1e-4, abs=1e-7)
    for (name, a), b in zip(plain.model.named_parameters(), shared.model.parameters(), strict=True):
        torch.testing.assert_close(b.grad, a.grad, rtol=1e-3, atol=1e-6, msg=name)
    layers = shared.model.config.num_hidden_layers
    assert kernels.count == 2 * layers  # the prompt pass and the completion pass, no replays
    assert kernels.key_rows == {1}


def test_packed_layout_places_each_completion_in_its_prompts_row():
    """Two prompts (the first left-padded), three rows for one and one for the other: each row's
    inputs land in its slot, and a query sees its prompt's real tokens and its own earlier
    tokens only."""
    from rl.learners.shared_prompt import packed_layout

    samples = [
        {
            "prompt_token_ids": [7, 8] if r < 3 else [9, 9, 9],
            "completion_token_ids": [100 + 10 * r + t for t in range(2 + r % 3)],
            "rollout_logprobs": [-1.0] * (2 + r % 3),
            "advantage": 0.0,
        }
        for r in (0, 3, 1, 2)  # prompts interleaved in the batch
    ]
    tensors = collate_shared(samples, pad_token_id=0)
    layout = packed_layout(tensors)
    width = tensors["completion_ids"].shape[1] - 1  # 3: the longest completion has 4 tokens
    assert layout["ids"].shape == (2, 3 * width)
    assert layout["slot"].tolist() == [0, 0, 1, 2]
    rows = zip(tensors["prompt_index"].tolist(), layout["slot"].tolist(), strict=True)
    for b, (k, j) in enumerate(rows):
        got = layout["ids"][k, j * width : (j + 1) * width]
        assert got.tolist() == tensors["completion_ids"][b, :-1].tolist()
        positions = layout["positions"][k, j * width : (j + 1) * width]
        assert positions.tolist() == tensors["completion_positions"][b, :-1].tolist()
    visible = layout["visible"]
    prompt_width = tensors["prompt_ids"].shape[1]  # 3; prompt 0 has one pad column
    assert visible.shape == (2, 3 * width, prompt_width + 3 * width)
    assert not visible[0, :, 0].any() and visible[0, :, 1:prompt_width].all()
    assert visible[1, :, :prompt_width].all()
    query = width + 1  # slot 1, its second token
    own = visible[0, query, prompt_width:]
    assert own.nonzero().flatten().tolist() == [width, width + 1]


def test_shared_prompts_on_the_real_model(embedded_model_path, questions):
    shared, plain = learner_pair(embedded_model_path, micro_batch_size=GROUP * 3)
    batch = grouped_batch(shared, questions[:2])
    shared.accumulate(batch)
    plain.accumulate(batch)
    for (name, a), b in zip(plain.model.named_parameters(), shared.model.parameters(), strict=True):
        torch.testing.assert_close(b.grad, a.grad, rtol=2e-3, atol=1e-5, msg=name)


def test_token_budget_batches_fit_the_budget_and_keep_groups_whole():
    from rl.learners.batching import token_budget_batches

    # three prompts (10, 200 and 2,000 tokens), four rows each, completions of 5..20 tokens
    samples = [
        {"prompt_token_ids": [p] * p, "completion_token_ids": [1] * (5 + 5 * (r % 4))}
        for p in (2000, 10, 200)
        for r in range(4)
    ]
    for shared in (False, True):
        batches = token_budget_batches(samples, budget=2200, shared_prompts=shared)
        assert sorted(i for b in batches for i in b) == list(range(12))  # every row, once
        for batch in batches:
            prompts = {len(samples[i]["prompt_token_ids"]) for i in batch}
            longest = max(len(samples[i]["completion_token_ids"]) for i in batch)
            if shared:
                cost = len(prompts) * max(prompts) + len(batch) * longest
            else:
                cost = len(batch) * (max(prompts) + longest)
            assert cost <= 2200 or len(batch) == 1
    plain = token_budget_batches(samples, budget=2200)
    shared = token_budget_batches(samples, budget=2200, shared_prompts=True)
    # shared: the 2K prompt once with its 4 rows (2,000 + 4 x 20) in one micro-batch, and the
    # two short prompts' 8 rows in another; plain: one 2K row per micro-batch
    assert len(shared) == 2 and sorted(len(b) for b in shared) == [4, 8]
    assert len(plain) == 4 + 1  # the 2K rows alone, the 8 short rows (8 x 220 <= 2,200) together


def test_a_token_budget_gives_the_row_split_gradients_at_2k_tokens(tiny_model_path):
    """verl's dynamic batch size on ~2K-token prompts: the same loss and gradients as a fixed
    row count, in more, smaller micro-batches, with prompts shared and in the plain layout."""
    learner = Learner(
        tiny_model_path, TrainerConfig(lr=1e-3), total_steps=2, seed=0, max_completion_length=16
    )
    long_prompt = learner.tokenizer("The ledger lists one more entry. " * 300)["input_ids"][:2048]
    batch = [
        {
            "prompt_token_ids": long_prompt[: 2048 - 100 * p],
            "completion_token_ids": long_prompt[7 * r : 7 * r + 4 + 3 * r],
            "rollout_logprobs": [-1.0] * (4 + 3 * r),
            "advantage": float(r) - 0.5,
        }
        for p in range(2)
        for r in range(2)
    ]
    for share in (True, False):
        learner.share_prompts = share
        results = []
        for split in ({"micro_batch_size": 12}, {"micro_batch_tokens": 2500}):
            learner.config = TrainerConfig(lr=1e-3, **split)
            splits = len(learner.micro_batches(batch))
            learner.model.zero_grad(set_to_none=True)
            sums = learner.accumulate(batch)
            grads = [p.grad.clone() for p in learner.model.parameters()]
            results.append((splits, sums, grads))
        (row_splits, row_sums, row_grads), (budget_splits, budget_sums, budget_grads) = results
        assert budget_splits > row_splits == 1, share
        assert budget_sums["loss"] == pytest.approx(row_sums["loss"], rel=1e-4, abs=1e-7)
        assert budget_sums["tokens"] == row_sums["tokens"]
        for a, b in zip(row_grads, budget_grads, strict=True):
            torch.testing.assert_close(b, a, rtol=1e-3, atol=1e-6)
