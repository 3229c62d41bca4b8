"""Rollout configs, request checks, chunking, CPU binding and packed weights: no Ray, no engine."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from cluster.config import RolloutConfig, SamplingConfig
from cluster.pool import chunk_bounds, engine_class
from cluster.rollout import (
    check_length,
    check_prompts,
    check_sampling,
    prompt_seed,
    render_prompts,
    tie_lm_head,
)
from cluster.vllm_worker import cpu_env, worker_cores


def test_defaults_run_here_on_cpu():
    config = RolloutConfig()
    assert config.backend == "vllm" and not config.on_gpu
    assert config.engine_dtype() == "float32"
    assert RolloutConfig(gpus_per_worker=1).engine_dtype() == "bfloat16"
    assert RolloutConfig(dtype="float16", gpus_per_worker=1).engine_dtype() == "float16"
    assert SamplingConfig().n == 1


def test_typos_and_bad_values_are_errors():
    with pytest.raises(ValidationError, match="extra"):
        RolloutConfig(num_worker=2)
    with pytest.raises(ValidationError, match="n"):
        SamplingConfig(n=0)
    with pytest.raises(ValidationError, match="needs GPUs"):
        RolloutConfig(tensor_parallel_size=2)
    with pytest.raises(ValidationError, match="no tensor parallelism"):
        RolloutConfig(backend="hf", tensor_parallel_size=2, gpus_per_worker=2)
    with pytest.raises(ValidationError, match="weight_transport=nccl"):
        RolloutConfig(weight_transport="nccl")
    RolloutConfig(weight_transport="nccl", gpus_per_worker=1)


def test_engine_registry():
    assert engine_class("hf").__name__ == "HFEngine"
    assert engine_class("vllm").__name__ == "VLLMEngine"
    with pytest.raises(ValueError, match="registered"):
        engine_class("sglang")


@settings(max_examples=50, deadline=None)
@given(st.integers(1, 500), st.integers(1, 40))
def test_chunks_cover_prompts_in_order(num_prompts, num_chunks):
    bounds = chunk_bounds(num_prompts, num_chunks)
    assert bounds[0][0] == 0 and bounds[-1][1] == num_prompts
    assert all(stop == next_start for (_, stop), (next_start, _) in itertools.pairwise(bounds))
    sizes = [stop - start for start, stop in bounds]
    assert min(sizes) >= 1 and max(sizes) - min(sizes) <= 1
    assert len(bounds) == min(num_chunks, num_prompts)


def test_spread_binding_gives_each_worker_its_own_cores():
    config = RolloutConfig(cpus_per_worker=1)
    assert [worker_cores(config, index, [0, 1]) for index in range(3)] == [[0], [1], [0]]
    assert worker_cores(RolloutConfig(cpus_per_worker=2), 1, [0, 1, 2, 3]) == [2, 3]
    env = cpu_env(RolloutConfig(cpus_per_worker=2))
    assert env["OMP_NUM_THREADS"] == "2"
    assert env["VLLM_ENABLE_V1_MULTIPROCESSING"] == "0"
    assert env["VLLM_CPU_NUM_OF_RESERVED_CPU"] == "0"


def test_request_checks_name_the_problem():
    with pytest.raises(ValueError, match="empty prompt list"):
        check_prompts([])
    with pytest.raises(ValueError, match="prompt 1"):
        check_prompts([[{"role": "user", "content": "hi"}], "hi"])
    with pytest.raises(ValueError, match="role and content"):
        check_prompts([[{"role": "user", "text": "hi"}]])
    with pytest.raises(ValueError, match="n=0"):
        check_sampling(0, 10)
    with pytest.raises(ValueError, match="max_tokens=0"):
        check_sampling(1, 0)
    with pytest.raises(ValueError, match="raise rollout.max_model_len"):
        check_length([[1, 2], [1] * 8], max_model_len=8)
    check_length([[1] * 7], max_model_len=8)
    assert prompt_seed(None, 3) is None and prompt_seed(10, 3) == 13


def test_render_prompts_uses_the_chat_template(smollm2_tokenizer):
    prompts = [[{"role": "user", "content": "What is 7 times 6?"}]]
    [ids] = render_prompts(smollm2_tokenizer, prompts)
    text = smollm2_tokenizer.decode(ids)
    assert "What is 7 times 6?" in text
    assert text.rstrip().endswith("<|im_start|>assistant")


def test_tied_head_alias():
    state = {"model.embed_tokens.weight": 1}
    assert tie_lm_head(state, tied=True) == {"model.embed_tokens.weight": 1, "lm_head.weight": 1}
    assert tie_lm_head(state, tied=False) == state
    untouched = {"model.embed_tokens.weight": 1, "lm_head.weight": 2}
    assert tie_lm_head(untouched, tied=True) == untouched


def test_packed_state_dict_round_trips_every_dtype():
    import torch

    from cluster.weights import as_state_dict, pack_state_dict, unpack_state_dict

    state = {
        "a": torch.randn(3, 4),
        "b": torch.randn(5).to(torch.bfloat16),
        "c": torch.randn(2, 2).to(torch.float16).t(),  # non-contiguous
        "d": torch.arange(6, dtype=torch.int64),
    }
    packed = pack_state_dict(state)
    back = unpack_state_dict(packed)
    for name, tensor in state.items():
        assert back[name].dtype == tensor.dtype
        assert torch.equal(back[name], tensor)
    assert as_state_dict(packed).keys() == state.keys()
    assert as_state_dict(state) is state
    with pytest.raises(TypeError, match="'x'"):
        pack_state_dict({"x": [1.0]})


def test_object_store_is_sized_below_two_copies_of_the_weights(tmp_path):
    from cluster.ray_setup import object_store_bytes

    (tmp_path / "model.safetensors").write_bytes(b"\0" * 2**20)
    (tmp_path / "config.json").write_text("{}")
    assert object_store_bytes(str(tmp_path)) == 2**29  # the 0.5 GiB floor
    big = tmp_path / "big"
    big.mkdir()
    for shard in ("a", "b"):  # sparse files: sizes without writing 1 GiB each
        with open(big / f"model-{shard}.safetensors", "wb") as handle:
            handle.truncate(2**30)
    assert object_store_bytes(str(big)) == 3 * 2**30  # 1.5 x 2 GiB of weight files
    assert object_store_bytes(str(big), gib=2.0) == 2 * 2**30  # the config wins
    assert object_store_bytes("Qwen/Qwen2.5-3B-Instruct") is None  # a Hub id: Ray's default
