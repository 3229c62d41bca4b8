"""The learner's GPU paths: bfloat16 autocast on one GPU, DDP and FSDP2 ranks over NCCL.

Marked `gpu`, skipped without CUDA (the two-rank tests need two GPUs). Torch only: no Ray, no
vLLM, so a bare GPU machine with torch and transformers runs them (`pytest -m gpu`). They have
NOT run on this project's machines, which have no GPU.
"""

from __future__ import annotations

import socket

import pytest
import torch

from rl.learners import GRPOLearner as Learner
from rl.learners.config import TrainerConfig
from tests.test_learner import MAX_LEN, make_batch

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs an NVIDIA GPU"),
]
two_gpus = pytest.mark.skipif(torch.cuda.device_count() < 2, reason="needs two GPUs")


def learner(path: str, parallel: str = "none", **overrides) -> Learner:
    config = TrainerConfig(**{"lr": 1e-3, "micro_batch_size": 3, "loss": "dapo", **overrides})
    cls = type("Rank", (Learner,), {"parallel": parallel}) if parallel != "none" else Learner
    return cls(path, config, total_steps=10, seed=0, max_completion_length=MAX_LEN)


def test_bf16_learner_on_a_gpu_keeps_float32_masters(tiny_model_path, gsm8k_rows):
    exact = learner(tiny_model_path, dtype="float32")
    fast = learner(tiny_model_path, dtype="auto")  # bfloat16 autocast on a GPU
    assert exact.device.type == fast.device.type == "cuda" and fast.bf16 and not exact.bf16
    batch = make_batch(exact, gsm8k_rows)
    sample = batch[0]
    reference = exact.logprobs(sample["prompt_token_ids"], sample["completion_token_ids"])
    approx = fast.logprobs(sample["prompt_token_ids"], sample["completion_token_ids"])
    assert max(abs(a - b) for a, b in zip(approx, reference, strict=True)) < 0.1
    before = fast.weights()
    metrics = fast.step(batch)
    assert metrics["skipped"] == 0
    after = fast.weights()
    assert all(weight.dtype == torch.float32 for weight in after.values())
    assert any(not torch.equal(before[name], after[name]) for name in after)


def _rank(rank: int, port: int, path: str, parallel: str, dtype: str, batch, out: str) -> None:
    import os

    import torch.distributed as dist

    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank),
                      WORLD_SIZE="2", LOCAL_RANK=str(rank))  # fmt: skip
    ranked = learner(path, parallel, dtype=dtype)
    metrics = [ranked.step(batch) for _ in range(3)]
    weights = ranked.weights()
    if rank == 0:
        torch.save({"metrics": metrics, "weights": weights}, out)
    dist.destroy_process_group()


def _two_ranks(path: str, parallel: str, dtype: str, batch, tmp_path) -> dict:
    import torch.multiprocessing as mp

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    out = str(tmp_path / f"{parallel}.pt")
    mp.spawn(_rank, args=(port, path, parallel, dtype, batch, out), nprocs=2)
    return torch.load(out)


@two_gpus
@pytest.mark.parametrize("parallel", ["ddp", "fsdp"])
def test_two_nccl_ranks_take_the_one_gpu_step(tiny_model_path, gsm8k_rows, parallel, tmp_path):
    single = learner(tiny_model_path, dtype="float32")
    batch = make_batch(single, gsm8k_rows)[:7]
    expected = [single.step(batch) for _ in range(3)]
    sharded = _two_ranks(tiny_model_path, parallel, "float32", batch, tmp_path)
    for got, want in zip(sharded["metrics"], expected, strict=True):
        assert got["loss"] == pytest.approx(want["loss"], rel=1e-4, abs=1e-6)
    for name, weight in single.weights().items():
        torch.testing.assert_close(sharded["weights"][name], weight, rtol=1e-4, atol=1e-4)


@two_gpus
def test_fsdp_bf16_mixed_precision_on_two_gpus(tiny_model_path, gsm8k_rows, tmp_path):
    """FSDP's bfloat16 parameter policy against one GPU's bfloat16 autocast: close, not equal."""
    single = learner(tiny_model_path, dtype="bfloat16")
    batch = make_batch(single, gsm8k_rows)[:7]
    expected = [single.step(batch) for _ in range(3)]
    sharded = _two_ranks(tiny_model_path, "fsdp", "bfloat16", batch, tmp_path)
    for got, want in zip(sharded["metrics"], expected, strict=True):
        assert got["loss"] == pytest.approx(want["loss"], rel=0.05, abs=1e-3)
    assert all(w.dtype == torch.float32 for w in sharded["weights"].values())
