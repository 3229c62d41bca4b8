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
(its `forward` is wrapped on the instance), so checkpoints and weight sync are unchanged. The
backward replays the forward's random state, so a dropout inside the MLP (a LoRA adapter's) draws
the masks the loss saw. Only gated MLPs (gate/up/down projections, the Llama family's) are tiled:
they act on each token alone, which is what makes tiling exact; any other `mlp` is left as it is.
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
        ctx.rng = _rng_state(x.device)
        flat = x.reshape(-1, x.shape[-1])
        out, start = None, 0
        for tile in flat.split(tile_tokens):
            part = forward(tile)
            if out is None:  # written in place: a torch.cat would hold every tile and the result
                out = part.new_empty(flat.shape[0], part.shape[-1])
            out[start : start + part.shape[0]] = part
            start += part.shape[0]
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
        # The tiles draw random numbers in the forward's order from the forward's state; the
        # caller's own random state is restored afterwards.
        with torch.random.fork_rng(devices=_devices(x.device), device_type="cuda"):
            _set_rng_state(x.device, ctx.rng)
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


def _devices(device: torch.device) -> list:
    return [device] if device.type == "cuda" else []


def _rng_state(device: torch.device) -> tuple:
    cuda = torch.cuda.get_rng_state(device) if device.type == "cuda" else None
    return torch.get_rng_state(), cuda


def _set_rng_state(device: torch.device, state: tuple) -> None:
    cpu, cuda = state
    torch.set_rng_state(cpu)
    if cuda is not None:
        torch.cuda.set_rng_state(cuda, device)


def _tiled(module: torch.nn.Module, tile_tokens: int):
    plain = module.forward

    def forward(x: torch.Tensor) -> torch.Tensor:
        if x.shape[:-1].numel() <= tile_tokens:
            return plain(x)
        return _TiledForward.apply(x, plain, tile_tokens, *module.parameters())

    return forward


GATED = ("gate_proj", "up_proj", "down_proj")


def tile_mlps(model: torch.nn.Module, tile_tokens: int) -> int:
    """Run every decoder layer's gated MLP (a module named `mlp` with gate, up and down
    projections) in tiles of `tile_tokens` tokens when a call has more. Returns how many MLPs were
    wrapped."""
    wrapped = 0
    for name, module in model.named_modules():
        if name.rsplit(".", 1)[-1] == "mlp" and all(hasattr(module, p) for p in GATED):
            module.forward = _tiled(module, tile_tokens)
            wrapped += 1
    return wrapped
