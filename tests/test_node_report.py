"""cluster/node_report.py over a session directory laid out as Ray lays out its logs."""

from __future__ import annotations

from cluster.node_report import last_lines, node_report


def test_the_report_holds_the_last_lines_of_the_raylet_and_the_newest_worker(tmp_path):
    logs = tmp_path / "session_x" / "logs"
    logs.mkdir(parents=True)
    raylet = [f"raylet line {i}" for i in range(100)]
    raylet.append("Killing worker with PID 4242: memory used 12.1GB > threshold 0.95")
    (logs / "raylet.out").write_text("\n".join(raylet) + "\n")
    (logs / "raylet.err").write_text("")  # empty logs are left out
    (logs / "worker-ab-01-4242.err").write_bytes(b"Traceback ...\nMemoryError \xff\n\n")
    report = node_report(tmp_path / "session_x", count=2)
    lines = report.splitlines()
    assert lines[0] == f"--- {logs / 'raylet.out'}"
    assert lines[1:3] == ["    raylet line 99", f"    {raylet[-1]}"]
    assert "raylet.err" not in report
    assert "    MemoryError \ufffd" in lines  # undecodable bytes replaced, blank lines dropped
    assert lines[-2] == "--- kernel" and lines[-1].strip()  # an OOM record, or why there is none


def test_without_local_logs_the_report_says_where_to_look(tmp_path):
    assert node_report(None).startswith("no local Ray logs (no session): see `ray logs`")
    assert "see `ray logs`" in node_report(tmp_path / "absent")


def test_last_lines_reads_only_the_tail_of_a_large_file(tmp_path):
    path = tmp_path / "big.log"
    path.write_text("x" * 200_000 + "\nend\n")
    assert last_lines(path, 1) == ["end"]
