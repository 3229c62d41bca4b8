"""The live curriculum dashboard: a page on 127.0.0.1 that follows runs while they write.

    python -m curricula.dashboard serve runs/NAME [runs/OTHER ...] [--port 8765] [--host 127.0.0.1]

Several run directories are shown side by side (a curriculum against a fixed schedule). The
server tails each run's metrics.jsonl and rollouts.jsonl by byte offset (curricula/run_tail.py)
and answers JSON; the page (curricula/dashboard_page/) asks only for what is new every couple of
seconds and draws its own SVG charts, so nothing is fetched from the internet. The server only
reads the run directories; a directory that does not exist yet is waited for.

Endpoints (all GET):
  /                                         the page; /static/<file> its script and style
  /api/runs                                 [{id, name, path}]
  /api/run/<id>?generation=G&rows=N&events=E  the rows and events after the N and E a client
                                            holds (all of them when G is not the current
                                            generation), notices, the sample index
  /api/run/<id>/samples?task=T&level=L      the latest sample groups at that level, newest first

Bound to loopback, requests must name a loopback host (a page elsewhere cannot read the runs
through DNS rebinding). Another interface needs an explicit --host and prints a warning.
"""

from __future__ import annotations

import argparse
import gzip
import json
import logging
import socket
import sys
import threading
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from curricula.run_tail import MetricsTail, SamplesTail, describe_missing, run_paths

log = logging.getLogger(__name__)

PAGE_DIR = Path(__file__).with_name("dashboard_page")
STATIC = {
    "index.html": "text/html; charset=utf-8",
    "charts.js": "text/javascript; charset=utf-8",
    "dashboard.js": "text/javascript; charset=utf-8",
    "samples.js": "text/javascript; charset=utf-8",
    "dashboard.css": "text/css; charset=utf-8",
}
LOOPBACK_NAMES = {"127.0.0.1", "localhost", "::1"}
DEFAULT_PORT = 8765
GZIP_ABOVE_BYTES = 64 * 1024


class RunView:
    """One run directory as the page sees it."""

    def __init__(self, run_id: int, path: Path, name: str) -> None:
        self.run_id, self.name = run_id, name
        self.run_dir, metrics_path = run_paths(path)
        self.metrics = MetricsTail(metrics_path)
        self.samples = SamplesTail(self.run_dir)
        self.lock = threading.Lock()  # one reader at a time per run; clients share the tail

    def describe(self) -> dict[str, Any]:
        return {"id": self.run_id, "name": self.name, "path": str(self.run_dir)}

    def update(self, generation: int, rows: int, events: int) -> dict[str, Any]:
        with self.lock:
            self.metrics.refresh()
            self.samples.refresh()
            answer = self.metrics.since(generation, rows, events)
            notices = describe_missing(self.run_dir, self.metrics.path) + self.metrics.notices()
            if self.samples.skipped.count:
                notices.append(
                    {
                        "level": "warn",
                        "text": f"rollouts: {self.samples.skipped.count} line(s) skipped that "
                        "are not sample records",
                    }
                )
            answer.update(
                id=self.run_id,
                name=self.name,
                notices=notices,
                samples=self.samples.index(),
                samples_seq=self.samples.seq,
            )
            return answer

    def sample_groups(self, task: str, level: str) -> list[dict[str, Any]]:
        with self.lock:
            self.samples.refresh()
            return self.samples.samples(task, level)


def run_names(paths: list[Path]) -> list[str]:
    """Each run's directory name, with its parent's where two names collide."""
    dirs = [run_paths(path)[0] for path in paths]
    names = [d.name or str(d) for d in dirs]
    return [
        f"{d.parent.name}/{name}" if names.count(name) > 1 else name
        for d, name in zip(dirs, names, strict=True)
    ]


def _int(query: dict[str, list[str]], key: str) -> int:
    try:
        return max(0, int(query.get(key, ["0"])[0]))
    except ValueError:
        return 0


class Handler(BaseHTTPRequestHandler):
    """Routes GET requests; `runs` and `loopback` are set on a subclass per server."""

    runs: list[RunView] = []
    loopback = True
    server_version = "longhorizon-dashboard"

    def do_GET(self) -> None:  # noqa: N802 (the http.server API)
        if self.loopback and not self._loopback_host():
            self._send_json({"error": "requests must name a loopback host"}, HTTPStatus.FORBIDDEN)
            return
        url = urlsplit(self.path)
        parts = [part for part in url.path.split("/") if part]
        query = parse_qs(url.query)
        if not parts:
            self._send_file("index.html")
        elif parts[0] == "static" and len(parts) == 2:
            self._send_file(parts[1])
        elif parts == ["api", "runs"]:
            self._send_json([run.describe() for run in self.runs])
        elif len(parts) >= 3 and parts[:2] == ["api", "run"]:
            self._run_api(parts[2:], query)
        else:
            self._send_json({"error": f"no such path: {url.path}"}, HTTPStatus.NOT_FOUND)

    def _run_api(self, parts: list[str], query: dict[str, list[str]]) -> None:
        run_id = int(parts[0]) if parts[0].isdigit() else -1
        if not 0 <= run_id < len(self.runs):
            self._send_json({"error": f"no run {parts[0]}"}, HTTPStatus.NOT_FOUND)
        elif len(parts) == 1:
            keys = ("generation", "rows", "events")
            self._send_json(self.runs[run_id].update(*(_int(query, key) for key in keys)))
        elif parts[1:] == ["samples"]:
            task, level = query.get("task", [""])[0], query.get("level", [""])[0]
            self._send_json(self.runs[run_id].sample_groups(task, level))
        else:
            self._send_json({"error": "no such path"}, HTTPStatus.NOT_FOUND)

    def _loopback_host(self) -> bool:
        host = self.headers.get("Host", "")
        name = host[1:].split("]")[0] if host.startswith("[") else host.rsplit(":", 1)[0]
        return name in LOOPBACK_NAMES

    def _send_file(self, name: str) -> None:
        if name not in STATIC:
            self._send_json({"error": f"no such file: {name}"}, HTTPStatus.NOT_FOUND)
            return
        self._send(HTTPStatus.OK, STATIC[name], (PAGE_DIR / name).read_bytes())

    def _send_json(self, payload: Any, status: HTTPStatus = HTTPStatus.OK) -> None:
        self._send(status, "application/json", json_body(payload))

    def _send(self, status: HTTPStatus, content_type: str, body: bytes) -> None:
        body, zipped = maybe_gzip(body, "gzip" in self.headers.get("Accept-Encoding", ""))
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        if zipped:
            self.send_header("Content-Encoding", "gzip")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 (the http.server API)
        log.debug("%s %s", self.address_string(), format % args)


def json_body(payload: Any) -> bytes:
    return json.dumps(payload, separators=(",", ":"), allow_nan=False).encode()


def maybe_gzip(body: bytes, accepted: bool) -> tuple[bytes, bool]:
    """Large answers (a first load) gzipped at the fastest level when the client takes it:
    over an SSH tunnel the bytes cost more than the compression."""
    if accepted and len(body) > GZIP_ABOVE_BYTES:
        return gzip.compress(body, compresslevel=1), True
    return body, False


class DashboardServer:
    """A ThreadingHTTPServer for some run directories; `url` once bound."""

    def __init__(self, paths: list[Path], host: str = "127.0.0.1", port: int = DEFAULT_PORT):
        runs = [
            RunView(index, Path(path), name)
            for index, (path, name) in enumerate(zip(paths, run_names(paths), strict=True))
        ]
        handler = type("RunsHandler", (Handler,), {"runs": runs, "loopback": is_loopback(host)})
        server_class = type(
            "Server",
            (ThreadingHTTPServer,),
            {"address_family": socket.AF_INET6 if ":" in host else socket.AF_INET},
        )
        self.runs = runs
        self.httpd = server_class((host, port), handler)
        self.port = self.httpd.server_address[1]
        shown = f"[{host}]" if ":" in host else host
        self.url = f"http://{shown}:{self.port}/"
        self._thread: threading.Thread | None = None

    def start(self) -> DashboardServer:
        """Serve from a daemon thread (next to a training run); `stop` ends it."""
        self._thread = threading.Thread(
            target=self.httpd.serve_forever, name="dashboard", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._thread is not None:
            self.httpd.shutdown()
            self._thread.join()
            self._thread = None
        self.httpd.server_close()


def is_loopback(host: str) -> bool:
    return host in LOOPBACK_NAMES or host.startswith("127.")


def tunnel_hint(port: int) -> str:
    return (
        f"from another machine: ssh -N -L {port}:127.0.0.1:{port} <this host>, "
        f"then open http://127.0.0.1:{port}/"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m curricula.dashboard serve", description=__doc__.splitlines()[0]
    )
    parser.add_argument(
        "runs", nargs="+", type=Path, help="run directories (runs/NAME) or their metrics.jsonl"
    )
    parser.add_argument(
        "--port", type=int, default=DEFAULT_PORT, help="port to serve on (0: any free one)"
    )
    parser.add_argument(
        "--host",
        default="127.0.0.1",
        help="interface to bind (default loopback only; anything else serves the runs to "
        "whoever reaches this machine, and prints a warning)",
    )
    args = parser.parse_args(argv)
    files = [p for p in args.runs if p.is_file() and p.suffix != ".jsonl"]
    if files:
        print(f"dashboard: {files[0]} is a file: pass a run directory or its metrics.jsonl",
              file=sys.stderr)  # fmt: skip
        return 2
    if not 0 <= args.port <= 65535:
        print(f"dashboard: --port {args.port} is not a port (0-65535)", file=sys.stderr)
        return 2
    if not is_loopback(args.host):
        print(
            f"dashboard: WARNING: serving on {args.host}: anyone who can reach this machine can "
            "read these runs' metrics and samples; an SSH tunnel to 127.0.0.1 is safer",
            file=sys.stderr,
        )
    try:
        server = DashboardServer(args.runs, args.host, args.port)
    except OSError as error:
        reason = error.strerror or str(error)
        print(f"dashboard: cannot listen on {args.host}:{args.port}: {reason}; pick another "
              "--port (0: any free one)", file=sys.stderr)  # fmt: skip
        return 2
    print(f"dashboard: {server.url} ({len(server.runs)} run(s); Ctrl-C stops it)", flush=True)
    if is_loopback(args.host):
        print(tunnel_hint(server.port), flush=True)
    try:
        server.httpd.serve_forever(poll_interval=0.5)
    except KeyboardInterrupt:
        pass
    finally:
        server.httpd.server_close()
    return 0
