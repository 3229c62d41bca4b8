"""The curriculum dashboard reads a real metrics.jsonl written from a simulated run."""

from __future__ import annotations

import json

from curricula import build_curriculum
from curricula.config import CurriculumConfig
from curricula.dashboard import load, main, path_chart
from curricula.simulate import SimulatedLearner, SimulatedTask
from synth.base import Axis

HORIZON = [Axis("horizon", tuple(range(1, 9)))]


def _write_run(path, steps: int = 120) -> None:
    curriculum = build_curriculum(CurriculumConfig(), {"h1": HORIZON}, seed=0)
    learner = SimulatedLearner(
        {"h1": SimulatedTask(HORIZON, max_skill=3.0, learn_rate=0.02)}, seed=0
    )
    with path.open("w") as out:
        for _ in range(steps):
            curriculum.observe(learner.attempt(curriculum.choose(16)))
            out.write(
                json.dumps({"step": curriculum.step, "loss": 0.1, **curriculum.metrics()}) + "\n"
            )
            for event in curriculum.pop_events():
                out.write(json.dumps(event) + "\n")
        out.write("not json\n")


def test_reads_path_levels_and_events(tmp_path):
    metrics = tmp_path / "metrics.jsonl"
    _write_run(metrics)
    report = load(metrics)
    horizons = [value for _, value in report.paths["h1"]["horizon"]]
    assert len(horizons) == 120 and horizons[0] == 1.0 and horizons[-1] >= 3.0
    assert "promotions" not in report.paths["h1"]
    assert report.levels["h1"]["h=1"]["success"] > 0.7
    assert [e["event"] for e in report.events].count("promote") == int(horizons[-1] - 1)
    assert report.skipped_lines == 1


def test_cli_prints_chart_and_writes_html(tmp_path, capsys):
    metrics = tmp_path / "metrics.jsonl"
    _write_run(metrics)
    page = tmp_path / "report.html"
    assert main([str(metrics), "--width", "40", "--html", str(page)]) == 0
    out = capsys.readouterr().out
    assert "h1 · horizon: 1 -> " in out
    assert "h=2" in out and "promotions" in out
    text = page.read_text()
    assert "<svg" in text and "<polyline" in text and "h=1" in text


def test_cli_refuses_files_without_curriculum_metrics(tmp_path, capsys):
    other = tmp_path / "metrics.jsonl"
    other.write_text(json.dumps({"step": 1, "loss": 0.3}) + "\n")
    assert main([str(other)]) == 2
    assert "no curriculum/ metrics" in capsys.readouterr().err
    assert main([str(tmp_path / "missing.jsonl")]) == 2


def test_path_chart_marks_one_cell_per_bucket_and_value():
    rows = path_chart([(1, 1.0), (2, 1.0), (3, 2.0), (4, 3.0)], width=4)
    assert rows[:3] == ["3 |   █", "2 |  █ ", "1 |██  "]
