"""SFT records (synth.sft_example.SFTExample, or any chat prompt and response) as the SFT
learner's token samples (rl/learners/sft.py).

The chat template renders the prompt up to the assistant header; the response's tokens are what
its assistant message adds (its content and end-of-turn tokens), exactly what the model writes,
so only they carry the loss (rl/preference_batches.conversation_tokens does the rendering).
"""

from __future__ import annotations

from typing import Any

from rl.preference_batches import conversation_tokens


def sft_sample(
    tokenizer: Any, prompt: list[dict[str, str]], response: str, max_tokens: int | None = None
) -> dict[str, Any] | None:
    """{prompt_token_ids, completion_token_ids, loss_mask}; the response is cut to fit
    `max_tokens` in all (the paper's cutoff_len); None when the prompt alone does not fit."""
    answer = [{"role": "assistant", "content": response}]
    prompt_ids, ids, mask = conversation_tokens(tokenizer, prompt, answer)
    if max_tokens is not None:
        room = max_tokens - len(prompt_ids)
        if room < 1:
            return None
        ids, mask = ids[:room], mask[:room]
    return {"prompt_token_ids": prompt_ids, "completion_token_ids": ids, "loss_mask": mask}


def sft_samples(
    tokenizer: Any, examples: list[Any], max_tokens: int | None = None
) -> tuple[list[dict[str, Any]], int]:
    """Samples of records with `prompt` and `response`, and how many did not fit (skipped)."""
    samples, skipped = [], 0
    for example in examples:
        sample = sft_sample(tokenizer, example.prompt, example.response, max_tokens)
        if sample is None:
            skipped += 1
        else:
            samples.append(sample)
    return samples, skipped
