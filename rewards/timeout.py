"""A per-item wall-clock limit for scoring code that may not return (sympy on `9^{9^{9}}`).

`time_limit(seconds)` arms SIGALRM through `setitimer` (sub-second, unlike `alarm`) and raises
`RewardTimeout` in the scoring code when time is up. Signals reach only the main thread of
the main interpreter, so off the main thread (a thread pool, some actor runtimes) or on a
platform without `setitimer` the limit cannot be armed: `time_limit` then yields False and
the caller must fall back to a cheap pre-filter that refuses inputs known to be slow
(rewards/math_reward.py does). A Ray driver script or a TRL trainer calls rewards from the
main thread, so there the limit holds.

`RewardTimeout` derives from BaseException so that library code catching `Exception`
(math-verify does, around every parse and comparison) cannot swallow it.
"""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager


class RewardTimeout(BaseException):
    """Scoring one item ran past its time limit."""


def can_time_limit() -> bool:
    """Whether `time_limit` can arm a timer here: the main thread, on a platform with setitimer."""
    return hasattr(signal, "setitimer") and threading.current_thread() is threading.main_thread()


def _raise_timeout(signum, frame) -> None:
    raise RewardTimeout("scoring ran past its time limit")


@contextmanager
def time_limit(seconds: float | None) -> Iterator[bool]:
    """Raise RewardTimeout inside the block after `seconds`; yields whether the limit is armed.

    A timer the caller had already armed is re-armed afterwards with what was left of it.

    >>> with time_limit(1.0) as armed:
    ...     total = sum(range(10))
    >>> armed, total
    (True, 45)
    """
    if seconds is None or seconds <= 0 or not can_time_limit():
        yield False
        return
    previous_handler = signal.signal(signal.SIGALRM, _raise_timeout)
    previous_delay, previous_interval = signal.setitimer(signal.ITIMER_REAL, seconds)
    started = time.monotonic()
    try:
        yield True
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        # A handler installed from C reads back as None and cannot be re-installed from Python.
        signal.signal(
            signal.SIGALRM, previous_handler if previous_handler is not None else signal.SIG_DFL
        )
        if previous_delay > 0:
            remaining = max(previous_delay - (time.monotonic() - started), 1e-3)
            signal.setitimer(signal.ITIMER_REAL, remaining, previous_interval)
