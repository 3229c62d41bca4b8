"""`python -m synth`: datasets on disk, subcommands built from each generator's models, one-line
errors, and a toy generator registered here that runs through the CLI with no CLI code."""

from __future__ import annotations

import subprocess
import sys

import datasets
import pytest
from pydantic import BaseModel, ConfigDict, Field

import synth
from synth.base import Axis, check_level
from synth.cli import main
from synth.h1 import verify_chain
from synth.task import Task, tasks_from_dataset


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


def test_every_generator_declares_its_models_and_gets_a_subcommand(capsys):
    for name, generator in synth.GENERATORS.items():
        assert generator.name == name
        assert issubclass(generator.config_class, BaseModel), name
        assert issubclass(generator.level_class, BaseModel), name
        assert generator.config_class.model_config.get("extra") == "forbid", name
        with pytest.raises(SystemExit) as exit_code:
            main([name, "--help"])
        assert exit_code.value.code == 0
        text = capsys.readouterr().out
        for field in generator.level_class.model_fields:
            assert "--" + field.replace("_", "-") in text, (name, field)
    with pytest.raises(SystemExit):
        main(["h1", "--n", "3", "--out", "x"])  # --horizon is required


class ToyConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True)

    word: str = "blue"
    """The word each prompt repeats."""
    shout: bool = False
    """Write the word in capitals."""


class ToyLevel(BaseModel):
    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True)

    repeats: int = Field(ge=1)
    """How many times the word appears."""


class ToyGenerator:
    """Toy: a word repeated `repeats` times; the answer is the count."""

    name = "toy"
    config_class = ToyConfig
    level_class = ToyLevel

    def __init__(self, config: ToyConfig | None = None, **fields):
        self.config = config or ToyConfig(**fields)

    def axes(self) -> list[Axis]:
        return [Axis("repeats", (1, 2, 3, 4))]

    def sample(self, level: dict[str, int], n: int, seed: int) -> list[Task]:
        check_level(self, level)
        word = self.config.word.upper() if self.config.shout else self.config.word
        text = " ".join([word] * level["repeats"])
        return [
            Task(id=f"toy-{seed}-{i}", task="toy", level=level, answer=str(level["repeats"]),
                 prompt=[{"role": "user", "content": f"Count the words: {text}"}], reward="math")
            for i in range(n)
        ]  # fmt: skip


def test_a_toy_generator_runs_through_the_cli_with_one_registry_line(tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(synth.GENERATORS, "toy", ToyGenerator)  # the one registry line
    with pytest.raises(SystemExit):
        main(["toy", "--help"])
    help_text = capsys.readouterr().out
    assert "--repeats" in help_text and "How many times the word appears." in help_text
    assert "--word" in help_text and "(default: blue)" in help_text and "--no-shout" in help_text
    out = tmp_path / "toy"
    argv = ["toy", "--repeats", "3", "--word", "red", "--shout", "--n", "4", "--out", str(out)]
    assert main(argv) == 0
    tasks = tasks_from_dataset(datasets.load_from_disk(str(out)))
    assert len(tasks) == 4 and tasks[0].level == {"repeats": 3}
    assert tasks[0].prompt[0]["content"] == "Count the words: RED RED RED"
    capsys.readouterr()
    # A bad value is one line naming the flag as typed.
    assert main(["toy", "--repeats", "0", "--n", "1", "--out", str(tmp_path / "bad")]) == 2
    error = capsys.readouterr().err.strip().splitlines()
    assert len(error) == 1 and error[0].startswith("toy: --repeats:"), error


def test_module_entry_point_help():
    result = subprocess.run(
        [sys.executable, "-m", "synth", "h1", "--help"], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0
    assert "--horizon" in result.stdout and "--source" in result.stdout
