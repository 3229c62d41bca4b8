"""`python -m synth`: datasets on disk, subcommands built from each generator's models, one-line
errors, and a toy generator registered here that runs through the CLI with no CLI code."""

from __future__ import annotations

import shlex
import subprocess
import sys

import datasets
import pytest
from pydantic import BaseModel, ConfigDict, Field

import synth
from synth.base import Axis, check_level
from synth.cli import main
from synth.h1_verify import verify_chain
from synth.task import TASK_FIELDS, Task, tasks_from_dataset


def test_h1_builtin_writes_a_loadable_dataset(tmp_path):
    out = tmp_path / "h1"
    assert main(["h1", "--horizon", "3", "--n", "40", "--seed", "0", "--out", str(out)]) == 0
    dataset = datasets.load_from_disk(str(out))
    assert len(dataset) == 40
    assert tuple(dataset.column_names) == TASK_FIELDS  # the documented column order
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


def test_level_flags_make_every_combination_and_levels_names_points(tmp_path):
    grid = tmp_path / "grid"
    args = ["h1", "--horizon", "1", "2", "--problem-steps", "1", "2"]
    assert main([*args, "--problem-steps-values", "1", "2", "--n", "3", "--out", str(grid)]) == 0
    loaded = datasets.load_from_disk(str(grid))
    assert list(loaded) == [
        "horizon_1-problem_steps_1", "horizon_1-problem_steps_2",
        "horizon_2-problem_steps_1", "horizon_2-problem_steps_2",
    ]  # fmt: skip
    for name, split in loaded.items():
        expected = {axis: int(value) for axis, value in (p.rsplit("_", 1) for p in name.split("-"))}
        assert [task.level for task in tasks_from_dataset(split)] == [expected] * 3
    points = tmp_path / "points"
    assert main(["h1", "--levels", "horizon=1", "horizon=3", "--n", "2", "--out", str(points)]) == 0
    assert {name: [t.level for t in tasks_from_dataset(split)] for name, split in
            datasets.load_from_disk(str(points)).items()} == {
        "horizon_1": [{"horizon": 1}] * 2, "horizon_3": [{"horizon": 3}] * 2}  # fmt: skip


@pytest.mark.parametrize(
    "levels, message",
    [
        (["--levels", "horizon=1", "--horizon", "1", "2"], "--levels or with several --horizon"),
        (["--levels", "depth=2"], "write AXIS=VALUE,... with axes ['horizon', 'problem_steps']"),
        (["--levels", "horizon=two"], "horizon='two' is not an integer"),
        (["--levels", "horizon=1", "horizon=1"], "level {'horizon': 1} is given twice"),
        (["--horizon", "0"], "--horizon: Input should be greater than or equal to 1"),
    ],
)
def test_bad_levels_are_one_line(tmp_path, capsys, levels, message):
    assert main(["h1", *levels, "--n", "1", "--out", str(tmp_path / "d")]) == 2
    error = capsys.readouterr().err.strip().splitlines()
    assert len(error) == 1 and message in error[0], error
    assert not (tmp_path / "d").exists()


def test_the_card_names_the_command_that_makes_the_same_records(tmp_path, shared_data):
    source = f"gsm8k:{shared_data / 'gsm8k' / 'train.jsonl'}"
    first = tmp_path / "first"
    argv = ["h1", "--horizon", "1", "2", "--n", "4", "--seed", "9", "--source", source]
    assert main([*argv, "--limit", "300", "--max-answer", "100000", "--out", str(first)]) == 0
    card = (first / "README.md").read_text()
    command = shlex.split(card.split("```bash\n")[1].split("\n```")[0])
    assert command[:4] == ["python", "-m", "synth", "h1"] and command[-2:] == ["--out", str(first)]
    again = tmp_path / "again"
    assert main([*command[3:-2], "--out", str(again)]) == 0
    assert (again / "README.md").read_text().replace(str(again), str(first)) == card
    assert datasets.load_from_disk(str(again))["horizon_2"].to_list() == (
        datasets.load_from_disk(str(first))["horizon_2"].to_list()
    )


def test_push_to_hub_is_refused_before_sampling_when_offline(tmp_path, capsys):
    # conftest.py sets HF_HUB_OFFLINE=1 for the suite: publishing says so in one line, first.
    out = tmp_path / "d"
    code = main(["h1", "--horizon", "1", "--n", "3", "--out", str(out), "--push-to-hub", "me/h1"])
    assert code == 2
    assert capsys.readouterr().err.strip() == "h1: HF_HUB_OFFLINE is set: unset it to publish to the Hub"  # fmt: skip
    assert not out.exists()
    assert main(["h1", "--horizon", "1", "--n", "3", "--out", str(out), "--push-to-hub", "me"]) == 2  # fmt: skip
    assert "must be ORG/NAME" in capsys.readouterr().err


def test_out_must_be_new_or_an_earlier_dataset(tmp_path, capsys):
    out = tmp_path / "d"
    assert main(["h1", "--horizon", "1", "2", "--n", "2", "--out", str(out)]) == 0
    assert main(["h1", "--horizon", "3", "--n", "2", "--out", str(out)]) == 2  # not by surprise
    assert sorted(datasets.load_from_disk(str(out))) == ["horizon_1", "horizon_2"]
    assert main(["h1", "--horizon", "3", "--n", "2", "--out", str(out), "--overwrite"]) == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["d"]  # no staging folder left
    assert tasks_from_dataset(datasets.load_from_disk(str(out)))[0].level == {"horizon": 3}
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "todo.txt").write_text("mine")
    assert main(["h1", "--horizon", "1", "--n", "2", "--out", str(tmp_path / "notes")]) == 2
    assert "is not a dataset directory" in capsys.readouterr().err
    assert (tmp_path / "notes" / "todo.txt").read_text() == "mine"


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
