"""cluster/ray_owner.py on real processes standing in for a killed driver's Ray: a process whose
command line names a session directory, with a child (as a raylet has workers), and a recorded
pid. Starting Ray itself is covered by tests/test_kill_resume.py (slow)."""

from __future__ import annotations

import json
import subprocess
import sys

import psutil
import pytest

from cluster import ray_owner

SLEEPER = "import subprocess, sys, time; subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)']); time.sleep(60)"  # fmt: skip


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("LONGHORIZON_CACHE", str(tmp_path / "cache"))
    return tmp_path


def dead_driver() -> dict:
    """The identity of a process that has exited (a SIGKILLed driver)."""
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    identity = {"pid": process.pid, "started": psutil.Process(process.pid).create_time()}
    process.wait()
    return identity


def fake_ray(session_dir) -> tuple[subprocess.Popen, psutil.Process]:
    """A process naming `session_dir` on its command line, and its child; both alive."""
    session_dir.mkdir(parents=True)
    parent = subprocess.Popen([sys.executable, "-c", SLEEPER, f"--session-dir={session_dir}"])
    while not psutil.Process(parent.pid).children():
        pass
    return parent, psutil.Process(parent.pid).children()[0]


def write_record(driver: dict, session_dir, processes: list[dict]) -> None:
    records = ray_owner.records_dir()
    records.mkdir(parents=True, exist_ok=True)
    record = {"driver": driver, "session_dir": str(session_dir), "processes": processes}
    (records / f"{driver['pid']}.json").write_text(json.dumps(record))


def test_a_killed_drivers_ray_is_ended_and_its_session_removed(cache):
    session = cache / "ray" / "session_killed"
    parent, child = fake_ray(session)
    loner = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    recorded = {"pid": loner.pid, "started": psutil.Process(loner.pid).create_time()}
    write_record(dead_driver(), session, [recorded])
    try:
        assert ray_owner.reap_stale() == 3
        assert parent.wait(timeout=10) is not None and loner.wait(timeout=10) is not None
        assert not child.is_running() or child.status() == psutil.STATUS_ZOMBIE
        assert not session.exists() and not list(ray_owner.records_dir().iterdir())
    finally:
        for process in (parent, loner):
            process.kill()
        if child.is_running():
            child.kill()


def test_a_live_drivers_ray_and_a_reused_pid_are_left_alone(cache):
    session = cache / "ray" / "session_live"
    parent, child = fake_ray(session)
    me = {"pid": psutil.Process().pid, "started": psutil.Process().create_time()}
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        write_record(me, session, [])  # this process's own Ray: its driver is alive
        assert ray_owner.reap_stale() == 0 and session.exists()
        (ray_owner.records_dir() / f"{me['pid']}.json").unlink()
        # A dead driver's record naming a pid now used by another process (other start time).
        reused = {"pid": other.pid, "started": psutil.Process(other.pid).create_time() - 100}
        write_record(dead_driver(), cache / "ray" / "session_gone", [reused])
        assert ray_owner.reap_stale() == 0
        assert other.poll() is None and parent.poll() is None and child.is_running()
    finally:
        for process in (parent, other):
            process.kill()
        child.kill()


def test_a_torn_record_is_dropped(cache):
    ray_owner.records_dir().mkdir(parents=True)
    (ray_owner.records_dir() / "123.json").write_text('{"driver": ')
    assert ray_owner.reap_stale() == 0
    assert not list(ray_owner.records_dir().iterdir())


def test_claim_records_the_session_and_release_ends_what_is_left(cache):
    session = cache / "ray" / "session_mine"
    parent, child = fake_ray(session)
    try:
        path = ray_owner.claim(str(session))
        recorded = {entry["pid"] for entry in json.loads(path.read_text())["processes"]}
        assert recorded == {parent.pid, child.pid}
        assert ray_owner.reap_stale() == 0  # this driver is alive: its Ray is left alone
        assert ray_owner.release() == 2  # what ray.shutdown() would have left
        assert parent.wait(timeout=10) is not None and not path.exists()
        assert ray_owner.release() == 0  # once only
    finally:
        parent.kill()
        if child.is_running():
            child.kill()
