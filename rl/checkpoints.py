"""Run checkpoints: `runs/<name>/checkpoints/step-<N>/`, written atomically, and `runs/<name>/best/`.

A checkpoint directory is the learner's (rl/learners/checkpoint.py): a plain Hugging Face model
directory that transformers and vLLM load as it is, plus trainer_state.pt; the driver adds its
state (step, curriculum, evaluation) as `driver.json`, the completion marker. It is written under
a temporary name and renamed into place, so a run killed mid-write leaves either the previous
checkpoint or the new one, never half of one; a directory without driver.json is never loaded,
and staging leftovers of a killed save are removed at the next start (`clean_staging`).
`best/` holds the policy that scored highest on the run's evaluation metric (h1's protocol), as
a model directory too. `Cadence` says when a run saves: every N steps or every M minutes,
whichever comes first, and always after the last step.
"""

from __future__ import annotations

import json
import logging
import os
import pickle
import re
import shutil
import time
from collections.abc import Collection, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)
_NAME = re.compile(r"^step-(\d+)$")
PREFETCHED = "prefetched.pkl"  # the next step's rollouts, sampled ahead (max_staleness=1)


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
    """Where to write step `step` (absent: the learner's save creates it); `commit` moves it
    into place."""
    tmp = Path(root) / f".step-{step}.tmp"
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.parent.mkdir(parents=True, exist_ok=True)
    return tmp


@contextmanager
def staging(root: Path, step: int) -> Iterator[Path]:
    """`staging_dir` for a save that ends in `commit`; when the save fails (a full disk, a
    dead learner) its partial files are removed at once, and the error goes on with the
    previous checkpoint intact."""
    tmp = staging_dir(root, step)
    try:
        yield tmp
    except BaseException:
        clean_staging(root)
        latest = latest_checkpoint(root)
        log.error(
            "checkpoint step-%d not saved; the last complete one is %s",
            step,
            latest.name if latest else "none",
        )
        raise


def clean_staging(root: Path) -> int:
    """Remove what killed saves left under `root` (`.step-N.tmp`, the learner's own
    `..step-N.tmp.tmp`); the number removed. Complete checkpoints are untouched."""
    removed = 0
    for path in Path(root).glob(".*step-*"):
        if path.is_dir() and path.name.endswith(".tmp"):
            shutil.rmtree(path)
            removed += 1
    return removed


def commit(
    root: Path,
    tmp: Path,
    step: int,
    driver_state: dict[str, Any],
    keep_last: int,
    keep: Collection[int] = (),
) -> Path:
    """Write driver.json last (the completion marker, flushed to disk), rename the staging dir
    to step-<N>, prune checkpoints older than the last `keep_last` except the steps in `keep`."""
    marker = tmp / "driver.json"
    with marker.open("w") as handle:
        handle.write(json.dumps(driver_state))
        handle.flush()
        os.fsync(handle.fileno())
    final = Path(root) / f"step-{step}"
    if final.exists():
        shutil.rmtree(final)
    tmp.rename(final)
    for old_step, old in checkpoint_dirs(root)[:-keep_last]:
        if old_step not in keep:
            shutil.rmtree(old)
    log.info("checkpoint saved: %s", final)
    return final


class Cadence:
    """When a run saves: after every `every` steps, after the first step ending `every_minutes`
    or more after the previous save (or the start), and after the last step."""

    def __init__(self, every: int, every_minutes: float, total_steps: int) -> None:
        self.every, self.seconds, self.total_steps = every, every_minutes * 60, total_steps
        self.last_save = time.monotonic()

    def due(self, step: int) -> bool:
        if step + 1 == self.total_steps or (self.every and (step + 1) % self.every == 0):
            return True
        return bool(self.seconds) and time.monotonic() - self.last_save >= self.seconds

    def saved(self) -> None:
        self.last_save = time.monotonic()


def read_driver_state(path: Path) -> dict[str, Any]:
    return json.loads((Path(path) / "driver.json").read_text())


def write_prefetched(tmp: Path, batches: Any) -> None:
    """The next step's rollouts, sampled ahead under max_staleness=1, into a staging dir.
    Pickled: they are the run's own objects (tasks, rollouts, rewards), read back by its resume."""
    if batches is not None:
        (Path(tmp) / PREFETCHED).write_bytes(pickle.dumps(batches))


def read_prefetched(path: Path) -> Any:
    """What `write_prefetched` saved in checkpoint `path`, or None."""
    file = Path(path) / PREFETCHED
    return pickle.loads(file.read_bytes()) if file.exists() else None


def model_directory(spec: str) -> str:
    """What a `--model` names, as a path or Hub id that transformers and vLLM load: a run
    directory (its best policy, else its last checkpoint), a checkpoint or model directory, or
    a name `models.resolve_model` knows (embedded, tiny, a Hub id). ValueError: one line."""
    from models import resolve_model

    path = Path(spec).expanduser()
    if not path.is_dir():
        return resolve_model(spec)
    if (path / "checkpoints").is_dir() or (path / "best").is_dir():  # a run directory
        if (path / "best" / "config.json").exists():
            return str(path / "best")
        latest = latest_checkpoint(path / "checkpoints")
        if latest is None:
            raise ValueError(f"run {path} has no checkpoint yet (no best/, no checkpoints/step-N/)")
        path = latest
    if not (path / "config.json").exists():
        raise ValueError(f"{path} is not a model directory: it has no config.json")
    if not any(path.glob("*.safetensors")) and not any(path.glob("*.bin")):
        raise ValueError(f"checkpoint {path} has no weights (no *.safetensors or *.bin)")
    return str(path)
