"""How every command-line entry point ends: one line for a user's mistake, never a traceback.

    if __name__ == "__main__":
        from rl.cli_guard import run_cli

        sys.exit(run_cli(main, "rl.eval"))

Each CLI's `main(argv)` already turns the mistakes it expects into one line and exit 2. This
wrapper catches what is left, the same way for every entry point (rl/run.py, python -m synth,
synth.publish, curricula.dashboard, rl.eval, rl.publish):

- a user error that escaped (`ValueError`, an `OSError` naming a file): one line, exit 2;
- anything else, a bug: one line naming the exception and a log file holding the traceback,
  exit 1;
- stdout closed early (`| head`): quiet, exit 141 like a process killed by SIGPIPE;
- Ctrl-C: one line, exit 130.

`--debug` anywhere on the command line (it is removed before `main` parses it) or
LONGHORIZON_DEBUG=1 lets the exception through with its traceback. The entry points are
composition roots (tests/test_package_rule.py allows their `__main__` blocks to import this),
so the leaf packages' libraries never depend on rl.
"""

from __future__ import annotations

import os
import sys
import time
import traceback
from collections.abc import Callable, Sequence
from pathlib import Path

DEBUG_ENV = "LONGHORIZON_DEBUG"
DEBUG_FLAG = "--debug"


def debug_requested(argv: Sequence[str]) -> bool:
    return DEBUG_FLAG in argv or os.environ.get(DEBUG_ENV, "").strip() not in ("", "0")


def one_line(error: BaseException) -> str:
    """The error's message on one line (a message of several lines keeps its first)."""
    if isinstance(error, OSError) and error.filename is not None and error.strerror:
        return f"{error.filename}: {error.strerror}"
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


def error_log_dir() -> Path:
    """Where tracebacks of internal errors go: $LONGHORIZON_CACHE/logs (~/.cache/longhorizon)."""
    cache = os.environ.get("LONGHORIZON_CACHE", "~/.cache/longhorizon")
    return Path(cache).expanduser() / "logs"


def write_traceback(prog: str, error: BaseException) -> Path | None:
    """The full traceback in a file of its own; None when even that cannot be written."""
    name = f"{prog.replace('/', '.').replace(' ', '_')}-{time.strftime('%Y%m%d-%H%M%S')}"
    path = error_log_dir() / f"{name}-{os.getpid()}.log"
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("".join(traceback.format_exception(error)), encoding="utf-8")
    except OSError:
        return None
    return path


def _silence_stdout() -> None:
    """After EPIPE, point stdout at /dev/null so the interpreter's last flush cannot fail."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass


def run_cli(
    main: Callable[[list[str]], int | None],
    prog: str,
    argv: Sequence[str] | None = None,
    user_errors: tuple[type[BaseException], ...] = (ValueError,),
) -> int:
    """`main(argv)` with the endings above; returns the process exit code."""
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = debug_requested(argv)
    argv = [arg for arg in argv if arg != DEBUG_FLAG]
    try:
        code = main(argv)
        sys.stdout.flush()  # a closed pipe shows up here, not at exit
        return int(code or 0)
    except BrokenPipeError:
        _silence_stdout()
        return 141
    except KeyboardInterrupt:
        if debug:
            raise
        print(f"{prog}: interrupted", file=sys.stderr)
        return 130
    except Exception as error:
        if debug:
            raise
        if isinstance(error, user_errors) or (
            isinstance(error, OSError) and error.filename is not None
        ):
            print(f"{prog}: {one_line(error)}", file=sys.stderr)
            return 2
        log_path = write_traceback(prog, error)
        where = f"traceback in {log_path}" if log_path else "no log could be written"
        print(
            f"{prog}: internal error: {type(error).__name__}: {one_line(error)} ({where}; "
            f"rerun with {DEBUG_FLAG} to see it here)",
            file=sys.stderr,
        )
        return 1
