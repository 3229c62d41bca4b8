"""rl/scoring.py: a user's reward that raises or hangs costs its own items, never the run."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

import rewards
from rl.scoring import Scorer
from synth.task import Task

TASK = Task(
    id="t", task="h1", level={"horizon": 1}, prompt=[{"role": "user", "content": "2+2?"}],
    answer="4", reward="boxed_number",
)  # fmt: skip


def fragile(prompts, completions, **columns):
    """Raises on 'boom', hangs on 'hang' (3 s asleep: an abandoned thread must not hold the GIL
    from the tests after this one), else 1 if '4' is said."""
    if any("boom" in text for text in completions):
        raise RuntimeError("boom")
    if any("hang" in text for text in completions):
        time.sleep(3)
    return [1.0 if "4" in text else 0.0 for text in completions]


@pytest.mark.parametrize("where", ["main thread", "prefetch thread"])
def test_items_that_raise_or_hang_score_zero_and_are_counted(where, caplog, monkeypatch):
    monkeypatch.setitem(rewards.REWARDS, "fragile", fragile)  # as a user's plugin registers it
    scorer = Scorer({"h1": "fragile"}, timeout_s=0.2)

    def score(texts: list[str]) -> list[float]:
        if where == "main thread":  # SIGALRM's limit
            return scorer.score("h1", TASK, texts, [1] * len(texts))
        with ThreadPoolExecutor(1) as pool:  # as under max_staleness=1: an abandoned thread
            return pool.submit(scorer.score, "h1", TASK, texts, [1] * len(texts)).result()

    started = time.perf_counter()
    assert score(["it is 4", "boom", "hang 4", "4"]) == [1.0, 0.0, 0.0, 1.0]
    # the batch's limit (4 x 0.2 s), then the hung item's own (0.2 s): not the reward's 3 s
    assert time.perf_counter() - started < 2.5
    assert (scorer.errors, scorer.timeouts) == (1, 1)
    assert "hung on one completion" in caplog.text
    assert score(["4"]) == [1.0]  # scoring goes on after a hang
    assert threading.current_thread() is threading.main_thread()
