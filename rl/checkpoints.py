"""Run checkpoints: `runs/<name>/checkpoints/step-<N>/`, written atomically.

A checkpoint directory holds the learner's files (policy, optimizer, scheduler, its RNG)
under `learner/` and the driver's state (step, curriculum, driver RNG) in `driver.json`.
It is written under a temporary name and renamed into place, so a run killed mid-write
leaves either the previous checkpoint or the new one, never half of one.
"""

from __future__ import annotations

import json
import logging
import re
import shutil
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)
_NAME = re.compile(r"^step-(\d+)$")


def checkpoint_dirs(root: Path) -> list[tuple[int, Path]]:
    """Complete checkpoints under `root`, oldest first."""
    found = []
    for path in Path(root).glob("step-*"):
        match = _NAME.match(path.name)
        if match and (path / "driver.json").exists():
            found.append((int(match.group(1)), path))
    return sorted(found)


def latest_checkpoint(root: Path) -> Path | None:
    found = checkpoint_dirs(root)
    return found[-1][1] if found else None


def staging_dir(root: Path, step: int) -> Path:
    """An empty directory to write step `step` into; `commit` moves it into place."""
    tmp = Path(root) / f".step-{step}.tmp"
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir(parents=True)
    return tmp


def commit(root: Path, tmp: Path, step: int, driver_state: dict[str, Any], keep_last: int) -> Path:
    """Write driver.json last, rename the staging dir to step-<N>, prune old checkpoints."""
    (tmp / "driver.json").write_text(json.dumps(driver_state))
    final = Path(root) / f"step-{step}"
    if final.exists():
        shutil.rmtree(final)
    tmp.rename(final)
    for _, old in checkpoint_dirs(root)[:-keep_last]:
        shutil.rmtree(old)
    log.info("checkpoint saved: %s", final)
    return final


def read_driver_state(path: Path) -> dict[str, Any]:
    return json.loads((Path(path) / "driver.json").read_text())
