"""The learner on the tiny model: updates, micro-batch accumulation, hand loss, checkpoints, Ray.

Batches are real GSM8K questions (chat template, real tokenizer) with the start of their gold
answers as completions; rollout logprobs are the learner's own, shifted to make ratios != 1.
"""

from __future__ import annotations

import math

import pytest
import torch

from rl.learners import GRPOLearner as Learner
from rl.learners.advantages import group_advantages
from rl.learners.config import TrainerConfig
from rl.learners.lr_schedule import lr_factor

MAX_LEN = 16


def make_learner(path: str, **overrides) -> Learner:
    config = TrainerConfig(**{"lr": 1e-3, "micro_batch_size": 3, **overrides})
    return Learner(path, config, total_steps=10, seed=0, max_completion_length=MAX_LEN)


def make_batch(learner: Learner, rows: list[dict], shift: float = 0.1) -> list[dict]:
    """Pairs of completions per question (a group of 2), rewards 1/0 alternating."""
    tokenizer = learner.tokenizer
    samples = []
    for index, row in enumerate(rows):
        prompt = tokenizer.apply_chat_template(
            [{"role": "user", "content": row["question"]}],
            add_generation_prompt=True,
            return_dict=True,
        )["input_ids"]
        completion = tokenizer(row["answer"])["input_ids"][: 3 + (index * 5) % (MAX_LEN - 3)]
        own = learner.logprobs(prompt, completion)
        signs = [1 if t % 2 else -1 for t in range(len(completion))]
        samples.append(
            {
                "prompt_token_ids": prompt,
                "completion_token_ids": completion,
                "rollout_logprobs": [lp + shift * s for lp, s in zip(own, signs, strict=True)],
            }
        )
    rewards = [[float(i % 2), float((i + 1) % 2)] for i in range(len(samples) // 2)]
    rewards[0] = [1.0, 0.5]
    advantages = group_advantages(rewards, scale=True).flatten().tolist()
    for sample, advantage in zip(samples, advantages, strict=True):
        sample["advantage"] = advantage
    return samples


def test_one_step_moves_the_weights(tiny_model_path, gsm8k_rows):
    learner = make_learner(tiny_model_path)
    batch = make_batch(learner, gsm8k_rows)
    before = learner.weights()
    metrics = learner.step(batch)
    after = learner.weights()
    unchanged = [name for name in before if torch.equal(before[name], after[name])]
    assert not unchanged, f"weights not updated: {unchanged}"
    assert metrics["skipped"] == 0 and math.isfinite(metrics["loss"]) and metrics["grad_norm"] > 0
    assert metrics["micro_batches"] == 3 and metrics["sequences"] == 8
    assert 0 < metrics["ratio_mean"] and metrics["entropy_mean"] > 0
    assert learner.steps_done == 1


def test_weights_use_hf_names_once_for_tied_embeddings(tiny_model_path):
    from safetensors import safe_open

    learner = make_learner(tiny_model_path)
    weights = learner.weights(dtype="bfloat16")
    with safe_open(f"{tiny_model_path}/model.safetensors", "pt") as checkpoint:
        assert set(weights) == set(checkpoint.keys())
    assert "lm_head.weight" not in weights and "model.embed_tokens.weight" in weights
    assert all(t.device.type == "cpu" and t.dtype == torch.bfloat16 for t in weights.values())


@pytest.mark.parametrize("loss", ["grpo", "dr_grpo", "dapo"])
def test_micro_batching_accumulates_the_full_batch_gradient(tiny_model_path, gsm8k_rows, loss):
    whole = make_learner(tiny_model_path, loss=loss, micro_batch_size=8)
    split = make_learner(
        tiny_model_path, loss=loss, micro_batch_size=3, gradient_checkpointing=True
    )
    batch = make_batch(whole, gsm8k_rows, shift=0.3)
    whole_sums, split_sums = whole.accumulate(batch), split.accumulate(batch)
    assert whole_sums["micro_batches"] == 1 and split_sums["micro_batches"] == 3
    assert split_sums["loss"] == pytest.approx(whole_sums["loss"], rel=1e-4, abs=1e-7)
    for (name, a), b in zip(whole.model.named_parameters(), split.model.parameters(), strict=True):
        torch.testing.assert_close(b.grad, a.grad, rtol=1e-3, atol=1e-7, msg=name)


def test_loss_matches_hand_computation_through_the_learner(tiny_model_path, gsm8k_rows):
    learner = make_learner(tiny_model_path, loss="grpo", epsilon=0.2, beta=0.0)
    batch = make_batch(learner, gsm8k_rows[:2], shift=0.3)
    per_sequence = []
    for sample in batch:
        own = learner.logprobs(sample["prompt_token_ids"], sample["completion_token_ids"])
        advantage = sample["advantage"]
        token_losses = []
        for logprob, rollout in zip(own, sample["rollout_logprobs"], strict=True):
            ratio = math.exp(logprob - rollout)
            token_losses.append(-min(ratio * advantage, min(max(ratio, 0.8), 1.2) * advantage))
        per_sequence.append(sum(token_losses) / len(token_losses))
    want = sum(per_sequence) / len(per_sequence)
    metrics = learner.step(batch)
    assert metrics["loss"] == pytest.approx(want, rel=1e-4)
    assert metrics["clip_low_mean"] + metrics["clip_high_mean"] > 0  # shift 0.3 clips some tokens


def test_kl_to_reference_is_zero_before_and_positive_after_updates(tiny_model_path, gsm8k_rows):
    learner = make_learner(tiny_model_path, beta=0.01)
    batch = make_batch(learner, gsm8k_rows)
    assert learner.step(batch)["kl_mean"] == pytest.approx(0.0, abs=1e-6)
    assert learner.step(batch)["kl_mean"] > 0


def test_save_load_round_trip_resumes_exactly(tiny_model_path, gsm8k_rows, tmp_path):
    from transformers import AutoModelForCausalLM

    first = make_learner(tiny_model_path, lr_schedule="cosine", warmup_steps=1)
    batch = make_batch(first, gsm8k_rows)
    first.step(batch)
    first.save(tmp_path / "ckpt")
    first.save(tmp_path / "ckpt")  # replacing an existing checkpoint
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ckpt"]

    second = Learner(
        tiny_model_path, first.config, total_steps=10, seed=7, max_completion_length=MAX_LEN
    )
    second.load(tmp_path / "ckpt")
    assert second.steps_done == 1
    assert second.scheduler.get_last_lr() == first.scheduler.get_last_lr()
    for name, weight in first.weights().items():
        assert torch.equal(second.weights()[name], weight), name
    metrics_first, metrics_second = first.step(batch), second.step(batch)
    assert metrics_first["loss"] == metrics_second["loss"]
    for name, weight in first.weights().items():
        assert torch.equal(second.weights()[name], weight), name

    reloaded = AutoModelForCausalLM.from_pretrained(tmp_path / "ckpt")  # a plain HF directory
    assert reloaded.config.tie_word_embeddings and reloaded.lm_head.weight.shape[0] > 0


def test_malformed_samples_raise_one_clear_error(tiny_model_path, gsm8k_rows):
    learner = make_learner(tiny_model_path)
    good = make_batch(learner, gsm8k_rows[:2])
    cases = [
        ({k: v for k, v in good[0].items() if k != "advantage"}, "lacks"),
        ({**good[0], "rollout_logprobs": good[0]["rollout_logprobs"][:-1]}, "rollout logprobs"),
        (
            {
                **good[0],
                "completion_token_ids": [5] * (MAX_LEN + 1),
                "rollout_logprobs": [-1.0] * (MAX_LEN + 1),
            },
            "max_completion_length",
        ),
        (
            {**good[0], "rollout_logprobs": [float("-inf")] * len(good[0]["rollout_logprobs"])},
            "non-finite",
        ),
    ]
    for bad, message in cases:
        with pytest.raises(ValueError, match=f"sample 1.*{message}|sample 1 {message}"):
            learner.step([good[1], bad])
    with pytest.raises(ValueError, match="empty batch"):
        learner.step([])


def test_lr_schedule_warms_up_then_decays():
    assert [lr_factor(s, "constant", 3, 10) for s in range(5)] == [0.25, 0.5, 0.75, 1.0, 1.0]
    assert lr_factor(3, "cosine", 3, 11) == 1.0 and lr_factor(7, "cosine", 3, 11) == pytest.approx(
        0.5
    )
    assert lr_factor(11, "cosine", 3, 11) == pytest.approx(0.0, abs=1e-12)
    assert lr_factor(7, "linear", 3, 11) == pytest.approx(0.5)


def test_config_cross_checks_name_the_fix():
    assert TrainerConfig(loss="dapo").epsilon_high == 0.28
    assert TrainerConfig(loss="dapo").dynamic_sampling and not TrainerConfig().dynamic_sampling
    assert TrainerConfig(loss="grpo").scale_advantages and not TrainerConfig().scale_advantages
    for bad, fix in [
        ({"epsilon_high": 0.1}, "raise epsilon_high"),
        ({"tis_cap": 0.5}, "set it >= 1"),
        ({"warmup_steps": 5, "total_steps": 5}, "lower warmup_steps"),
        ({"lr_shedule": "cosine"}, "Extra inputs"),
    ]:
        with pytest.raises(ValueError, match=fix):
            TrainerConfig(**bad)


@pytest.mark.slow
def test_learner_runs_as_a_ray_actor(tiny_model_path, gsm8k_rows):
    import ray

    ray.init(
        address="local",
        num_cpus=1,
        include_dashboard=False,
        _node_ip_address="127.0.0.1",
        log_to_driver=False,
    )
    try:
        local = make_learner(tiny_model_path)
        batch = make_batch(local, gsm8k_rows[:4])
        actor = ray.remote(num_cpus=1)(Learner).remote(
            tiny_model_path, local.config, 10, 0, MAX_LEN
        )
        metrics = ray.get(actor.step.remote(batch))
        weights = ray.get(actor.weights.remote())
        assert metrics["loss"] == pytest.approx(local.step(batch)["loss"], rel=1e-5)
        for name, weight in local.weights().items():
            torch.testing.assert_close(
                weights[name], weight, rtol=1e-4, atol=1e-5
            )  # threads differ
    finally:
        ray.shutdown()


def _fsdp_rank(rank: int, port: int, path: str, batch: list[dict], out: str) -> None:
    """One of two CPU ranks (gloo) of a sharded learner; rank 0 saves what the test compares."""
    import os

    import torch.distributed as dist

    os.environ.update(
        MASTER_ADDR="127.0.0.1",
        MASTER_PORT=str(port),
        RANK=str(rank),
        WORLD_SIZE="2",
        LOCAL_RANK=str(rank),
    )
    torch.set_num_threads(1)
    # 8-token MLP tiles would tile every row: FSDP ranks must run the plain MLP regardless
    # (FSDP swaps the parameters in and out around each forward).
    config = TrainerConfig(lr=1e-3, loss="dapo", micro_batch_size=2, mlp_tile_tokens=8)
    rank_class = type("FSDPRank", (Learner,), {"parallel": "fsdp"})
    learner = rank_class(path, config, total_steps=10, seed=0, max_completion_length=MAX_LEN)
    mlps = [m for n, m in learner.model.named_modules() if n.endswith(".mlp")]
    tiling = {"mlps": len(mlps), "tiled": sum("forward" in vars(m) for m in mlps)}
    sums = learner.accumulate(batch)
    grads = {name: p.grad.full_tensor() for name, p in learner.model.named_parameters()}
    learner.step(batch)
    learner.save(f"{out}.ckpt")
    weights = learner.weights()
    learner.load(f"{out}.ckpt")
    reloaded = learner.weights()
    if rank == 0:
        torch.save(
            {"sums": dict(sums), "grads": grads, "weights": weights, "reloaded": reloaded,
             "mlps": tiling["mlps"], "tiled": tiling["tiled"]},
            out,
        )  # fmt: skip
    dist.destroy_process_group()


@pytest.mark.slow
def test_fsdp_on_two_cpu_ranks_matches_the_unsharded_learner(tiny_model_path, gsm8k_rows, tmp_path):
    """FSDP2 over gloo: the batch split, gradient sum and state gathering (not bf16, not NCCL)."""
    import socket

    import torch.multiprocessing as mp

    reference = make_learner(tiny_model_path, loss="dapo", micro_batch_size=2)
    batch = make_batch(reference, gsm8k_rows, shift=0.3)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    out = str(tmp_path / "rank0.pt")
    mp.spawn(_fsdp_rank, args=(port, tiny_model_path, batch, out), nprocs=2)
    sharded = torch.load(out)
    assert sharded["mlps"] > 0 and sharded["tiled"] == 0

    sums = reference.accumulate(batch)
    assert sharded["sums"]["tokens"] == sums["tokens"]
    assert sharded["sums"]["loss"] == pytest.approx(sums["loss"], rel=1e-5, abs=1e-7)
    for name, param in reference.model.named_parameters():
        # Two ranks sum in another order: a near-zero element of the 6M-element embedding's
        # gradient came out 1.2e-7 apart on one CPU; a wrong split is off everywhere.
        torch.testing.assert_close(sharded["grads"][name], param.grad, rtol=1e-4, atol=1e-6)
    assert set(sharded["weights"]) == set(reference.weight_names)
    for name, weight in sharded["weights"].items():
        assert torch.equal(sharded["reloaded"][name], weight), name


def test_bfloat16_autocast_on_cpu_keeps_float32_masters(tiny_model_path, gsm8k_rows):
    """dtype=bfloat16 on a CPU (fast with AMX, docs/benchmarks.md): bf16 matmuls, float32
    logprobs near the float32 learner's, float32 weights that still move."""
    fp32 = make_learner(tiny_model_path)
    bf16 = make_learner(tiny_model_path, dtype="bfloat16")
    assert bf16.bf16 and not fp32.bf16
    batch = make_batch(fp32, gsm8k_rows[:4])
    for sample in batch:
        args = (sample["prompt_token_ids"], sample["completion_token_ids"])
        assert bf16.logprobs(*args) == pytest.approx(fp32.logprobs(*args), abs=0.15)
    before = bf16.weights()
    metrics = bf16.step(batch)
    assert math.isfinite(metrics["loss"]) and metrics["skipped"] == 0
    after = bf16.weights()
    assert all(t.dtype == torch.float32 for t in after.values())
    assert any(not torch.equal(before[name], after[name]) for name in before)
