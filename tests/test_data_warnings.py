"""Warnings on questionable datasets: repeated prompts, prompts longer than the reader's context."""

from __future__ import annotations

import json
import logging

from synth.cli import main
from synth.data_warnings import level_warnings


def _row(text: str) -> dict:
    return {"prompt": [{"role": "user", "content": text}]}


def test_repeats_and_length_are_each_one_line():
    rows = [_row("a"), _row("a"), _row("b")]
    (repeat,) = level_warnings("h1", "horizon_1", rows, context_tokens=100, reader="m")
    assert repeat.startswith("h1 horizon_1: 3 tasks but only 2 distinct prompts")
    (long,) = level_warnings("h1", "horizon_9", [_row("x" * 4004)], context_tokens=1000, reader="m")
    assert "~1,001 tokens" in long and "longer than the 1,000 tokens m reads" in long
    assert level_warnings("h1", "horizon_1", [_row("x" * 4000)], 1000, "m") == []


def test_the_cli_warns_when_a_small_source_is_asked_for_many_tasks(tmp_path, caplog):
    problem = {
        "question": "Tom has 3 apples and buys 2 more. How many apples does he have?",
        "answer": "3+2=<<3+2=5>>5\n#### 5",
    }
    source = tmp_path / "train.jsonl"
    source.write_text(json.dumps(problem) + "\n")
    argv = ["h1", "--horizon", "1", "--n", "3", "--source", f"gsm8k:{source}"]
    with caplog.at_level(logging.WARNING, logger="synth"):
        assert main([*argv, "--out", str(tmp_path / "d")]) == 0
    assert "3 tasks but only 1 distinct prompts" in caplog.text


def test_a_run_warns_when_its_top_level_outgrows_the_engine(tmp_path):
    """rl/context_check.py: the curriculum's ceiling, not its start, is what must fit."""
    from rl.config import RunConfig
    from rl.config_io import load_config
    from rl.context_check import prompt_length_warnings

    def warnings(*overrides: str) -> list[str]:
        return prompt_length_warnings(load_config(RunConfig, None, list(overrides)))

    assert warnings() == []  # the default run fits its engine
    (line,) = warnings("rollout.max_model_len=300")
    assert line.startswith("tasks.h1: at its top level (") and "max_model_len=300" in line
    # a ceiling that keeps the run short enough silences it
    assert warnings("rollout.max_model_len=300", "curriculum.tasks.h1.ceiling={horizon: 1}") == []
    keychain = [
        "tasks={}", "tasks.kc.generator=keychain", "tasks.kc.reward=qa_two_way_substring",
        f"tasks.kc.options.filler={tmp_path}/none.jsonl", "curriculum.tasks={kc: {}}",
    ]  # fmt: skip
    # context_tokens is the prompt's length by construction: nothing is sampled (no filler)
    (line,) = warnings(*keychain, "rollout.max_model_len=4096")
    assert "context_tokens=" in line and "exceeds rollout.max_model_len=4096" in line


def test_kv_cache_capacity_matches_vllm_and_a_cache_too_small_is_refused(embedded_model_path):
    from cluster.config import RolloutConfig
    from rl.context_check import kv_cache_error, kv_cache_tokens

    # vLLM's CPU engine reported "CPU KV cache size: 11,648 tokens" for 0.5 GiB of SmolLM2 in
    # float32 (30 layers x 3 KV heads x 64 dims x K and V x 4 bytes = 46,080 bytes a token)
    assert abs(kv_cache_tokens("embedded", 0.5, "float32") - 11_648) <= 5
    assert kv_cache_tokens("no-org/not-here", 0.5, "float32") is None  # nothing fetched
    small = RolloutConfig(kv_cache_gib=0.01, max_model_len=1024, dtype="float32")
    assert "holds 233 tokens" in kv_cache_error("embedded", small)
    assert kv_cache_error("embedded", small.model_copy(update={"backend": "hf"})) is None
    assert kv_cache_error("embedded", small.model_copy(update={"kv_cache_gib": 0.05})) is None


def test_auto_kv_cache_holds_the_batch_and_grows_with_the_longest_prompt(embedded_model_path):
    """rollout.kv_cache_gib=auto: prompts x (longest prompt + n x max_tokens), block-rounded,
    in the model's KV bytes a token; capped by the memory available; refused when one
    max_model_len sequence cannot fit."""
    import pytest

    from rl.config import RunConfig
    from rl.config_io import load_config
    from rl.context_check import auto_kv_cache

    config = load_config(RunConfig, None, ["rollout.kv_cache_gib=auto", "rollout.dtype=float32"])
    per_token = 46_080  # SmolLM2 in float32 (the test above)
    plenty = 64 * 2**30

    def gib(longest: int | None, **update) -> float:
        run = config.model_copy(update=update) if update else config
        return auto_kv_cache(run, {"t": ({}, longest)}, plenty)[0]

    # 8 prompts x (300 + 16 + 8 x (64 + 16)) tokens
    assert abs(gib(300) - 8 * (316 + 8 * 80) * per_token / 2**30) < 0.011
    assert gib(900) > gib(300)  # the longest prompt sizes it
    assert gib(None) == gib(1024 - 64)  # a prompt not measured here may fill the context
    assert gib(300, prompts_per_step=16) > gib(300)
    rollout = config.rollout.model_copy(update={"num_workers": 2})
    assert gib(300, rollout=rollout) < gib(300)  # each worker holds its share of the prompts
    # little memory free: capped at half of it, and said
    size, line = auto_kv_cache(config, {"t": ({}, 900)}, int(0.2 * 2**30))
    assert size == 0.1 and "the batch runs in waves" in line
    with pytest.raises(ValueError, match="one sequence of rollout.max_model_len=1,024 tokens"):
        auto_kv_cache(config, {"t": ({}, 900)}, int(0.05 * 2**30))
    # on a GPU vLLM sizes it from gpu_memory_utilization
    gpu = config.rollout.model_copy(update={"gpus_per_worker": 1.0})
    assert auto_kv_cache(config.model_copy(update={"rollout": gpu}), {}, plenty)[0] is None


def test_a_dry_run_shows_the_auto_kv_cache(capsys):
    from rl.run import main

    assert main(["--dry-run", "rollout.kv_cache_gib=auto"]) == 0
    out = capsys.readouterr().out
    assert "kv_cache_gib: 0." in out and "kv cache:   auto: 0." in out
