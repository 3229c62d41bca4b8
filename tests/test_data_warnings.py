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
