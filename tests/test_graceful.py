"""rl/graceful.py with real signals sent to this process."""

from __future__ import annotations

import os
import signal

import pytest

from rl.graceful import GracefulStop


def test_the_first_signal_waits_for_the_step_the_second_acts_at_once():
    before = signal.getsignal(signal.SIGTERM)
    with GracefulStop() as stop:
        os.kill(os.getpid(), signal.SIGTERM)
        assert stop.requested == signal.SIGTERM  # the step goes on
        assert stop.exit().code == 143
        with pytest.raises(KeyboardInterrupt):
            os.kill(os.getpid(), signal.SIGINT)
    assert signal.getsignal(signal.SIGTERM) is before


def test_a_second_sigterm_exits_with_its_code():
    with GracefulStop() as stop, pytest.raises(SystemExit) as exited:
        os.kill(os.getpid(), signal.SIGINT)
        assert stop.requested == signal.SIGINT and stop.exit().code == 130
        os.kill(os.getpid(), signal.SIGTERM)
    assert exited.value.code == 143
