"""What a rollout is, and the request checks every engine shares.

A `Rollout` is one prompt's n completions plus the policy version that sampled them; a
`Completion` carries token ids, text, the sampled tokens' logprobs (under the distribution they
were sampled from: after temperature and top-p) and why generation stopped.

Both engines (vllm_worker, hf_worker) render chat prompts and check requests here, so they
reject the same bad input with the same message.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

# Keys of one chat message in TRL's conversational format.
MESSAGE_KEYS = {"role", "content"}


@dataclass
class Completion:
    token_ids: list[int]
    """Generated token ids; the EOS token is kept when generation stopped on it."""
    text: str
    """Decoded completion, special tokens skipped."""
    logprobs: list[float]
    """Logprob of each generated token under the sampling distribution: softmax(logits / T),
    renormalised over the top-p nucleus when top_p < 1; raw logits when greedy
    (len == len(token_ids))."""
    finish_reason: str
    """`stop` (EOS or a stop string) or `length` (max_tokens or max_model_len reached)."""


@dataclass
class Rollout:
    prompt_token_ids: list[int]
    """The chat-templated prompt as the engine saw it."""
    completions: list[Completion] = field(default_factory=list)
    """n completions, in sampling order."""
    policy_version: int = 0
    """Version of the weights that produced them (0: the weights the engine started with)."""


class PolicyVersionMismatch(RuntimeError):
    """A worker holds other weights than the pool expects (it restarted from the checkpoint)."""


def check_prompts(prompts: Any) -> None:
    """One clear ValueError for a malformed batch of chat prompts."""
    if not isinstance(prompts, list) or not prompts:
        raise ValueError(
            "generate got an empty prompt list; pass at least one prompt "
            "(a list of {'role', 'content'} chat messages)"
        )
    for index, messages in enumerate(prompts):
        if not isinstance(messages, list) or not messages:
            raise ValueError(
                f"prompt {index} is {type(messages).__name__} {messages!r:.80}; each prompt must "
                "be a non-empty list of {'role', 'content'} chat messages"
            )
        for message in messages:
            if not isinstance(message, dict) or set(message) != MESSAGE_KEYS:
                raise ValueError(
                    f"prompt {index} holds {message!r:.80}; a chat message is a dict with "
                    "exactly the keys role and content"
                )


def check_sampling(n: int, max_tokens: int) -> None:
    """Engines re-check what SamplingConfig validates: a request may arrive unvalidated."""
    if n < 1:
        raise ValueError(f"sampling n={n}: ask for at least one completion per prompt (n >= 1)")
    if max_tokens < 1:
        raise ValueError(f"sampling max_tokens={max_tokens}: allow at least one new token")


def check_length(prompt_token_ids: list[list[int]], max_model_len: int) -> None:
    """Reject prompts that leave no room for a single new token."""
    for index, ids in enumerate(prompt_token_ids):
        if len(ids) >= max_model_len:
            raise ValueError(
                f"prompt {index} is {len(ids)} tokens, but max_model_len is {max_model_len}: "
                "raise rollout.max_model_len or shorten the prompt"
            )


def render_prompts(tokenizer: Any, prompts: list[list[dict[str, str]]]) -> list[list[int]]:
    """Token ids of each chat prompt through the model's chat template, ready for generation.
    A prompt that ends with an assistant message is continued from inside that message (its
    text is the start of the completion), as Self-Lengthen's extender needs."""
    rendered = []
    for messages in prompts:
        continues = messages[-1]["role"] == "assistant"
        encoded = tokenizer.apply_chat_template(
            messages,
            add_generation_prompt=not continues,
            continue_final_message=continues,
            tokenize=True,
            return_dict=True,
        )
        rendered.append(list(encoded["input_ids"]))
    return rendered


def prompt_seed(seed: int | None, index: int) -> int | None:
    """The sampling seed of the prompt at `index` of a generate call."""
    return None if seed is None else seed + index


def tie_lm_head(state_dict: dict[str, Any], tied: bool) -> dict[str, Any]:
    """Add `lm_head.weight` as an alias of the embedding when the model ties them.

    Saved checkpoints drop the tied key, but vLLM rebuilds its output layer only from a
    weight named lm_head, so without the alias the engine keeps sampling from the old head.
    """
    embed = "model.embed_tokens.weight"
    if tied and "lm_head.weight" not in state_dict and embed in state_dict:
        return {**state_dict, "lm_head.weight": state_dict[embed]}
    return state_dict


class EngineBase:
    """What every rollout engine (vLLM, HF) shares: request checks and the policy version.

    Subclasses set `tokenizer`, `config` (a RolloutConfig), `worker_index` and `version`.
    """

    def checked_prompt_ids(
        self, prompts: Any, n: int, max_tokens: int, expected_version: int | None
    ) -> list[list[int]]:
        """The prompts' token ids after every check a generate request needs."""
        self._check_version(expected_version)
        check_prompts(prompts)
        check_sampling(n, max_tokens)
        prompt_ids = render_prompts(self.tokenizer, prompts)
        check_length(prompt_ids, self.config.max_model_len)
        return prompt_ids

    def policy_version(self) -> int:
        return self.version

    def pid(self) -> int:
        return os.getpid()

    def _check_version(self, expected_version: int | None) -> None:
        if expected_version is not None and expected_version != self.version:
            raise PolicyVersionMismatch(
                f"worker {self.worker_index} holds policy version {self.version}, "
                f"expected {expected_version}"
            )
