"""The live dashboard's server side: tailing a run directory by byte offset, and the HTTP API.

The records are those of a real short run (tests/fixtures/dashboard_run, recorded by
tests/dashboard_fixture.py), copied line by line into a temporary run directory as a run
would write them.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from curricula.dashboard_server import DashboardServer, run_names
from curricula.run_tail import MetricsTail, SamplesTail, compact, plotted

FIXTURE = Path(__file__).with_name("fixtures") / "dashboard_run"
REPO = Path(__file__).resolve().parents[1]


def fixture_lines() -> list[str]:
    return (FIXTURE / "metrics.jsonl").read_text().splitlines(keepends=True)


def append(path: Path, text: str) -> None:
    with path.open("a") as handle:
        handle.write(text)


def test_tail_reads_only_what_was_appended(tmp_path):
    lines = fixture_lines()
    records = [json.loads(line) for line in lines]
    metrics = tmp_path / "metrics.jsonl"
    append(metrics, "".join(lines[:2]))
    tail = MetricsTail(metrics)
    tail.refresh()
    first = tail.since(0, 0, 0)
    assert first["reset"] and first["steps"] == [0, 1]
    assert first["columns"]["reward/mean"] == [compact(r["reward/mean"]) for r in records[:2]]
    assert tail.cursor.offset == len("".join(lines[:2]).encode())

    append(metrics, "".join(lines[2:]))
    tail.refresh()
    update = tail.since(first["generation"], 2, first["event_count"])
    assert not update["reset"] and update["start"] == 2
    assert update["steps"] == [r["step"] for r in records[2:]]
    assert all(len(column) == len(records) - 2 for column in update["columns"].values())
    events = [e for r in records for e in r["curriculum/events"]]
    assert len(events) >= 1, "the fixture run should hold a promotion"
    assert first["events"] + update["events"] == [
        {**e, "step": r["step"]} for r in records for e in r["curriculum/events"]
    ]
    assert tail.axes == {"h1": list(records[-1]["frontier/h1"])}
    # What the page does not plot stays on disk.
    assert "batch/task_ids" not in tail.columns and "time/step" not in tail.columns
    assert "curriculum/h1/promotions" not in tail.columns


def test_a_torn_last_line_waits_and_garbage_is_counted(tmp_path):
    lines = fixture_lines()
    metrics = tmp_path / "metrics.jsonl"
    append(metrics, lines[0] + lines[1][:40])
    tail = MetricsTail(metrics)
    tail.refresh()
    assert tail.steps == [0]
    assert "incomplete line" in tail.notices()[0]["text"]
    append(metrics, lines[1][40:] + "}{ not json\n" + lines[2])
    tail.refresh()
    assert tail.steps == [0, 1, 2]
    (note,) = tail.notices()
    assert "1 line(s) skipped" in note["text"] and "line 3" in note["text"]


def test_a_rewritten_file_starts_a_new_generation(tmp_path):
    lines = fixture_lines()
    metrics = tmp_path / "metrics.jsonl"
    metrics.write_text("".join(lines[:4]))
    tail = MetricsTail(metrics)
    tail.refresh()
    generation = tail.generation
    # A resumed run truncates to its checkpoint, then appends its own records again.
    metrics.write_text("".join(lines[:2]))
    append(metrics, lines[2].replace('"step": 2', '"step": 2, "resumed": 1'))
    append(metrics, "".join(lines[3:5]))
    tail.refresh()
    update = tail.since(generation, 4, 0)
    assert update["reset"] and update["generation"] == generation + 1
    assert update["steps"] == [0, 1, 2, 3, 4]
    assert any("rewritten" in n["text"] for n in tail.notices())


def test_plotted_keys():
    assert plotted("curriculum/h1/horizon") and plotted("reward/h1/horizon=2/mean")
    assert plotted("eval/one_step/pass@1") and plotted("eval_base/one_step/pass@1")
    assert not plotted("curriculum/h1/demotions") and not plotted("curriculum/hard_subset/easy")
    assert not plotted("curriculum/h1/h=2/success") and not plotted("reward/errors")
    assert not plotted("eval/one_step/pass@k/2")


def test_samples_keep_the_latest_per_level_across_rotation(tmp_path):
    records = [json.loads(line) for line in (FIXTURE / "rollouts.jsonl").read_text().splitlines()]
    levels = {(r["task"], r["level_key"]) for r in records}
    assert records and all(r["completions"] for r in records)
    (tmp_path / "rollouts.1.jsonl").write_text(json.dumps(records[0]) + "\n")
    (tmp_path / "rollouts.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records[1:]))
    tail = SamplesTail(tmp_path, keep=2)
    tail.refresh()
    assert {(t, lv) for t, by in tail.index().items() for lv in by} == levels
    newest = records[-1]
    assert tail.samples(newest["task"], newest["level_key"])[0] == newest
    assert all(len(held) <= 2 for held in tail.latest.values())
    # Rotation: the current file becomes rollouts.1.jsonl and a new, shorter one starts.
    (tmp_path / "rollouts.jsonl").replace(tmp_path / "rollouts.1.jsonl")
    moved = {**newest, "step": 99}
    (tmp_path / "rollouts.jsonl").write_text(json.dumps(moved) + "\n")
    tail.refresh()
    assert tail.samples(newest["task"], newest["level_key"])[0]["step"] == 99
    assert tail.index()[newest["task"]][newest["level_key"]] == 99


def get(url: str, host: str | None = None):
    request = urllib.request.Request(url, headers={"Host": host} if host else {})
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


def snapshot(directory: Path) -> dict[str, tuple[int, int]]:
    return {
        str(p.relative_to(directory)): (p.stat().st_size, p.stat().st_mtime_ns)
        for p in sorted(directory.rglob("*"))
    }


def test_http_api_serves_runs_without_writing_to_them(tmp_path):
    run = tmp_path / "runs" / "curriculum"
    shutil.copytree(FIXTURE, run)
    before = snapshot(run)
    server = DashboardServer([run, tmp_path / "runs" / "not-yet"], port=0).start()
    try:
        base = server.url
        assert [r["name"] for r in get(base + "api/runs")] == ["curriculum", "not-yet"]
        update = get(base + "api/run/0")
        assert len(update["steps"]) == len(fixture_lines()) and update["notices"] == []
        task, levels = next(iter(update["samples"].items()))
        level = next(iter(levels))
        groups = get(f"{base}api/run/0/samples?task={task}&level={level}")
        assert groups and groups[0]["level_key"] == level and "answer" in groups[0]
        again = get(f"{base}api/run/0?generation={update['generation']}&rows=6&events=99")
        assert again["steps"] == [] and not again["reset"]
        waiting = get(base + "api/run/1")
        assert waiting["steps"] == [] and "does not exist" in waiting["notices"][0]["text"]
        with urllib.request.urlopen(base, timeout=10) as page:
            assert b"/static/dashboard.js" in page.read()
        for bad in ("api/run/7", "static/../../etc/passwd", "nothing"):
            with pytest.raises(urllib.error.HTTPError) as error:
                get(base + bad)
            assert error.value.code == 404
        with pytest.raises(urllib.error.HTTPError) as error:
            get(base + "api/runs", host="attacker.example:80")
        assert error.value.code == 403
    finally:
        server.stop()
    assert snapshot(run) == before
    assert not (tmp_path / "runs" / "not-yet").exists()


def test_run_names_tell_same_named_runs_apart(tmp_path):
    names = run_names([tmp_path / "a" / "run", tmp_path / "b" / "run", tmp_path / "c.jsonl"])
    assert names == ["a/run", "b/run", tmp_path.name]


def serve(*args: str) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "curricula.dashboard", "serve", *args]
    return subprocess.run(command, capture_output=True, text=True, cwd=REPO, timeout=60)


def test_serve_cli_refuses_bad_input_with_one_line(tmp_path):
    busy = DashboardServer([tmp_path], port=0)
    try:
        result = serve(str(tmp_path), "--port", str(busy.port))
    finally:
        busy.stop()
    assert result.returncode == 2
    assert result.stderr.strip().count("\n") == 0 and "pick another --port" in result.stderr
    (tmp_path / "notes.txt").write_text("x")
    result = serve(str(tmp_path / "notes.txt"))
    assert result.returncode == 2 and "is a file" in result.stderr
    # Another interface needs saying so and is warned about (TEST-NET: cannot be bound here).
    result = serve(str(tmp_path), "--host", "203.0.113.7", "--port", "0")
    assert result.returncode == 2
    warning, failure = result.stderr.strip().splitlines()
    assert "WARNING" in warning and "SSH tunnel" in warning and "cannot listen" in failure
