"""The Ray head of a joined cluster dies under a run: a clear exit, and `--resume` continues.

A real cluster on this machine: `ray start --head` on 127.0.0.1 with its own temp directory, then
`python rl/run.py` joins it (RAY_ADDRESS), as `ray job submit` would make it do. After the run's
third step its head's processes (found by that temp directory, never by name) get SIGKILL.
The driver must exit non-zero within a bounded time, saying in its last line that a Ray process
died and how to resume; the run must not stop a cluster it joined. A new head and `--resume` then
finish the run from its checkpoint: metrics.jsonl holds each step once.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil
import pytest

from rl.rundir import read_metrics
from tests.test_kill_resume import command

pytestmark = pytest.mark.slow
REPO = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def cluster_env(tmp_path: Path) -> dict[str, str]:
    env = dict(os.environ, PYTHONPATH=str(REPO), LONGHORIZON_CACHE=str(tmp_path / "cache"))
    env.setdefault("LONGHORIZON_MODELS_DIR", str(Path("~/.cache/longhorizon/models").expanduser()))
    env["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"  # the head binds 127.0.0.1 only
    env["RAY_AUTH_MODE"] = "token"  # Ray 2.60's local head turns token auth on
    return env


def start_head(temp_dir: Path, port: int, env: dict[str, str]) -> None:
    ray = shutil.which("ray", path=os.path.dirname(sys.executable)) or "ray"
    subprocess.run(
        [ray, "start", "--head", "--node-ip-address=127.0.0.1", f"--port={port}",
         "--num-cpus=4", "--include-dashboard=false", f"--temp-dir={temp_dir}",
         "--disable-usage-stats"],
        env=env, check=True, capture_output=True, timeout=120,
    )  # fmt: skip


def cluster_processes(temp_dir: Path) -> list[psutil.Process]:
    """The processes of the cluster whose command line names its own temp directory."""
    found = []
    for process in psutil.process_iter(["cmdline"]):
        if any(str(temp_dir) in part for part in process.info["cmdline"] or ()):
            found.append(process)
    return found


def kill_cluster(temp_dir: Path) -> None:
    processes = cluster_processes(temp_dir)
    for process in processes:
        try:
            process.send_signal(signal.SIGKILL)
        except psutil.NoSuchProcess:
            pass
    psutil.wait_procs(processes, timeout=30)


def test_a_lost_head_stops_a_joined_run_clearly_and_resume_continues(tmp_path):
    # Ray's session paths must stay short (unix sockets): not under pytest's deep tmp_path.
    temp_dir = Path(tempfile.mkdtemp(prefix="lh-head-", dir="/tmp"))
    env = cluster_env(tmp_path)
    try:
        port = free_port()
        start_head(temp_dir, port, env)
        env["RAY_ADDRESS"] = f"127.0.0.1:{port}"
        run_command = command(tmp_path, "joined")
        run_command[run_command.index("steps=5")] = "steps=6"
        run_command[run_command.index("checkpoint.every=2")] = "checkpoint.every=1"
        metrics = tmp_path / "joined" / "metrics.jsonl"
        log = (tmp_path / "first.log").open("w")
        process = subprocess.Popen(
            run_command, cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT
        )
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline and process.poll() is None:
            if metrics.exists() and any(r["step"] == 2 for r in read_metrics(metrics)):
                break
            time.sleep(0.1)
        assert process.poll() is None, (tmp_path / "first.log").read_text()[-3000:]
        kill_cluster(temp_dir)
        lost_at = time.monotonic()
        try:
            code = process.wait(timeout=180)
        except subprocess.TimeoutExpired:
            process.kill()
            pytest.fail("the driver was still running 180 s after its Ray head died")
        # Before Ray's own 60 s wait for a lost head ends the process by itself.
        assert time.monotonic() - lost_at < 50
        text = (tmp_path / "first.log").read_text()
        assert code != 0, text[-3000:]
        last = [line for line in text.splitlines() if line.strip()][-1]
        assert "--resume" in last and "died" in last, text[-3000:]
        kept = max(r["step"] for r in read_metrics(metrics))
        assert kept < 5

        # A new head (a fresh cluster on the same address), and the run continues.
        start_head(temp_dir, port, env)
        log = (tmp_path / "resumed.log").open("w")
        resumed = subprocess.run(
            [*run_command, "--resume"], cwd=REPO, env=env, stdout=log,
            stderr=subprocess.STDOUT, timeout=600,
        )  # fmt: skip
        assert resumed.returncode == 0, (tmp_path / "resumed.log").read_text()[-3000:]
        steps = [r["step"] for r in read_metrics(metrics)]
        assert steps == list(range(6))
        # The joined run never stopped the cluster it joined.
        assert cluster_processes(temp_dir), "the run stopped the cluster it joined"
    finally:
        kill_cluster(temp_dir)
        shutil.rmtree(temp_dir, ignore_errors=True)
