"""The local Ray a driver started: recorded, stopped with it, and reaped after a SIGKILL.

`init_ray` (cluster/ray_setup.py) calls `reap_stale` before starting a local Ray and `claim`
right after (and the driver `refresh` once its actors run). `claim` writes `<cache>/ray-owned/<driver pid>.json`: the driver's identity, Ray's
session directory, and every process of that Ray found then (pid and start time). `release`
runs at the driver's exit (`shutdown_ray`, and atexit for routes that skip it): whatever
`ray.shutdown()` left of that Ray is terminated and the record deleted. A SIGKILLed driver runs
nothing, and its Ray's dashboard and runtime-env agents outlive it (measured); the next
`reap_stale` on the machine finds the record, sees the driver gone, ends the processes it
recorded and any naming its session directory (with their descendants), then removes that
directory.

Processes are only ever matched by recorded pid *and* start time (a reused pid is not ours) or by
the stale session's directory; never by a process name, so other users' and other runs' Rays,
and a joined cluster (never claimed), are left alone.
"""

from __future__ import annotations

import atexit
import json
import logging
import os
import shutil
import sys
from pathlib import Path
from typing import Any

import psutil

log = logging.getLogger(__name__)

_claimed: Path | None = None  # this process's record, while its local Ray runs


def records_dir() -> Path:
    """$LONGHORIZON_CACHE/ray-owned, else ~/.cache/longhorizon/ray-owned."""
    cache = os.environ.get("LONGHORIZON_CACHE", "~/.cache/longhorizon")
    return Path(cache).expanduser() / "ray-owned"


def _identity(process: psutil.Process) -> dict[str, Any]:
    return {"pid": process.pid, "started": process.create_time()}


def _alive(entry: dict[str, Any]) -> psutil.Process | None:
    """The recorded process if it still runs (same pid and start time, not a zombie)."""
    try:
        process = psutil.Process(entry["pid"])
        if abs(process.create_time() - entry["started"]) > 0.01:
            return None  # the pid was reused by another process
        return None if process.status() == psutil.STATUS_ZOMBIE else process
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return None


def _session_processes(session_dir: str) -> list[psutil.Process]:
    """This user's processes whose command line names `session_dir` (Ray passes it, or paths
    inside it, to its raylet, GCS and agents)."""
    found, uid = [], os.getuid()
    for process in psutil.process_iter(["uids", "cmdline"]):
        try:
            if process.info["uids"].real != uid or process.pid == os.getpid():
                continue
            if any(session_dir in part for part in process.info["cmdline"] or ()):
                found.append(process)
        except (psutil.NoSuchProcess, psutil.AccessDenied, TypeError):
            continue
    return found


def _ray_processes(session_dir: str) -> list[psutil.Process]:
    """The local Ray's processes now: those naming the session and their descendants (the
    workers and agents a raylet starts)."""
    found = {}
    for root in _session_processes(session_dir):
        found[root.pid] = root
        try:
            found.update({p.pid: p for p in root.children(recursive=True)})
        except psutil.NoSuchProcess:
            continue
    return list(found.values())


def claim(session_dir: str) -> Path:
    """Record the local Ray this process just started (`init_ray` reaps stale ones before)."""
    global _claimed
    path = records_dir() / f"{os.getpid()}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    record = {"driver": _identity(psutil.Process()), "session_dir": session_dir, "processes": []}
    path.write_text(json.dumps(record))
    if _claimed is None:
        atexit.register(_at_exit)
    _claimed = path
    refresh()
    return path


def session_dir() -> str | None:
    """The session directory of the local Ray this process claimed, or None (none, or joined)."""
    if _claimed is None or not _claimed.exists():
        return None
    return json.loads(_claimed.read_text())["session_dir"]


def refresh() -> None:
    """Add the processes the claimed Ray has started since (its agents, the actors' workers) to
    the record; call it once the run's actors are up. Nothing when no local Ray is claimed."""
    if _claimed is None or not _claimed.exists():
        return
    record = json.loads(_claimed.read_text())
    known = {entry["pid"] for entry in record["processes"]}
    for process in _ray_processes(record["session_dir"]):
        try:
            if process.pid not in known:
                record["processes"].append(_identity(process))
        except psutil.NoSuchProcess:
            continue
    staging = _claimed.with_suffix(".tmp")
    staging.write_text(json.dumps(record))
    os.replace(staging, _claimed)


def _terminate(processes: list[psutil.Process], grace_s: float = 5.0) -> int:
    """SIGTERM, then SIGKILL what is left after `grace_s`; the number that had to be ended."""
    for process in processes:
        try:
            process.terminate()
        except psutil.NoSuchProcess:
            pass
    _, left = psutil.wait_procs(processes, timeout=grace_s)
    for process in left:
        try:
            process.kill()
        except psutil.NoSuchProcess:
            pass
    psutil.wait_procs(left, timeout=grace_s)
    return len(processes)


def _end(record: dict[str, Any]) -> int:
    """End the processes of a record that still run; the number ended."""
    processes = {p.pid: p for p in map(_alive, record["processes"]) if p is not None}
    processes.update({p.pid: p for p in _ray_processes(record["session_dir"])})
    return _terminate(list(processes.values())) if processes else 0


def _at_exit() -> None:
    """An exit that skipped shutdown_ray: disconnect first (Ray's own atexit hook runs after
    this one and would wait on the processes `release` ends), then release."""
    ray = sys.modules.get("ray")
    if _claimed is not None and ray is not None and ray.is_initialized():
        ray.shutdown()
    release()


def release() -> int:
    """At this driver's exit, after ray.shutdown(): end what is left of the Ray it claimed and
    delete the record. The number of processes that had to be ended."""
    global _claimed
    path, _claimed = _claimed, None
    if path is None or not path.exists():
        return 0
    ended = _end(json.loads(path.read_text()))
    if ended:
        log.info("ended %d process(es) the local Ray left behind", ended)
    path.unlink(missing_ok=True)
    return ended


def reap_stale() -> int:
    """End the local Rays whose drivers died without `release` (SIGKILL), remove their session
    directories and records. The number of processes ended."""
    ended = 0
    for path in sorted(records_dir().glob("*.json")):
        try:
            record = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError):
            path.unlink(missing_ok=True)  # a torn record of a driver killed while writing it
            continue
        if _alive(record["driver"]) is not None:
            continue  # that driver still runs: its Ray is in use
        count = _end(record)
        shutil.rmtree(record["session_dir"], ignore_errors=True)
        path.unlink(missing_ok=True)
        log.warning(
            "cleaned the local Ray of a killed driver (pid %d): %d process(es) ended, %s removed",
            record["driver"]["pid"],
            count,
            record["session_dir"],
        )
        ended += count
    return ended
