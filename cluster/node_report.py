"""What a dead Ray process left to say: the last lines of the node's logs and the kernel's OOM record.

When a run dies of a lost actor, worker or node, Ray's exception says little ("the actor died
unexpectedly"); the cause is usually in the raylet's log (its memory monitor names the worker
it killed), a worker's stderr, or the kernel's OOM killer. `node_report` gathers those in a few
lines for the driver's log, so nobody has to find the session directory by hand.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

LOGS = ("raylet.out", "raylet.err", "gcs_server.out", "gcs_server.err")
OOM = re.compile(r"out of memory|oom-kill|killed process", re.IGNORECASE)


def last_lines(path: Path, count: int) -> list[str]:
    """The last `count` non-empty lines of a text file (its last 64 KiB), undecodable bytes
    replaced."""
    with path.open("rb") as handle:
        handle.seek(0, 2)
        handle.seek(max(0, handle.tell() - 65536))
        text = handle.read().decode("utf-8", errors="replace")
    return [line for line in text.splitlines() if line.strip()][-count:]


def kernel_oom_lines(count: int = 3) -> list[str]:
    """The kernel log's last OOM-killer lines, or one line saying it could not be read."""
    try:
        result = subprocess.run(["dmesg"], capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.TimeoutExpired) as error:
        return [f"kernel log not readable ({error})"]
    if result.returncode != 0:
        return [f"kernel log not readable ({result.stderr.strip() or 'dmesg failed'})"]
    found = [line for line in result.stdout.splitlines() if OOM.search(line)]
    return found[-count:] or ["no OOM-killer record in the kernel log"]


def node_report(session_dir: str | Path | None, count: int = 5) -> str:
    """Several lines: the last `count` lines of the session's raylet and GCS logs and of the
    most recent worker error logs, then the kernel's OOM record."""
    lines = []
    logs = Path(session_dir) / "logs" if session_dir else None
    if logs is None or not logs.is_dir():
        lines.append(f"no local Ray logs ({session_dir or 'no session'}): see `ray logs`")
    else:
        workers = sorted(logs.glob("worker-*.err"), key=lambda p: p.stat().st_mtime)[-2:]
        for path in [logs / name for name in LOGS] + workers:
            if path.is_file() and path.stat().st_size:
                lines.append(f"--- {path}")
                lines.extend(f"    {line}" for line in last_lines(path, count))
    lines.append("--- kernel")
    lines.extend(f"    {line}" for line in kernel_oom_lines())
    return "\n".join(lines)
