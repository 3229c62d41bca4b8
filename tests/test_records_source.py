"""The `records` task source (synth/records.py): epochs, shuffling, stable ids, levels, state."""

from __future__ import annotations

import json

import pytest

from synth import get_generator
from synth.record_files import RecordsError, read_records
from synth.records import RecordsGenerator, path_problem


def h1_tasks(n: int = 7, horizon: int = 1, seed: int = 1) -> list:
    return get_generator("h1").sample({"horizon": horizon}, n, seed=seed)


def write_jsonl(path, tasks, extra_lines=()) -> str:
    lines = [task.model_dump_json() for task in tasks] + list(extra_lines)
    path.write_text("\n".join(lines) + "\n")
    return str(path)


def test_each_epoch_walks_every_record_once_in_a_new_seeded_order(tmp_path):
    tasks = h1_tasks(7)
    path = write_jsonl(tmp_path / "r.jsonl", tasks)
    source = RecordsGenerator(path=path, seed=3)
    drawn = [task.id for _ in range(5) for task in source.sample({"all": 1}, 5, seed=99)]
    epochs = [drawn[i : i + 7] for i in range(0, 21, 7)]
    assert all(sorted(epoch) == sorted(t.id for t in tasks) for epoch in epochs)
    assert epochs[0] != epochs[1] != epochs[2]  # a new order each epoch
    assert source.epochs() == pytest.approx(25 / 7)
    again = RecordsGenerator(path=path, seed=3)
    assert [t.id for t in again.sample({"all": 1}, 25)] == drawn  # batch sizes do not matter
    other = RecordsGenerator(path=path, seed=4)
    assert [t.id for t in other.sample({"all": 1}, 7)] != epochs[0]
    plain = RecordsGenerator(path=path, shuffle=False)
    assert [t.id for t in plain.sample({"all": 1}, 9)] == [t.id for t in tasks + tasks[:2]]
    assert plain.sample({"all": 1}, 1)[0] == tasks[2]  # the record itself, as it was made


def test_a_walk_resumes_from_its_state(tmp_path):
    path = write_jsonl(tmp_path / "r.jsonl", h1_tasks(6))
    straight = RecordsGenerator(path=path)
    first = straight.sample({"all": 1}, 4)
    state = json.loads(json.dumps(straight.state_dict()))  # as a checkpoint stores it
    rest = straight.sample({"all": 1}, 10)
    resumed = RecordsGenerator(path=path)
    resumed.load_state_dict(state)
    assert len(first) == 4 and resumed.sample({"all": 1}, 10) == rest
    state["records"] = 5
    with pytest.raises(ValueError, match="resume with the same data"):
        RecordsGenerator(path=path).load_state_dict(state)


def test_restrict_draws_only_the_kept_items_in_a_new_walk(tmp_path):
    tasks = h1_tasks(8)
    path = write_jsonl(tmp_path / "r.jsonl", tasks)
    source = RecordsGenerator(path=path)
    source.sample({"all": 1}, 3)
    kept = [tasks[1].id, tasks[4].id, tasks[6].id]
    assert source.restrict(kept) == 3
    assert source.pool_ids() == kept
    assert source.cursors == {}
    assert sorted(t.id for t in source.sample({"all": 1}, 6)) == sorted(kept * 2)
    assert source.restrict(None) == 8 and len(source.pool_ids()) == 8


def test_levels_come_from_the_records_or_are_flat(tmp_path):
    from synth.cli import main

    out = tmp_path / "levels"
    assert main(["h1", "--horizon", "1", "2", "--n", "3", "--out", str(out)]) == 0
    by_level = RecordsGenerator(path=str(out), level_axes="records")
    axes = {axis.name: axis.values for axis in by_level.axes()}
    assert axes["horizon"] == (1, 2)
    level = {name: values[-1] for name, values in axes.items()}
    assert all(task.level["horizon"] == 2 for task in by_level.sample(level, 5))
    flat = RecordsGenerator(path=str(out))
    assert [axis.name for axis in flat.axes()] == ["all"]
    assert {task.level["horizon"] for task in flat.sample({"all": 1}, 6)} == {1, 2}
    # `python -m synth records` writes a shuffled sample of them back, one config `all`
    assert main(["records", "--path", str(out), "--n", "4", "--out", str(tmp_path / "some")]) == 0
    some = RecordsGenerator(path=str(tmp_path / "some"))
    assert len(set(some.pool_ids())) == 4 and set(some.pool_ids()) <= set(flat.pool_ids())


def test_bad_sources_are_one_line_and_malformed_lines_are_counted(tmp_path):
    tasks = h1_tasks(3)
    path = write_jsonl(tmp_path / "r.jsonl", tasks, ["{not json", '{"id": "x"}'])
    read, skipped = read_records(path)
    assert len(read) == 3 and skipped == {"malformed records": 2}
    assert RecordsGenerator(path=path).skip_counts() == {"source: malformed records": 2}
    with pytest.raises(RecordsError, match="no such file") as error:
        read_records(str(tmp_path / "missing"))
    assert "\n" not in str(error.value)
    (tmp_path / "notaset").mkdir()
    with pytest.raises(RecordsError, match="not a dataset of Task records"):
        read_records(str(tmp_path / "notaset"))
    twice = write_jsonl(tmp_path / "twice.jsonl", tasks + tasks[:1])
    with pytest.raises(ValueError, match="one id per item"):
        RecordsGenerator(path=twice).sample({"all": 1}, 1)
    assert path_problem(str(tmp_path / "missing")).startswith(str(tmp_path / "missing"))
    assert path_problem(path) is None and path_problem("hub:org/name") is None
