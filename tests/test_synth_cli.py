"""`python -m synth`: datasets on disk, the subcommand registry, one-line errors."""

from __future__ import annotations

import subprocess
import sys

import datasets
import pytest

from synth.cli import SUBCOMMANDS, main
from synth.h1 import verify_chain
from synth.task import tasks_from_dataset


def test_h1_builtin_writes_a_loadable_dataset(tmp_path):
    out = tmp_path / "h1"
    assert main(["h1", "--horizon", "3", "--n", "40", "--seed", "0", "--out", str(out)]) == 0
    dataset = datasets.load_from_disk(str(out))
    assert len(dataset) == 40
    tasks = tasks_from_dataset(dataset)
    assert all(task.level == {"horizon": 3} for task in tasks)
    for task in tasks:
        verify_chain(task.meta)


def test_h1_gsm8k_source_matches_the_library(tmp_path, shared_data):
    import synth

    source = f"gsm8k:{shared_data / 'gsm8k' / 'train.jsonl'}"
    out = tmp_path / "h1"
    args = [
        "h1",
        "--horizon",
        "2",
        "--n",
        "600",
        "--seed",
        "7",
        "--source",
        source,
        "--limit",
        "800",
    ]
    assert main([*args, "--out", str(out)]) == 0
    written = tasks_from_dataset(datasets.load_from_disk(str(out)))
    # Chunked sampling behind the progress bar gives the same tasks as one sample() call.
    library = synth.get_generator("h1", source=source, limit=800)
    assert written == library.sample({"horizon": 2}, 600, 7)


def test_test_split_is_refused_in_one_line(tmp_path, shared_data, capsys):
    source = f"gsm8k:{shared_data / 'gsm8k' / 'test.jsonl'}"
    code = main(["h1", "--horizon", "2", "--n", "5", "--source", source, "--out", str(tmp_path)])
    assert code == 2
    error = capsys.readouterr().err.strip().splitlines()
    assert len(error) == 1 and "purpose='eval'" in error[0]
    assert main([*"h1 --horizon 2 --n 5 --purpose eval".split(), "--source", source,
                 "--out", str(tmp_path / "eval")]) == 0  # fmt: skip


def test_push_to_hub_publishes_the_dataset(tmp_path, monkeypatch):
    # The Hub itself is mocked: push_to_hub records its repository instead of uploading.
    pushed = []
    monkeypatch.setattr(datasets.Dataset, "push_to_hub", lambda self, repo: pushed.append(repo))
    args = ["h1", "--horizon", "1", "--n", "3", "--out", str(tmp_path / "d")]
    assert main([*args, "--push-to-hub", "me/h1-chains"]) == 0
    assert pushed == ["me/h1-chains"]


def test_every_subcommand_has_the_common_options():
    for name, (add_arguments, make_tasks) in SUBCOMMANDS.items():
        assert callable(add_arguments) and callable(make_tasks), name
    with pytest.raises(SystemExit):
        main(["h1", "--n", "3", "--out", "x"])  # --horizon is required


def test_module_entry_point_help():
    result = subprocess.run(
        [sys.executable, "-m", "synth", "h1", "--help"], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0
    assert "--horizon" in result.stdout and "--source" in result.stdout
