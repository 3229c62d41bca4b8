"""rl/memory.py: parameter counts against real models, the learner's bytes by their definition,
and --dry-run's verdict on every shipped config."""

from __future__ import annotations

import pytest

from rl.config import LearnerResources, RayConfig, RunConfig
from rl.config_io import ConfigError, load_config
from rl.learners.config import TrainerConfig
from rl.memory import (
    GIB,
    KNOWN_SHAPES,
    LearnerLoad,
    check_fit,
    learner_bytes,
    shape_of,
    shared_prompt_count,
)
from rl.run import CONFIGS, algorithm_of, check_memory
from tests.conftest import REPO

QWEN_7B = KNOWN_SHAPES["Qwen/Qwen2.5-7B-Instruct"]


def test_parameter_count_is_the_models_own(tiny_model_path, embedded_model_path):
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM

    for path in (tiny_model_path, embedded_model_path):
        config = AutoConfig.from_pretrained(path)
        with torch.device("meta"):
            model = AutoModelForCausalLM.from_config(config)
        assert shape_of(config).parameters() == sum(p.numel() for p in model.parameters())


def test_known_shapes_match_the_published_parameter_counts():
    # The model cards' counts (safetensors metadata on the Hub).
    assert QWEN_7B.parameters() == 7_615_616_512
    assert KNOWN_SHAPES["Qwen/Qwen2.5-3B-Instruct"].parameters() == 3_085_938_688
    assert KNOWN_SHAPES["mistralai/Mistral-7B-Instruct-v0.2"].parameters() == 7_241_732_096
    # K and V, 28 layers x 4 KV heads x 128 dims, bfloat16: 56 KiB a token.
    assert QWEN_7B.kv_bytes_per_token(2) == 57_344


def load(**overrides) -> LearnerLoad:
    base = dict(sequence_tokens=4096, completion_tokens=1024, micro_batch_size=2, workers=1,
                fsdp=False, bf16=True, gradient_checkpointing=True, reference=False)  # fmt: skip
    return LearnerLoad(**{**base, **overrides})


def test_state_is_sixteen_bytes_a_parameter_divided_by_fsdp_ranks():
    params = QWEN_7B.parameters()
    whole = learner_bytes(QWEN_7B, load())
    assert whole["weights"] + whole["gradients"] + whole["adamw"] == 16 * params  # ~113 GiB
    sharded = learner_bytes(QWEN_7B, load(workers=4, fsdp=True))
    assert sharded["weights"] + sharded["gradients"] + sharded["adamw"] == 4 * params
    assert sharded["activations"] == whole["activations"]  # each rank runs its micro-batch
    lora = learner_bytes(QWEN_7B, load(trainable_fraction=0.0))
    assert lora["gradients"] == lora["adamw"] == 0


def test_activations_scale_with_tokens_and_checkpointing_saves_them():
    short = learner_bytes(QWEN_7B, load(gradient_checkpointing=False))["activations"]
    longer = learner_bytes(QWEN_7B, load(gradient_checkpointing=False, sequence_tokens=8192))
    assert longer["activations"] == 2 * short
    # per token and layer: 10 hidden + 4 intermediate values in bfloat16
    assert short == 28 * (10 * 3584 + 4 * 18944) * 2 * 4096 * 2
    assert learner_bytes(QWEN_7B, load())["activations"] < short / 10
    # A tiled MLP keeps none of its 4 intermediate values per token in any layer; its backward
    # holds one tile's once. A call no longer than a tile is not tiled.
    tiled = learner_bytes(QWEN_7B, load(gradient_checkpointing=False, mlp_tile_tokens=1024))
    assert short - tiled["activations"] == 4 * 18944 * (28 * 2 * 4096 - 1024) * 2
    wide = load(gradient_checkpointing=False, mlp_tile_tokens=2 * 4096)
    assert learner_bytes(QWEN_7B, wide)["activations"] == short
    # Under checkpointing the one layer replayed whole loses its MLP part to one tile's.
    checkpointed = learner_bytes(QWEN_7B, load())["activations"]
    tiled = learner_bytes(QWEN_7B, load(mlp_tile_tokens=1024))["activations"]
    assert checkpointed - tiled == 4 * 18944 * (2 * 4096 - 1024) * 2
    # FSDP ranks run the plain MLP (rl/learners/base.py).
    sharded = load(workers=2, fsdp=True, mlp_tile_tokens=1024)
    assert learner_bytes(QWEN_7B, sharded)["activations"] == checkpointed


def gpu_run(**learner) -> RunConfig:
    return RunConfig(
        model="Qwen/Qwen2.5-7B-Instruct",
        rollout={"gpus_per_worker": 1, "max_model_len": 8192},
        sampling={"n": 8, "max_tokens": 1024},
        trainer=TrainerConfig(micro_batch_size=1, gradient_checkpointing=True, dtype="bfloat16"),
        learner=LearnerResources(num_gpus=1, **learner),
        ray=RayConfig(gpu_memory_gib=80),
    )


def test_a_7b_ddp_learner_is_refused_with_the_fsdp_size_that_fits():
    with pytest.raises(
        ValueError, match=r"learner: ~133 GiB .*parallel=fsdp with learner.num_workers=2"
    ):
        check_fit(gpu_run())
    lines = check_fit(gpu_run(num_workers=4, parallel="fsdp"))
    assert any(line.startswith("memory:     learner") and "fits" in line for line in lines)
    assert lines[0].startswith("gpus:       5 ")


def test_gpus_are_checked_against_a_reachable_cluster():
    config = gpu_run(num_workers=4, parallel="fsdp")
    with pytest.raises(ValueError, match="asks for 5 GPUs .* cluster has 4"):
        check_fit(config, cluster={"GPU": 4.0, "CPU": 64.0})
    check_fit(config, cluster={"GPU": 8.0})


def test_a_kv_cache_too_small_for_one_sequence_is_refused():
    config = gpu_run(num_workers=4, parallel="fsdp")
    config.rollout.max_model_len, config.rollout.kv_cache_gib = 16384, 0.5
    with pytest.raises(ValueError, match="rollout: one 16384-token sequence needs 0.9 GiB"):
        check_fit(config)
    assert GIB == 1 << 30


def test_a_shared_prompt_is_counted_once():
    """Chosen and rejected (or a GRPO group's rows) run one pass of their prompt: a 128K-token
    pair costs one prompt and two answers of activations, not two whole sequences."""
    whole = load(sequence_tokens=131072, completion_tokens=1024, micro_batch_size=2)
    shared = load(sequence_tokens=131072, completion_tokens=1024, micro_batch_size=2,
                  shared_prompts=1)  # fmt: skip
    assert shared.activation_tokens() == 130048 + 2 * 1024
    assert whole.activation_tokens() == 2 * 131072
    assert (
        learner_bytes(QWEN_7B, shared)["activations"]
        < 0.51 * learner_bytes(QWEN_7B, whole)["activations"]
    )
    # GRPO micro-batches (rl/learners/shared_prompt.py): whole groups when they fit, else the
    # leftover chunks of several groups may share one micro-batch.
    assert [shared_prompt_count(8, g) for g in (1, 4, 8, 16, 9, 12)] == [8, 2, 1, 1, 8, 2]


def test_the_longpo_recipe_fits_an_h200_and_names_the_fix_on_80_gib(monkeypatch):
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    config = load_config(CONFIGS["longpo"], REPO / "configs" / "longpo_paper.yaml")
    assert any("fits" in line for line in check_memory(config))
    config.ray.gpu_memory_gib = 80
    with pytest.raises(ConfigError, match="raise learner.num_workers"):
        check_memory(config)
    config.learner.num_workers = 16
    assert any("fits" in line for line in check_memory(config))
    config.trainer.share_prompts = False  # two whole 128K sequences: no learner size helps
    with pytest.raises(ConfigError, match="sequence parallelism"):
        check_memory(config)


# The shipped configs: every recipe fits the layout it names.
REFUSED: dict[str, str] = {}


@pytest.mark.parametrize("path", sorted((REPO / "configs").glob("*.yaml")), ids=lambda p: p.name)
def test_dry_run_memory_check_on_every_shipped_config(path, monkeypatch):
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    config = load_config(CONFIGS[algorithm_of(str(path), [])], path)
    if path.name in REFUSED:
        with pytest.raises(ConfigError, match=REFUSED[path.name]) as refused:
            check_memory(config)
        assert "\n" not in str(refused.value)
        return
    lines = check_memory(config)
    assert lines and all(line.split(":")[0] in ("gpus", "memory", "rollout") for line in lines)
