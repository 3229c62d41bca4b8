"""A run directory and its metrics: `runs/<name>/{config.yaml, metrics.jsonl, checkpoints/}`.

Metrics go to `metrics.jsonl` (one JSON object per line, always) and to wandb. wandb is on
by default: online when WANDB_API_KEY is set, otherwise offline (files under the run
directory, `wandb sync` uploads them later); `logging.wandb=disabled` turns it off. The
curriculum's panels there (metrics against the step, the events table, success by level)
come from rl/wandb_panels.py.
"""

from __future__ import annotations

import json
import logging
import math
import os
import time
from pathlib import Path
from typing import Any

from synth.paths import lies_inside, writable_folder

log = logging.getLogger(__name__)


def default_run_name(prefix: str = "run") -> str:
    return f"{prefix}-{time.strftime('%Y%m%d-%H%M%S')}"


def check_name(name: str) -> str:
    """A name that becomes one directory: no separators, no `..`, no control characters.
    ValueError: one line saying what is wrong."""
    if not name or name.strip() != name:
        raise ValueError(f"{name!r} must be a non-empty name without leading or trailing spaces")
    if "/" in name or "\\" in name:
        raise ValueError(f"{name!r} is a path, not a name: drop the / (output_dir is the folder)")
    if ".." in name or name == ".":
        raise ValueError(f"{name!r} must not be . or contain ..")
    if any(ord(char) < 32 or ord(char) == 127 for char in name):
        raise ValueError(f"{name!r} must not contain control characters")
    if len(name.encode()) > 255:
        raise ValueError(f"{name[:20]!r}... is longer than the 255 bytes a file name may have")
    return name


def check_run_dir(output_dir: str | Path, name: str | None, resume: bool) -> Path | None:
    """What make_run_dir would refuse, checked before anything starts: output_dir is (or can
    become) a writable folder; runs/<name> lies inside it once symlinks are resolved; it is not
    an earlier run unless resuming. Returns the run directory (None without a name).
    ValueError: one line naming the key."""
    output = Path(output_dir).expanduser()
    if output.exists() and not output.is_dir():
        raise ValueError(f"output_dir: {output} is a file, not a folder")
    if not writable_folder(output):
        raise ValueError(f"output_dir: {output} cannot be created or written to")
    if name is None:
        return None
    path = output / name
    if not lies_inside(path, output):
        raise ValueError(f"name: {path} resolves to {path.resolve()}, outside output_dir {output}")
    if path.exists() and not path.is_dir():
        raise ValueError(f"name: {path} is a file, not a run directory")
    if not resume and path.is_dir() and any(path.iterdir()):
        raise ValueError(
            f"name: run directory {path} already exists: pass --resume to continue it or set "
            "name=<new>"
        )
    return path


def make_run_dir(output_dir: str | Path, name: str, resume: bool) -> Path:
    """Create runs/<name>/; an existing directory is reused only when resuming."""
    path = Path(output_dir).expanduser() / check_name(name)
    if not lies_inside(path, Path(output_dir).expanduser()):
        raise ValueError(f"run directory {path} resolves outside output_dir {output_dir}")
    if path.exists() and not resume and any(path.iterdir()):
        raise FileExistsError(
            f"run directory {path} already exists: pass --resume to continue it or set name=<new>"
        )
    (path / "checkpoints").mkdir(parents=True, exist_ok=True)
    return path


def wandb_mode(setting: str) -> str:
    """`auto` means online with an API key, offline without one; others pass through."""
    if setting != "auto":
        return setting
    return "online" if os.environ.get("WANDB_API_KEY") else "offline"


def wandb_resume(run_id: str, resume_step: int | None) -> dict[str, Any]:
    """wandb.init's resume arguments. A resumed run rewinds the history to its checkpoint's
    step (`resume_from`: steps logged after it by the killed run are dropped, in offline files
    too once synced), so wandb shows one uninterrupted run, as metrics.jsonl does. A new run
    (or one restarted without a checkpoint) keeps `resume="allow"`."""
    if resume_step is None or resume_step < 0:
        return {"resume": "allow"}
    return {"resume_from": f"{run_id}?_step={resume_step}"}


def _jsonable(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)  # JSON has no NaN/inf; keep the fact instead of dropping the key
    if hasattr(value, "item"):
        return _jsonable(value.item())
    return value


class MetricsLogger:
    """Appends one record per step to metrics.jsonl and mirrors it to wandb."""

    def __init__(
        self,
        run_dir: Path,
        config: dict[str, Any],
        wandb_setting: str,
        project: str,
        name: str,
        resume_step: int | None = None,
    ):
        """`resume_step`: the checkpoint step a resumed run continues after (-1: none, it
        starts again); wandb's history is then rewound to it (`wandb_resume`)."""
        self.path = Path(run_dir) / "metrics.jsonl"
        self._wandb = None
        self._panels = None
        mode = wandb_mode(wandb_setting)
        if mode != "disabled":
            import wandb

            run_id = name.replace("/", "-")
            self._wandb = wandb.init(
                project=project,
                name=name,
                dir=str(run_dir),
                mode=mode,
                config=config,
                id=run_id,
                **wandb_resume(run_id, resume_step),
            )
            from rl.wandb_panels import CurriculumPanels

            self._panels = CurriculumPanels(self._wandb)
            log.info("wandb: %s mode, files under %s", mode, run_dir / "wandb")

    def log(self, step: int, metrics: dict[str, Any]) -> None:
        record = {"step": step, **{key: _jsonable(value) for key, value in metrics.items()}}
        with self.path.open("a") as handle:
            handle.write(json.dumps(record) + "\n")
        if self._wandb is not None:
            numeric = {k: v for k, v in record.items() if isinstance(v, int | float)}
            self._wandb.log(numeric, step=step)  # `step` too: the x axis of every panel
            self._panels.log(step, record)

    def close(self) -> None:
        if self._wandb is not None:
            self._panels.close()
            self._wandb.finish()
            self._wandb = None


def read_metrics(path: str | Path) -> list[dict[str, Any]]:
    """All records of a metrics.jsonl; a torn last line (a killed run) is skipped and logged."""
    records = []
    lines = Path(path).read_text().splitlines()
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError:
            log.warning("%s:%d: unreadable metrics line skipped", path, number)
    return records
