"""The HF engine in-process on the tiny model: the rollout contract without Ray or vLLM."""

from __future__ import annotations

import pytest

from cluster.config import RolloutConfig, SamplingConfig

PROMPTS = [
    [{"role": "user", "content": "Count to three."}],
    [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Name a color."}],
]


@pytest.fixture(scope="module")
def engine(tiny_model_path):
    from cluster.hf_worker import HFEngine

    return HFEngine(RolloutConfig(backend="hf", max_model_len=256), tiny_model_path)


def test_generate_follows_the_rollout_contract(engine):
    rollouts = engine.generate(PROMPTS, SamplingConfig(max_tokens=5, n=3, seed=1))
    assert [len(r.completions) for r in rollouts] == [3, 3]
    assert len(rollouts[0].prompt_token_ids) != len(rollouts[1].prompt_token_ids)
    for rollout in rollouts:
        assert rollout.policy_version == 0
        for completion in rollout.completions:
            assert 1 <= len(completion.token_ids) <= 5
            assert len(completion.logprobs) == len(completion.token_ids)
            assert completion.finish_reason in ("stop", "length")
            if completion.finish_reason == "stop":
                assert completion.token_ids[-1] in engine.eos_token_ids
    # Same seed, same batch: same samples.
    again = engine.generate(PROMPTS, SamplingConfig(max_tokens=5, n=3, seed=1))
    assert [r.completions for r in again] == [r.completions for r in rollouts]


def test_score_matches_the_logprobs_of_generation(engine):
    rollout = engine.generate(PROMPTS[:1], SamplingConfig(max_tokens=6, temperature=0.0))[0]
    completion = rollout.completions[0]
    scored = engine.score(rollout.prompt_token_ids, completion.token_ids)
    assert scored == pytest.approx(completion.logprobs, abs=1e-4)


def test_load_weights_changes_scores_and_version(engine):
    import torch

    rollout = engine.generate(PROMPTS[:1], SamplingConfig(max_tokens=4, temperature=0.0))[0]
    ids = (rollout.prompt_token_ids, rollout.completions[0].token_ids)
    before = engine.score(*ids)
    original = {k: v.clone() for k, v in engine.model.state_dict().items()}
    moved = {k: v + 0.5 * torch.randn_like(v) for k, v in original.items()}
    try:
        assert engine.load_weights(moved, version=4) == 4
        assert engine.policy_version() == 4
        assert max(abs(a - b) for a, b in zip(before, engine.score(*ids), strict=True)) > 0.1
        with pytest.raises(ValueError, match="unexpected"):
            engine.load_weights({"not.a.weight": torch.zeros(1)}, version=5)
    finally:
        engine.load_weights(original, version=0)
    assert engine.score(*ids) == pytest.approx(before, abs=1e-5)


def test_bad_requests(engine):
    with pytest.raises(ValueError, match="empty prompt list"):
        engine.generate([], SamplingConfig())
    with pytest.raises(ValueError, match="max_model_len"):
        engine.generate([[{"role": "user", "content": "word " * 300}]], SamplingConfig())
    bad_n = SamplingConfig.model_construct(**{**SamplingConfig().model_dump(), "n": 0})
    with pytest.raises(ValueError, match="n=0"):
        engine.generate(PROMPTS, bad_n)
    with pytest.raises(ValueError, match="non-empty"):
        engine.score([], [1])
