"""SIGINT and SIGTERM during a run: finish the step, save a checkpoint, then exit.

    with GracefulStop() as stop:
        for step in ...:
            ...                      # a step is never cut in half by the first signal
            if stop.requested:
                save(step); raise stop.exit()

The first SIGINT or SIGTERM only sets `requested` (a scheduler's SIGTERM before a preemption,
a Ctrl-C); a second one of either acts at once (KeyboardInterrupt, or SystemExit for SIGTERM),
for a user who does not want to wait for the step. Outside the main thread, where Python
cannot install handlers, nothing changes. The previous handlers come back on exit.
"""

from __future__ import annotations

import logging
import signal
import threading
from types import FrameType
from typing import Any

log = logging.getLogger(__name__)
SIGNALS = (signal.SIGINT, signal.SIGTERM)


class GracefulStop:
    def __init__(self) -> None:
        self.requested: int | None = None  # the signal number received first
        self._previous: dict[int, Any] = {}

    def __enter__(self) -> GracefulStop:
        if threading.current_thread() is threading.main_thread():
            self._previous = {sig: signal.signal(sig, self._handle) for sig in SIGNALS}
        return self

    def __exit__(self, *exc: object) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
        self._previous = {}

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if self.requested is not None:  # the second signal: stop now
            if signum == signal.SIGINT:
                raise KeyboardInterrupt
            raise SystemExit(128 + signum)
        self.requested = signum
        log.warning(
            "%s received: stopping after this step with a checkpoint (send it again to stop now)",
            signal.Signals(signum).name,
        )

    def exit(self) -> SystemExit:
        """The exit to raise once the checkpoint is saved: 128 + the signal, as a shell reports."""
        return SystemExit(128 + (self.requested or 0))
