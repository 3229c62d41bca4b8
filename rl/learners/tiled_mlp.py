"""Sequence-tiled MLP: a long sequence's feed-forward blocks run a tile of tokens at a time.

A decoder layer's MLP is the widest activation of a long prompt: Llama's gate and up projections,
the activation and their product are each (tokens x intermediate), 2.7x the hidden width, and the
backward holds them and their gradients at once. At a 32K-token prompt of the tiny benchmark
model they were ~200 MB of the learner's 516 MB peak, even under gradient checkpointing, whose
replay of a layer rebuilds them over the whole sequence. The MLP acts on each token alone, so it
can run in tiles (the idea of ALST's TiledMLP, arXiv 2506.13996): the forward keeps only its
input, and the backward recomputes one tile's intermediates at a time and takes that tile's
gradients before the next. Peak MLP memory: one tile's worth; cost: one more MLP forward per
tiled call. Values and gradients equal the whole-sequence MLP up to float rounding
(tests/test_learner_tiled_mlp.py).

Only calls with more than `tile_tokens` tokens (batch x sequence) are tiled, so short rows (h1's
micro-batches) run the plain MLP and pay nothing. The module keeps its class and parameter names
(its `forward` is wrapped on the instance), so checkpoints and weight sync are unchanged.
"""

from __future__ import annotations

import torch


class _TiledForward(torch.autograd.Function):
    """forward(x) over token tiles. The backward recomputes one tile at a time and backpropagates
    it at once: the parameters' gradients accumulate into their `.grad` tile by tile (no
    parameter-sized buffer per call), and x's gradient is returned. The parameters are inputs
    only so that the node exists whenever one of them trains (x itself may not need a gradient)."""

    @staticmethod
    def forward(ctx, x, forward, tile_tokens, *params):
        ctx.forward, ctx.tile_tokens = forward, tile_tokens
        device = x.device.type
        # The backward replays tiles under the autocast state the forward ran under.
        ctx.autocast = (device, torch.is_autocast_enabled(device), torch.get_autocast_dtype(device))
        ctx.save_for_backward(x, *params)
        flat = x.reshape(-1, x.shape[-1])
        out = torch.cat([forward(tile) for tile in flat.split(tile_tokens)])
        return out.view(*x.shape[:-1], out.shape[-1])

    @staticmethod
    def backward(ctx, grad_out):
        x, *params = ctx.saved_tensors
        trained = [p for p in params if p.requires_grad]
        flat = x.reshape(-1, x.shape[-1])
        grads = grad_out.reshape(-1, grad_out.shape[-1])
        wants_x = ctx.needs_input_grad[0]
        grad_x = torch.empty_like(flat) if wants_x else None
        device, enabled, dtype = ctx.autocast
        start = 0
        for tile, grad in zip(
            flat.split(ctx.tile_tokens), grads.split(ctx.tile_tokens), strict=True
        ):
            tile = tile.detach().requires_grad_(wants_x)
            with torch.enable_grad(), torch.autocast(device, dtype=dtype, enabled=enabled):
                out = ctx.forward(tile)
            inputs = ([tile] if wants_x else []) + trained
            if inputs:
                torch.autograd.backward(out, grad, inputs=inputs)
            if wants_x:
                grad_x[start : start + tile.shape[0]] = tile.grad
            start += tile.shape[0]
        grad_x = grad_x.view_as(x) if wants_x else None
        return (grad_x, None, None, *[None] * len(params))


def _tiled(module: torch.nn.Module, tile_tokens: int):
    plain = module.forward

    def forward(x: torch.Tensor) -> torch.Tensor:
        if x.shape[:-1].numel() <= tile_tokens:
            return plain(x)
        return _TiledForward.apply(x, plain, tile_tokens, *module.parameters())

    return forward


def tile_mlps(model: torch.nn.Module, tile_tokens: int) -> int:
    """Run every decoder layer's MLP (a module named `mlp` whose class name ends in MLP) in tiles of
    `tile_tokens` tokens when a call has more. Returns how many MLPs were wrapped."""
    wrapped = 0
    for name, module in model.named_modules():
        if name.rsplit(".", 1)[-1] == "mlp" and type(module).__name__.endswith("MLP"):
            module.forward = _tiled(module, tile_tokens)
            wrapped += 1
    return wrapped
