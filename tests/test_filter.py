"""`python -m synth filter` (rl/filter.py): records kept by a model's own pass rate."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

import rewards
from rl.filter import main
from synth import get_generator
from synth.record_files import read_records

REPO = Path(__file__).resolve().parents[1]


def by_answer(prompts, completions, answer, **columns):
    """answer % 3 == 0: always solved; 1: never; 2: every other completion."""
    kind = int(answer[0]) % 3
    if kind == 2:
        return [float(index % 2) for index in range(len(completions))]
    return [1.0 if kind == 0 else 0.0] * len(completions)


def numbered_records(path: Path, count: int) -> list:
    made = get_generator("h1").sample({"horizon": 1}, count, seed=4)
    tasks = [task.model_copy(update={"answer": str(i)}) for i, task in enumerate(made)]
    path.write_text("\n".join(task.model_dump_json() for task in tasks) + "\n")
    return tasks


def test_bad_input_is_one_line_before_anything_starts(tmp_path, capsys):
    numbered_records(tmp_path / "r.jsonl", 2)
    (tmp_path / "file").write_text("x")
    cases = {
        ("--data", str(tmp_path / "missing"), "--out", str(tmp_path / "o")): "no such file",
        ("--data", str(tmp_path / "r.jsonl"), "--out", str(tmp_path / "file")): "is a file",
        ("--data", str(tmp_path / "r.jsonl"), "--out", str(tmp_path / "o"), "--samples", "0"): (
            "at least 1"
        ),
        ("--data", str(tmp_path / "r.jsonl"), "--out", str(tmp_path / "o"), "--backend", "x"): (
            "--backend"
        ),
    }
    for argv, message in cases.items():
        assert main(list(argv)) == 2
        error = capsys.readouterr().err.strip()
        assert message in error and len(error.splitlines()) == 1, error


def test_synth_routes_filter_to_rl():
    result = subprocess.run(
        [sys.executable, "-m", "synth", "filter", "--help"],
        capture_output=True,
        text=True,
        cwd=REPO,
        check=True,
    )
    assert "--drop-solved" in result.stdout and "--samples" in result.stdout


@pytest.mark.slow
def test_filter_keeps_the_sometimes_solved_and_writes_the_histogram(tmp_path, monkeypatch):
    monkeypatch.setitem(rewards.REWARDS, "by_answer", by_answer)
    tasks = [
        task.model_copy(update={"reward": "by_answer"})
        for task in numbered_records(tmp_path / "r.jsonl", 6)
    ]
    (tmp_path / "r.jsonl").write_text("\n".join(t.model_dump_json() for t in tasks) + "\n")
    out = tmp_path / "kept"
    argv = ["--data", str(tmp_path / "r.jsonl"), "--out", str(out), "--model", "tiny",
            "--backend", "hf", "--samples", "4", "--max-tokens", "8", "--max-model-len", "512",
            "--drop-solved", "--drop-unsolved"]  # fmt: skip
    assert main(argv) == 0
    kept, _ = read_records(str(out))
    assert [task.answer for task in kept] == ["2", "5"]  # solved 2 of 4
    assert [task.id for task in kept] == [tasks[2].id, tasks[5].id]  # ids stay
    assert json.loads(kept[0].meta)["filter"] == {"model": "tiny", "samples": 4, "solved": 2}
    card = (out / "README.md").read_text()
    section = card[card.index("## Pass-rate filter") :]
    assert "| 0 | 2 | no |" in section and "| 2 | 2 | yes |" in section
    assert "| 4 | 2 | no |" in section and "| 1 | 0 | yes |" in section
