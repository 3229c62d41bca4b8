"""rl/cli_guard.py: how every CLI ends on a user error, a bug, a closed pipe, --debug."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from rl.cli_guard import run_cli

REPO = Path(__file__).resolve().parents[1]


def _raise(error: BaseException):
    def main(argv: list[str]) -> int:
        raise error

    return main


def test_a_user_error_is_one_line_and_exit_2(capsys):
    assert run_cli(_raise(ValueError("--n must be at least 1\nsecond line")), "synth", []) == 2
    assert capsys.readouterr().err == "synth: --n must be at least 1\n"


def test_an_os_error_naming_a_file_is_a_user_error(capsys):
    error = FileNotFoundError(2, "No such file or directory", "/proc/x.html")
    assert run_cli(_raise(error), "dashboard", []) == 2
    assert capsys.readouterr().err == "dashboard: /proc/x.html: No such file or directory\n"


def test_a_bug_is_one_line_with_a_log_holding_the_traceback(capsys, monkeypatch, tmp_path):
    monkeypatch.setenv("LONGHORIZON_CACHE", str(tmp_path))
    monkeypatch.delenv("LONGHORIZON_DEBUG", raising=False)
    assert run_cli(_raise(KeyError("step")), "rl.eval", []) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "internal error: KeyError" in err and "Traceback" not in err
    (log,) = (tmp_path / "logs").iterdir()
    assert str(log) in err
    assert "Traceback" in log.read_text() and "KeyError" in log.read_text()


def test_debug_flag_or_env_lets_the_traceback_through(monkeypatch):
    seen = []

    def main(argv: list[str]) -> int:
        seen.append(argv)
        raise ValueError("bad")

    with pytest.raises(ValueError):
        run_cli(main, "x", ["--n", "3", "--debug"])
    assert seen == [["--n", "3"]]  # main never sees --debug
    monkeypatch.setenv("LONGHORIZON_DEBUG", "1")
    with pytest.raises(ValueError):
        run_cli(main, "x", [])


def test_a_closed_pipe_ends_quietly():
    """`... | head -1`: the reader goes away; no BrokenPipeError traceback, exit 141."""
    script = (
        "import sys\n"
        "from rl.cli_guard import run_cli\n"
        "def main(argv):\n"
        "    for i in range(200000):\n"
        "        print('line', i)\n"
        "    return 0\n"
        "sys.exit(run_cli(main, 'x'))\n"
    )
    process = subprocess.Popen(
        [sys.executable, "-c", script],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert process.stdout.readline() == b"line 0\n"
    process.stdout.close()
    stderr = process.stderr.read().decode()
    assert process.wait(timeout=30) == 141
    assert stderr == ""
