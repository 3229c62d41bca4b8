"""The LoongRL and h1 recipes start and train one step on CPU, scaled down.

The recipe files as shipped, with the model swapped for the tiny one, the engines for one HF
worker on CPU, the learner's GPUs for CPU ranks (keeping each recipe's `learner.parallel` and
two of its ranks), the Hub sources for ../shared/data and the lengths cut to fit. Their
full-size form is checked by tests/test_memory.py (--dry-run's fit check).
"""

from __future__ import annotations

import pytest

from rl.config import RunConfig
from rl.config_io import load_config
from tests.conftest import REPO, SHARED_DATA
from tests.test_driver import Session

HOTPOT = f"hotpotqa:{SHARED_DATA}/multihop/hotpotqa_dev_distractor_500.jsonl"
PROSE = str(SHARED_DATA / "prose" / "gutenberg_paragraphs.jsonl")
GSM8K = f"gsm8k:{SHARED_DATA}/gsm8k/train.jsonl"

SCALED = [
    "model=tiny", "steps=1", "prompts_per_step=2", "sampling.n=2", "sampling.max_tokens=8",
    "rollout.backend=hf", "rollout.num_workers=1", "rollout.gpus_per_worker=0",
    "rollout.tensor_parallel_size=1", "rollout.cpus_per_worker=1", "rollout.max_model_len=1024",
    "rollout.kv_cache_gib=0.5", "learner.num_workers=2", "learner.num_gpus=0",
    "learner.num_cpus=0", "learner.torch_threads=1", "trainer.dtype=float32",
    "eval.sets={}", "logging.wandb=disabled", "logging.progress=false", "ray.num_cpus=4",
]  # fmt: skip
RECIPES = {
    "loongrl_keychain.yaml": [
        f"tasks.keychain.options.source={HOTPOT}", f"tasks.keychain.options.filler={PROSE}",
        "tasks.keychain.options.tokenizer=embedded", "tasks.keychain.options.context_tokens_values=[512]",
        "tasks.keychain.options.num_chains_values=[1]",
        f"tasks.multihop.options.source={HOTPOT}", f"tasks.multihop.options.filler={PROSE}",
        "tasks.multihop.options.tokenizer=embedded", "tasks.multihop.options.context_tokens_values=[512]",
        f"tasks.math.options.source={GSM8K}", "trainer.total_steps=300",  # the recipe's schedule
        "curriculum.tasks.keychain.start={context_tokens: 512, num_chains: 1}",
        "curriculum.tasks.keychain.ceiling={context_tokens: 512}",
        "curriculum.tasks.multihop.start={context_tokens: 512}",
        "curriculum.tasks.multihop.ceiling={context_tokens: 512}",
    ],
    "h1_gsm8k.yaml": [f"tasks.h1.options.source={GSM8K}", "tasks.h1.options.max_horizon=2",
                      "curriculum.tasks.h1.ceiling={horizon: 2}"],
}  # fmt: skip


def recipe(name: str, tmp_path) -> RunConfig:
    overrides = [*SCALED, *RECIPES[name], f"output_dir={tmp_path}", f"name={name[:-5]}"]
    return load_config(RunConfig, REPO / "configs" / name, overrides)


@pytest.mark.parametrize("name", sorted(RECIPES))
def test_scaled_recipe_config_keeps_the_recipes_learner(name, tmp_path):
    shipped = load_config(RunConfig, REPO / "configs" / name)
    scaled = recipe(name, tmp_path)
    assert scaled.learner.parallel == shipped.learner.parallel
    assert scaled.trainer.loss == shipped.trainer.loss
    assert scaled.trainer.beta == shipped.trainer.beta


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(RECIPES))
def test_recipe_trains_one_step_on_cpu(name, tmp_path, monkeypatch):
    monkeypatch.setenv("PYTHONPATH", str(REPO))  # Ray workers import this checkout
    session = Session(recipe(name, tmp_path))
    with session as driver:
        driver.run()
    (record,) = session.records()
    assert record["samples/trained"] > 0 and record["policy_version"] == 1
    assert session.final_state()["step"] == 0
