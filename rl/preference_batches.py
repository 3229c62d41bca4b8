"""Preference-pair records (synth.preference.PreferencePair) as the DPO learner's token samples.

The chat template renders each conversation; an assistant turn's tokens are those its message
adds to the rendering that ends with the assistant header (its content and the end-of-turn
tokens), so the mask marks exactly what the model writes. User turns between answers are
context (mask 0). LongPO's reference rows are each turn's short prompt and that turn's answer.
A template that re-renders earlier turns differently (not prefix-stable) is one clear error.
"""

from __future__ import annotations

from typing import Any


def _render(tokenizer: Any, messages: list[dict[str, str]], generation_prompt: bool) -> list[int]:
    encoded = tokenizer.apply_chat_template(
        messages, add_generation_prompt=generation_prompt, tokenize=True, return_dict=True
    )
    return list(encoded["input_ids"])


def conversation_tokens(
    tokenizer: Any, prompt: list[dict[str, str]], continuation: list[dict[str, str]]
) -> tuple[list[int], list[int], list[int]]:
    """(prompt ids ending with the assistant header, continuation ids, their assistant mask)."""
    prompt_ids = _render(tokenizer, prompt, generation_prompt=True)
    messages, previous = list(prompt), prompt_ids
    ids: list[int] = []
    mask: list[int] = []
    for message in continuation:
        messages.append(message)
        assistant = message["role"] == "assistant"
        # After an answer the next user turn follows; after a question, the assistant header.
        rendered = _render(tokenizer, messages, generation_prompt=not assistant)
        if rendered[: len(previous)] != previous:
            raise ValueError(
                "the chat template re-renders earlier turns differently once a turn is added, "
                "so assistant tokens cannot be masked; use a prefix-stable template"
            )
        added = rendered[len(previous) :]
        ids += added
        mask += [int(assistant)] * len(added)
        previous = rendered
    return prompt_ids, ids, mask


def pair_sample(tokenizer: Any, pair: Any) -> dict[str, Any]:
    """One DPOLearner sample (rl/learners/dpo.py) from a PreferencePair."""
    prompt_ids, chosen, chosen_mask = conversation_tokens(tokenizer, pair.prompt, pair.chosen)
    _, rejected, rejected_mask = conversation_tokens(tokenizer, pair.prompt, pair.rejected)
    sample: dict[str, Any] = {
        "prompt_token_ids": prompt_ids,
        "chosen_token_ids": chosen,
        "chosen_mask": chosen_mask,
        "rejected_token_ids": rejected,
        "rejected_mask": rejected_mask,
    }
    if pair.short_prompts:
        for side in ("chosen", "rejected"):
            answers = [m for m in getattr(pair, side) if m["role"] == "assistant"]
            rows = []
            for short, answer in zip(pair.short_prompts, answers, strict=True):
                short_ids, ids, mask = conversation_tokens(tokenizer, short, [answer])
                rows.append(
                    {"prompt_token_ids": short_ids, "completion_token_ids": ids, "loss_mask": mask}
                )
            sample[f"ref_{side}"] = rows
    return sample
