"""cluster/heap.py: freed heap pages go back to the OS, in a fresh process (a clean heap)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

# 2,000 blocks of 64 KiB (below glibc's mmap threshold: heap memory), every other one freed. The
# holes sit between live blocks, so free() cannot shrink the heap; malloc_trim can give them back.
SCRIPT = """
import json, sys
from cluster.heap import release_freed_memory

def resident():
    return int(open("/proc/self/statm").read().split()[1]) * 4096

blocks = [b"x" * 65536 for _ in range(2000)]
del blocks[::2]
before = resident()
released = release_freed_memory()
print(json.dumps({"released": released, "before": before, "after": resident()}))
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's malloc_trim")
def test_freed_blocks_between_live_ones_go_back_to_the_os():
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT], capture_output=True, text=True, cwd=REPO, check=True
    )
    result = json.loads(done.stdout)
    assert result["released"] is True
    assert result["before"] - result["after"] > 32 * 2**20  # of the 64 MiB of holes
