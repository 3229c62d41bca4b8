"""What a user watches while a run trains: log routing on the driver and in worker processes,
and the dashboard started next to the run."""

from __future__ import annotations

import io
import json
import logging
import os
import subprocess
import sys
import textwrap
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from cluster.worker_logs import LOG_ENV, runtime_env
from curricula.dashboard_server import DashboardServer
from rl.config import LoggingConfig
from rl.watch import RUN_LOG, failure_logged, route_logs, start_dashboard

REPO = Path(__file__).resolve().parents[1]

WORKER = textwrap.dedent(
    """
    import logging, os, sys, warnings
    from cluster.worker_logs import setup
    setup()
    print("a plain print")
    os.write(2, b"W1130 a C++ warning on fd 2\\n")
    logging.getLogger("vllm.model_executor").warning("RotaryEmbedding: Failed to load weights")
    logging.getLogger("vllm.v1.worker").info("Reloading weights inplace...")
    warnings.warn("reduce_op is deprecated", FutureWarning)
    logging.getLogger("vllm.engine").error("the engine failed")
    print("VLLM_CONFIGURE_LOGGING=" + os.environ.get("VLLM_CONFIGURE_LOGGING", "unset"))
    """
)


def run_worker(env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", WORKER],
        capture_output=True,
        text=True,
        cwd=REPO,
        env={**os.environ, **env},
        timeout=60,
    )


def test_worker_output_goes_to_the_file_and_errors_to_the_console(tmp_path):
    log_file = tmp_path / RUN_LOG
    result = run_worker({LOG_ENV: str(log_file)})
    assert result.returncode == 0, result.stderr
    assert result.stdout == ""
    (console,) = result.stderr.strip().splitlines()
    assert "ERROR vllm.engine" in console and "the engine failed" in console
    written = log_file.read_text()
    for line in (
        "a plain print",
        "W1130 a C++ warning on fd 2",
        "WARNING vllm.model_executor",
        "RotaryEmbedding: Failed to load weights",
        "INFO vllm.v1.worker",
        "reduce_op is deprecated",
        "the engine failed",
        "VLLM_CONFIGURE_LOGGING=0",
    ):
        assert line in written, line


def test_without_a_usable_file_the_worker_keeps_its_output(tmp_path):
    for env in ({}, {LOG_ENV: str(tmp_path / "missing-dir" / RUN_LOG)}):
        result = run_worker(env)
        assert "a plain print" in result.stdout and "VLLM_CONFIGURE_LOGGING=unset" in result.stdout
        assert "RotaryEmbedding" in result.stderr
    assert not (tmp_path / "missing-dir").exists()


def test_the_hook_travels_by_value(tmp_path):
    """Ray pickles the hook; a worker whose `cluster` package is another copy (or none) must
    still run it, so unpickling must not import this package."""
    from ray import cloudpickle

    env = runtime_env(tmp_path / RUN_LOG)
    assert env["env_vars"] == {LOG_ENV: str((tmp_path / RUN_LOG).resolve())}
    blob = tmp_path / "hook.pkl"
    blob.write_bytes(cloudpickle.dumps(env["worker_process_setup_hook"]))
    script = (
        "import sys, pickle; sys.modules['cluster'] = None  # any import of it now fails\n"
        f"hook = pickle.loads(open({str(blob)!r}, 'rb').read())\n"
        "hook(); print('hook ran')\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        env={**os.environ, LOG_ENV: str(tmp_path / RUN_LOG)},
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert "hook ran" in (tmp_path / RUN_LOG).read_text()


@pytest.fixture()
def console():
    """A root console handler like the one `rl/run.py` installs, writing to a buffer."""
    root = logging.getLogger()
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    yield stream
    root.removeHandler(handler)
    root.setLevel(level)


def test_driver_logs_keep_the_console_to_steps_warnings_and_errors(tmp_path, console):
    import ray  # noqa: F401 (configures the `ray` logger, as in a run)

    ray_logger = logging.getLogger("ray")
    ray_levels = [h.level for h in ray_logger.handlers]
    undo = route_logs(tmp_path)
    logging.getLogger("cluster.pool").info("loaded policy version 3 into 1 worker(s)")
    logging.getLogger("rl.driver").info("step 0 | reward 0.412 | h1:horizon=1 | 8.1 s")
    logging.getLogger("cluster.pool").warning("worker 0 died; restarting it")
    logging.getLogger("ray._private.worker").info("Started a local Ray instance.")
    assert [h.level for h in ray_logger.handlers][: len(ray_levels)] == [logging.ERROR] * len(
        ray_levels
    )
    undo()
    logging.getLogger("rl.driver").info("after the run")
    shown = console.getvalue()
    assert "step 0 | reward" in shown and "worker 0 died" in shown and "after the run" in shown
    assert "loaded policy version" not in shown and "Started a local Ray" not in shown
    written = (tmp_path / RUN_LOG).read_text()
    for line in (
        "loaded policy version 3",
        "step 0 | reward",
        "worker 0 died",
        "Started a local Ray",
    ):
        assert line in written, line
    assert "after the run" not in written
    assert [h.level for h in ray_logger.handlers] == ray_levels


def test_the_dashboard_starts_next_to_the_run_and_stops_with_it(tmp_path, caplog):
    (tmp_path / "metrics.jsonl").write_text(json.dumps({"step": 0, "reward/mean": 0.5}) + "\n")
    assert start_dashboard(LoggingConfig(), tmp_path)() is None  # off by default
    busy = DashboardServer([tmp_path], port=0)  # the configured port is taken
    try:
        with caplog.at_level(logging.INFO, logger="rl.watch"):
            stop = start_dashboard(
                LoggingConfig(dashboard=True, dashboard_port=busy.port), tmp_path
            )
    finally:
        busy.stop()
    url = caplog.records[-1].args[0]
    assert "serving on a free port" in caplog.text and url.startswith("http://127.0.0.1:")
    assert "ssh -N -L" in caplog.text
    with urllib.request.urlopen(url + "api/run/0", timeout=10) as response:
        assert json.loads(response.read())["steps"] == [0]
    stop()
    with pytest.raises(urllib.error.URLError):
        urllib.request.urlopen(url, timeout=5)


def test_a_failure_leaves_its_traceback_in_run_log_and_goes_on_up(tmp_path):
    (tmp_path / RUN_LOG).write_text("12:00:00 INFO step 3\n")

    def fail_deep() -> None:
        raise RuntimeError("worker lost")

    with pytest.raises(RuntimeError, match="worker lost"), failure_logged(tmp_path):
        fail_deep()
    text = (tmp_path / RUN_LOG).read_text()
    assert text.startswith("12:00:00 INFO step 3\n")  # appended, the run's lines kept
    assert "ERROR the run stopped:" in text and "in fail_deep" in text
    with pytest.raises(KeyboardInterrupt), failure_logged(tmp_path):
        raise KeyboardInterrupt  # a user's Ctrl-C is not a failure to report
    assert (tmp_path / RUN_LOG).read_text() == text
    with pytest.raises(ValueError), failure_logged(tmp_path / "gone"):
        raise ValueError("no run directory to write to: the error still goes up")
