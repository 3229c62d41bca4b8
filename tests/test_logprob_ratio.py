"""The importance ratio before any update is 1: the rollout engine's logprobs are those of the
distribution it sampled from, and the learner computes the same distribution.

Checked against its definition, on the real pieces: vLLM's CPU engine serving SmolLM2-135M
(the embedded model) samples completions of real h1 prompts at T = 0.6, 0.7 and 1.0; a
GRPOLearner at the same temperature, before any step, scores them. exp(learner - rollout) per
token must average 1 within 1e-3. With vLLM's default (raw) logprobs this was 1.13 at T = 0.7.
"""

from __future__ import annotations

import math

import pytest

from cluster.config import RolloutConfig, SamplingConfig
from rl.learners import GRPOLearner
from rl.learners.config import TrainerConfig

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def vllm_pool(embedded_model_path):
    from cluster.pool import RolloutPool
    from cluster.ray_setup import init_ray, shutdown_ray

    started = init_ray(None, num_cpus=2)
    pool = RolloutPool(RolloutConfig(max_model_len=1024, kv_cache_gib=0.25), embedded_model_path)
    yield pool
    pool.shutdown()
    shutdown_ray(started)


def test_ratio_before_any_update_is_one(vllm_pool, embedded_model_path):
    import synth

    tasks = synth.get_generator("h1").sample({"horizon": 1}, n=3, seed=11)
    learner = GRPOLearner(
        embedded_model_path, TrainerConfig(), total_steps=1, seed=0, max_completion_length=40
    )
    for temperature in (0.6, 0.7, 1.0):
        sampling = SamplingConfig(n=2, max_tokens=40, temperature=temperature, seed=5)
        rollouts = vllm_pool.generate([task.prompt for task in tasks], sampling)
        learner.temperature = temperature  # as the driver builds it: the rollout's temperature
        gaps = []
        for rollout in rollouts:
            for completion in rollout.completions:
                ours = learner.logprobs(rollout.prompt_token_ids, completion.token_ids)
                gaps += [a - b for a, b in zip(ours, completion.logprobs, strict=True)]
        assert len(gaps) > 100
        mean_ratio = sum(math.exp(gap) for gap in gaps) / len(gaps)
        assert mean_ratio == pytest.approx(1.0, abs=1e-3), temperature
        assert max(abs(gap) for gap in gaps) < 0.05, temperature  # float32 kernels differ a bit
