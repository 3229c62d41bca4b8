"""What a user watches while a run trains: the console and the live dashboard.

The console shows the progress bar, one line per step, curriculum moves, evaluation results,
warnings and errors, and the dashboard's URL. The rest goes to runs/<name>/run.log: INFO lines
of cluster/ (engines starting, every weight reload), Ray's driver-side notices, and everything
Ray's worker processes print (cluster/worker_logs.py routes those: vLLM's INFO and WARNING lines
on every weight reload, progress bars of model loading, C++ warnings). Errors still reach the
console. Log lines are written above the progress bar (tqdm.write), not through it.

    stop = start(config.logging, run_dir)   # after the run directory exists
    ...
    stop()                                  # the dashboard stops, the console is as before
"""

from __future__ import annotations

import logging
import time
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from tqdm import tqdm

from rl.config import LoggingConfig

log = logging.getLogger(__name__)

RUN_LOG = "run.log"
# Loggers whose INFO lines go to run.log only; their warnings and errors stay on the console.
FILE_ONLY_BELOW_WARNING = ("cluster",)
FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


class ConsoleHandler(logging.StreamHandler):
    """Writes through tqdm so a log line lands above the progress bar instead of inside it."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            tqdm.write(self.format(record), file=self.stream)
        except Exception:  # logging's contract: a failing handler reports, never raises
            self.handleError(record)


def _quiet(record: logging.LogRecord) -> bool:
    """Console filter: INFO of the file-only loggers stays off the console."""
    if record.levelno >= logging.WARNING:
        return True
    return not any(
        record.name == name or record.name.startswith(name + ".")
        for name in FILE_ONLY_BELOW_WARNING
    )


def route_logs(run_dir: Path) -> Callable[[], None]:
    """Send the driver's log lines to run_dir/run.log and thin out the console; returns undo."""
    formatter = logging.Formatter(FORMAT, "%H:%M:%S")
    to_file = logging.FileHandler(Path(run_dir) / RUN_LOG)
    to_file.setFormatter(formatter)
    root = logging.getLogger()
    replaced = []
    for index, handler in enumerate(list(root.handlers)):
        if type(handler) is logging.StreamHandler:  # the console handler basicConfig made
            console = ConsoleHandler(handler.stream)
            console.setFormatter(handler.formatter or formatter)
            console.setLevel(handler.level)
            console.addFilter(_quiet)
            root.handlers[index] = console
            replaced.append((index, handler))
    root.addHandler(to_file)
    # Ray's own driver-side lines ("Started a local Ray instance", the token notice) go to
    # its logger's handler, which does not propagate to ours: errors only on the console. A
    # handler of its own, because ray.init sets the format of every handler of that logger.
    ray_logger = logging.getLogger("ray")
    ray_levels = [(handler, handler.level) for handler in ray_logger.handlers]
    for handler, level in ray_levels:
        handler.setLevel(max(level, logging.ERROR))
    ray_to_file = logging.FileHandler(Path(run_dir) / RUN_LOG)
    ray_logger.addHandler(ray_to_file)

    def undo() -> None:
        ray_logger.removeHandler(ray_to_file)
        for handler, level in ray_levels:
            handler.setLevel(level)
        root.removeHandler(to_file)
        for index, handler in replaced:
            root.handlers[index] = handler
        to_file.close()
        ray_to_file.close()

    return undo


def start_dashboard(config: LoggingConfig, run_dir: Path) -> Callable[[], None]:
    """The live dashboard on 127.0.0.1 for this run (when `logging.dashboard`); returns stop."""
    if not config.dashboard:
        return lambda: None
    from curricula.dashboard_server import DashboardServer, tunnel_hint

    try:
        server = DashboardServer([run_dir], port=config.dashboard_port)
    except OSError as error:
        log.warning(
            "dashboard: port %d: %s; serving on a free port instead",
            config.dashboard_port,
            error.strerror or error,
        )
        server = DashboardServer([run_dir], port=0)
    server.start()
    log.info("dashboard: %s (%s)", server.url, tunnel_hint(server.port))
    return server.stop


def start(config: LoggingConfig, run_dir: Path) -> Callable[[], None]:
    """Route the logs and start the dashboard; the returned function undoes both."""
    undo_logs = route_logs(run_dir)
    stop_dashboard = start_dashboard(config, run_dir)

    def stop() -> None:
        stop_dashboard()
        undo_logs()

    return stop


@contextmanager
def failure_logged(run_dir: Path) -> Iterator[None]:
    """An exception that ends a run leaves its traceback in run_dir/run.log, where the run's
    other lines are, then goes on up (the console gets rl/cli_guard.py's one line). Ctrl-C and
    exits are not failures."""
    try:
        yield
    except Exception as error:
        lines = "".join(traceback.format_exception(error))
        try:
            with (Path(run_dir) / RUN_LOG).open("a", encoding="utf-8") as handle:
                handle.write(f"{time.strftime('%H:%M:%S')} ERROR the run stopped:\n{lines}")
        except OSError:  # the run directory itself is the problem: cli_guard's log still has it
            pass
        raise
