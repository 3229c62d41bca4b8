"""Peak memory of the embedded default: `python rl/run.py` and every process it starts.

Run: `python benchmarks/peak_memory.py [-- override ...]` (about 4 minutes on 2 cores); with no
overrides it runs exactly the embedded default (5 steps). Goal (issue #8): <= 8 GB.

The process tree (driver, Ray's daemons, the vLLM worker, the learner, wandb) is sampled every
0.25 s. Two sums are printed at their peaks:
- summed PSS (proportional set size): a page shared by n processes counts 1/n in each, so
  shared libraries and Ray's object store (the weights the learner publishes and the worker
  maps) count once. This is the tree's real footprint.
- summed RSS: every process counts every page it touches, shared or not, so shared pages count
  once per process. An upper bound.
with the per-process breakdown at the PSS peak.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def rollup(pid: int) -> dict[str, int]:
    """Bytes from /proc/PID/smaps_rollup (Rss, Pss, Pss_Anon, Pss_File, Pss_Shmem): the kernel's
    own sums, far cheaper to read than the per-mapping smaps psutil parses."""
    values = {}
    with open(f"/proc/{pid}/smaps_rollup") as handle:
        for line in handle:
            key, _, rest = line.partition(":")
            if key in ("Rss", "Pss", "Pss_Anon", "Pss_File", "Pss_Shmem"):
                values[key] = int(rest.split()[0]) * 1024
    return values


class TreeMemory:
    """Samples the memory of a process and all its descendants until stopped.

    peak_pss / peak_rss: the largest sums seen (bytes); breakdown: [(rollup, pid, command)] at
    the PSS peak, largest first (rollup: `rollup(pid)`, so anonymous, file-backed and shared
    memory, e.g. Ray's object store, show apart).
    """

    def __init__(self, pid: int | None = None, interval: float = 0.25):
        import psutil

        self.root = psutil.Process(pid)
        self.interval = interval
        self.peak_pss, self.peak_rss, self.breakdown = 0, 0, []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)

    def sample(self) -> None:
        import psutil

        rows = []
        for process in [self.root, *self.root.children(recursive=True)]:
            try:
                command = " ".join(process.cmdline()[:3])[:72] or process.name()
                rows.append((rollup(process.pid), process.pid, command))
            except (psutil.Error, OSError):  # exited between the listing and the read
                continue
        pss = sum(r[0].get("Pss", 0) for r in rows)
        if pss > self.peak_pss:
            self.peak_pss = pss
            self.breakdown = sorted(rows, key=lambda r: r[0].get("Pss", 0), reverse=True)
        self.peak_rss = max(self.peak_rss, sum(r[0].get("Rss", 0) for r in rows))

    def _watch(self) -> None:
        while not self._stop.wait(self.interval):
            self.sample()

    def __enter__(self) -> TreeMemory:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()


def main(argv: list[str]) -> int:
    overrides = [a for a in argv if a != "--"]
    with tempfile.TemporaryDirectory(prefix="peak-memory-") as output_dir:
        command = [sys.executable, str(REPO / "rl" / "run.py"), f"output_dir={output_dir}"]
        command += ["logging.progress=false", *overrides]
        env = {**os.environ, "WANDB_MODE": "offline"}
        process = subprocess.Popen(command, cwd=REPO, env=env)
        with TreeMemory(process.pid) as memory:
            code = process.wait()
    if code:
        print(f"rl/run.py exited with {code}; the figures below cover the run until then")
    gb = 1e9
    print(f"run: python rl/run.py {' '.join(overrides) or '(the embedded default)'}")
    print(
        f"peak summed PSS {memory.peak_pss / gb:.2f} GB ({memory.peak_pss / 2**30:.2f} GiB), "
        f"goal <= 8 GB | peak summed RSS {memory.peak_rss / gb:.2f} GB (counts shared pages "
        "once per process)"
    )
    print("at the PSS peak (MiB; PSS = anonymous + file-backed + shared memory):")
    mib = 2**20
    for values, pid, name in memory.breakdown:
        if values.get("Pss", 0) >= mib:
            print(
                f"  PSS {values['Pss'] / mib:6.0f} = {values['Pss_Anon'] / mib:5.0f} + "
                f"{values['Pss_File'] / mib:4.0f} + {values['Pss_Shmem'] / mib:4.0f} | "
                f"RSS {values['Rss'] / mib:6.0f} | pid {pid} {name}"
            )
    return code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
