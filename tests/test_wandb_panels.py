"""The curriculum's wandb panels, in wandb's offline mode (no key, nothing leaves the machine).

wandb has no reader for its run files, so this checks what can be checked: every call succeeds,
the events table and the success-by-level chart are written as table files with the run's
rows, and the metric definitions reach the run file."""

from __future__ import annotations

import json
from pathlib import Path

from rl.rundir import MetricsLogger

FIXTURE = Path(__file__).with_name("fixtures") / "dashboard_run"


def test_records_of_a_real_run_make_the_events_table_and_level_charts(tmp_path, monkeypatch):
    monkeypatch.setenv("WANDB_MODE", "offline")
    records = [json.loads(line) for line in (FIXTURE / "metrics.jsonl").read_text().splitlines()]
    logger = MetricsLogger(tmp_path, {"steps": len(records)}, "offline", "test", "panels")
    for record in records:
        logger.log(record["step"], {k: v for k, v in record.items() if k != "step"})
    logger.close()

    (run,) = (tmp_path / "wandb").glob("offline-run-*")
    tables = run / "files" / "media" / "table" / "curriculum"
    events = [e for r in records for e in r["curriculum/events"]]
    last_table = max(tables.glob("events_*.table.json"), key=lambda p: p.stat().st_mtime_ns)
    table = json.loads(last_table.read_text())
    assert table["columns"] == ["step", "task", "event", "from", "to", "reason"]
    assert [row[2] for row in table["data"]] == [e["event"] for e in events]
    assert [row[5] for row in table["data"]] == [e["reason"] for e in events]
    (chart,) = (tables / "h1").glob("success_by_level_table_*.table.json")
    levels = {
        k.split("/")[2] for r in records for k in r if k.startswith("reward/h1/") and "=" in k
    }
    assert {row[1] for row in json.loads(chart.read_text())["data"]} == levels
    (run_file,) = run.glob("run-*.wandb")
    content = run_file.read_bytes()
    assert b"curriculum/*" in content and b"eval/select" in content
    assert (tmp_path / "metrics.jsonl").read_text().count("\n") == len(records)
