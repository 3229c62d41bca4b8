"""Run checkpoints: `runs/<name>/checkpoints/step-<N>/`, written atomically, and `runs/<name>/best/`.

A checkpoint directory is the learner's (rl/learners/checkpoint.py): a plain Hugging Face model
directory that transformers and vLLM load as it is, plus trainer_state.pt; the driver adds its
state (step, curriculum, evaluation) as `driver.json`, the completion marker. It is written under
a temporary name and renamed into place, so a run killed mid-write leaves either the previous
checkpoint or the new one, never half of one. `best/` holds the policy that scored highest on
the run's evaluation metric (h1's protocol), as a model directory too.
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
    """Where to write step `step` (absent: the learner's save creates it); `commit` moves it
    into place."""
    tmp = Path(root) / f".step-{step}.tmp"
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.parent.mkdir(parents=True, exist_ok=True)
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
