"""rl/learners/tiled_mlp.py: a long forward's MLP runs a tile of tokens at a time, with the
whole-sequence MLP's values and gradients, and never holds more than a tile of intermediates."""

from __future__ import annotations

import copy

import pytest
import torch
from torch.utils._python_dispatch import TorchDispatchMode

from rl.learners import GRPOLearner
from rl.learners.config import TrainerConfig
from rl.learners.tiled_mlp import tile_mlps


@pytest.fixture(scope="module")
def mlp(tiny_model_path):
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(tiny_model_path, dtype=torch.float32)
    return model.model.layers[0].mlp


def run(module, x, autocast=None):
    """Forward (under autocast if given), then backward outside it, as a training step does."""
    with torch.autocast("cpu", dtype=autocast, enabled=autocast is not None):
        out = module(x)
    out.float().square().sum().backward()
    return out.detach(), x.grad, {n: p.grad for n, p in module.named_parameters()}


@pytest.mark.parametrize("frozen", [None, "up_proj.weight"])
def test_tiles_give_the_whole_mlps_values_and_gradients(mlp, frozen):
    """2 rows x 300 tokens in tiles of 64 (the last one short), one parameter frozen or none."""
    plain, tiled = copy.deepcopy(mlp), copy.deepcopy(mlp)
    assert tile_mlps(torch.nn.ModuleDict({"mlp": tiled}), 64) == 1
    for module in (plain, tiled):
        for name, param in module.named_parameters():
            param.requires_grad_(name != frozen)
    x = torch.randn(2, 300, mlp.gate_proj.in_features)
    want = run(plain, x.clone().requires_grad_())
    got = run(tiled, x.clone().requires_grad_())
    torch.testing.assert_close(got[0], want[0])
    torch.testing.assert_close(got[1], want[1])
    assert got[2].keys() == want[2].keys()
    for name, grad in want[2].items():
        if name == frozen:
            assert grad is None and got[2][name] is None
        else:
            torch.testing.assert_close(got[2][name], grad, rtol=1e-4, atol=1e-6, msg=name)
    # Without gradients (the old-logprob pass) the tiles run too, and agree.
    with torch.no_grad():
        torch.testing.assert_close(tiled(x), plain(x))


def test_tiles_replay_under_the_forwards_autocast(mlp):
    """The backward recomputes a tile in bfloat16 when the forward ran under bfloat16 autocast:
    the gradients match the plain MLP's under the same autocast (a float32 replay would not be
    the graph the loss saw)."""
    plain, tiled = copy.deepcopy(mlp), copy.deepcopy(mlp)
    tile_mlps(torch.nn.ModuleDict({"mlp": tiled}), 50)
    x = torch.randn(1, 200, mlp.gate_proj.in_features)
    results = [run(m, x.clone().requires_grad_(), torch.bfloat16) for m in (plain, tiled)]
    (want, want_x, want_p), (got, got_x, got_p) = results
    assert got.dtype == torch.bfloat16
    torch.testing.assert_close(got, want)
    torch.testing.assert_close(got_x, want_x)
    for name, grad in want_p.items():
        torch.testing.assert_close(got_p[name], grad, rtol=2e-2, atol=1e-3, msg=name)


class DropoutMLP(torch.nn.Module):
    """A gated MLP with dropout on its input, as a LoRA adapter puts on each projection."""

    def __init__(self, width: int = 16, inner: int = 40):
        super().__init__()
        self.gate_proj = torch.nn.Linear(width, inner, bias=False)
        self.up_proj = torch.nn.Linear(width, inner, bias=False)
        self.down_proj = torch.nn.Linear(inner, width, bias=False)
        self.dropout = torch.nn.Dropout(0.5)

    def forward(self, x):
        x = self.dropout(x)
        return self.down_proj(torch.nn.functional.silu(self.gate_proj(x)) * self.up_proj(x))


def test_the_backward_replays_the_forwards_dropout_masks():
    """The recomputed tiles draw the masks the forward drew, so the gradients are the plain
    MLP's under the same seed; the random stream after the backward is the caller's own."""
    torch.manual_seed(0)
    plain = DropoutMLP()
    tiled = copy.deepcopy(plain)
    assert tile_mlps(torch.nn.ModuleDict({"mlp": tiled}), 7) == 1
    x = torch.randn(3, 20, 16)
    results = []
    for module in (plain, tiled):
        torch.manual_seed(1)
        results.append(run(module, x.clone().requires_grad_()))
        results.append(torch.rand(4))  # the draw after the step
    want, after_plain, got, after_tiled = results
    torch.testing.assert_close(got[0], want[0])
    torch.testing.assert_close(got[1], want[1])
    for name, grad in want[2].items():
        torch.testing.assert_close(got[2][name], grad, rtol=1e-4, atol=1e-6, msg=name)
    torch.testing.assert_close(after_tiled, after_plain)


def test_only_gated_mlps_are_tiled():
    """An `mlp` without gate/up/down projections (GPT-2's c_fc/c_proj) is left alone."""

    class Plain(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.c_fc, self.c_proj = torch.nn.Linear(4, 8), torch.nn.Linear(8, 4)

    model = torch.nn.ModuleDict(
        {"mlp": Plain(), "block": torch.nn.ModuleDict({"mlp": DropoutMLP()})}
    )
    forward = model["mlp"].forward
    assert tile_mlps(model, 4) == 1
    assert model["mlp"].forward == forward
    assert "forward" in vars(model["block"]["mlp"])


class WidestMatmul(TorchDispatchMode):
    """The most rows of any matmul whose output has `width` columns (the MLP's gate/up)."""

    def __init__(self, width: int):
        super().__init__()
        self.width, self.rows = width, 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        if func is torch.ops.aten.mm.default and out.shape[-1] == self.width:
            self.rows = max(self.rows, out.shape[0])
        return out


def test_learner_tiles_a_long_prompt_with_the_untiled_gradients(tiny_model_path):
    """A 2K-token prompt x 3 completions under shared prompts and gradient checkpointing, with a
    KL reference: the learner with 512-token tiles gives the untiled loss and gradients, and no
    MLP matmul in its policy's or reference's forward or backward spans more than 512 tokens
    (the untiled one spans the whole prompt)."""
    learners = [
        GRPOLearner(
            tiny_model_path,
            TrainerConfig(lr=1e-3, beta=0.04, gradient_checkpointing=True, mlp_tile_tokens=tile),
            total_steps=2,
            seed=0,
            max_completion_length=16,
        )
        for tile in (512, None)
    ]
    tiled, plain = learners
    text = tiled.tokenizer("The ledger lists one more entry, dated and signed. " * 300)
    prompt = text["input_ids"][:2048]
    batch = [
        {
            "prompt_token_ids": prompt,
            "completion_token_ids": prompt[11 * r : 11 * r + 3 + 5 * r],
            "rollout_logprobs": [-1.0 - 0.1 * t for t in range(3 + 5 * r)],
            "advantage": float(r) - 1.0,
        }
        for r in range(3)
    ]
    width = tiled.model.config.intermediate_size
    spans = []
    sums = []
    for learner in learners:
        with WidestMatmul(width) as widest:
            sums.append(learner.accumulate(batch))
        spans.append(widest.rows)
    assert spans == [512, 2048]
    assert sums[0]["loss"] == pytest.approx(sums[1]["loss"], rel=1e-5, abs=1e-7)
    for (name, a), b in zip(plain.model.named_parameters(), tiled.model.parameters(), strict=True):
        torch.testing.assert_close(b.grad, a.grad, rtol=1e-3, atol=1e-6, msg=name)
    # Parameter names are unchanged (checkpoints and weight sync read them).
    assert tiled.weight_names == plain.weight_names
