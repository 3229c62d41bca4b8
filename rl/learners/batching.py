"""Learner batches: validating rollout samples and padding them into micro-batch tensors.

A sample is the dict the driver hands the learner:
    {"prompt_token_ids": list[int], "completion_token_ids": list[int],
     "rollout_logprobs": list[float], "advantage": float}
Layout (as TRL's): prompts are left-padded and completions right-padded, so every row's
completion starts at the same column and the model computes logits for the completion columns
only (`logits_to_keep`). Explicit position ids (count of real tokens so far) keep left padding from
shifting positions, so a padded row scores exactly like the same sequence alone.
"""

from __future__ import annotations

import math
from typing import Any

import torch

SAMPLE_KEYS = ("prompt_token_ids", "completion_token_ids", "rollout_logprobs", "advantage")


def check_sample(index: int, sample: dict[str, Any], max_completion_length: int) -> None:
    """Raise one ValueError naming sample `index` and the fix when it is malformed."""
    missing = [key for key in SAMPLE_KEYS if key not in sample]
    if missing:
        raise ValueError(f"batch sample {index} lacks {missing}; a sample carries {SAMPLE_KEYS}")
    prompt, completion = sample["prompt_token_ids"], sample["completion_token_ids"]
    logprobs = sample["rollout_logprobs"]
    if not prompt:
        raise ValueError(f"batch sample {index} has an empty prompt: drop it in the driver")
    if not all(isinstance(token, int) for token in [*prompt, *completion]):
        raise ValueError(
            f"batch sample {index}: token ids must be Python ints; pass the tokenizer's "
            "input_ids lists (not a BatchEncoding or strings)"
        )
    if len(logprobs) != len(completion):
        raise ValueError(
            f"batch sample {index}: {len(logprobs)} rollout logprobs for {len(completion)} "
            "completion tokens; request one logprob per sampled token from the rollout engine"
        )
    if len(completion) > max_completion_length:
        raise ValueError(
            f"batch sample {index}: {len(completion)} completion tokens exceed "
            f"max_completion_length={max_completion_length}; pass the rollout's max_tokens"
        )
    if not all(math.isfinite(value) for value in logprobs):
        raise ValueError(
            f"batch sample {index} has a non-finite rollout logprob; drop the sample or fix "
            "the engine's logprob output"
        )
    if not math.isfinite(float(sample["advantage"])):
        raise ValueError(f"batch sample {index} has a non-finite advantage: check the rewards")


def micro_batches(samples: list[dict[str, Any]], micro_batch_size: int) -> list[list[int]]:
    """Sample indices grouped into micro-batches of similar total length (less padding).

    The loss weights come from whole-batch totals, so the grouping never changes the loss.
    """
    order = sorted(
        range(len(samples)),
        key=lambda i: len(samples[i]["prompt_token_ids"]) + len(samples[i]["completion_token_ids"]),
    )
    return [
        order[start : start + micro_batch_size] for start in range(0, len(order), micro_batch_size)
    ]


def token_budget_batches(
    samples: list[dict[str, Any]], budget: int, shared_prompts: bool = False
) -> list[list[int]]:
    """Micro-batches by a token budget instead of a row count (verl's dynamic batch size): as
    many rows as fit `budget` tokens of the padded tensors the forward pass runs, so long
    prompts go a few at a time and short ones many at a time, at one activation peak.

    Plain layout: a micro-batch of r rows costs r x its longest prompt + completion. Shared
    prompts (rl/learners/shared_prompt.py): each distinct prompt once, p prompts x the longest
    prompt + r rows x the longest completion; a prompt's rows stay together unless they alone
    pass the budget. A row that alone passes it goes alone (never dropped). The loss weights
    come from whole-batch totals, so the split never changes the loss or the gradients.
    """

    def length(i: int, key: str) -> int:
        return len(samples[i][key])

    if shared_prompts:
        by_prompt: dict[tuple[int, ...], list[int]] = {}
        for index, sample in enumerate(samples):
            by_prompt.setdefault(tuple(sample["prompt_token_ids"]), []).append(index)
        units = sorted(by_prompt.values(), key=lambda rows: length(rows[0], "prompt_token_ids"))
    else:
        order = sorted(
            range(len(samples)),
            key=lambda i: length(i, "prompt_token_ids") + length(i, "completion_token_ids"),
        )
        units = [[index] for index in order]

    def cost(rows: list[int]) -> int:
        if not shared_prompts:
            return len(rows) * max(
                length(i, "prompt_token_ids") + length(i, "completion_token_ids") for i in rows
            )
        prompts = {tuple(samples[i]["prompt_token_ids"]) for i in rows}
        widest = max(length(i, "prompt_token_ids") for i in rows)
        return len(prompts) * widest + len(rows) * max(
            length(i, "completion_token_ids") for i in rows
        )

    batches: list[list[int]] = []
    for unit in units:
        if batches and cost(batches[-1] + unit) <= budget:
            batches[-1].extend(unit)
        elif cost(unit) <= budget:
            batches.append(list(unit))
        else:  # a prompt's rows that alone pass the budget: split, row by row
            for index in unit:
                if batches and cost(batches[-1] + [index]) <= budget:
                    batches[-1].append(index)
                else:
                    batches.append([index])
    return batches


def left_padded(sequences: list[list[int]], pad_token_id: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Token ids and attention mask (N, width), each sequence ending at the last column."""
    width = max(len(sequence) for sequence in sequences)
    ids = torch.full((len(sequences), width), pad_token_id, dtype=torch.long)
    mask = torch.zeros_like(ids)
    for row, sequence in enumerate(sequences):
        ids[row, width - len(sequence) :] = torch.tensor(sequence, dtype=torch.long)
        mask[row, width - len(sequence) :] = 1
    return ids, mask


def completion_tensors(samples: list[dict[str, Any]], pad_token_id: int) -> dict[str, torch.Tensor]:
    """completion_ids, completion_mask (real tokens: what attention sees), loss_mask (the tokens
    a loss counts: a sample's `loss_mask` list, e.g. only assistant turns, else every real
    token), rollout_logprobs (B, C) and old_logprobs (B, C) when every sample carries them
    (the policy's own before a PPO-style batch's first update), right-padded, C >= 1 so an all-empty micro-batch still has
    a (fully masked) column; advantages (B,). Objectives without rollout logprobs or advantages
    (DPO, SFT) leave them out of their samples: zeros."""
    width = max(1, max(len(s["completion_token_ids"]) for s in samples))
    ids = torch.full((len(samples), width), pad_token_id, dtype=torch.long)
    mask = torch.zeros_like(ids)
    rollout_logprobs = torch.zeros(len(samples), width, dtype=torch.float32)
    for row, sample in enumerate(samples):
        completion = sample["completion_token_ids"]
        if completion:
            ids[row, : len(completion)] = torch.tensor(completion, dtype=torch.long)
            mask[row, : len(completion)] = 1
            if "rollout_logprobs" in sample:
                rollout_logprobs[row, : len(completion)] = torch.tensor(
                    sample["rollout_logprobs"], dtype=torch.float32
                )
    old_logprobs = None
    if samples and all("old_logprobs" in s for s in samples):  # set by a PPO-style learner
        old_logprobs = torch.zeros(len(samples), width, dtype=torch.float32)
        for row, sample in enumerate(samples):
            values = sample["old_logprobs"]
            old_logprobs[row, : len(values)] = torch.tensor(values, dtype=torch.float32)
    loss_mask = mask.clone()  # tokens a loss counts: all of them unless a sample says which
    for row, sample in enumerate(samples):
        if "loss_mask" in sample:
            loss_mask[row, : len(sample["loss_mask"])] = torch.tensor(sample["loss_mask"])
    tensors = {
        "completion_ids": ids,
        "completion_mask": mask,
        "loss_mask": loss_mask,
        "rollout_logprobs": rollout_logprobs,
        "advantages": torch.tensor(
            [float(s.get("advantage", 0.0)) for s in samples], dtype=torch.float32
        ),
    }
    if old_logprobs is not None:
        tensors["old_logprobs"] = old_logprobs
    return tensors


def collate(samples: list[dict[str, Any]], pad_token_id: int) -> dict[str, torch.Tensor]:
    """Tensors for one micro-batch: left-padded prompts, right-padded completions.

    Returns input_ids, attention_mask, position_ids (B, P + C) and `completion_tensors`.
    """
    prompt_ids, prompt_mask = left_padded([s["prompt_token_ids"] for s in samples], pad_token_id)
    completions = completion_tensors(samples, pad_token_id)
    attention_mask = torch.cat([prompt_mask, completions["completion_mask"]], dim=1)
    return {
        "input_ids": torch.cat([prompt_ids, completions["completion_ids"]], dim=1),
        "attention_mask": attention_mask,
        "position_ids": (attention_mask.cumsum(dim=1) - 1).clamp(min=0),
        **completions,
    }
