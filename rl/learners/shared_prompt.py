"""Shared-prompt forward: a GRPO group's prompt runs through the model once, not G times.

Every completion of a group continues the same prompt. The plain layout (rl/learners/batching.py)
runs each row as prompt + completion, so a batch of K prompts x G completions pushes K*G*(P + C)
tokens through the model, forward and backward. Here the K distinct prompts run once with a KV
cache, and each prompt's completions run packed side by side in one row on top of it, each
masked to see the prompt and its own earlier tokens (`packed_layout`): K*P + K*G*C tokens, and
every attention layer reads a prompt's keys and values once, where a row per completion would
hold G copies of them. With h1's prompts (~100-250 tokens) and G = 4 that is 1.5-2x fewer
tokens per update, at 8K-token prompts ~G x less attention memory; the logprobs and gradients
are the plain layout's up to float rounding (tests/test_learner_shared_prompt.py).

Logits: completion token 0 is predicted by the prompt's last position, token t > 0 by completion
position t - 1, so the completion pass takes tokens 0..C-2 and the last token is never an input.
Prompts are left-padded (every prompt ends at the same column, as the plain layout's do) and
completions right-padded; explicit position ids continue each prompt's real length.

Under gradient checkpointing too. Hugging Face layers drop the KV cache in that mode, because the
backward pass replays each layer's forward and a replayed cache write would append twice. The two
caches here make a replay harmless: the prompt pass records each layer's keys and values once (a
replay records nothing), and the completion pass reads that record and stores nothing, so a
replayed layer sees what the first run saw. `allow_cache_under_checkpointing` tells the layers so.
"""

from __future__ import annotations

from typing import Any

import torch
from transformers.cache_utils import Cache, DynamicLayer

from rl.learners.batching import completion_tensors, left_padded


class _RecordOnce(DynamicLayer):
    """A layer's prompt keys and values, stored by the first forward; a checkpoint replay of the
    prompt pass gets its own states back and changes nothing."""

    def update(self, key_states, value_states, *args, **kwargs):
        if self.is_initialized and self.keys.numel():
            return key_states, value_states
        return super().update(key_states, value_states)


class _ReadOnlyPrefix(DynamicLayer):
    """The prompt's keys and values in front of the completions' own; nothing is stored, so a
    checkpoint replay of the completion pass sees the same prefix."""

    def __init__(self, keys: torch.Tensor, values: torch.Tensor):
        super().__init__()
        self.lazy_initialization(keys, values)
        self.keys, self.values = keys, values

    def update(self, key_states, value_states, *args, **kwargs):
        return (
            torch.cat([self.keys, key_states], dim=-2),
            torch.cat([self.values, value_states], dim=-2),
        )


def allow_cache_under_checkpointing(model: torch.nn.Module) -> int:
    """Let the model's checkpointed layers keep the caches of this file (their writes are
    idempotent, see the module docstring). Returns how many layers were told."""
    from transformers.modeling_layers import GradientCheckpointingLayer

    layers = [m for m in model.modules() if isinstance(m, GradientCheckpointingLayer)]
    for layer in layers:
        layer._can_checkpoint_with_cache = True
    return len(layers)


def prompt_micro_batches(samples: list[dict[str, Any]], micro_batch_size: int) -> list[list[int]]:
    """Sample indices in micro-batches of at most `micro_batch_size` rows that keep a prompt's
    rows together (a group larger than the micro-batch is split into chunks, each with its own
    copy of the prompt), so each micro-batch runs few distinct prompts."""
    by_prompt: dict[tuple[int, ...], list[int]] = {}
    for index, sample in enumerate(samples):
        by_prompt.setdefault(tuple(sample["prompt_token_ids"]), []).append(index)
    chunks = [
        rows[start : start + micro_batch_size]
        for rows in by_prompt.values()
        for start in range(0, len(rows), micro_batch_size)
    ]
    # Similar lengths together, as the plain grouping does: less padding per micro-batch.
    chunks.sort(key=lambda rows: len(samples[rows[0]]["prompt_token_ids"]))
    batches: list[list[int]] = []
    for rows in chunks:
        if batches and len(batches[-1]) + len(rows) <= micro_batch_size:
            batches[-1].extend(rows)
        else:
            batches.append(list(rows))
    return batches


def collate_shared(samples: list[dict[str, Any]], pad_token_id: int) -> dict[str, torch.Tensor]:
    """Tensors for one micro-batch with each distinct prompt once.

    prompt_ids, prompt_mask, prompt_positions: (K, P), left-padded; prompt_index: (B,), the
    prompt row of each completion row; completion_positions (B, C) and rl/learners/batching.py's
    `completion_tensors` (right-padded completions, rollout logprobs, advantages).
    """
    prompts: dict[tuple[int, ...], int] = {}
    prompt_index = [prompts.setdefault(tuple(s["prompt_token_ids"]), len(prompts)) for s in samples]
    prompt_ids, prompt_mask = left_padded([list(prompt) for prompt in prompts], pad_token_id)
    completions = completion_tensors(samples, pad_token_id)
    index = torch.tensor(prompt_index, dtype=torch.long)
    lengths = prompt_mask.sum(dim=1)[index]  # (B,) real prompt tokens of each row's prompt
    width = completions["completion_ids"].shape[1]
    return {
        "prompt_ids": prompt_ids,
        "prompt_mask": prompt_mask,
        "prompt_positions": (prompt_mask.cumsum(dim=1) - 1).clamp(min=0),
        "prompt_index": index,
        "completion_positions": lengths[:, None] + torch.arange(width)[None, :],
        **completions,
    }


def packed_layout(tensors: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Where each completion row's inputs sit when a prompt's rows are packed into one sequence.

    Row b of prompt k takes slot j (its rank among k's rows): columns j*W .. j*W + W-1 of packed
    row k, W = C - 1 inputs (the last completion token is never an input). Returns
    slot (B,), ids and positions (K, M*W) (empty slots: pad ids, positions after the prompt),
    and `visible` (K, M*W, P + M*W), bool: a query sees its prompt's real tokens and the
    earlier tokens of its own slot, never another completion.
    """
    index, ids = tensors["prompt_index"], tensors["completion_ids"][:, :-1]
    prompts, (rows, width) = tensors["prompt_ids"].shape[0], ids.shape
    counts = torch.bincount(index, minlength=prompts)
    # rank of each row among its prompt's rows, in batch order
    slot = torch.zeros(rows, dtype=torch.long)
    for k in range(prompts):
        slot[index == k] = torch.arange(int(counts[k]))
    packed = int(counts.max()) * width
    block, step = torch.arange(packed) // width, torch.arange(packed) % width
    targets = index[:, None] * packed + slot[:, None] * width + torch.arange(width)[None, :]
    packed_ids = torch.zeros(prompts * packed, dtype=ids.dtype)  # empty slots: any token
    packed_ids[targets.reshape(-1)] = ids.reshape(-1)
    # every slot's positions continue its prompt (collate_shared's completion_positions)
    positions = tensors["prompt_mask"].sum(dim=1)[:, None] + step[None, :]
    own = (block[:, None] == block[None, :]) & (step[:, None] >= step[None, :])  # (MW, MW)
    prefix = tensors["prompt_mask"].bool()[:, None, :].expand(prompts, packed, -1)
    visible = torch.cat([prefix, own[None].expand(prompts, -1, -1)], dim=2)
    return {
        "slot": slot,
        "ids": packed_ids.view(prompts, packed),
        "positions": positions,
        "visible": visible,
    }


def _attention_mask(visible: torch.Tensor, model: torch.nn.Module, dtype: torch.dtype):
    """The 4D mask the model's attention takes as is: bool for SDPA (True = attend), additive
    for the eager path."""
    mask = visible[:, None, :, :]
    if getattr(model.config, "_attn_implementation", "sdpa") == "sdpa":
        return mask
    zero = torch.zeros((), dtype=dtype)
    return torch.where(mask, zero, torch.finfo(dtype).min)


# Packing reads the prompt's keys once but lets every completion's queries meet every other
# completion's keys (masked, still computed): attention over the completions costs G x more.
# Worth it when the prompt is the larger part, the long-context case; with h1's short prompts
# and long completions the row layout is cheaper. Pack when prompt >= PACK_RATIO x the
# completions of its group together; tests set 0 (always) or inf (never) to run both paths.
PACK_RATIO = 1.0


def packs(tensors: dict[str, torch.Tensor]) -> bool:
    slots = int(torch.bincount(tensors["prompt_index"]).max())
    width = tensors["completion_ids"].shape[1] - 1
    return tensors["prompt_ids"].shape[1] >= PACK_RATIO * slots * width


def per_row(states: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    """A prompt's states (K, ...) for each completion row (B, ...): a view for one prompt, where
    a copy would hold B x the prompt's states for the whole pass."""
    if states.shape[0] == 1:
        return states.expand(index.shape[0], *states.shape[1:])
    return states.index_select(0, index)


def shared_prompt_outputs(
    model: torch.nn.Module, tensors: dict[str, torch.Tensor], hidden: bool = False
) -> torch.Tensor:
    """Logits (B, C, V) predicting each completion token from the `collate_shared` tensors, or
    with `hidden` the decoder's last hidden states (B, C, H) at those positions (for
    rl/learners/vocab_head.py, which applies the vocabulary head a chunk at a time)."""
    body = model.get_decoder() if hidden else model

    def output(result) -> torch.Tensor:
        return result.last_hidden_state if hidden else result.logits

    record = Cache(layer_class_to_replicate=_RecordOnce)
    prompt = body(
        input_ids=tensors["prompt_ids"],
        attention_mask=tensors["prompt_mask"],
        position_ids=tensors["prompt_positions"],
        past_key_values=record,
        use_cache=True,
        **({} if hidden else {"logits_to_keep": 1}),
    )
    index = tensors["prompt_index"]
    first = output(prompt)[:, -1:, :].index_select(0, index)  # (B, 1, .): predicts token 0
    completion_ids = tensors["completion_ids"]
    if completion_ids.shape[1] == 1:
        return first
    width = completion_ids.shape[1] - 1
    if packs(tensors):
        # Each prompt's completions in one row on top of its keys and values, which every layer
        # then reads once (a row per completion: G copies a layer, concatenated and repeated
        # for grouped-query heads, ~0.4 GB a layer for G = 8 at 32K tokens of the tiny model).
        layout = packed_layout(tensors)
        cache = Cache(layers=[_ReadOnlyPrefix(r.keys, r.values) for r in record.layers])
        dtype = next(model.parameters()).dtype
        packed = body(
            input_ids=layout["ids"],
            attention_mask=_attention_mask(layout["visible"], model, dtype),
            position_ids=layout["positions"],
            past_key_values=cache,
            use_cache=True,
        )
        rest = output(packed)
        rest = rest.view(rest.shape[0], -1, width, rest.shape[-1])[index, layout["slot"]]
        return torch.cat([first, rest], dim=1)
    # A row per completion, each with its prompt's states in front; gradients flow back through
    # `per_row` into the prompt pass.
    cache = Cache(
        layers=[
            _ReadOnlyPrefix(per_row(r.keys, index), per_row(r.values, index)) for r in record.layers
        ]
    )
    rows = body(
        input_ids=completion_ids[:, :-1],
        attention_mask=torch.cat(
            [tensors["prompt_mask"].index_select(0, index), tensors["completion_mask"][:, :-1]],
            dim=1,
        ),
        position_ids=tensors["completion_positions"][:, :-1],
        past_key_values=cache,
        use_cache=True,
    )
    return torch.cat([first, output(rows)], dim=1)
