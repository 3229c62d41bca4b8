"""Seconds per optimizer step of a TRL trainer, timed by a callback around each step.

from trl_timing import mean_step_seconds   # benchmarks/ is the script's own directory
seconds = mean_step_seconds(trainer)       # runs trainer.train(); the first step warms up
"""

from __future__ import annotations

import time


def mean_step_seconds(trainer) -> float:
    """Train, and return the mean wall time of every step after the first."""
    from transformers import TrainerCallback

    times: list[float] = []

    class Clock(TrainerCallback):
        def on_step_begin(self, *args, **kwargs):
            times.append(time.perf_counter())

        def on_step_end(self, *args, **kwargs):
            times[-1] = time.perf_counter() - times[-1]

    trainer.add_callback(Clock())
    trainer.train()
    timed = times[1:]  # the first step warms up
    return sum(timed) / len(timed)
