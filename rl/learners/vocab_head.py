"""Completion-token logprobs from the last hidden states, the vocabulary head a chunk at a time.

The head is the largest activation of a small model's update: SmolLM2's 49,152-token vocabulary
turns one micro-batch of 4 x 128 completion tokens into a 100 MB logit tensor, and the
temperature division, the log-softmax and their gradients add several more of the same size.
Here each chunk of `chunk_tokens` hidden states goes through the head under activation
checkpointing: the forward keeps only the hidden states, and the backward recomputes one chunk's
logits at a time (one more head matmul per update). Values and gradients equal the whole-tensor
computation (tests/test_learner_vocab_head.py).

The learner uses it when the model's logits are exactly `lm_head(hidden)`, which `plain_head`
checks on the model itself (models with logit soft-capping or scaling fall back to the full
logits).
"""

from __future__ import annotations

import torch
from torch.utils.checkpoint import checkpoint


def plain_head(model: torch.nn.Module) -> bool:
    """True when `model`'s logits are
    `get_output_embeddings()(get_decoder()(...).last_hidden_state)`, checked on a short input (a few tokens, no gradient)."""
    try:
        decoder, head = model.get_decoder(), model.get_output_embeddings()
    except (AttributeError, NotImplementedError):
        return False
    if decoder is None or head is None or decoder is model:
        return False
    device = next(model.parameters()).device
    ids = torch.tensor([[1, 2, 3, 4]], device=device)
    with torch.no_grad():
        want = model(input_ids=ids, use_cache=False).logits
        got = head(decoder(input_ids=ids, use_cache=False).last_hidden_state)
    return want.shape == got.shape and torch.allclose(want, got, rtol=1e-4, atol=1e-4)


def token_logprobs(
    logits: torch.Tensor, targets: torch.Tensor, temperature: float, entropy: bool
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Logprobs of `targets` (...) under softmax(logits (..., V) / temperature), and the token
    entropies (no gradient) from the same log-softmax, 256 tokens at a time so no further
    (..., V) temporaries exist whole."""
    log_probs = (logits.float() / temperature).log_softmax(dim=-1)
    picked = log_probs.gather(-1, targets.unsqueeze(-1)).squeeze(-1)
    if not entropy:
        return picked, None
    with torch.no_grad():
        flat = log_probs.detach().reshape(-1, log_probs.shape[-1])
        spread = torch.cat([-(part.exp() * part).sum(dim=-1) for part in flat.split(256)])
    return picked, spread.view_as(picked)


def _chunk(
    head: torch.nn.Module,
    hidden: torch.Tensor,
    targets: torch.Tensor,
    temperature: float,
    entropy: bool,
) -> tuple[torch.Tensor, torch.Tensor]:
    picked, spread = token_logprobs(head(hidden), targets, temperature, entropy)
    return picked, spread if entropy else picked.new_empty(0)


def head_logprobs(
    head: torch.nn.Module,
    hidden: torch.Tensor,
    targets: torch.Tensor,
    temperature: float,
    entropy: bool,
    chunk_tokens: int,
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Logprobs (B, C) of `targets` (B, C) under softmax(head(hidden) / temperature), hidden
    (B, C, H); and the token entropies (B, C) when `entropy` is set (no gradient)."""
    rows, width = targets.shape
    flat_hidden, flat_targets = hidden.reshape(rows * width, -1), targets.reshape(-1)
    # One chunk gains nothing from checkpointing (its logits exist whole either way): no recompute.
    keep = (
        torch.is_grad_enabled()
        and flat_hidden.requires_grad
        and flat_targets.numel() > chunk_tokens
    )
    picked, spreads = [], []
    for start in range(0, flat_targets.shape[0], chunk_tokens):
        args = (
            head,
            flat_hidden[start : start + chunk_tokens],
            flat_targets[start : start + chunk_tokens],
            temperature,
            entropy,
        )
        # Checkpointed: the chunk's (N, V) tensors are freed now and remade in the backward.
        value, spread = checkpoint(_chunk, *args, use_reentrant=False) if keep else _chunk(*args)
        picked.append(value)
        spreads.append(spread)
    logprobs = torch.cat(picked).view(rows, width)
    return logprobs, torch.cat(spreads).view(rows, width) if entropy else None
