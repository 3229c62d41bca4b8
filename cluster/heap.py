"""Handing freed heap memory back to the OS between phases of a step.

glibc's malloc keeps the pages of freed blocks below its mmap threshold for reuse, and that
threshold rises to 32 MB as large blocks come and go, so a process's resident memory stays near
its peak after a long prompt's prefill or backward. The rollout workers and the learner take
turns (generate, update, load weights), so each holding its own peak while the other peaks adds
the two: at a 32K-token prompt of the tiny benchmark model the learner held ~0.1 GB and the vLLM
worker ~0.1 GB this way (docs/benchmarks.md). `malloc_trim` returns them; verl empties the CUDA
cache between phases for the same reason.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools


@functools.cache
def _trim():
    """glibc's malloc_trim, or None where the C library is another (macOS, musl)."""
    try:
        return ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6").malloc_trim
    except (OSError, AttributeError):
        return None


def release_freed_memory() -> bool:
    """Return the heap's free pages to the OS (a few milliseconds); False where it cannot."""
    trim = _trim()
    if trim is None:
        return False
    trim(0)
    return True
