"""Sample completions written for the dashboard: a few per task and level, bounded in size."""

from __future__ import annotations

import json

from cluster.rollout import Completion, Rollout
from curricula.run_tail import SamplesTail
from rl.collect import Batch
from rl.config import LoggingConfig
from rl.rollout_log import append, clip, write
from synth import get_generator


def batch_at(levels: list[dict[str, int]], text: str = "so the answer is \\boxed{7}") -> Batch:
    """Real h1 tasks at `levels` with two completions each (rewards 0 and 1)."""
    generator = get_generator("h1")
    batch = Batch()
    for index, level in enumerate(levels):
        (task,) = generator.sample(level, 1, seed=index)
        completions = [
            Completion(token_ids=[1, 2, 3], text=f"{text} {i}", logprobs=[-0.1] * 3,
                       finish_reason="stop" if i else "length")
            for i in range(2)
        ]  # fmt: skip
        batch.choices.append(("h1", level))
        batch.tasks.append(task)
        batch.rollouts.append(Rollout(prompt_token_ids=[5, 6], completions=completions))
        batch.rewards.append([0.0, 1.0])
    return batch


def test_one_group_per_task_and_level_with_prompt_gold_answer_and_rewards(tmp_path):
    levels = [{"horizon": 1}, {"horizon": 2}, {"horizon": 1}, {"horizon": 1}]
    batch = batch_at(levels)
    assert append(tmp_path, 3, batch, LoggingConfig()) == 2
    records = [json.loads(line) for line in (tmp_path / "rollouts.jsonl").read_text().splitlines()]
    assert [(r["step"], r["level_key"]) for r in records] == [(3, "horizon=1"), (3, "horizon=2")]
    first = records[0]
    assert first["answer"] == batch.tasks[0].answer and first["id"] == batch.tasks[0].id
    assert first["prompt"] == batch.tasks[0].prompt[-1]["content"]
    assert [c["reward"] for c in first["completions"]] == [0.0, 1.0]
    assert first["completions"][0] == {
        "text": "so the answer is \\boxed{7} 0",
        "reward": 0.0,
        "tokens": 3,
        "finish_reason": "length",
    }
    assert append(tmp_path, 4, batch, LoggingConfig(samples_per_level=0)) == 0
    assert write(tmp_path / "rollouts.jsonl", 4, batch, per_level=3, max_bytes=10**6) == 4


def test_long_texts_keep_head_and_tail():
    text = "question start " + "filler " * 2000 + "the question at the end?"
    clipped = clip(text, (100, 200))
    assert clipped.startswith("question start") and clipped.endswith("the question at the end?")
    assert "characters cut" in clipped and len(clipped) < 400
    assert clip("short", (100, 200)) == "short"


def test_the_files_stay_under_the_cap_and_keep_the_newest(tmp_path):
    path = tmp_path / "rollouts.jsonl"
    batch = batch_at([{"horizon": 1}, {"horizon": 2}], text="x" * 500)
    max_bytes = 20_000
    for step in range(60):
        write(path, step, batch, per_level=1, max_bytes=max_bytes)
        total = sum(p.stat().st_size for p in tmp_path.glob("rollouts*.jsonl"))
        assert total <= max_bytes
    assert (tmp_path / "rollouts.1.jsonl").exists()
    tail = SamplesTail(tmp_path)
    tail.refresh()
    assert tail.index() == {"h1": {"horizon=1": 59, "horizon=2": 59}}
